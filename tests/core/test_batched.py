"""The batched registration path (``Artifact.from_dir``, ``ls.upload``, ``ls.save`` of many):
the same results as one ``Artifact()`` per file, with one query per few hundred files."""

from __future__ import annotations

from pathlib import Path

import labshelf as ls
import pytest
from labshelf import artifact as art
from labshelf.storage import LocalFile, local
from labshelf.uids import split_uid


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def test_from_dir_matches_one_artifact_per_file(instance: Path, tmp_path: Path) -> None:
    """Registered content comes back as its record, new content under a used key becomes the
    next version, twins in one folder are saved once, empty files are registered by key."""
    old = write(tmp_path / "old", {"a.txt": b"alpha", "k.txt": b"version one"})
    alpha = ls.Artifact(old / "a.txt", key="elsewhere/a.txt").save()
    first = ls.Artifact(old / "k.txt", key="d/k.txt").save()
    src = write(
        tmp_path / "d",
        {
            "a.txt": b"alpha",  # registered already (other key): its record
            "k.txt": b"version two",  # new content under a used key: next version
            "sub/x.txt": b"twin",
            "sub/y.txt": b"twin",  # the same content twice in one batch
            "empty.txt": b"",
        },
    )
    got = {
        Path(a.path).name if a.id is None else a.uid: a for a in ls.Artifact.from_dir(src, key="d")
    }
    assert got[alpha.uid] == alpha
    new = [a for a in got.values() if a.id is None]
    by_key = {a.key: a for a in new}
    assert set(by_key) == {"d/k.txt", "d/sub/x.txt", "d/sub/y.txt", "d/empty.txt"}
    k = by_key["d/k.txt"]
    assert k.stem_uid == first.stem_uid and split_uid(k.uid)[1] == 1
    # the same as the one-by-one constructor would say, field by field
    single = ls.Artifact(src / "k.txt", key="d/k.txt")
    for name in ("hash", "hash_type", "size", "suffix", "stem_uid", "uid", "key_is_virtual"):
        assert getattr(single, name) == getattr(k, name), name
    ls.save(list(got.values()))
    assert ls.Artifact.filter(key__startswith="d/").count() == 4  # twins saved once
    assert ls.Artifact.get(k.uid).is_latest and not ls.Artifact.get(first.uid).is_latest
    again = ls.Artifact.from_dir(src, key="d")
    assert all(a.id is not None for a in again if a.size)  # everything with content is known


def test_from_dir_refuses_content_in_the_trash(sqlite_instance: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "t", {"a.bin": b"trashed", "b.bin": b"fresh"})
    gone = ls.Artifact(src / "a.bin", key="t/a.bin").save()
    gone.delete()
    with pytest.raises(ls.IntegrityError, match=gone.uid):
        ls.Artifact.from_dir(src, key="t")


def test_from_dir_in_place_files(sqlite_instance: Path) -> None:
    """Files inside the storage root are registered by path; changed ones get a version."""
    data = write(sqlite_instance / "raw", {"p1.csv": b"x,y\n1,2\n", "p2.csv": b"x,y\n3,4\n"})
    first = ls.save(ls.Artifact.from_dir(data))
    assert {a.key for a in first} == {"raw/p1.csv", "raw/p2.csv"}
    assert not any(a.key_is_virtual for a in first)
    assert [a.uid for a in ls.Artifact.from_dir(data)] == [a.uid for a in first]
    (data / "p2.csv").write_bytes(b"x,y\n5,6\n")
    second = ls.Artifact.from_dir(data)
    changed = next(a for a in second if a.key == "raw/p2.csv")
    assert changed.id is None and changed.stem_uid == first[1].stem_uid
    ls.save(second)
    assert ls.Artifact.get(changed.uid).is_latest


def test_save_many_numbers_versions_of_one_family(instance: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "v", {"one.txt": b"1", "two.txt": b"2", "three.txt": b"3"})
    base = ls.Artifact(src / "one.txt", key="v.txt").save()
    two = ls.Artifact(src / "two.txt", revises=base)
    three = ls.Artifact(src / "three.txt", revises=base)
    ls.save([two, three])
    indexes = sorted(split_uid(a.uid)[1] for a in (two, three))
    assert indexes == [1, 2]
    latest = ls.Artifact.filter(stem_uid=base.stem_uid, is_latest=True).one()
    assert split_uid(latest.uid)[1] == 2


def test_artifacts_of_files_mixed_keys(sqlite_instance: Path, tmp_path: Path) -> None:
    """Keys given, missing and already used, through the bulk builder directly."""
    src = write(tmp_path / "m", {"a.txt": b"a1", "b.txt": b"b1", "c.txt": b"c1"})
    used = ls.Artifact(src / "a.txt", key="m/a.txt").save()
    (src / "a.txt").write_bytes(b"a2")
    files = [LocalFile(src / n, n, (src / n).stat().st_size) for n in ("a.txt", "b.txt", "c.txt")]
    out = art.artifacts_of_files(files, ["m/a.txt", None, "m/c.txt"], description="bulk")
    assert [a.key for a in out] == ["m/a.txt", None, "m/c.txt"]
    assert out[0].stem_uid == used.stem_uid and out[0].description == "bulk"
    assert len({a.stem_uid for a in out}) == 3
    ls.save(out)
    assert ls.Artifact.filter(description="bulk").count() == 3


def test_upload_of_files_under_used_keys_makes_versions(instance: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "u", {"a.txt": b"one", "b.txt": b"two"})
    report = ls.upload(src, as_folder=False, key_prefix="up")
    assert report.ok and report.counts == {"done": 2}
    (src / "a.txt").write_bytes(b"changed")
    again = ls.upload(src, as_folder=False, key_prefix="up")
    assert again.counts == {"done": 1, "duplicate": 1}
    a_versions = ls.Artifact.filter(key="up/u/a.txt").order_by("uid").all()
    assert len(a_versions) == 2 and a_versions[0].stem_uid == a_versions[1].stem_uid
    assert [v.is_latest for v in a_versions] == [False, True]


def test_local_copies_use_at_most_one_thread_per_cpu(
    sqlite_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copying many small files into local storage is mostly Python holding the GIL: one
    thread for small files (two only hand the GIL and the folder's lock back and forth), no
    more threads than CPUs for larger ones (``max_workers`` stays the cap); the cloud keeps
    ``max_workers``."""
    import os

    assert not art.statcache.on_local_disk(str(tmp_path / "nowhere"))  # (cannot be told)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert art.local_workers(8) == 2
    assert art.local_workers(1) == 1
    assert local.small_files([4096] * 10) and local.small_files([0, 64 * 1024])
    assert not local.small_files([]) and not local.small_files([64 * 1024 + 1, 64 * 1024])
    monkeypatch.setattr(art, "is_cloud", lambda root: True)
    assert art.store_workers(8, [1], [4096] * 10) == 8
    monkeypatch.undo()
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: True)  # (CI may be overlay)
    assert art.store_workers(8, [1], [4096] * 10) == 1
    assert art.store_workers(8, [1], [10**6] * 10) == 2
    # a network share keeps its threads: they hide each call's round trip
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: False)
    assert art.store_workers(8, [1], [4096] * 10) == 2
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: True)
    pools = spy_pools(monkeypatch)
    src = write(tmp_path / "many", {f"f{i:03d}.txt": f"file {i}".encode() for i in range(300)})
    saved = ls.save(ls.Artifact.from_dir(src, key="many"))
    assert len(saved) == 300 and all(a.id is not None for a in saved)
    assert not [p for p in pools if p[0] == "ls-store"]  # small files: this thread copies
    monkeypatch.setattr(local, "SERIAL_COPY_MEAN", 4)  # these files count as large
    src = write(tmp_path / "more", {f"g{i:03d}.txt": f"other {i}".encode() for i in range(300)})
    saved = ls.save(ls.Artifact.from_dir(src, key="more"))
    assert len(saved) == 300 and all(a.id is not None for a in saved)
    assert ("ls-store", 2) in pools
    assert not [p for p in pools if p[0] == "ls-store" and p[1] > 2]


def spy_pools(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The (thread name prefix, size) of every pool ``labshelf.artifact`` makes from now."""
    pools: list[tuple[str, int]] = []
    real = art.ThreadPoolExecutor

    def spy(max_workers: int, thread_name_prefix: str = "", **kw: object) -> object:
        pools.append((thread_name_prefix, max_workers))
        return real(max_workers, thread_name_prefix=thread_name_prefix)

    monkeypatch.setattr(art, "ThreadPoolExecutor", spy)
    return pools


def test_small_local_files_are_hashed_in_one_thread(
    sqlite_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from_dir`` and a folder artifact hash small files on a local disk in this thread
    (a pool only hands the GIL around); larger files and a network share keep the pool. The
    hashes are the same either way."""
    pools = spy_pools(monkeypatch)
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: True)  # (CI may be overlay)
    src = write(tmp_path / "many", {f"d{i % 3}/f{i:03d}.txt": b"x" * i for i in range(300)})
    serial = art.Artifact.from_dir(src, key="many")
    folder = ls.Artifact(str(src), key="many-folder")
    assert not [p for p in pools if p[0] == "ls-hash"]
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: False)  # a share
    pooled = art.Artifact.from_dir(src, key="many")
    again = ls.Artifact(str(src), key="many-folder")
    assert [p for p in pools if p[0] == "ls-hash"]
    assert [a.hash for a in serial] == [a.hash for a in pooled] and folder.hash == again.hash
