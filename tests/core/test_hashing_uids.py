"""Hashes bit-exact with LaminDB, and uid shapes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from labshelf import hashing
from labshelf.hashing import (
    CHUNK_THRESHOLD,
    SMALL_READ,
    b64,
    hash_bytes,
    hash_collection,
    hash_file,
    hash_files,
    hash_folder_from_hashes,
)
from labshelf.uids import (
    BASE62,
    UID_LENGTHS,
    base62,
    decode_index,
    encode_index,
    new_stem,
    split_uid,
    versioned_uid,
)


def test_md5_vector_from_the_contract(tmp_path: Path) -> None:
    assert hash_bytes(b"a") == ("DMF1ucDxtqgxw5niaXcmYQ", "md5")
    path = tmp_path / "a"
    path.write_bytes(b"a")
    assert hash_file(path) == ("DMF1ucDxtqgxw5niaXcmYQ", "md5")


def test_folder_vector_from_the_contract(tmp_path: Path) -> None:
    files = []
    for i, text in enumerate(["0", "0", "1"]):
        p = tmp_path / f"f{i}"
        p.write_text(text)
        files.append(p)
    hashes = [h for h, _ in hash_files(files)]
    assert hash_folder_from_hashes(hashes) == ("iGtHiFEBV3r1_TFovdQCgw", "md5-d")
    # names are ignored, order is irrelevant
    assert hash_folder_from_hashes(reversed(hashes))[0] == "iGtHiFEBV3r1_TFovdQCgw"


def test_large_file_uses_sha1_first_and_last_chunk(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    size = CHUNK_THRESHOLD + 3 * 1024 * 1024
    with open(path, "wb") as fh:
        fh.write(b"head")
        fh.seek(size - 4)
        fh.write(b"tail")
    data = path.read_bytes()
    first = hashlib.sha1(data[:CHUNK_THRESHOLD]).digest()
    last = hashlib.sha1(data[-CHUNK_THRESHOLD:]).digest()
    expected = b64(hashlib.sha1(first + last).digest())
    assert hash_file(path) == (expected, "sha1-fl")
    assert hash_bytes(data) == (expected, "sha1-fl")


def test_file_exactly_at_threshold_is_md5(tmp_path: Path) -> None:
    path = tmp_path / "edge.bin"
    with open(path, "wb") as fh:
        fh.truncate(CHUNK_THRESHOLD)
    assert hash_file(path)[1] == "md5"


def test_parallel_hashing_matches_serial(tmp_path: Path) -> None:
    files = []
    for i in range(40):
        p = tmp_path / f"{i}.bin"
        p.write_bytes(bytes([i]) * (i * 100 + 1))
        files.append(p)
    assert hash_files(files, max_workers=4) == [hash_file(p) for p in files]


@pytest.mark.parametrize("size", [0, 1, 4096, SMALL_READ - 1, SMALL_READ, SMALL_READ + 1])
def test_small_and_large_reads_give_the_same_hash(tmp_path: Path, size: int) -> None:
    """Small files are read through a plain descriptor, larger ones through a file object:
    the same md5 of the bytes either way, and a file that grew since it was sized (the caller
    passes the old size) never gets the old content's hash on either path."""
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path.write_bytes(data)
    want = b64(hashlib.md5(data).digest())
    assert hash_file(path) == hash_file(path, size) == (want, "md5")
    with open(path, "rb", buffering=0) as fh:
        assert hashing._hash_open(fh, size) == (want, "md5")
    if size:
        old = size - 1  # the file grew by a byte after it was sized
        with open(path, "rb", buffering=0) as fh:
            buffered = hashing._hash_open(fh, old)
        assert hash_file(path, old) == buffered
        assert hash_file(path, old)[0] != b64(hashlib.md5(data[:old]).digest())


def test_short_reads_of_a_small_file_are_joined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read may return fewer bytes than asked (a pipe-backed FUSE file, a signal): the
    small-file path reads on to the end instead of hashing the first piece."""
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 16
    path.write_bytes(data)
    real = hashing.os.read
    monkeypatch.setattr(hashing.os, "read", lambda fd, n: real(fd, min(n, 1000)))
    assert hash_file(path) == (b64(hashlib.md5(data).digest()), "md5")


def test_small_files_on_a_local_disk_are_hashed_in_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing small files is mostly Python holding the GIL: one thread on a local disk; the
    pool for larger files (md5 releases the GIL) and on a network share (each read waits)."""
    small = [tmp_path / f"{i}.bin" for i in range(40)]
    for i, p in enumerate(small):
        p.write_bytes(bytes([i]) * 4096)
    monkeypatch.setattr(hashing.statcache, "on_local_disk", lambda path: True)  # (CI: overlay)
    assert hashing.reads_serially(small, [4096] * 40)
    assert hashing.reads_serially(small, [0, 2 * hashing.SERIAL_READ_MEAN])
    assert not hashing.reads_serially(small, [hashing.SERIAL_READ_MEAN + 1] * 40)
    assert not hashing.reads_serially([], [])
    pools: list[int] = []
    real = hashing.ThreadPoolExecutor

    def spy(max_workers: int, **kw: object) -> object:
        pools.append(max_workers)
        return real(max_workers, **kw)

    monkeypatch.setattr(hashing, "ThreadPoolExecutor", spy)
    serial = hash_files(small, max_workers=4)
    assert pools == [] and serial == [hash_file(p) for p in small]
    folders: list[str] = []

    def share(path: str) -> bool:  # a network share: every folder is asked
        folders.append(path)
        return False

    monkeypatch.setattr(hashing.statcache, "on_local_disk", share)
    assert hash_files(small, max_workers=4) == serial and pools == [4]
    assert folders == [str(tmp_path)]


def test_collection_hash_is_order_independent_and_deduplicated() -> None:
    expected = b64(hashlib.md5(b"a:b").digest())
    assert hash_collection(["b", "a"]) == expected
    assert hash_collection(["a", "b", "a"]) == expected


def test_uids_are_base62_with_versions() -> None:
    for length in UID_LENGTHS.values():
        uid = base62(length)
        assert len(uid) == length and all(c in BASE62 for c in uid)
    stem = new_stem(20)
    assert len(stem) == 16
    assert versioned_uid(stem, 0).endswith("0000")
    assert versioned_uid(stem, 61).endswith("000z")
    assert versioned_uid(stem, 62).endswith("0010")
    assert split_uid(versioned_uid(stem, 1234)) == (stem, 1234)
    assert decode_index(encode_index(62**4 - 1)) == 62**4 - 1
    with pytest.raises(ValueError):
        encode_index(62**4)


def test_suffix_order_is_lexicographic() -> None:
    # the latest version is found with max(uid): base62 order must be ASCII order
    suffixes = [encode_index(i) for i in range(0, 62 * 62 + 5, 7)]
    assert suffixes == sorted(suffixes)
