"""The wheel built from the repository (`pip wheel . --no-deps`): it installs one namespace,
`labshelf` (core/ as `labshelf`, app/ as `labshelf.app`, resources/ as `labshelf.resources`),
and works from a fresh venv: `import labshelf as ls`, `labshelf --help`, `labshelf gui
--smoke-test`.

The fresh venv gets the wheel alone (`--no-deps`); its dependencies are this environment's,
reached through a .pth line to this venv's site-packages (whose own .pth files, such as the
editable install's finder, are not processed that way). So this checks the wheel's contents,
names and entry points; that the declared dependencies resolve and work is
./dev.sh check-minimums' job. Marked `bundle` (run with --bundle, as CI does): building the
wheel needs setuptools from the package index and takes ~20 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.bundle, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PIP_INSTALL = (sys.executable, "-m", "pip", "--quiet")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--wheel-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out.glob("labshelf-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; dependencies from this environment."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [*PIP_INSTALL, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=120,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dev-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return root


def _run(venv: Path, *cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)
    exe = str(venv / "bin" / cmd[0]) if cmd[0] in ("python", "labshelf") else cmd[0]
    return subprocess.run(
        [exe, *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def _top_level(names: list[str]) -> set[str]:
    return {name.split("/")[0] for name in names if not name.startswith("../")}


def test_the_wheel_holds_one_namespace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        top_level_txt = archive.read(f"{dist_info}/top_level.txt").decode().split()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert _top_level(names) == {"labshelf", dist_info}
    assert top_level_txt == ["labshelf"]
    # the three repository folders, each where the namespace puts it
    for member in (
        "labshelf/__init__.py",
        "labshelf/app/cli.py",
        "labshelf/resources/icons/app/labshelf-256.png",
        "labshelf/migrations/env.py",
    ):
        assert member in names, member
    assert any(n.startswith("labshelf/migrations/versions/0001_") for n in names)
    assert not [n for n in names if n.startswith(("labshelf/tests", "tests/"))]
    assert "labshelf = labshelf.app.cli:main" in entry_points


def test_installed_names_and_imports_in_a_fresh_venv(venv: Path, tmp_path: Path) -> None:
    (record,) = venv.glob("lib/python*/site-packages/labshelf-*.dist-info/RECORD")
    installed = [line.split(",")[0] for line in record.read_text().splitlines()]
    assert _top_level(installed) == {"labshelf", record.parent.name}
    check = _run(
        venv,
        "python",
        "-c",
        "import importlib.util, labshelf as ls, labshelf.app.cli;"
        "print(ls.__file__); print(ls.__version__);"
        "print([n for n in ('core', 'app', 'resources') if importlib.util.find_spec(n)])",
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
    file, version, other_names = check.stdout.splitlines()
    assert Path(file).is_relative_to(venv), file
    assert version == "0.1.0"
    assert other_names == "[]"  # no generic top-level names besides labshelf


def test_cli_help_and_gui_smoke_test_from_the_fresh_venv(venv: Path, tmp_path: Path) -> None:
    helped = _run(venv, "labshelf", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "usage: labshelf" in helped.stdout
    table = tmp_path / "counts.csv"
    table.write_text("well,od\nA1,0.1\n")
    assert (
        _run(
            venv, "labshelf", "init", "--storage", str(tmp_path / "store"), cwd=tmp_path
        ).returncode
        == 0
    )
    saved = _run(venv, "labshelf", "save", str(table), "--key", "tables/counts.csv", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    smoke = _run(venv, "labshelf", "gui", "--smoke-test", cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "first window 'mainWindow'" in smoke.stdout
    assert "parquet preview: table" in smoke.stdout
    assert "lineage of" in smoke.stdout and " 0 nodes" not in smoke.stdout
    assert "closed cleanly" in smoke.stdout
