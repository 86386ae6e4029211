"""Provenance: track/finish, transform reuse and versions, runs, inputs and outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import labshelf as ls
import pytest
from labshelf import provenance
from labshelf.models import HIDDEN

SCRIPTS = Path(__file__).resolve().parents[1] / "e2e" / "scripts"
SCRIPT = '''"""Count the iris images."""
import labshelf as ls
'''


@pytest.fixture(autouse=True)
def _no_active_run() -> Iterator[None]:
    yield
    provenance.set_current_run(None)


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A script file that ``track()`` sees as the running ``__main__``."""
    path = tmp_path / "count_images.py"
    path.write_text(SCRIPT)
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(path), raising=False)
    monkeypatch.chdir(tmp_path)  # not in a git repository: keyed relative to the working dir
    return path


def run_script(path: Path, *args: str) -> None:
    """Run a script in a fresh interpreter on the current instance."""
    proc = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr


def _track_and_finish(**kwargs) -> ls.Run:
    run = ls.track(**kwargs)
    ls.finish()
    return run


def test_script_transform_is_reused_then_versioned(instance: Path, script: Path) -> None:
    first = _track_and_finish().transform
    assert (first.type, first.key, first.name) == (
        "script",
        "count_images.py",
        "Count the iris images.",
    )
    assert first.source_code == SCRIPT and first.hash and first.version == "1"
    assert _track_and_finish().transform.uid == first.uid

    script.write_text(SCRIPT + "print('changed')\n")
    second = _track_and_finish().transform
    assert second.stem_uid == first.stem_uid and second.uid.endswith("0001")
    assert second.version == "2" and second.source_code.endswith("print('changed')\n")
    family = ls.Transform.filter(stem_uid=first.stem_uid).order_by("uid").all()
    assert [t.is_latest for t in family] == [False, True]

    script.write_text(SCRIPT)  # back to the first source: its version is reused
    assert _track_and_finish().transform.uid == first.uid
    assert ls.Transform.get(first.uid).runs.count() == 3


def test_runs_link_outputs_and_record_inputs(instance: Path, src: Path, script: Path) -> None:
    before = ls.Artifact(src / "table.csv", key="tables/before.csv").save()
    collection = ls.Collection([before], name="tables").save()
    run = ls.track(params={"threshold": 0.5, "species": ["setosa"]})
    out = ls.Artifact(src / "a.txt", key="notes/a.txt").save()
    assert (out.run_id, out.transform_id) == (run.id, run.transform_id)
    before.load()
    before.cache()  # read twice, recorded once
    out.load()  # the run's own output is no input
    [member.uid for member in collection.artifacts]
    ls.finish()

    run = ls.Run.get(run.uid)
    assert run.params == {"threshold": 0.5, "species": ["setosa"]}
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert [a.uid for a in run.inputs] == [before.uid]
    assert [a.uid for a in run.outputs] == [out.uid]
    from labshelf.schema import run_input_collections

    assert (
        ls.Collection.filter(id__in=_input_collection_ids(run, run_input_collections.c)).one().uid
        == collection.uid
    )
    assert run.transform.latest_run.uid == run.uid
    assert [r.uid for r in run.transform.runs] == [run.uid]


def _input_collection_ids(run: ls.Run, link: Any) -> list[int]:
    from labshelf import session as context
    from sqlalchemy import select

    return context.read(
        lambda s: list(s.scalars(select(link.collection_id).where(link.run_id == run.id)))
    )


def test_environment_lists_imported_packages(sqlite_instance: Path, script: Path) -> None:
    import sqlalchemy

    run = _track_and_finish()
    env = ls.Run.get(run.uid).environment
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["SQLAlchemy"] == sqlalchemy.__version__
    assert "pytest" in env


def test_pinned_uid(sqlite_instance: Path, script: Path) -> None:
    run = _track_and_finish(uid="pinnedTransf0000")
    assert run.transform.uid == "pinnedTransf0000"
    assert _track_and_finish(uid="pinnedTransf0000").transform.id == run.transform.id
    script.write_text(SCRIPT + "x = 1\n")
    again = _track_and_finish(uid="pinnedTransf0000").transform  # pinned: kept, not versioned
    assert again.id == run.transform.id and again.source_code == SCRIPT
    by_stem = _track_and_finish(uid="pinnedTransf").transform  # the family: next version
    assert by_stem.uid == "pinnedTransf0001"
    assert _track_and_finish(uid="otherPinnedT0003").transform.version == "4"
    with pytest.raises(ls.InvalidArgument, match="not a transform uid"):
        ls.track(uid="short")


def test_pipeline_transforms_by_name_and_version(instance: Path) -> None:
    spec = ls.Transform(name="segment cells", version="1.2.0", type="pipeline")
    assert len(spec.uid) == 16 and spec.uid.endswith("0000") and spec.id is None
    first = _track_and_finish(transform=spec).transform
    assert (first.type, first.version, first.key) == ("pipeline", "1.2.0", "segment cells")
    same = ls.Transform(name="segment cells", version="1.2.0", type="pipeline")
    assert _track_and_finish(transform=same).transform.uid == first.uid
    newer = _track_and_finish(
        transform=ls.Transform(name="segment cells", version="1.3.0", type="pipeline")
    ).transform
    assert newer.stem_uid == first.stem_uid and newer.uid.endswith("0001") and newer.is_latest
    assert not ls.Transform.get(first.uid).is_latest
    saved = ls.Transform(name="helper", type="function").save()
    assert (
        saved.id is not None and ls.Transform(name="helper", type="function").save().id == saved.id
    )


def test_transform_construction_errors() -> None:
    with pytest.raises(ls.InvalidArgument, match="unknown field"):
        ls.Transform(name="x", colour="red")
    with pytest.raises(ls.InvalidArgument, match="not a transform type"):
        ls.Transform(name="x", type="macro")
    with pytest.raises(ls.InvalidArgument, match="needs a name"):
        ls.Transform(type="pipeline")


def _notebook(path: Path, counts: tuple[int, int]) -> Path:
    cells = [
        {"cell_type": "markdown", "source": ["# Iris QC\n", "Checks the images."]},
        {
            "cell_type": "code",
            "execution_count": counts[0],
            "source": ["import labshelf as ls\n", "ls.track()"],
        },
        {"cell_type": "code", "execution_count": counts[1], "source": "n = 3"},
    ]
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


def test_notebook_in_a_fake_kernel(
    sqlite_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _notebook(tmp_path / "iris_qc.ipynb", (1, 2))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    run = ls.track()
    t = run.transform
    assert (t.type, t.key, t.name, t.source_code) == ("notebook", "iris_qc.ipynb", "Iris QC", None)
    ls.finish()
    run = ls.Run.get(run.uid)
    assert run.transform.source_code == "import labshelf as ls\nls.track()\n\nn = 3"
    assert run.is_consecutive is True
    report = run.report
    assert report.visibility == HIDDEN and report.suffix == ".ipynb" and report.run_id is None
    assert not ls.Artifact.filter(uid=report.uid, visibility=1).exists()
    assert run.outputs.count() == 0
    assert json.loads(report.cache().read_text())["cells"][0]["cell_type"] == "markdown"

    _notebook(nb, (3, 1))  # cells run out of order, same code: same transform
    run2 = _track_and_finish()
    assert run2.transform.uid == t.uid and ls.Run.get(run2.uid).is_consecutive is False


def test_kernel_without_notebook_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    with pytest.raises(ls.InvalidArgument, match="cannot tell which notebook"):
        provenance.detect_source()


def test_no_script_and_finish_without_track(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    monkeypatch.setattr(sys, "argv", ["-c"])
    with pytest.raises(ls.InvalidArgument, match="neither a script nor a notebook"):
        provenance.detect_source()
    with pytest.raises(ls.LabshelfError, match="no active run"):
        ls.finish()


def test_uploads_without_global_state(instance: Path, src: Path) -> None:
    t = provenance.upload_transform("1.0.0")
    assert (t.type, t.key, t.version) == ("upload", provenance.UPLOAD_KEY, "1.0.0")
    assert provenance.upload_transform("1.0.0").id == t.id
    newer = provenance.upload_transform("1.1.0")
    assert newer.stem_uid == t.stem_uid and newer.is_latest
    run = provenance.start_run(newer)
    assert provenance.current_run() is None
    art = ls.Artifact(src / "a.txt", run=run).save()
    provenance.finish_run(run)
    assert (art.run_id, art.transform_id) == (run.id, newer.id)
    assert ls.Run.get(run.uid).finished_at is not None
    assert [a.uid for a in run.outputs] == [art.uid]


def test_an_upload_run_says_where_its_files_came_from(instance: Path, src: Path) -> None:
    run = provenance.start_run(
        provenance.upload_transform("1.0.0"),
        params={"host": "lab-pc", "dropped": [str(src)]},
        reference=str(src),
        reference_type="dropped files",
    )
    ls.Artifact(src / "a.txt", key="drop/a.txt", run=run).save()
    provenance.finish_run(run)
    again = ls.Run.get(run.uid)
    assert (again.reference, again.reference_type) == (str(src), "dropped files")
    assert again.source == f"{src} on host lab-pc"
    text = again.describe(print_it=False)
    assert f".source = {src} on host lab-pc" in text and ".outputs = 1: drop/a.txt" in text
    assert ls.Run(transform=again.transform).source is None


def test_rerun_scripts_as_subprocesses(sqlite_instance: Path, tmp_path: Path) -> None:
    script = tmp_path / "project" / "write_table.py"
    script.parent.mkdir()
    (script.parent / ".git").mkdir()  # a repository: keys are paths in it
    original = SCRIPTS.joinpath("write_table.py").read_text()
    script.write_text(original)
    run_script(script, str(tmp_path))
    run_script(script, str(tmp_path))
    script.write_text(original + "print('v2')\n")
    run_script(script, str(tmp_path))
    elsewhere = script.parent / "sub" / "write_table.py"  # same name, other folder: own family
    elsewhere.parent.mkdir()
    elsewhere.write_text(original)
    run_script(elsewhere, str(tmp_path))
    runs = ls.Run.filter().order_by("started_at").all()
    assert len(runs) == 4
    first, again, versioned, other = (r.transform for r in runs)
    assert again.uid == first.uid and first.key == versioned.key == "write_table.py"
    assert versioned.stem_uid == first.stem_uid and versioned.version == "2"
    assert other.key == "sub/write_table.py" and other.stem_uid != first.stem_uid
    assert all(r.finished_at is not None for r in runs)


def test_concurrent_tracking_makes_one_transform(instance: Path, script: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    same = provenance.read_script(script)
    with ThreadPoolExecutor(max_workers=4) as pool:
        uids = set(pool.map(lambda _: provenance.transform_for_source(same).uid, range(8)))
    assert len(uids) == 1
    changed = [
        provenance.Source(script, "script", script.name, "edit", SCRIPT + f"# {i}\n", f"hash{i}")
        for i in range(4)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(provenance.transform_for_source, changed))
    family = ls.Transform.filter(key=script.name).all()
    assert len({t.uid for t in versions}) == 4 and len(family) == 5
    assert len({t.stem_uid for t in family}) == 1 and sum(t.is_latest for t in family) == 1
