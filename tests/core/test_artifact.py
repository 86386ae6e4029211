"""Artifacts on local storage: save, dedup, in place, versions, access, trash (the scenarios
that do not look at local paths also run on S3 and GCS: test_storage_matrix.py)."""

from __future__ import annotations

import json
from pathlib import Path

import labshelf as ls
import pytest


def test_file_is_copied_under_a_virtual_key(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "a.txt"), description="letter a")
    assert a.hash == "DMF1ucDxtqgxw5niaXcmYQ" and a.hash_type == "md5"
    assert a.size == 1 and a.suffix == ".txt" and a.n_objects is None
    assert len(a.uid) == 20 and a.uid.endswith("0000")
    a.save()
    assert a.key_is_virtual and a.is_latest and a.visibility == 1
    stored = instance / ".labshelf" / f"{a.uid}.txt"
    assert stored.read_bytes() == b"a"
    assert Path(str(a.path)) == stored
    assert a.storage.root == str(instance.resolve())
    assert a.created_by.handle == "testuser"
    assert ls.Artifact.get(a.uid).description == "letter a"


def test_folder_artifact(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "study0"), key="iris/study0").save()
    assert a.hash == "iGtHiFEBV3r1_TFovdQCgw" and a.hash_type == "md5-d"
    assert a.n_objects == 3 and a.size == 3 and a.suffix == ""
    stored = instance / ".labshelf" / a.uid
    assert sorted(p.name for p in stored.iterdir()) == ["0.txt", "1.txt", "2.txt"]
    assert a.cache() == stored


def test_same_content_returns_the_existing_record(
    instance: Path, src: Path, tmp_path: Path
) -> None:
    a = ls.Artifact(str(src / "a.txt")).save()
    copy = tmp_path / "elsewhere.txt"
    copy.write_bytes(b"a")
    again = ls.Artifact(str(copy))
    assert again.id == a.id and again.uid == a.uid
    assert ls.Artifact.filter().count() == 1


def test_trashed_duplicate_is_a_clear_error(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "a.txt")).save()
    a.delete()
    with pytest.raises(ls.IntegrityError, match=f"in the trash \\(uid {a.uid}\\).*restore"):
        ls.Artifact(str(src / "a.txt"))
    a.restore()
    assert ls.Artifact(str(src / "a.txt")).uid == a.uid


def test_path_inside_storage_is_registered_in_place(instance: Path) -> None:
    data = instance / "raw" / "plate1.csv"
    data.parent.mkdir(parents=True)
    data.write_text("well,od\nA1,0.5\n")
    a = ls.Artifact(str(data)).save()
    assert a.key == "raw/plate1.csv" and not a.key_is_virtual
    assert Path(str(a.path)) == data.resolve()
    assert not list((instance / ".labshelf").glob(f"{a.uid}*"))
    with pytest.raises(ls.InvalidArgument, match="registered in place"):
        data2 = instance / "raw" / "plate2.csv"
        data2.write_text("other")
        ls.Artifact(str(data2), key="somewhere/else.csv")
    a.delete(permanent=True)
    assert data.exists(), "a file registered in place is never deleted"


def test_versions_by_revises_and_by_key(instance: Path, tmp_path: Path) -> None:
    f = tmp_path / "plate.csv"
    f.write_text("v1")
    v1 = ls.Artifact(str(f), key="plates/plate.csv", description="plate").save()
    f.write_text("v2")
    v2 = ls.Artifact(str(f), revises=v1).save()
    f.write_text("v3")
    v3 = ls.Artifact(str(f), key="plates/plate.csv").save()  # same key -> next version
    assert [v.uid for v in v3.versions] == [v1.uid, v2.uid, v3.uid]
    assert v2.uid[:16] == v1.uid[:16] and v2.uid.endswith("0001") and v3.uid.endswith("0002")
    assert v2.key == "plates/plate.csv" and v2.description == "plate"
    assert [v.is_latest for v in v3.versions] == [False, False, True]
    assert [v.version for v in v3.versions] == ["1", "2", "3"]
    # each version has its own object: nothing overwritten
    assert v1.path.read_text() == "v1"  # a UPath: also on S3/GCS (test_storage_matrix.py)
    assert v3.path.read_text() == "v3"
    # a stem prefix gets the latest version
    assert ls.Artifact.get(v1.uid[:16]).uid == v3.uid


def test_folder_versions_never_overwrite_each_other(instance: Path, src: Path) -> None:
    v1 = ls.Artifact(str(src / "study0"), key="iris/study0").save()
    (src / "study0" / "3.txt").write_text("new")
    v2 = ls.Artifact(str(src / "study0"), key="iris/study0").save()
    assert v2.uid != v1.uid and v2.stem_uid == v1.stem_uid
    assert len(list(v1.path.iterdir())) == 3
    assert len(list(v2.path.iterdir())) == 4


def test_deleting_the_latest_promotes_the_previous(instance: Path, tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("1")
    v1 = ls.Artifact(str(f), key="x.txt").save()
    f.write_text("2")
    v2 = ls.Artifact(str(f), key="x.txt").save()
    v2.delete()
    assert ls.Artifact.get(v1.uid).is_latest
    assert ls.Artifact.filter(key="x.txt").count() == 1
    assert ls.Artifact.filter(key="x.txt", visibility=-1).one().uid == v2.uid
    v2.restore()
    assert ls.Artifact.get(v2.uid).is_latest and not ls.Artifact.get(v1.uid).is_latest


def test_permanent_delete_removes_virtual_object(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "a.txt")).save()
    stored = Path(str(a.path))
    a.delete(permanent=True)
    assert not stored.exists()
    with pytest.raises(ls.DoesNotExist):
        ls.Artifact.get(a.uid)


def test_load_by_suffix(instance: Path, tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "t.csv").write_text("x,y\n1,2\n")
    (tmp_path / "t.tsv").write_text("x\ty\n1\t2\n")
    (tmp_path / "d.json").write_text(json.dumps({"a": [1, 2]}))
    (tmp_path / "n.txt").write_text("hello")
    Image.new("RGB", (4, 3), (200, 10, 10)).save(tmp_path / "i.png")
    (tmp_path / "blob.xyz").write_bytes(b"\x00\x01")
    assert ls.Artifact(str(tmp_path / "t.csv")).save().load().shape == (1, 2)
    assert list(ls.Artifact(str(tmp_path / "t.tsv")).save().load().columns) == ["x", "y"]
    assert ls.Artifact(str(tmp_path / "d.json")).save().load() == {"a": [1, 2]}
    assert ls.Artifact(str(tmp_path / "n.txt")).save().load() == "hello"
    assert ls.Artifact(str(tmp_path / "i.png")).save().load().size == (4, 3)
    with pytest.raises(ls.InvalidArgument, match="cache\\(\\)"):
        ls.Artifact(str(tmp_path / "blob.xyz")).save().load()


def test_replace_makes_a_new_version(instance: Path, tmp_path: Path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("one")
    a = ls.Artifact(str(f), key="r.txt").save()
    g = tmp_path / "r2.txt"
    g.write_text("two")
    b = a.replace(str(g))
    assert b.stem_uid == a.stem_uid and b.is_latest and b.load() == "two"
    folder = tmp_path / "a-folder"  # a folder of its own (not one holding the storage)
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    with pytest.raises(ls.InvalidArgument, match="is a file; .* is a folder"):
        b.replace(str(folder))


def test_metadata_edit_then_save(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "a.txt")).save()
    a.description = "edited"
    a.save()
    assert ls.Artifact.get(a.uid).description == "edited"


def test_describe_prints_a_tree(
    instance: Path, src: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = ls.Artifact(str(src / "table.csv"), key="t/table.csv").save()
    text = a.describe()
    assert text in capsys.readouterr().out
    for fragment in (
        f".uid = {a.uid}",
        ".key = t/table.csv",
        ".hash_type = md5",
        ".created_by = testuser",
    ):
        assert fragment in text


def test_bulk_save_many_files(instance: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        (folder / f"{i:03d}.txt").write_text(f"content {i}")
    arts = [ls.Artifact(str(p), key=f"many/{p.name}") for p in sorted(folder.iterdir())]
    ls.save(arts)
    assert ls.Artifact.filter(key__startswith="many/").count() == 300
    assert all(a.id and a.is_latest for a in arts)
    for a in arts[::50]:
        assert a.path.read_text() == f"content {int(a.key[5:8])}"


def test_ls_save_skips_duplicates_within_a_batch(instance: Path, tmp_path: Path) -> None:
    for name in ("x1.txt", "x2.txt"):
        (tmp_path / name).write_text("same bytes")
    a1, a2 = ls.Artifact(str(tmp_path / "x1.txt")), ls.Artifact(str(tmp_path / "x2.txt"))
    ls.save([a1, a2])
    assert ls.Artifact.filter(hash=a1.hash).count() == 1


def test_make_an_old_version_the_latest_again(instance: Path, tmp_path: Path) -> None:
    f = tmp_path / "m.txt"
    f.write_text("first")
    v1 = ls.Artifact(str(f), key="m.txt").save()
    f.write_text("second")
    v2 = ls.Artifact(str(f), key="m.txt").save()
    v3 = v1.make_latest()
    assert v3.uid.endswith("0002") and v3.stem_uid == v1.stem_uid
    assert v3.hash == v1.hash and v3.is_latest and v3.key == "m.txt"
    assert [v.is_latest for v in v3.versions] == [False, False, True]
    assert v3.load() == "first"
    assert Path(str(v3.path)) != Path(str(v1.path)), (
        "its own object, so deleting one keeps the other"
    )
    assert v2.make_latest().load() == "second"


def test_in_place_versions_cannot_be_made_latest(instance: Path) -> None:
    f = instance / "raw" / "p.csv"
    f.parent.mkdir()
    f.write_text("a")
    v1 = ls.Artifact(str(f)).save()
    f.write_text("b")
    ls.Artifact(str(f)).save()
    with pytest.raises(ls.InvalidArgument, match="registered in place"):
        ls.Artifact.get(v1.uid).make_latest()
