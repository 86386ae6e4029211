"""The download cache of cloud objects: ``<cache dir>/<bucket>/<prefix>/<key>``.

Every name a listing returns is checked before it becomes a local path (a relative,
normalized path below the object's folder; see ``keys.safe_relative``), so no object name can
make labshelf write outside the cache. A cached object holds exactly what was registered: a
folder's listing must still give the recorded content hash, files that are not in it are
removed from the cached copy, and what was downloaded is re-hashed before it is handed out.

A file is downloaded to a temporary name next to its place and renamed, so a partial
download never looks complete. Its modification time is set to the remote object's, so a
changed remote object (other size or time) is fetched again; its access time records the
last use, for least-recently-used eviction down to ``max_bytes`` (no cap when None).
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from ..errors import StorageError
from ..hashing import hash_file, hash_files, hash_folder_from_hashes
from .base import Entry, Expected
from .remote import object_hash, translate
from .views import VIEWS_DIR

TMP_MARK = ".labshelf-tmp-"
DOWNLOAD_WORKERS = 8  # a folder's files are fetched this many at a time

# on_progress(files_done, files_total, bytes_done, bytes_total), after each file
CacheProgress = Callable[[int, int, int, int], None]


class Remote(Protocol):
    """What the cache needs of a cloud backend."""

    root: str
    kind: str
    bucket: str
    prefix: str

    @property
    def fs(self) -> Any: ...

    def url(self, key: str) -> str: ...

    def stat(self, key: str) -> Entry | None: ...

    def list(self, key: str) -> list[Entry]: ...


def download(
    backend: Remote,
    key: str,
    cache_dir: Path,
    expected: Expected,
    max_bytes: int | None,
    *,
    max_workers: int = DOWNLOAD_WORKERS,
    on_progress: CacheProgress | None = None,
) -> Path:
    """Download the object ``key`` (file or folder) once and return its local path.

    A folder's files are fetched ``max_workers`` at a time; ``on_progress`` (called from the
    download threads) hears after each file, up-to-date files included."""
    url = backend.url(key)
    rel = f"{backend.prefix}/{key}" if backend.prefix else key
    local = cache_dir / backend.bucket / rel
    if expected.n_objects is None:
        entry = backend.stat(key)
        if entry is None:
            raise StorageError(f"The object {url} is missing.")
        _check_tags(backend, [entry], expected, url)
        fetched = _fetch_all(backend.fs, [(entry, local)], url, 1, on_progress)
        if fetched and expected.hash_type in ("md5", "sha1-fl"):
            _verify(hash_file(local)[0], expected, url, [local])
    else:
        entries = backend.list(key)
        if not entries:
            raise StorageError(f"The folder {url} is missing.")
        _check_tags(backend, entries, expected, url)
        targets = [local / e.rel for e in entries]
        jobs = list(zip(entries, targets, strict=True))
        fetched = _fetch_all(backend.fs, jobs, url, max_workers, on_progress)
        _drop_extras(local, set(targets))
        if fetched and not expected.in_place:
            got = hash_folder_from_hashes(h for h, _ in hash_files(targets))[0]
            _verify(got, expected, url, targets)
    evict(cache_dir, max_bytes, keep=local)
    return local


def _fetch_all(
    fs: Any,
    jobs: list[tuple[Entry, Path]],
    url: str,
    max_workers: int,
    on_progress: CacheProgress | None,
) -> bool:
    """Fetch the files of ``jobs`` (entry, local target) in a thread pool; whether any was
    downloaded (rather than current in the cache already)."""
    total_bytes = sum(entry.size for entry, _ in jobs)
    done = [0, 0]  # files, bytes
    lock = threading.Lock()

    def one(job: tuple[Entry, Path]) -> bool:
        entry, target = job
        fetched = _fetch_if_changed(fs, entry, target, url)
        if on_progress is not None:
            with lock:
                done[0] += 1
                done[1] += entry.size
                counts = (done[0], len(jobs), done[1], total_bytes)
            on_progress(*counts)
        return fetched

    if len(jobs) == 1 or max_workers <= 1:
        results = [one(job) for job in jobs]  # every job runs: no short cut
        return any(results)
    pool = ThreadPoolExecutor(min(max_workers, len(jobs)), thread_name_prefix="ls-cache")
    try:
        results = [f.result() for f in [pool.submit(one, job) for job in jobs]]
        return any(results)
    finally:  # after a failure or Ctrl+C: the files being fetched end, the rest never start
        pool.shutdown(wait=True, cancel_futures=True)


def _check_tags(backend: Remote, entries: list[Entry], expected: Expected, url: str) -> None:
    """Before downloading: the listing must still be what was registered (where the
    backend's content tags can tell, and always by file count and size)."""
    size = sum(e.size for e in entries)
    count = None if expected.n_objects is None else len(entries)
    if count != expected.n_objects or (expected.size is not None and size != expected.size):
        raise StorageError(
            f"{url} no longer matches its record ({len(entries)} object(s), {size} bytes now; "
            f"registered: {expected.n_objects or 1} object(s), {expected.size} bytes): it was "
            "changed in the bucket after it was registered; register it again to record the "
            "new content."
        )
    if not expected.in_place or expected.hash is None:
        return
    if expected.n_objects is None:
        tag = entries[0].tag
        got = object_hash(backend.kind, tag, url)[0] if tag else None
    elif all(e.tag for e in entries):
        got = hash_folder_from_hashes(e.tag or "" for e in entries)[0]
    else:
        got = None
    if got is not None and got != expected.hash:
        raise StorageError(
            f"The content of {url} changed in the bucket after it was registered (hash {got}, "
            f"registered {expected.hash}); register it again to record the new content."
        )


def _verify(got: str, expected: Expected, url: str, written: list[Path]) -> None:
    if expected.hash is not None and got != expected.hash:
        for path in written:
            path.unlink(missing_ok=True)
        raise StorageError(
            f"The bytes downloaded from {url} do not match its record (hash {got}, registered "
            f"{expected.hash}); it was changed in the bucket after it was registered."
        )


def _fetch_if_changed(fs: Any, entry: Entry, target: Path, url: str) -> bool:
    """Download ``entry`` to ``target`` unless the cached copy is current; whether it did."""
    mtime, size = entry.mtime, entry.size
    try:
        st = target.stat()
        if st.st_size == size and (mtime is None or abs(st.st_mtime - mtime) < 1e-3):
            os.utime(target, (time.time(), st.st_mtime))  # last use, for LRU eviction
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}{TMP_MARK}{secrets.token_hex(4)}")
    try:
        fs.get_file(entry.path, str(tmp))
        if tmp.stat().st_size != size:
            raise StorageError(f"The download of {url} was incomplete; try again.")
        os.utime(tmp, (time.time(), mtime if mtime is not None else time.time()))
        os.replace(tmp, target)
    except StorageError:
        raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StorageError(f"The disk is full: could not download {url} to {target}.") from None
        raise translate(exc, url) from None
    except Exception as exc:  # noqa: BLE001 - every backend error becomes one sentence
        raise translate(exc, url) from None
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _drop_extras(folder: Path, wanted: set[Path]) -> None:
    """Remove cached files of a folder that the registered folder does not have."""
    for path in folder.rglob("*"):
        if path.is_file() and path not in wanted and TMP_MARK not in path.name:
            path.unlink(missing_ok=True)


def evict(cache_dir: Path, max_bytes: int | None, keep: Path | None = None) -> int:
    """Delete least recently used cached files until the cache holds at most ``max_bytes``;
    files under ``keep`` stay, and so do the read-only views (``views``: mostly hard links to
    cached files, pruned on their own). Returns the number of bytes freed."""
    if max_bytes is None or not cache_dir.is_dir():
        return 0
    views = cache_dir / VIEWS_DIR
    files = [
        (p, p.stat())
        for p in cache_dir.rglob("*")
        if p.is_file() and TMP_MARK not in p.name and views not in p.parents
    ]
    total = sum(st.st_size for _, st in files)
    freed = 0
    for path, st in sorted(files, key=lambda f: f[1].st_atime):
        if total - freed <= max_bytes:
            break
        if keep is not None and (path == keep or keep in path.parents):
            continue
        path.unlink(missing_ok=True)
        freed += st.st_size
    return freed
