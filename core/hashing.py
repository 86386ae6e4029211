"""Content hashes, bit-exact with LaminDB for the same bytes.

- file <= 50 MiB: ``md5`` of the bytes
- larger file: ``sha1-fl`` = sha1(sha1(first 50 MiB) + sha1(last 50 MiB))
- folder: ``md5-d`` = md5 over the md5 digests of the sorted per-file hash strings
- collection: md5 of ``":".join(sorted(set(member hashes)))``

Every digest is rendered as url-safe base64 without padding, first 22 characters.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

CHUNK_THRESHOLD = 50 * 1024 * 1024  # 50 MiB, LaminDB's
READ_BLOCK = 1024 * 1024


def b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:22]


def hash_bytes(data: bytes) -> tuple[str, str]:
    """Hash of an in-memory blob: ``(hash, hash_type)``."""
    if len(data) <= CHUNK_THRESHOLD:
        return b64(hashlib.md5(data).digest()), "md5"
    first = hashlib.sha1(data[:CHUNK_THRESHOLD]).digest()
    last = hashlib.sha1(data[-CHUNK_THRESHOLD:]).digest()
    return b64(hashlib.sha1(first + last).digest()), "sha1-fl"


def _digest_range(fh: BinaryIO, hasher: hashlib._Hash, n_bytes: int) -> None:
    remaining = n_bytes
    while remaining > 0:
        block = fh.read(min(READ_BLOCK, remaining))
        if not block:
            break
        hasher.update(block)
        remaining -= len(block)


def hash_file(path: str | os.PathLike, size: int | None = None) -> tuple[str, str]:
    """Hash of a local file in constant memory: ``(hash, hash_type)``."""
    if size is None:
        size = os.stat(path).st_size
    with open(path, "rb") as fh:
        if size <= CHUNK_THRESHOLD:
            hasher = hashlib.md5()
            _digest_range(fh, hasher, size + 1)
            return b64(hasher.digest()), "md5"
        first = hashlib.sha1()
        _digest_range(fh, first, CHUNK_THRESHOLD)
        fh.seek(size - CHUNK_THRESHOLD)
        last = hashlib.sha1()
        _digest_range(fh, last, CHUNK_THRESHOLD)
    return b64(hashlib.sha1(first.digest() + last.digest()).digest()), "sha1-fl"


def hash_folder_from_hashes(file_hashes: Iterable[str]) -> tuple[str, str]:
    """``md5-d`` of a folder given its per-file hash strings (names are ignored)."""
    outer = hashlib.md5()
    for file_hash in sorted(file_hashes):
        outer.update(hashlib.md5(file_hash.encode("utf-8")).digest())
    return b64(outer.digest()), "md5-d"


def hash_files(
    paths: Sequence[str | os.PathLike[str]], max_workers: int = 8
) -> list[tuple[str, str]]:
    """Hashes of many local files, in parallel threads (hashlib releases the GIL)."""
    if len(paths) < 16 or max_workers <= 1:
        return [hash_file(p) for p in paths]
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ls-hash") as pool:
        return list(pool.map(hash_file, paths, chunksize=32))


def hash_collection(member_hashes: Iterable[str]) -> str:
    """The hash of a collection from its members' hashes (order-independent)."""
    joined = ":".join(sorted(set(member_hashes)))
    return b64(hashlib.md5(joined.encode("utf-8")).digest())
