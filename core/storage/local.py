"""Local storage roots: a folder on this machine (or a mounted share).

Objects are written under a temporary name in ``<root>/.labshelf/``, verified (size, and the
hash computed while writing), then renamed into place, so a final key only ever holds
complete, verified bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument, StorageError
from ..hashing import (
    CHUNK_THRESHOLD,
    READ_BLOCK,
    b64,
    hash_file,
    hash_files,
    hash_folder_from_hashes,
)
from ..humanize import human_size
from ..keys import OBJECTS_DIR, TMP_PREFIX, tmp_key
from .base import Cancelled, Entry, Expected, LocalFile, Progress, Source, wrong_kind
from .sources import walk_folder


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
    src: Path,
    dst: Path,
    expected_size: int,
    cancel: Callable[[], bool] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> str:
    """Copy ``src`` to ``dst`` in one pass and return the hash of the bytes written.

    Raises ``StorageError`` if the file changed size while being copied, so a
    record can never describe bytes other than the ones stored.
    """
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
    if written != expected_size:
        raise StorageError(
            f"The file {src} changed while it was being copied ({expected_size} bytes "
            f"expected, {written} read); save it again once it is complete."
        )
    if md5 is not None:
        return b64(md5.digest())
    return hash_file(dst, written)[0]


def _write_error(exc: OSError, src: Path, dst: Path) -> StorageError:
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
        folder = self.base / OBJECTS_DIR
        target = folder if folder.is_dir() else self.base
        if not os.access(target, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
            raise StorageError(
                f"The storage folder {target} is read-only here, so nothing can be saved in it; "
                "reading, queries and load() work: save to a storage where it is writable"
            )

    def put(self, source: Source, key: str, expected: Expected, progress: Progress) -> None:
        self.check_writable()
        final = self.base / key
        tmp = self.base / tmp_key(final.name)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        local = Path(source.path)
        try:
            if not source.is_dir:
                size = local.stat().st_size
                got = copy_file_hashing(local, tmp, size, progress.cancel, progress.on_bytes)
                if expected.hash_type in ("md5", "sha1-fl") and got != expected.hash:
                    raise StorageError(
                        f"The file {local} changed after it was hashed; save it again."
                    )
            else:
                hashes = []
                for f in source.files or []:
                    dst = tmp / f.rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    hashes.append(
                        copy_file_hashing(f.path, dst, f.size, progress.cancel, progress.on_bytes)
                    )
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
            hashes = [h for h, _ in hash_files([f.path for f in files])]
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

    def incomplete_uploads(self) -> list[dict[str, Any]]:
        return []

    def abort_upload(self, upload: dict[str, Any]) -> None:
        return None


def local_files(folder: Path) -> list[LocalFile]:
    """The files of a local folder (for re-reading a stored folder)."""
    return walk_folder(folder)[0]
