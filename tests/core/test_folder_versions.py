"""Folder versions share unchanged files: hard links on local storage, server-side copies on
S3; every version stays a complete folder, deleting one never breaks another, doctor is clean."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.doctor import doctor
from labshelf.instance import disconnect
from labshelf.keys import object_key


def make_folder(folder: Path, n: int, size: int = 4096) -> Path:
    folder.mkdir(parents=True)
    (folder / "sub").mkdir()
    for i in range(n):
        where = folder / "sub" if i % 3 == 0 else folder
        (where / f"f{i:03d}.bin").write_bytes(i.to_bytes(4, "little") * (size // 4))
    return folder


def stored(root: Path, a: ls.Artifact) -> Path:
    return root / object_key(a.uid, "")


def files_of(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def disk_usage(root: Path) -> int:
    """Bytes of the distinct files (inodes) of the stored objects (not the SQLite file)."""
    seen: dict[int, int] = {}
    for p in (root / ".labshelf").rglob("*"):
        if p.is_file() and not p.name.startswith("labshelf.db"):
            st = p.stat()
            seen[st.st_ino] = st.st_size
    return sum(seen.values())


def test_a_new_folder_version_hard_links_unchanged_files(instance: Path, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "study", 30)
    v1 = ls.Artifact(src, key="studies/s1").save()
    before = disk_usage(instance)
    (src / "f001.bin").write_bytes(b"changed content")
    (src / "new.txt").write_text("a new file")
    v2 = ls.Artifact(src, key="studies/s1").save()
    assert v2.stem_uid == v1.stem_uid and v2.uid != v1.uid and v2.n_objects == 31

    old, new = files_of(stored(instance, v1)), files_of(stored(instance, v2))
    assert set(new) == set(old) | {"new.txt"}
    for rel, path in new.items():
        shared = rel not in ("f001.bin", "new.txt")
        assert (path.stat().st_ino == old[rel].stat().st_ino) is shared if rel in old else True
        assert path.read_bytes() == (src / rel).read_bytes()  # a complete folder of its own
    # the storage grew by the changed bytes only
    assert disk_usage(instance) - before == len(b"changed content") + len("a new file")

    report = doctor()
    assert report.ok, str(report)
    assert report.checked == 2

    v1.delete(permanent=True)
    assert not stored(instance, v1).exists()
    assert files_of(stored(instance, v2)).keys() == new.keys()
    report = doctor()
    assert report.ok, str(report)
    assert ls.Artifact.get(v2.uid).is_latest


def test_revises_and_unchanged_sizes_with_other_bytes(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    """A file of the same size but other bytes is stored anew, never linked."""
    src = make_folder(tmp_path / "d", 6)
    v1 = ls.Artifact(src, description="raw").save()
    target = src / "f002.bin"
    target.write_bytes(b"\xff" * target.stat().st_size)  # same size, other bytes
    v2 = ls.Artifact(src, revises=v1).save()
    old, new = files_of(stored(sqlite_instance, v1)), files_of(stored(sqlite_instance, v2))
    assert new["f002.bin"].stat().st_ino != old["f002.bin"].stat().st_ino
    assert new["f002.bin"].read_bytes() == b"\xff" * 4096
    assert new["f004.bin"].stat().st_ino == old["f004.bin"].stat().st_ino
    assert doctor().ok


def test_a_damaged_earlier_file_is_not_shared(sqlite_instance: Path, tmp_path: Path) -> None:
    """Sharing compares the earlier stored file's bytes, not its name: a stored file that
    was damaged (same size) is not linked into the new version, which stays correct."""
    src = make_folder(tmp_path / "d", 4)
    v1 = ls.Artifact(src, key="d").save()
    damaged = stored(sqlite_instance, v1) / "f002.bin"
    os.chmod(damaged, 0o644)
    damaged.write_bytes(b"\x00" * 4096)
    (src / "f001.bin").write_bytes(b"new")
    v2 = ls.Artifact(src, key="d").save()
    copy = stored(sqlite_instance, v2) / "f002.bin"
    assert copy.read_bytes() == (src / "f002.bin").read_bytes()
    assert copy.stat().st_ino != damaged.stat().st_ino
    report = doctor()
    assert [p.uid for p in report.of_kind("corrupt")] == [v1.uid]


def test_make_latest_of_a_folder_shares_files(sqlite_instance: Path, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "d", 5)
    v1 = ls.Artifact(src, key="d").save()
    (src / "f000.bin").write_bytes(b"x")
    ls.Artifact(src, key="d").save()
    v3 = v1.make_latest()
    assert v3.hash == v1.hash and v3.is_latest
    a, c = files_of(stored(sqlite_instance, v1)), files_of(stored(sqlite_instance, v3))
    assert all(c[r].stat().st_ino == a[r].stat().st_ino for r in a)
    assert doctor().ok


@pytest.fixture
def s3_proxy_root(s3_server, tcp_proxy) -> Iterator[tuple[str, object]]:
    proxy = tcp_proxy(s3_server.port)
    root = "s3://" + s3_server.create_bucket()
    ls.init(root, storage_options={"endpoint_url": proxy.url})
    try:
        yield root, proxy
    finally:
        disconnect()


def test_s3_folder_versions_copy_server_side(s3_proxy_root, tmp_path: Path) -> None:
    """No byte of an unchanged file is uploaded twice (counted at the loopback proxy)."""
    _root, proxy = s3_proxy_root
    size = 64 * 1024
    src = make_folder(tmp_path / "s3", 12, size)
    total = 12 * size
    start = proxy.bytes_sent
    v1 = ls.Artifact(src, key="s3/folder").save()
    first = proxy.bytes_sent - start
    assert first >= total
    (src / "f005.bin").write_bytes(os.urandom(size))
    start = proxy.bytes_sent
    v2 = ls.Artifact(src, key="s3/folder").save()
    second = proxy.bytes_sent - start
    # one changed file's bytes plus requests (copies, listings), far from the folder's size
    assert size <= second < size + total // 4, (first, second)
    assert v2.stem_uid == v1.stem_uid
    assert doctor().ok
    v1.delete(permanent=True)  # S3 copies are independent objects
    report = doctor()
    assert report.ok and report.checked == 1, str(report)
    assert (v2.cache() / "f005.bin").read_bytes() == (src / "f005.bin").read_bytes()


def test_without_hard_links_unchanged_files_are_copied(
    sqlite_instance: Path, tmp_path: Path, monkeypatch
) -> None:
    """Across devices (no hard links) the new version gets copies: still complete, verified."""
    import errno

    from labshelf.storage import local

    src = make_folder(tmp_path / "x", 5)
    v1 = ls.Artifact(src, key="x").save()

    def no_links(a, b):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(local.os, "link", no_links)
    (src / "f001.bin").write_bytes(b"other")
    v2 = ls.Artifact(src, key="x").save()
    a, b = files_of(stored(sqlite_instance, v1)), files_of(stored(sqlite_instance, v2))
    assert all(b[r].stat().st_ino != a[r].stat().st_ino for r in a)
    assert all(b[r].read_bytes() == (src / r).read_bytes() for r in b)
    assert doctor().ok
