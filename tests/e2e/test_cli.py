"""The ``labshelf`` command line through subprocesses: every command's happy and error path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.app import cli
from labshelf.instance import disconnect

SCRIPTS = Path(__file__).parent / "scripts"
COMMANDS = (
    "init",
    "connect",
    "info",
    "gui",
    "save",
    "ls",
    "describe",
    "cache",
    "load",
    "delete",
    "demo",
    "migrate",
    "doctor",
    "watch",
    "completion",
)


def labshelf(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``labshelf ARGS`` in a fresh interpreter (the test's isolated environment)."""
    return subprocess.run(
        [sys.executable, "-m", "labshelf.app.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def ok(*args: str, cwd: Path | None = None) -> str:
    proc = labshelf(*args, cwd=cwd)
    assert proc.returncode == 0, f"labshelf {' '.join(args)}: {proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def fails(*args: str, match: str, cwd: Path | None = None) -> None:
    """The command exits non-zero with one clear line on stderr, no traceback."""
    proc = labshelf(*args, cwd=cwd)
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("→", "Fontconfig"))]
    assert proc.returncode != 0, f"labshelf {' '.join(args)} succeeded"
    assert len(lines) == 1 and lines[0].startswith("labshelf: error:"), proc.stderr
    assert match in lines[0], lines[0]


def all_fail(cases: list[tuple[tuple[str, ...], str]]) -> None:
    """``fails`` for many independent commands, a few at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(fails, *args, match=match) for args, match in cases]:
            future.result()


def all_ok(*commands: tuple[str, ...]) -> list[str]:
    """``ok`` for many independent commands, a few at a time; their outputs in order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [f.result() for f in [pool.submit(ok, *args) for args in commands]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """A current SQLite instance named 'lab' (made in-process: faster than a subprocess)."""
    root = tmp_path / "store"
    ls.init(str(root), name="lab")
    disconnect()
    yield root
    disconnect()


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    best = min(_timed(labshelf, "--help") for _ in range(3))
    assert best <= 0.3, f"labshelf --help took {best:.2f} s"
    probe = (
        "import sys, labshelf.app.cli as c\n"
        "for a in (['--help'], ['ls', '--help']):\n"
        "    try: c.main(a)\n"
        "    except SystemExit: pass\n"
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'PySide6', 'PIL', 'pygraphviz',"
        " 'tqdm', 'shtab', 'watchdog')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("[]")
    assert ok("--version").strip() == f"labshelf {ls.__version__}"


def _timed(fn, *args: str) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: labshelf {command}")


def test_without_an_instance(tmp_path: Path) -> None:
    all_fail(
        [
            (("info",), "No labshelf instance is set up yet"),
            (("ls",), "No labshelf instance"),
            (("describe", "abc"), "No labshelf instance"),
            (("demo", str(tmp_path / "demo"), "--load"), "No labshelf instance"),
            (("migrate",), "No labshelf instance"),
            (("connect", "nowhere"), "No instance matches 'nowhere'"),
            (("init", "--storage", "ftp://host/x"), "unsupported scheme"),
        ]
    )


def test_instance_commands(tmp_path: Path) -> None:
    store = tmp_path / "store"
    info = ok("init", "--storage", str(store), "--name", "lab")
    assert "lab" in info and str(store) in info and "testuser" in info
    ok("init", "--storage", str(tmp_path / "other"))
    connected, migrated = all_ok(("connect", "lab"), ("migrate",))
    assert "instance        lab" in connected and "other" in connected
    assert "schema revision" in migrated and "lab" in ok("info")
    doctor = labshelf("doctor")
    assert doctor.returncode == 0, doctor.stderr


def test_artifact_commands(store: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    (data / "b.csv").write_text("x\n2\n")
    uid = ok(
        "save", str(data / "a.csv"), "--key", "tables/a.csv", "--description", "first table"
    ).split()[0]
    newer = ok("save", str(data / "b.csv"), "--revises", uid[:8]).split()
    assert newer[0][:16] == uid[:16] and newer[1] == "tables/a.csv" and newer[-1] == "2"

    table, searched, old, as_json, described, cached = all_ok(
        ("ls",),
        (
            "ls",
            "artifacts",
            "--filter",
            "is_latest=true",
            "--filter",
            "key__startswith=tables/",
            "--search",
            "first",
        ),
        ("ls", "--filter", "is_latest=false"),
        ("ls", "--json", "--limit", "1"),
        ("describe", newer[0]),
        ("cache", uid),
    )
    assert table.splitlines()[0].split()[:3] == ["uid", "key", "description"]
    assert newer[0] in table.splitlines()[1] and uid in table.splitlines()[2]  # newest first
    assert newer[0] in searched and old.count("tables/a.csv") == 1 and uid in old
    rows = json.loads(as_json)
    ls.connect("lab")
    assert list(rows[0]) == ["id", *ls.Artifact.df().columns]
    assert rows[0]["uid"] == newer[0] and rows[0]["created_at"].startswith("20")
    assert "Artifact: tables/a.csv" in described
    assert Path(cached.strip()).read_text() == "x\n1\n"
    assert "trash" in ok("delete", uid)
    assert "permanently" in ok("delete", uid, "--permanent")
    assert uid not in ok("ls", "--filter", "visibility=-1")


def test_transform_commands(store: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPTS / "write_table.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    runs, transforms = all_ok(("ls", "runs"), ("ls", "transform", "--json"))
    assert "Write the iris measurements table." in runs and "script" in runs
    transform = json.loads(transforms)[0]
    assert "source_code" not in transform
    assert transform["key"] == "tests/e2e/scripts/write_table.py"  # its path in the repository
    source = (SCRIPTS / "write_table.py").read_text()
    written = Path(ok("load", transform["uid"], cwd=tmp_path).strip())
    assert written == tmp_path / "write_table.py" and written.read_text() == source
    assert "Transform: " in ok("describe", transform["uid"])
    written.write_text("changed")
    fails("load", transform["uid"], match="exists and differs", cwd=tmp_path)
    ok("load", transform["uid"], "--force", cwd=tmp_path)
    assert written.read_text() == source
    target = tmp_path / "copy.py"
    ok("load", transform["uid"], "--output", str(target))
    assert target.read_text() == source


def test_demo_writes_the_dataset(tmp_path: Path) -> None:
    """``demo DIR`` needs no instance; ``--load`` is tested with the tutorial."""
    demo = tmp_path / "demo"
    assert ok("demo", str(demo)).strip() == str(demo / "iris_studies")
    assert len(list((demo / "iris_studies").rglob("*.jpg"))) == 48
    assert len(list((demo / "iris_studies").rglob("meta.csv"))) == 3


def test_error_paths(store: Path, tmp_path: Path) -> None:
    """One failure per command through a subprocess; the variants in-process below."""
    data = tmp_path / "t.txt"
    data.write_text("t")
    uid = ok("save", str(data)).split()[0]
    all_fail(
        [
            (("save", str(tmp_path / "missing.txt")), "missing.txt"),
            (("ls", "gadgets"), "'gadgets' is not a registry"),
            (("describe", "zzzzzz"), "No record has a uid starting with 'zzzzzz'"),
            (("cache", "zzzzzz"), "No artifact has a uid"),
            (("load", uid), "No transform has a uid"),
            (("delete", "zzzzzz"), "No artifact or collection"),
        ]
    )
    proc = labshelf("--debug", "describe", "zzzzzz")
    assert proc.returncode == 3 and "Traceback" in proc.stderr


@pytest.mark.parametrize(
    ("args", "match", "code"),
    [
        (("save", "{data}", "--revises", "zzzzzz"), "No artifact has a uid starting with", 3),
        (("ls", "--filter", "colour=red"), "'colour' is not a valid lookup", 2),
        (("ls", "--filter", "size"), "needs the form field=value", 2),
        (("ls", "--filter", "size__gt=big"), "'big' is not a valid int", 2),
        (("ls", "--filter", "is_latest=maybe"), "'maybe' is not a valid bool", 2),
        (("delete", "{transform}"), "No artifact or collection", 3),
    ],
)
def test_error_variants(
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    match: str,
    code: int,
) -> None:
    data = tmp_path / "t.txt"
    data.write_text("t")
    transform = ls.Transform(name="t", type="function").save()
    argv = [a.format(data=data, transform=transform.uid) for a in args]
    assert cli.main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("labshelf: error:") and match in err[-1]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frobnicate"])
    assert exit_.value.code == 2


def test_load_without_source(store: Path) -> None:
    ls.connect("lab")
    transform = ls.Transform(name="segmenter", version="1", type="pipeline").save()
    fails("load", transform.uid, match="has no source code recorded")


def test_load_writes_a_notebook(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A notebook transform comes back as the ``.ipynb`` of its latest run."""
    import types

    from labshelf import provenance

    nb = tmp_path / "qc.ipynb"
    nb.write_text(
        json.dumps(
            {
                "cells": [{"cell_type": "code", "execution_count": 1, "source": "x = 1"}],
                "nbformat": 4,
            }
        )
    )
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    ls.connect("lab")
    run = ls.track()
    try:
        ls.finish()
    finally:
        provenance.set_current_run(None)
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "out")
    assert cli.main(["load", run.transform.uid]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.name == "qc.ipynb" and written.read_text() == nb.read_text()


def test_gui_is_started_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import labshelf.app.__main__

    calls = []
    monkeypatch.setattr(
        labshelf.app.__main__, "main", lambda argv, paths=None: calls.append((argv, paths)) or 0
    )
    assert cli.main(["gui", "-platform", "offscreen"]) == 0
    assert cli.main(["gui", "-platform", "offscreen", "--debug", "a.csv", "/data/run 1"]) == 0
    assert calls == [
        (["labshelf", "-platform", "offscreen"], None),
        (["labshelf", "-platform", "offscreen"], [str(Path("a.csv").absolute()), "/data/run 1"]),
    ]


def test_postgresql_instance(pg_server, tmp_path: Path) -> None:
    url = pg_server.create_database().url
    ok("init", "--storage", str(tmp_path / "store"), "--db", url, "--name", "pglab")
    assert "postgresql" in ok("info")
    (tmp_path / "x.txt").write_text("x")
    uid = ok("save", str(tmp_path / "x.txt"), "--key", "x.txt").split()[0]
    assert json.loads(ok("ls", "--json"))[0]["uid"] == uid
    assert "Artifact: x.txt" in ok("describe", uid[:6])
    disconnect()
