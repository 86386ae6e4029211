"""The PyInstaller bundle from build.spec: built (or reused while newer than every source
file), then run as a user would: `--version`, `init` + `save` + `ls` on a temp instance, and
the GUI offscreen opening a window, rendering a lineage graph and closing cleanly.

Slow (the build takes a few minutes): marked `bundle`, run with `--bundle` or
LABSHELF_TEST_BUNDLE=1. Prints the bundle size, the build time and the start-up times from
the bundle and from the repo (`pytest -s` shows them; they are also in the junit/-rA output).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bundle_build import BUILD_TIMEOUT_S, DIST, EXE, ROOT
from bundle_build import bundle as build_or_wait

# The first test also builds the bundle (a few minutes), or waits for the background build
# tests/conftest.py started: longer than the suite's default timeout. One xdist worker runs
# them all (and waits for the build alone, while the others go on).
pytestmark = [
    pytest.mark.bundle,
    pytest.mark.timeout(BUILD_TIMEOUT_S + 300),
    pytest.mark.xdist_group("bundle"),
]

STARTS = 3  # start-up measurements per side


def _run(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, timeout=timeout, env=_env(), **kw
    )


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **extra)
    env.pop("PYTHONPATH", None)  # the bundle must not need the source tree
    return env


@pytest.fixture(scope="module")
def bundle() -> Path:
    """dist/labshelf: built (in the background since the run started, with --bundle), or
    reused while newer than every source file."""
    how, outcome = build_or_wait()
    if outcome is not None:
        assert outcome["returncode"] == 0, outcome["stderr"]
        print(f"\n[bundle] {how}: {DIST} in {outcome['seconds']:.0f} s")
    else:
        print(f"\n[bundle] reusing {DIST} (newer than the sources)")
    size = subprocess.run(["du", "-sh", str(DIST)], capture_output=True, text=True).stdout.split()[
        0
    ]
    print(f"[bundle] size (du -sh): {size}")
    return DIST


def test_version(bundle: Path) -> None:
    import labshelf

    result = _run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"labshelf {labshelf.__version__}"


def test_init_save_ls_on_a_temp_instance(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "counts.csv"
    data.write_text("a,b\n1,2\n")
    init = _run("init", "--storage", str(tmp_path / "store"), "--name", "bundled", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    saved = _run("save", str(data), "--key", "tables/counts.csv", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    listed = _run("ls", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["key"] for r in rows] == ["tables/counts.csv"]
    assert rows[0]["size"] == data.stat().st_size
    assert (tmp_path / "store" / ".labshelf" / "labshelf.db").exists()
    migrate = _run("migrate", cwd=tmp_path)  # Alembic scripts are found inside the bundle
    assert "up to date" in migrate.stdout, migrate.stderr


def test_the_desktop_upload_worker_runs_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    """The app uploads each drop in a worker process: the bundle's executable with a flag."""
    from labshelf.app.upload_worker import UPLOAD_WORKER_FLAG

    folder = tmp_path / "plates"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.csv").write_text(f"well,od\nA{i},0.{i}\n")
    assert (
        _run(
            "init", "--storage", str(tmp_path / "store"), "--name", "bundled", cwd=tmp_path
        ).returncode
        == 0
    )
    start = json.dumps({"options": {"paths": [str(folder)], "as_folder": False}})
    worker = subprocess.Popen(
        [str(EXE), UPLOAD_WORKER_FLAG],
        cwd=tmp_path,
        env=_env(LABSHELF_INSTANCE="bundled"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(start + "\n")
    worker.stdin.flush()
    messages = []
    for line in worker.stdout:
        messages.append(json.loads(line))
        if messages[-1][0] in ("done", "error"):
            break
    worker.stdin.close()
    assert worker.wait(60) == 0, worker.stderr.read() if worker.stderr else ""
    assert messages[0][0] == "plan" and messages[-1][0] == "done", messages[-1]
    assert [i["state"] for i in messages[-1][1]["items"]] == ["done"] * 3
    listed = json.loads(_run("ls", "--json", cwd=tmp_path).stdout)
    assert sorted(r["key"] for r in listed) == ["plates/p0.csv", "plates/p1.csv", "plates/p2.csv"]


def _demo_instance(tmp_path: Path) -> None:
    assert _run("init", "--storage", str(tmp_path / "store")).returncode == 0
    demo = _run("demo", str(tmp_path / "iris"), "--load", timeout=300)
    assert demo.returncode == 0, demo.stderr


def _first_window_s(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time from launch to the smoke test's "first window" line, and all its output."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = None
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if first is None and "first window" in line:
            first = time.monotonic() - start
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, "".join(lines) + err
    assert first is not None, "".join(lines)
    return first, "".join(lines)


def test_gui_smoke_opens_renders_lineage_and_closes(bundle: Path, tmp_path: Path) -> None:
    _demo_instance(tmp_path)
    _seconds, out = _first_window_s([str(EXE), "gui", "--smoke-test"], tmp_path)
    print(f"\n[bundle] smoke test:\n{out}")
    assert "first window 'mainWindow'" in out
    assert "parquet preview: table" in out  # lazily imported modules are in the bundle
    assert "lineage of" in out and " 0 nodes" not in out
    assert "closed cleanly" in out
    assert "outside the bundle" not in out  # nothing from the source tree or the venv


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run (Xvfb, xauth)")
def test_gui_smoke_on_a_real_x_server(bundle: Path, tmp_path: Path) -> None:
    """The xcb platform plugin, as on a desktop (Xvfb stands in for the display)."""
    _demo_instance(tmp_path)
    env = _env()
    env.pop("QT_QPA_PLATFORM")
    result = subprocess.run(
        ["xvfb-run", "-a", str(EXE), "gui", "--smoke-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(platform xcb)" in result.stdout
    assert "closed cleanly" in result.stdout


def test_no_arguments_opens_the_gui(bundle: Path, tmp_path: Path) -> None:
    """A desktop launcher starts `labshelf` bare: the welcome view (no instance yet) stays
    open instead of a usage error."""
    proc = subprocess.Popen(
        [str(EXE)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=8)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_start_up_time_bundle_vs_repo(bundle: Path, tmp_path: Path) -> None:
    _demo_instance(tmp_path)
    sides = {
        "bundle": [str(EXE), "gui", "--smoke-test"],
        "repo": [sys.executable, "-m", "labshelf.app.cli", "gui", "--smoke-test"],
    }
    results = {}
    for side, cmd in sides.items():
        cwd = ROOT if side == "repo" else tmp_path
        results[side] = [_first_window_s(cmd, cwd)[0] for _ in range(STARTS)]
    for side, times in results.items():
        print(
            f"[bundle] start to first window from the {side}: first {times[0]:.2f} s, "
            f"median of {STARTS} {statistics.median(times):.2f} s "
            f"({' '.join(f'{t:.2f}' for t in times)})"
        )
    # The target is 2 s; a loaded CI machine gets head room before this fails.
    assert statistics.median(results["bundle"]) < 6.0


def test_bundle_has_what_it_needs(bundle: Path) -> None:
    internal = bundle / "_internal"
    plugins = internal / "PySide6" / "Qt" / "plugins"
    for rel in (
        "platforms/libqxcb.so",
        "platforms/libqoffscreen.so",
        "imageformats/libqjpeg.so",
        "imageformats/libqtiff.so",
        "imageformats/libqsvg.so",
        "iconengines/libqsvgicon.so",
    ):
        assert (plugins / rel).exists(), rel
    assert list((internal / "labshelf" / "migrations" / "versions").glob("0001_*.py"))
    assert (internal / "labshelf" / "resources" / "icons" / "app" / "labshelf-256.png").exists()
    assert list(internal.rglob("libgvplugin_dot_layout*.so*"))
    assert not (internal / "tests").exists()
    assert not list(internal.rglob("libQt6WebEngine*"))


MAX_BUNDLE_MIB = 350  # issue 18: the one-folder bundle was 581 MB before build.spec trimmed it


def test_bundle_is_lean(bundle: Path) -> None:
    """Under the size budget, with what build.spec trims really gone: no pyarrow S3 library,
    only the botocore models s3fs and the credential chain use, and no zero padding left in
    the patchelf'ed libraries (each pygraphviz library used to carry up to 6 MB of zeros)."""
    kib = int(
        subprocess.run(["du", "-sk", str(bundle)], capture_output=True, text=True).stdout.split()[0]
    )
    assert kib <= MAX_BUNDLE_MIB * 1024, f"bundle is {kib / 1024:.0f} MiB"
    internal = bundle / "_internal"
    assert not list(internal.rglob("libarrow_s3*"))
    assert sorted(p.name for p in (internal / "botocore" / "data").iterdir() if p.is_dir()) == [
        "s3",
        "signin",
        "sso",
        "sso-oidc",
        "sts",
    ]
    padded = []
    for lib in (internal / "pygraphviz.libs").iterdir():
        data = lib.read_bytes()
        if data.count(bytes(1 << 16)) * (1 << 16) > 1 << 20:  # over 1 MiB in 64 KiB zero runs
            padded.append(lib.name)
    assert not padded, padded
