"""Records as a LaminDB user relies on them, from the point of view of a user script: one
object per save, usable in any later call and thread, transforms and runs, artifacts before
and after saving, in-place registration by path, versions and bad calls."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import labshelf as ls
import pytest


def _file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


# ---------------------------------------------------------------- 1. one object, always usable


def test_save_returns_the_object_itself_and_identity_is_by_id(instance: Path) -> None:
    t = ls.Transform(name="T")
    assert t.save() is t and t.id is not None and t.uid and t.is_latest
    assert ls.Transform.get(t.uid) == t and hash(ls.Transform.get(t.uid)) == hash(t)
    assert ls.Transform.get(t.uid) is not t  # another object of the same record
    r1, r2 = ls.Run(transform=t).save(), ls.Run(transform=t).save()
    assert r1 != r2 and t.runs.count() == 2 and ls.Run.get(r1.uid).transform == t


def test_records_are_usable_in_any_later_call_and_thread(instance: Path, tmp_path: Path) -> None:
    artifact = ls.Artifact(_file(tmp_path, "a.txt", "a"), key="notes/a.txt").save()
    made: dict[str, Any] = {}

    def other_thread() -> None:
        made["transform"] = ls.Transform(name="made elsewhere").save()
        made["found"] = ls.Artifact.filter(key="notes/a.txt").one()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    t = made["transform"]
    run = ls.Run(transform=t).save()
    run.report = made["found"]  # a record fetched in another thread
    run.save()
    again = ls.Run.get(run.uid)
    assert again.report == artifact and again.transform == t
    for record in (ls.Artifact.filter().first(), artifact, made["found"]):
        assert record.storage.root == str(instance) and record.created_by.handle

    def use_main_records() -> None:
        made["run"] = ls.Run(transform=t, report=artifact).save()

    thread = threading.Thread(target=use_main_records)
    thread.start()
    thread.join()
    assert ls.Run.get(made["run"].uid).report == artifact


def test_revises_flips_is_latest_on_the_callers_object_and_refresh(
    instance: Path, tmp_path: Path
) -> None:
    old = ls.Artifact(_file(tmp_path, "a.csv", "x\n1\n"), key="t/a.csv").save()
    new = ls.Artifact(_file(tmp_path, "a.csv", "x\n2\n"), revises=old).save()
    assert new.is_latest and not old.is_latest and new.key == "t/a.csv"
    held = ls.Artifact.get(new.uid)
    newest = ls.Artifact(_file(tmp_path, "a.csv", "x\n3\n"), key="t/a.csv").save()
    assert held.is_latest  # a snapshot: another object was saved after it was read
    assert not held.refresh().is_latest and newest.is_latest and newest.version == "3"


# ---------------------------------------------------------------- 2. transforms and runs


def test_transform_versions_follow_their_source(instance: Path) -> None:
    first = ls.Transform(key="pipelines/segment.py", source_code="print(1)\n").save()
    assert first.hash and first.version == "1"
    same = ls.Transform(key="pipelines/segment.py", source_code="print(1)\n")
    assert same == first and same.id == first.id  # same key and source: the existing one
    second = ls.Transform(key="pipelines/segment.py", source_code="print(2)\n", version="2.0")
    assert second.id is None and second.uid[:-4] == first.stem_uid
    second.save()
    assert second.stem_uid == first.stem_uid and second.is_latest and second.version == "2.0"
    assert not first.refresh().is_latest and second.hash != first.hash
    # transforms have no trash: their family is read without a visibility lookup
    assert [t.uid for t in second.versions] == [first.uid, second.uid]
    with pytest.raises(ls.InvalidArgument, match="Version '2.0'.*other source code"):
        ls.Transform(key="pipelines/segment.py", source_code="print(3)\n", version="2.0")
    with pytest.raises(ls.InvalidArgument, match="key"):
        ls.Transform(key="../escape.py", source_code="x")


def test_runs_and_their_report_and_environment(instance: Path, tmp_path: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="needs its transform"):
        ls.Run()
    with pytest.raises(ls.InvalidArgument, match="saved"):
        ls.Run(transform=ls.Transform(name="never saved"))
    t = ls.Transform(name="qc").save()
    env = ls.Artifact(_file(tmp_path, "requirements.txt", "numpy==2\n")).save()
    report = ls.Artifact(_file(tmp_path, "report.html", "<p>ok</p>")).save()
    run = ls.Run(transform=t, params={"n": 3}).save()
    run.report, run.environment = report, env
    run.save()
    again = ls.Run.get(run.uid)
    assert again.report == report and again.environment == env and again.params == {"n": 3}
    again.environment = {"numpy": "2.0"}
    again.save()
    assert ls.Run.get(run.uid).environment == {"numpy": "2.0"}


def test_track_refuses_script_and_notebook_transforms(instance: Path) -> None:
    for kind in ("script", "notebook"):
        with pytest.raises(ls.InvalidArgument, match=f"ls.track\\(\\) in the {kind}"):
            ls.track(transform=ls.Transform(name=f"x.{kind}", type=kind))


def test_collection_with_a_run_records_its_members_as_inputs(
    instance: Path, tmp_path: Path
) -> None:
    a = ls.Artifact(_file(tmp_path, "a.txt", "a")).save()
    b = ls.Artifact(_file(tmp_path, "b.txt", "b")).save()
    run = ls.Run(transform=ls.Transform(name="bundle").save()).save()
    ls.Collection([a, b], name="ab", run=run).save()
    assert sorted(x.uid for x in run.inputs) == sorted([a.uid, b.uid])


# ---------------------------------------------------------------- 3. artifacts


def test_an_unsaved_artifact_reads_its_source(instance: Path, tmp_path: Path) -> None:
    src = _file(tmp_path, "t.csv", "x,y\n1,2\n")
    a = ls.Artifact(src, key="t/t.csv")
    assert a.id is None and str(a.path) == str(src) and a.cache() == src
    assert list(a.load().columns) == ["x", "y"]
    a.save()
    assert ".labshelf" in str(a.path) and a.cache() != src and a.load().shape == (1, 2)


def test_in_place_registration_is_by_path(instance: Path) -> None:
    one = _file(instance / "raw", "one.txt", "same")
    two = _file(instance / "raw", "two.txt", "same")
    a, b = ls.Artifact(one).save(), ls.Artifact(two).save()
    assert a != b and (a.key, b.key) == ("raw/one.txt", "raw/two.txt") and not a.key_is_virtual
    assert ls.Artifact(one) == a  # the same path again: that path's record
    one.write_text("changed")
    a2 = ls.Artifact(one).save()
    assert a2.stem_uid == a.stem_uid and a2.version == "2" and a2.key == "raw/one.txt"
    moved = instance / "raw" / "moved.txt"
    two.rename(moved)
    c = ls.Artifact(moved).save()
    assert c != b and c.key == "raw/moved.txt"
    problems = ls.doctor()
    assert [(p.kind, p.uid) for p in problems.problems if p.kind == "missing"] == [
        ("missing", b.uid)
    ]
    assert moved.exists()  # doctor never touches a user's files


def test_editing_the_key_of_an_in_place_artifact_moves_its_file(instance: Path) -> None:
    path = _file(instance / "raw", "plate.csv", "w,c\n1,2\n")
    a = ls.Artifact(path).save()
    a.key = "plates/plate1.csv"
    a.save()
    assert not path.exists() and (instance / "plates" / "plate1.csv").exists()
    assert ls.Artifact.get(a.uid).path.read_text() == "w,c\n1,2\n"
    _file(instance / "plates", "taken.csv", "other")
    a.key = "plates/taken.csv"
    with pytest.raises(ls.StorageError, match="exists already"):
        a.save()
    assert ls.Artifact.get(a.uid).key == "plates/plate1.csv"
    for bad, why in ((None, "cannot be removed"), ("plates/plate1.txt", "does not end in")):
        a.refresh()
        a.key = bad
        with pytest.raises(ls.InvalidArgument, match=why):
            a.save()
    a.refresh()
    a.key = ".labshelf/x.csv"
    with pytest.raises(ls.InvalidArgument, match="lies inside .labshelf"):
        a.save()
    assert ls.Artifact.get(a.uid).path.exists()


def test_keys_and_files_inside_labshelfs_own_folder_are_refused(
    instance: Path, tmp_path: Path
) -> None:
    with pytest.raises(ls.InvalidArgument, match="inside .labshelf"):
        ls.Artifact(_file(tmp_path, "a.txt", "a"), key=".labshelf/a.txt")
    inside = _file(instance / ".labshelf", "sneaky.txt", "x")
    with pytest.raises(ls.InvalidArgument, match="labshelf's own folder"):
        ls.Artifact(inside)


def test_loading_a_corrupt_file_names_the_artifact(instance: Path, tmp_path: Path) -> None:
    png = tmp_path / "broken.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    a = ls.Artifact(png).save()
    with pytest.raises(ls.LabshelfError, match=f"artifact {a.uid}.*cannot be read"):
        a.load()
    js = ls.Artifact(_file(tmp_path, "half.json", '{"a": [1, 2')).save()
    with pytest.raises(ls.LabshelfError, match=f"artifact {js.uid}"):
        js.load()


def test_storage_records(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = ls.Storage(root="shared/raw")
    assert s.type == "local" and s.root == str(tmp_path / "shared" / "raw")
    found: list[Any] = []
    threads = [
        threading.Thread(target=lambda: found.append(ls.Storage(root="shared/raw").save()))
        for _ in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({x.id for x in found}) == 1 and ls.Storage.filter(root=s.root).count() == 1
    assert ls.Storage(root="s3://bucket/prefix").type == "s3"
    # seen at once: a file under the new root is registered in place
    f = _file(tmp_path / "shared" / "raw", "x.txt", "x")
    a = ls.Artifact(f).save()
    assert not a.key_is_virtual and a.key == "x.txt" and a.storage == found[0]


# ---------------------------------------------------------------- 4. versions and queries


@pytest.mark.pg
def test_version_order_under_an_icu_collation(pg_server, tmp_path: Path) -> None:
    from labshelf.instance import disconnect

    db = pg_server.create_database(icu_locale="en-US")
    ls.init(str(tmp_path / "store"), db=db.url)
    try:
        t = ls.Transform(key="family", source_code="v0").save()
        for i in range(1, 100):
            t = ls.Transform(key="family", source_code=f"v{i}").save()
        family = ls.Transform.filter(stem_uid=t.stem_uid).order_by("uid").all()
        assert len(family) == 100 and [x.is_latest for x in family].count(True) == 1
        assert family[-1].is_latest and family[-1].uid.endswith("001b")  # index 99
        assert [x.version for x in family] == [str(i) for i in range(1, 101)]
    finally:
        disconnect()


def test_get_and_search_with_bad_input(instance: Path) -> None:
    with pytest.raises(ls.DoesNotExist, match="not a uid at all"):
        ls.Artifact.get("not a uid at all")
    with pytest.raises(ls.InvalidArgument):
        ls.Artifact.search(None)


@pytest.mark.parametrize(
    "call",
    [
        lambda p: ls.Collection(1),
        lambda p: ls.Collection("abc", name="x"),
        lambda p: ls.Artifact(p, p),
        lambda p: ls.Artifact(p, colour="red"),
        lambda p: ls.Artifact(123),
        lambda p: ls.User("x"),
        lambda p: ls.Storage(),
        lambda p: ls.Transform(),
        lambda p: ls.Artifact(),
        lambda p: ls.Collection(),
        lambda p: ls.Artifact.filter(1),
        lambda p: ls.Artifact.get(42),
        lambda p: ls.Artifact.filter(nope=1),
        lambda p: ls.Artifact.filter(size__gt="big").count(),
        lambda p: ls.Run(transform="x"),
        lambda p: ls.Collection([ls.Artifact(p)], name="unsaved member"),
    ],
)
def test_every_bad_call_raises_a_labshelf_error(instance: Path, tmp_path: Path, call: Any) -> None:
    path = _file(tmp_path, "p.txt", "p")
    with pytest.raises(ls.LabshelfError):
        call(str(path))


# ---------------------------------------------------------------- 5. notebook users


def test_notebook_helpers(instance: Path, tmp_path: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"cell": [1, 2], "area": [3.5, 4.0]})
    a = ls.Artifact.from_dataframe(df, key="tables/cells.parquet", description="cells").save()
    assert a.suffix == ".parquet" and a.load().equals(df)
    assert ls.Artifact(df, key="tables/cells.parquet") == a  # same content: the same record
    folder = tmp_path / "plate"
    for name in ("a.txt", "b.txt", ".DS_Store"):
        _file(folder, name, name)
    many = ls.Artifact.from_dir(folder, key="plate")
    assert [x.key for x in many] == ["plate/a.txt", "plate/b.txt"]
    ls.save(many)
    frame = ls.Artifact.filter(key__startswith="plate/").to_dataframe()
    assert sorted(frame["key"]) == ["plate/a.txt", "plate/b.txt"]
    html = ls.Artifact.filter()._repr_html_()
    assert "<table>" in html and "plate/a.txt" in html and "(3)" in html
    assert "<table>" in a._repr_html_() and "tables/cells.parquet" in a._repr_html_()
    graph = a.view_lineage()
    assert "image/svg+xml" in graph._repr_mimebundle_()
