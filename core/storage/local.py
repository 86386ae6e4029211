"""Local storage roots: a folder on this machine (or a mounted share).

Objects are written under a temporary name in ``<root>/.labshelf/``, verified (size, and the
hash computed while writing), then renamed into place, so a final key only ever holds
complete, verified bytes.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import statcache
from ..errors import InvalidArgument, StorageError
from ..hashing import (
    CHUNK_THRESHOLD,
    READ_BLOCK,
    READ_FLAGS,
    b64,
    hash_file,
    hash_files,
    hash_folder_from_hashes,
    mean_at_most,
    read_up_to,
)
from ..humanize import human_size
from ..keys import OBJECTS_DIR, TMP_PREFIX, tmp_key
from .base import Cancelled, Entry, Expected, LocalFile, Progress, Reuse, Source, wrong_kind
from .sources import walk_folder

_EFFECTIVE_IDS = os.access in os.supports_effective_ids
FILES_PER_TASK = 64  # a folder's files are copied in tasks of this many (less pool overhead)
SERIAL_COPY_MEAN = 64 * 1024  # copies of files this small on average: one thread


def small_files(sizes: Iterable[int | None]) -> bool:
    """Whether copies of files of these sizes are small ones (mean ``SERIAL_COPY_MEAN``)."""
    return mean_at_most(sizes, SERIAL_COPY_MEAN)


def copies_serially(root: str, sizes: Iterable[int | None]) -> bool:
    """Whether copies of files of these sizes into the local folder ``root`` go best one
    after the other, in one thread.

    A small file's copy into a local disk is a few short system calls (open, read, create,
    write, rename) between bits of Python. Two threads on such copies hand the GIL back and
    forth after every call (each waits for the other's switch interval) and queue for the
    target folder's lock; one thread never waits. Measured on 2 cores, 10,000 x 4 KB: one
    thread 0.40-0.52 s, two threads 1.0-1.9 s. The sources were just read to hash them
    (files below ``statcache.MIN_SIZE`` are always read), so threads would hide no disk
    latency either. A network share (NFS, SMB) answers each call after a round trip: there
    threads do hide latency, and keep their number."""
    return small_files(sizes) and statcache.on_local_disk(root)


def _user_folder(path: Path) -> Path:
    """The storage folder a user knows for an internal path (``<root>/.labshelf/.tmp-…/x``
    → ``<root>``)."""
    for parent in [path, *path.parents]:
        if parent.name == OBJECTS_DIR:
            return parent.parent
    return path.parent


def _free_space(folder: Path) -> str:
    try:
        return human_size(shutil.disk_usage(folder).free)
    except OSError:
        return "no space"


def copy_file_hashing(
    src: str | Path,
    dst: str | Path,
    expected_size: int,
    cancel: Callable[[], bool] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> str:
    """Copy ``src`` to ``dst`` in one pass and return the hash of the bytes written.

    Raises ``StorageError`` if the file changed size while being copied, so a
    record can never describe bytes other than the ones stored.
    """
    if expected_size <= SMALL_FILE:
        return _copy_small(src, dst, expected_size, cancel, on_bytes)
    md5 = hashlib.md5() if expected_size <= CHUNK_THRESHOLD else None
    written = 0
    try:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            while True:
                block = fin.read(READ_BLOCK)
                if not block:
                    break
                if md5 is not None:
                    md5.update(block)
                fout.write(block)
                written += len(block)
                if on_bytes is not None:
                    on_bytes(len(block))
                if cancel is not None and cancel():
                    raise Cancelled()
    except FileNotFoundError:
        raise StorageError(f"The file {src} vanished while it was being copied.") from None
    except PermissionError:
        raise StorageError(f"The file {src} cannot be read: permission denied.") from None
    except OSError as exc:
        raise _write_error(exc, src, dst) from None
    _check_size(src, expected_size, written)
    if md5 is not None:
        return b64(md5.digest())
    return hash_file(dst, written)[0]


SMALL_FILE = READ_BLOCK  # files up to this size are read whole: one read, one write


def _copy_small(
    src: str | Path,
    dst: str | Path,
    expected_size: int,
    cancel: Callable[[], bool] | None,
    on_bytes: Callable[[int], None] | None,
) -> str:
    """``copy_file_hashing`` of a small file: few system calls, little Python per file (plain
    descriptors, no buffered file objects: their set-up costs more than a small copy)."""
    try:
        fd = os.open(src, READ_FLAGS)
        try:
            data = read_up_to(fd, SMALL_FILE + 1)  # (one byte more: a file that grew shows)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise StorageError(f"The file {src} vanished while it was being copied.") from None
    except PermissionError:
        raise StorageError(f"The file {src} cannot be read: permission denied.") from None
    except OSError as exc:
        raise _write_error(exc, src, dst) from None
    _check_size(src, expected_size, len(data))
    if cancel is not None and cancel():
        raise Cancelled()
    try:
        fd = os.open(dst, _WRITE_FLAGS, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)  # (a write error may only show when the file is closed)
    except OSError as exc:
        raise _write_error(exc, src, dst) from None
    if on_bytes is not None:
        on_bytes(len(data))
    return b64(hashlib.md5(data).digest())


_WRITE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


def _check_size(src: str | Path, expected: int, got: int) -> None:
    if got != expected:
        raise StorageError(
            f"The file {src} changed while it was being copied ({expected} bytes "
            f"expected, {got} read); save it again once it is complete."
        )


def share_file(old: str | Path, dst: str | Path) -> None:
    """``dst`` as a hard link to the stored file ``old`` (the same bytes, no space used);
    a verified copy where links are not possible (another device, no link support)."""
    try:
        os.link(old, dst)
        return
    except FileExistsError:
        raise StorageError(f"{dst} exists already; labshelf does not overwrite it.") from None
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise _write_error(exc, old, dst) from None
    try:
        _clone(old, dst)
    except OSError as exc:
        raise _write_error(exc, old, dst) from None


def _clone(old: str | Path, dst: str | Path) -> None:
    """Copy with copy_file_range, which lets the file system share the blocks (a reflink on
    btrfs and XFS); a plain copy where the kernel refuses (across file systems)."""
    try:
        with open(old, "rb") as fin, open(dst, "wb") as fout:
            left = os.fstat(fin.fileno()).st_size
            while left > 0:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), left)
                if n == 0:
                    break
                left -= n
            if left == 0:
                return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    shutil.copyfile(old, dst)


def _write_error(exc: OSError, src: str | Path, dst: str | Path) -> StorageError:
    dst = Path(dst)
    if exc.errno == errno.ENOSPC:
        folder = _user_folder(dst)
        return StorageError(
            f"The disk is full: {src} does not fit into {folder} ({_free_space(folder)} free)."
        )
    if exc.errno in (errno.EFBIG, errno.EDQUOT):
        return StorageError(
            f"{src} cannot be stored in {_user_folder(dst)}: the file size limit "
            "or disk quota is reached."
        )
    return StorageError(f"Copying {src} failed: {exc.strerror or exc}.")


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree; a missing one is not an error."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def os_reason(exc: OSError) -> str:
    """An OSError's reason in words ("permission denied"), never its class name."""
    return (exc.strerror or "an operating-system error").lower()


class LocalBackend:
    """A storage root on the local file system."""

    kind = "local"

    def __init__(self, root: str):
        self.root = root
        self.base = Path(root)
        self._objects = os.path.join(root, OBJECTS_DIR)

    def __repr__(self) -> str:
        return f"LocalBackend({self.root!r})"

    def path(self, key: str) -> Path:
        return self.base / key

    def url(self, key: str) -> str:
        return str(self.base / key) if key else self.root

    def ensure(self) -> None:
        if self.base.exists() and not self.base.is_dir():
            raise InvalidArgument(f"The storage location {self.root} is a file, not a folder.")
        try:
            (self.base / OBJECTS_DIR).mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise StorageError(
                f"The storage folder {self.root} cannot be created: permission denied."
            ) from None
        except OSError as exc:
            raise StorageError(
                f"The storage folder {self.root} cannot be created: {exc.strerror}."
            ) from None

    # -- writing

    def check_writable(self) -> None:
        """``StorageError`` naming the folder if nothing can be stored under this root here (a
        read-only mount, or ``.labshelf`` without write permission): said before a byte is
        copied."""
        if os.access(self._objects, os.W_OK, effective_ids=_EFFECTIVE_IDS) and os.path.isdir(
            self._objects
        ):
            return  # (per object of a bulk save: two system calls, no Path)
        folder = self.base / OBJECTS_DIR
        target = folder if folder.is_dir() else self.base
        if not os.access(target, os.W_OK, effective_ids=_EFFECTIVE_IDS):
            raise StorageError(
                f"The storage folder {target} is read-only here, so nothing can be saved in it; "
                "reading, queries and load() work: save to a storage where it is writable"
            )

    def put(
        self,
        source: Source,
        key: str,
        expected: Expected,
        progress: Progress,
        reuse: Reuse | None = None,
    ) -> None:
        self.check_writable()
        if not source.is_dir:
            self._put_file(source, key, expected, progress)
            return
        final = self.base / key
        tmp = self.base / tmp_key(final.name)
        local = Path(source.path)
        try:
            tmp.mkdir(parents=True)
            hashes = self._put_files(source.files or [], tmp, progress, reuse)
            got = hash_folder_from_hashes(hashes)[0]
            if expected.hash_type == "md5-d" and got != expected.hash:
                raise StorageError(
                    f"The folder {local} changed after it was hashed; save it again."
                )
            if final.exists():
                raise StorageError(
                    f"An object already exists at {final}; refusing to overwrite it."
                )
            os.replace(tmp, final)
        except BaseException:
            remove_path(tmp)
            raise

    def _put_file(self, source: Source, key: str, expected: Expected, progress: Progress) -> None:
        """``put`` of one file, with plain string paths (the bulk of many small files)."""
        final = os.path.join(self.root, key)
        tmp = os.path.join(self.root, tmp_key(key.rpartition("/")[2]))
        local = source.path
        try:
            size = expected.size if expected.size is not None else os.stat(local).st_size
            args = (local, tmp, size, progress.cancel, progress.on_bytes)
            try:
                got = copy_file_hashing(*args)
            except StorageError:
                if os.path.isdir(os.path.dirname(tmp)):
                    raise
                os.makedirs(os.path.dirname(tmp), exist_ok=True)  # the first object
                got = copy_file_hashing(*args)
            if expected.hash_type in ("md5", "sha1-fl") and got != expected.hash:
                raise StorageError(f"The file {local} changed after it was hashed; save it again.")
            if os.path.lexists(final):
                raise StorageError(
                    f"An object already exists at {final}; refusing to overwrite it."
                )
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _put_files(
        self, files: list[LocalFile], tmp: Path, progress: Progress, reuse: Reuse | None
    ) -> list[str]:
        """Copy (or share, see ``Reuse``) a folder's files into ``tmp``, several at a time;
        the hashes of the bytes now under ``tmp``."""
        for parent in sorted({f.rel.rpartition("/")[0] for f in files} - {""}):
            (tmp / parent).mkdir(parents=True, exist_ok=True)
        old_base = self.base / reuse.key if reuse is not None else None
        old_hashes = (reuse.hashes if reuse is not None else None) or {}

        into = str(tmp)

        def one(f: LocalFile) -> str:
            dst = os.path.join(into, f.rel)
            if old_base is not None and f.hash is not None:
                old = old_base / f.rel
                try:
                    same_size = os.stat(old, follow_symlinks=False).st_size == f.size
                except OSError:
                    same_size = False
                if same_size:
                    known = old_hashes.get(f.rel)
                    try:
                        old_hash = known if known is not None else hash_file(old, f.size)[0]
                    except OSError:
                        old_hash = None
                    if old_hash == f.hash:
                        share_file(old, dst)
                        if progress.on_bytes is not None:
                            progress.on_bytes(f.size)
                        return old_hash
            return copy_file_hashing(f.fspath, dst, f.size, progress.cancel, progress.on_bytes)

        def chunk(part: list[LocalFile]) -> list[str]:
            out = []
            for f in part:
                if progress.cancel is not None and progress.cancel():
                    raise Cancelled()
                out.append(one(f))
            return out

        size = FILES_PER_TASK
        parts = [files[i : i + size] for i in range(0, len(files), size)]
        serial = copies_serially(self.root, (f.size for f in files))
        if len(parts) < 2 or progress.max_workers <= 1 or serial:
            return [h for part in parts for h in chunk(part)]
        workers = min(progress.max_workers, len(parts))
        with ThreadPoolExecutor(workers, thread_name_prefix="ls-put") as pool:
            return [h for hashes in pool.map(chunk, parts) for h in hashes]

    def remove(self, key: str) -> None:
        path = self.base / key
        try:
            remove_path(path)
        except OSError as exc:
            raise StorageError(f"{path} could not be removed: {os_reason(exc)}.") from None
        if path.exists() or path.is_symlink():
            raise StorageError(f"{path} could not be removed (permission denied?).")

    def move(self, old: str, new: str) -> None:
        src, dst = self.base / old, self.base / new
        if dst.exists() or dst.is_symlink():
            raise StorageError(f"{dst} exists already; labshelf does not overwrite it.")
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            # link + unlink: the new name appears atomically and never replaces a file that
            # appeared meanwhile (rename would); folders fall back to rename
            if src.is_dir():
                os.rename(src, dst)
            else:
                os.link(src, dst)
                os.unlink(src)
        except FileExistsError:
            raise StorageError(f"{dst} exists already; labshelf does not overwrite it.") from None
        except FileNotFoundError:
            raise StorageError(f"The file {src} is missing; it cannot be moved.") from None
        except OSError as exc:
            raise StorageError(f"Moving {src} to {dst} failed: {exc.strerror or exc}.") from None

    # -- reading

    def stat(self, key: str) -> Entry | None:
        path = self.base / key
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"{path} cannot be read: {exc.strerror or exc}.") from None
        if path.is_dir():
            return None
        return Entry(key, st.st_size, None, st.st_mtime, str(path))

    def list(self, key: str) -> list[Entry]:
        folder = self.base / key
        if not folder.is_dir():
            return []
        files, _ = walk_folder(folder)
        return [Entry(f.rel, f.size, None, None, str(f.path)) for f in files]

    def matches(self, key: str, expected: Expected) -> bool:
        path = self.base / key
        if expected.n_objects is None:
            return path.is_file() and path.stat().st_size == expected.size
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        return (
            len(files) == expected.n_objects
            and sum(p.stat().st_size for p in files) == expected.size
        )

    def content_hash(self, key: str, expected: Expected) -> tuple[str, int] | None:
        path = self.base / key
        try:
            if not path.exists():
                if path.is_symlink():
                    raise wrong_kind(str(path), None)
                return None
            folder = expected.n_objects is not None
            if path.is_dir() != folder:
                raise wrong_kind(
                    str(path), path.is_dir() if path.is_dir() or path.is_file() else None
                )
            if not folder:
                size = path.stat().st_size
                # a size mismatch is enough to tell; reading a huge wrong file is not needed
                return (hash_file(path, size)[0] if size == expected.size else ""), size
            files, _ = walk_folder(path)
            hashes = [h for h, _ in hash_files([f.fspath for f in files])]
            return hash_folder_from_hashes(hashes)[0], sum(f.size for f in files)
        except StorageError:
            raise
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
            raise StorageError(f"{path} cannot be read: {os_reason(exc)}{where}.") from None

    def local_copy(
        self,
        key: str,
        cache_dir: Path,
        expected: Expected,
        max_bytes: int | None,
        *,
        max_workers: int = 8,
        on_progress: Callable[[int, int, int, int], None] | None = None,
    ) -> Path:
        path = self.base / key
        if not path.exists():
            raise StorageError(f"The object is missing at {path}.")
        return path

    def read_bytes(self, key: str) -> bytes | None:
        path = self.base / key
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"{path} cannot be read: {os_reason(exc)}.") from None

    def write_new(self, key: str, data: bytes) -> bool:
        final = self.base / key
        tmp = self.base / tmp_key(final.name)
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.link(tmp, final)  # appears complete, and never replaces one written meanwhile
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise StorageError(f"{final} cannot be written: {os_reason(exc)}.") from None
        finally:
            tmp.unlink(missing_ok=True)

    def objects(self) -> Iterator[tuple[str, float | None]]:
        folder = self.base / OBJECTS_DIR
        if not folder.is_dir():
            return
        for entry in os.scandir(folder):
            try:
                mtime: float | None = entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                mtime = None
            yield entry.name, mtime

    def leftovers(self) -> Iterator[str]:
        """Keys of temporary objects left by interrupted saves."""
        for name, _ in self.objects():
            if name.startswith(TMP_PREFIX):
                yield f"{OBJECTS_DIR}/{name}"

    def incomplete_uploads(self) -> builtins.list[dict[str, Any]]:
        return []

    def abort_upload(self, upload: dict[str, Any]) -> None:
        return None


def local_files(folder: Path) -> list[LocalFile]:
    """The files of a local folder (for re-reading a stored folder)."""
    return walk_folder(folder)[0]
