"""Content hashes, bit-exact with LaminDB for the same bytes.

- file <= 50 MiB: ``md5`` of the bytes
- larger file: ``sha1-fl`` = sha1(sha1(first 50 MiB) + sha1(last 50 MiB))
- folder: ``md5-d`` = md5 over the md5 digests of the sorted per-file hash strings
- collection: md5 of ``":".join(sorted(set(member hashes)))``

Every digest is rendered as url-safe base64 without padding, first 22 characters.

``hash_file`` and ``hash_files`` read every byte they hash unless the caller passes
``cache=True``: then an unchanged local file is answered from the per-user stat cache (see
``labshelf.statcache`` for why that is safe). Only describing a file or folder to register or
upload it opts in; doctor and every verification of stored or copied bytes hash for real.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import BinaryIO

from . import statcache

CHUNK_THRESHOLD = 50 * 1024 * 1024  # 50 MiB, LaminDB's
READ_BLOCK = 1024 * 1024
CACHED_CHUNK = 64  # files per pool task when hashing through the stat cache
SMALL_READ = 64 * 1024  # files up to this size are read whole, with plain descriptors
SERIAL_READ_MEAN = 64 * 1024  # many files this small on average on a local disk: one thread
READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def mean_at_most(sizes: Iterable[int | None], limit: int) -> bool:
    """Whether there are sizes and their mean is at most ``limit`` (None counts as 0)."""
    count = total = 0
    for size in sizes:
        count += 1
        total += size or 0
    return count > 0 and total <= limit * count


def reads_serially(paths: Iterable[str | os.PathLike[str]], sizes: Iterable[int | None]) -> bool:
    """Whether hashing these files goes best one after the other, in one thread.

    Hashing a small file is an open, a read, a close and a few microseconds of md5 between
    bits of Python: threads only hand the GIL back and forth (10,000 x 4 KB on 2 cores: one
    thread 0.09-0.13 s, a pool 0.24-0.34 s). Threads pay off where each read waits: large
    files (md5 releases the GIL) and network shares (a round trip per call), which keep the
    pool. Each folder's file system is checked (``statcache.on_local_disk``)."""
    if not mean_at_most(sizes, SERIAL_READ_MEAN):
        return False
    folders = {os.path.dirname(os.fspath(p)) for p in paths}
    return all(statcache.on_local_disk(folder or ".") for folder in folders)


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


def hash_file(
    path: str | os.PathLike, size: int | None = None, *, cache: bool = False
) -> tuple[str, str]:
    """Hash of a local file in constant memory: ``(hash, hash_type)``.

    ``cache=True``: an unchanged file (same path, device, inode, size, mtime and ctime as
    when it was last hashed, see ``labshelf.statcache``) is not read again, and the hash of
    one read is remembered when that is safe. Checks of stored bytes never pass it."""
    if cache and statcache.worth(size) and statcache.enabled():
        return _hash_file_cached(path, size)
    if size is None:
        size = os.stat(path).st_size
    if size <= SMALL_READ:
        return _hash_small(path, size)
    with open(path, "rb", buffering=0) as fh:  # (reads of a block or more: no buffer needed)
        return _hash_open(fh, size)


def _hash_small(path: str | os.PathLike, size: int) -> tuple[str, str]:
    """``hash_file`` of a small file: read whole through a plain descriptor (a buffered file
    object costs more to set up than the read). Like ``_hash_open``, it reads up to one byte
    past ``size``, so a file that grew since it was sized gets another hash."""
    fd = os.open(path, READ_FLAGS)
    try:
        data = read_up_to(fd, size + 1)
    finally:
        os.close(fd)
    return b64(hashlib.md5(data).digest()), "md5"


def read_up_to(fd: int, limit: int) -> bytes:
    """The bytes of the open descriptor ``fd`` up to its end or ``limit`` bytes, whichever
    comes first (a read may return less than asked: it reads on)."""
    data = os.read(fd, limit)
    if not data or len(data) >= limit:
        return data
    parts = [data]
    got = len(data)
    while got < limit:
        more = os.read(fd, limit - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _hash_open(fh: BinaryIO, size: int) -> tuple[str, str]:
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


def _cache_key(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    return text if os.path.isabs(text) and os.path.normpath(text) == text else os.path.abspath(text)


def _hash_file_cached(path: str | os.PathLike, size: int | None) -> tuple[str, str]:
    """``hash_file`` through the stat cache: the stat is the open descriptor's (the file
    actually read, wherever a symlink leads), taken before and after reading."""
    key = _cache_key(path)
    started = time.time_ns()
    fd = os.open(path, os.O_RDONLY)  # not a buffered file yet: a hit reads nothing
    try:
        before = os.fstat(fd)
        same = size is None or size == before.st_size  # else the caller saw another file
        same = same and statcache.worth(before.st_size)  # (a small file: read it)
        found = statcache.lookup(key, before) if same else None
    except BaseException:
        os.close(fd)
        raise
    if found is not None:
        os.close(fd)
        return found
    with open(fd, "rb") as fh:
        result = _hash_open(fh, before.st_size if size is None else size)
        after = os.fstat(fd)
    if same:
        statcache.remember(key, before, after, started, result)
    return result


@contextmanager
def cached_batch(paths: Iterable[str | os.PathLike[str]]) -> Iterator[None]:
    """Around many ``hash_file(..., cache=True)`` calls: the stat cache's entries for these
    paths read in a few queries up front, the new ones written in one batch at the end."""
    if not statcache.enabled():
        yield
        return
    with statcache.batch([_cache_key(p) for p in paths]):  # (callers leave out small files)
        yield


def forget_cached_hashes(path: str | os.PathLike[str]) -> None:
    """The stat cache forgets this file, or every file in this folder (their bytes did not
    give the hash it answered): the next ``hash_file(..., cache=True)`` reads them."""
    statcache.forget(path)


def hash_folder_from_hashes(file_hashes: Iterable[str]) -> tuple[str, str]:
    """``md5-d`` of a folder given its per-file hash strings (names are ignored)."""
    outer = hashlib.md5()
    for file_hash in sorted(file_hashes):
        outer.update(hashlib.md5(file_hash.encode("utf-8")).digest())
    return b64(outer.digest()), "md5-d"


def hash_files(
    paths: Sequence[str | os.PathLike[str]], max_workers: int = 8, *, cache: bool = False
) -> list[tuple[str, str]]:
    """Hashes of many local files, in parallel threads (hashlib releases the GIL).

    ``cache=True``: through the stat cache, as ``hash_file``; its entries for these paths
    are read in a few queries up front and the new ones written in one batch at the end."""
    if not cache or not statcache.enabled():
        return _hash_many(paths, max_workers, False)
    with cached_batch(paths):
        return _hash_many(paths, max_workers, True)


def _hash_many(
    paths: Sequence[str | os.PathLike[str]], max_workers: int, cache: bool
) -> list[tuple[str, str]]:
    if len(paths) < 16 or max_workers <= 1 or _small_local(paths):
        return [hash_file(p, cache=cache) for p in paths]
    if not cache:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ls-hash") as pool:
            return list(pool.map(hash_file, paths))
    # through the cache most files are hits (an open and an fstat): tasks of many files
    chunks = [paths[i : i + CACHED_CHUNK] for i in range(0, len(paths), CACHED_CHUNK)]
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ls-hash") as pool:
        parts = pool.map(lambda chunk: [hash_file(p, cache=True) for p in chunk], chunks)
        return [h for part in parts for h in part]


def _small_local(paths: Sequence[str | os.PathLike[str]]) -> bool:
    """``reads_serially`` for paths whose sizes are not known yet (one ``stat`` each)."""
    try:
        sizes = [os.stat(p).st_size for p in paths]
    except OSError:
        return False  # (hashing says what is wrong)
    return reads_serially(paths, sizes)


def hash_collection(member_hashes: Iterable[str]) -> str:
    """The hash of a collection from its members' hashes (order-independent)."""
    joined = ":".join(sorted(set(member_hashes)))
    return b64(hashlib.md5(joined.encode("utf-8")).digest())
