"""Read-only views: local copies of stored objects named after their keys, for handing to
other applications (open, reveal in a file manager, drag out of the app).

A stored object's own path (``<root>/.labshelf/<uid><suffix>``) is no name for people, and an
application that saves over it would change a verified artifact. A view is
``<cache dir>/read-only/<uid>/<key>``: its files are read-only (0444) and so are its folders
(0555), so an application can neither write into it nor replace it by a save-and-rename; it
has to "save as" elsewhere. Views are hard links where the caller allows it and the
filesystem can (no bytes are copied; the linked file is labshelf's own object, which becomes
read-only too), copies otherwise. A view is reused while it still matches its source (size
and modification time of every file); the oldest views beyond ``VIEWS_KEPT`` are removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from pathlib import Path

from ..errors import StorageError
from ..keys import safe_relative

VIEWS_DIR = "read-only"  # under the cache dir; the download cache's eviction leaves it alone
VIEWS_KEPT = 200  # views (one folder per artifact) kept; older ones are removed
_TMP = ".labshelf-view-"
FILE_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH  # 0444
DIR_MODE = FILE_MODE | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH  # 0555


def read_only_view(source: Path, folder: Path, rel: str, *, link: bool) -> Path:
    """A read-only view of ``source`` (a file or a folder) at ``folder/rel``; ``folder`` is
    the view's own folder (one per artifact), ``rel`` the artifact's key. Hard links if
    ``link`` (and the filesystem allows), else copies. Returns the view's path."""
    rel = safe_relative(rel, f"the view of {source}")
    target = folder / rel
    if _matches(source, target):
        with contextlib.suppress(OSError):
            os.utime(folder)  # recently used: pruned last
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f"{folder.name}{_TMP}{secrets.token_hex(4)}"
    try:
        _build(source, tmp / rel, link)
        _protect(tmp)
        remove_view(folder)
        try:
            os.rename(tmp, folder)
        except OSError:  # another thread made the same view meanwhile: keep theirs
            if not _matches(source, target):
                raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StorageError(f"The disk is full: could not copy {source} to {target}.") from None
        raise StorageError(
            f"Could not make a read-only copy of {source} at {target}: {exc}."
        ) from None
    finally:
        remove_view(tmp)
    prune(folder.parent, keep=folder)
    return target


def _files(root: Path) -> dict[str, os.stat_result]:
    """Every file below ``root`` (or ``root`` itself), by its relative path."""
    if root.is_file():
        return {"": root.stat()}
    return {p.relative_to(root).as_posix(): p.stat() for p in root.rglob("*") if p.is_file()}


def _matches(source: Path, target: Path) -> bool:
    """Whether ``target`` holds the same files as ``source`` (sizes and modification times)."""
    if not target.exists() or source.is_dir() != target.is_dir():
        return False
    mine, theirs = _files(source), _files(target)
    return mine.keys() == theirs.keys() and all(
        mine[k].st_size == theirs[k].st_size and mine[k].st_mtime_ns == theirs[k].st_mtime_ns
        for k in mine
    )


def _build(source: Path, target: Path, link: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, copy_function=lambda s, d: _place(Path(s), Path(d), link))
    else:
        _place(source, target, link)


def _place(source: Path, target: Path, link: bool) -> None:
    if link:
        try:
            os.link(source, target)
            os.chmod(target, FILE_MODE)  # the same file: labshelf's object turns read-only too
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    shutil.copy2(source, target)
    os.chmod(target, FILE_MODE)


def _protect(root: Path) -> None:
    """Folders read-only, deepest first (their files are read-only already)."""
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
        os.chmod(dirpath, DIR_MODE)


def remove_view(folder: Path) -> None:
    """Remove a view's folder (its folders are made writable first)."""
    if not folder.exists():
        return
    for dirpath, _dirs, _files in os.walk(folder):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(folder, ignore_errors=True)


def prune(views: Path, keep: Path | None = None, kept: int = VIEWS_KEPT) -> int:
    """Remove the oldest view folders beyond ``kept`` (never ``keep``); how many went."""
    try:
        folders = [p for p in views.iterdir() if p.is_dir() and _TMP not in p.name]
    except OSError:
        return 0
    if len(folders) <= kept:
        return 0
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = 0
    for old in folders[kept:]:
        if old != keep:
            remove_view(old)
            removed += 1
    return removed
