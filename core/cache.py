"""The download cache of cloud objects: ``<cache dir>/<bucket>/<key>``.

A file is downloaded to a temporary name next to its place and renamed, so a
partial download never looks complete. Its modification time is set to the
remote object's, so a changed remote object (other size or time) is fetched
again; its access time records the last use, for least-recently-used eviction
down to the instance's ``cache_max_bytes`` (no cap when unset).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .errors import StorageError

TMP_MARK = ".labshelf-tmp-"
DOWNLOAD_WORKERS = 8  # a folder's files are fetched this many at a time

# on_progress(files_done, files_total, bytes_done, bytes_total), after each file
CacheProgress = Callable[[int, int, int, int], None]


def cached_path(
    artifact: Any,
    *,
    max_workers: int = DOWNLOAD_WORKERS,
    on_progress: CacheProgress | None = None,
) -> Path:
    """Download ``artifact``'s object (file or folder) once and return its local path.

    A folder's files are fetched ``max_workers`` at a time; ``on_progress`` (called from the
    download threads) hears after each file, up-to-date files included."""
    from .cloud import filesystem, split_url, translate
    from .instance import current

    url = str(artifact.path)
    _, bucket, key = split_url(url)
    cache_dir = current().cache_dir()
    local = cache_dir / bucket / key
    fs = filesystem(url)
    try:
        remote = fs.find(f"{bucket}/{key}", detail=True, withdirs=False)
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, url) from None
    files = {p: i for p, i in remote.items() if not p.endswith("/")}
    if not files:
        raise StorageError(f"The object of artifact {artifact.uid} is missing at {url}.")
    is_file = list(files) == [f"{bucket}/{key}"]
    jobs = [
        (path, info, local if is_file else local / path[len(bucket) + len(key) + 2 :])
        for path, info in files.items()
    ]
    _fetch_all(fs, jobs, url, max_workers, on_progress)
    if not is_file:
        _drop_extras(local, {local / p[len(bucket) + len(key) + 2 :] for p in files})
    evict(cache_dir, current().config.cache_max_bytes, keep=local)
    return local


def _fetch_all(
    fs: Any,
    jobs: list[tuple[str, dict[str, Any], Path]],
    url: str,
    max_workers: int,
    on_progress: CacheProgress | None,
) -> None:
    """Fetch the files of ``jobs`` (remote path, info, local target) in a thread pool."""
    total_bytes = sum(int(info.get("size") or 0) for _, info, _ in jobs)
    done = [0, 0]  # files, bytes
    lock = threading.Lock()

    def one(job: tuple[str, dict[str, Any], Path]) -> None:
        path, info, target = job
        _fetch_if_changed(fs, path, info, target, url)
        if on_progress is not None:
            with lock:
                done[0] += 1
                done[1] += int(info.get("size") or 0)
                counts = (done[0], len(jobs), done[1], total_bytes)
            on_progress(*counts)

    if len(jobs) == 1 or max_workers <= 1:
        for job in jobs:
            one(job)
        return
    pool = ThreadPoolExecutor(min(max_workers, len(jobs)), thread_name_prefix="ls-cache")
    try:
        for future in [pool.submit(one, job) for job in jobs]:
            future.result()
    finally:  # after a failure or Ctrl+C: the files being fetched end, the rest never start
        pool.shutdown(wait=True, cancel_futures=True)


def _fetch_if_changed(fs: Any, path: str, info: dict[str, Any], target: Path, url: str) -> None:
    from .cloud import remote_mtime, translate

    mtime = remote_mtime(info)
    size = int(info.get("size") or 0)
    try:
        st = target.stat()
        if st.st_size == size and (mtime is None or abs(st.st_mtime - mtime) < 1e-3):
            os.utime(target, (time.time(), st.st_mtime))  # last use, for LRU eviction
            return
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}{TMP_MARK}{secrets.token_hex(4)}")
    try:
        fs.get_file(path, str(tmp))
        if tmp.stat().st_size != size:
            raise StorageError(f"The download of {url} was incomplete; try again.")
        os.utime(tmp, (time.time(), mtime if mtime is not None else time.time()))
        os.replace(tmp, target)
    except StorageError:
        raise
    except OSError as exc:
        if exc.errno == 28:
            raise StorageError(f"The disk is full: could not download {url} to {target}.") from None
        raise translate(exc, url) from None
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, url) from None
    finally:
        tmp.unlink(missing_ok=True)


def _drop_extras(folder: Path, wanted: set[Path]) -> None:
    """Remove cached files of a folder that the remote folder no longer has."""
    for path in folder.rglob("*"):
        if path.is_file() and path not in wanted and TMP_MARK not in path.name:
            path.unlink(missing_ok=True)


def evict(cache_dir: Path, max_bytes: int | None, keep: Path | None = None) -> int:
    """Delete least recently used cached files until the cache holds at most ``max_bytes``;
    files under ``keep`` stay. Returns the number of bytes freed."""
    if max_bytes is None or not cache_dir.is_dir():
        return 0
    files = [(p, p.stat()) for p in cache_dir.rglob("*") if p.is_file() and TMP_MARK not in p.name]
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
