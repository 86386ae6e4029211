"""Collections: ordered members, order-independent hash, versions, dedup."""

from __future__ import annotations

from pathlib import Path

import labshelf as ls
import pytest
from labshelf.hashing import hash_collection


def _arts(tmp_path: Path, n: int) -> list[ls.Artifact]:
    out = []
    for i in range(n):
        p = tmp_path / f"m{i}.txt"
        p.write_text(f"member {i}")
        out.append(ls.Artifact(str(p), key=f"m/{i}.txt").save())
    return out


def test_members_keep_their_order(instance: Path, tmp_path: Path) -> None:
    a, b, c = _arts(tmp_path, 3)
    col = ls.Collection([c, a, b], name="batch", description="three").save()
    assert [m.uid for m in col.artifacts] == [c.uid, a.uid, b.uid]
    assert col.hash == hash_collection([a.hash, b.hash, c.hash])
    assert col.uid.endswith("0000") and col.is_latest and col.version == "1"


def test_same_members_in_another_order_is_the_same_collection(
    instance: Path, tmp_path: Path
) -> None:
    a, b = _arts(tmp_path, 2)
    col = ls.Collection([a, b], name="pair").save()
    again = ls.Collection([b, a], name="pair")
    assert again.id == col.id


def test_versions_by_revises_and_by_name(instance: Path, tmp_path: Path) -> None:
    a, b, c = _arts(tmp_path, 3)
    v1 = ls.Collection([a], name="growing").save()
    v2 = ls.Collection([a, b], revises=v1).save()
    v3 = ls.Collection([a, b, c], name="growing").save()
    assert [v.uid for v in v3.versions] == [v1.uid, v2.uid, v3.uid]
    assert v2.name == "growing" and v3.uid.endswith("0002")
    assert ls.Collection.filter(name="growing").count() == 3  # every version, as in LaminDB
    assert ls.Collection.filter(name="growing", is_latest=True).one().uid == v3.uid
    assert ls.Collection.get(v1.uid[:16]).uid == v3.uid
    assert v3.artifacts.count() == 3


def test_collection_bad_input(instance: Path, tmp_path: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="at least one artifact"):
        ls.Collection([], name="empty")
    p = tmp_path / "unsaved.txt"
    p.write_text("unsaved")
    with pytest.raises(ls.InvalidArgument, match="not saved yet"):
        ls.Collection([ls.Artifact(str(p))], name="x")
    (a,) = _arts(tmp_path, 1)
    with pytest.raises(ls.InvalidArgument, match="needs a name"):
        ls.Collection([a])


def test_trashed_collection_duplicate(instance: Path, tmp_path: Path) -> None:
    (a,) = _arts(tmp_path, 1)
    col = ls.Collection([a], name="t").save()
    col.delete()
    with pytest.raises(ls.IntegrityError, match="in the trash"):
        ls.Collection([a], name="t")
    col.restore()
    assert ls.Collection.filter(name="t").count() == 1


def test_make_an_old_collection_version_the_latest(instance: Path, tmp_path: Path) -> None:
    a, b = _arts(tmp_path, 2)
    v1 = ls.Collection([a], name="c").save()
    v2 = ls.Collection([a, b], name="c").save()
    assert v1.is_latest  # a record is a snapshot: saving v2 by name leaves v1 as it was read
    assert not v1.refresh().is_latest and v2.is_latest
    v3 = v1.make_latest()
    assert v3.uid.endswith("0002") and v3.is_latest and not v2.refresh().is_latest
    assert [m.uid for m in v3.artifacts] == [a.uid]


def test_transform_delete_rules(instance: Path) -> None:
    t = ls.Transform(name="cleanup", type="pipeline", version="1").save()
    with pytest.raises(ls.InvalidArgument, match="no trash"):
        t.delete()
    t.delete(permanent=True)
    assert ls.Transform.filter(name="cleanup").count() == 0
    used = ls.Transform(name="used", type="pipeline", version="1").save()
    ls.Run(transform=used).save()
    with pytest.raises(ls.IntegrityError, match="1 run"):
        used.delete(permanent=True)
