"""Storage roots, keys, and moving bytes in and out of them (local disk via the OS,
S3 and GCS via fsspec).

Objects reach their final key only complete and verified: they are written
under a temporary name (``.labshelf/.tmp-…``), checked (size, and hash where we
computed one while writing), then moved into place.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import InvalidArgument, StorageError
from .hashing import CHUNK_THRESHOLD, READ_BLOCK, b64, hash_folder_from_hashes

OBJECTS_DIR = ".labshelf"
TMP_PREFIX = ".tmp-"
COMPRESSION_SUFFIXES = {".gz", ".bz2", ".xz", ".zst", ".zip"}


def storage_type(root: str) -> str:
    if root.startswith("s3://"):
        return "s3"
    if root.startswith("gs://"):
        return "gs"
    return "local"


def is_cloud(path: str) -> bool:
    return storage_type(str(path)) != "local"


# ---------------------------------------------------------------- keys


def validate_key(key: str) -> str:
    """A key as a clean relative POSIX path, or ``InvalidArgument`` saying why not."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument("The key is empty; give a relative path like 'study0/meta.csv'.")
    if "\\" in key:
        raise InvalidArgument(f"The key '{key}' contains a backslash; keys use '/' between parts.")
    if "\x00" in key or "\n" in key or "\r" in key:
        raise InvalidArgument(f"The key {key!r} contains a control character.")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:  # a file name with bytes that are not UTF-8 (surrogate escapes)
        raise InvalidArgument(
            f"The key {key.encode('utf-8', 'backslashreplace').decode()!r} is not valid UTF-8 "
            "text; rename the file or give a key."
        ) from None
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise InvalidArgument(f"The key '{key}' is absolute; keys are relative to a storage root.")
    parts = key.rstrip("/").split("/")
    if any(p == "" for p in parts):
        raise InvalidArgument(f"The key '{key}' has an empty path segment ('//').")
    if any(p in (".", "..") for p in parts):
        raise InvalidArgument(
            f"The key '{key}' contains '.' or '..'; keys cannot leave their root."
        )
    if len(key) > 1000:
        raise InvalidArgument(f"The key '{key[:40]}…' is longer than 1000 characters.")
    return key.rstrip("/")


def object_key(uid: str, suffix: str) -> str:
    """Where a copied (virtual-key) object lives under its storage root."""
    return f"{OBJECTS_DIR}/{uid}{suffix}"


def tmp_key(uid: str, suffix: str) -> str:
    return f"{OBJECTS_DIR}/{TMP_PREFIX}{uid}-{secrets.token_hex(4)}{suffix}"


def join(root: str, key: str) -> str:
    return f"{root.rstrip('/')}/{key}"


def relative_key(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` if it lies inside it, else ``None``."""
    if is_cloud(root) != is_cloud(path):
        return None
    if is_cloud(root):
        prefix = root.rstrip("/") + "/"
        return path[len(prefix) :].rstrip("/") if path.startswith(prefix) else None
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return None
    return rel.as_posix() if str(rel) != "." else None


def suffix_of(name: str) -> str:
    """The file suffix LaminDB would record: '.csv', '.tar.gz', '.ome.tiff'-style pairs."""
    suffixes = PurePosixPath(name).suffixes
    if not suffixes:
        return ""
    last = suffixes[-1]
    if len(suffixes) > 1 and last.lower() in COMPRESSION_SUFFIXES:
        prev = suffixes[-2]
        if 1 < len(prev) <= 6 and prev[1:].isalnum():
            return prev + last
    return last if len(last) <= 12 and last[1:].replace("_", "").isalnum() else ""


# ---------------------------------------------------------------- local sources


@dataclass
class LocalFile:
    """A file found while walking a source: absolute path, path relative to the source, size."""

    path: Path
    rel: str
    size: int


def _describe_symlink_problem(path: Path) -> str | None:
    try:
        path.stat()
    except FileNotFoundError:
        return f"The symlink {path} points to {os.readlink(path)}, which does not exist."
    except RuntimeError:
        return f"The symlink {path} is part of a symlink loop."
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return f"The symlink {path} is part of a symlink loop."
        return f"The symlink {path} cannot be followed: {exc.strerror}."
    return None


def check_local_source(path: Path) -> os.stat_result:
    """stat() of a local path the user asked to register, or one clear error."""
    if path.is_symlink():
        problem = _describe_symlink_problem(path)
        if problem:
            raise InvalidArgument(problem)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidArgument(f"The path {path} does not exist.") from None
    except PermissionError:
        raise StorageError(f"The path {path} cannot be accessed: permission denied.") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InvalidArgument(f"The path {path} is neither a regular file nor a folder.")
    return st


def walk_folder(
    folder: Path, *, follow_outside_symlinks: bool = False
) -> tuple[list[LocalFile], list[str]]:
    """All files below ``folder`` sorted by relative path, and the notes to tell the user.

    Symlinks to files inside the folder are followed; symlinks that leave it are
    skipped (and reported) unless asked; broken symlinks and loops are errors.
    """
    files: list[LocalFile] = []
    skipped: list[str] = []
    root_real = folder.resolve()
    stack = [folder]
    while stack:
        current_dir = stack.pop()
        try:
            entries = list(os.scandir(current_dir))
        except PermissionError:
            raise StorageError(
                f"The folder {current_dir} cannot be read: permission denied."
            ) from None
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                problem = _describe_symlink_problem(path)
                if problem:
                    raise InvalidArgument(problem)
                target = path.resolve()
                inside = target == root_real or root_real in target.parents
                if target.is_dir():
                    skipped.append(f"{path} (symlink to a folder, not followed)")
                    continue
                if not inside and not follow_outside_symlinks:
                    skipped.append(f"{path} (symlink leaving the folder, not followed)")
                    continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)
                continue
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                skipped.append(f"{path} (not a regular file)")
                continue
            rel = path.relative_to(folder).as_posix()
            files.append(LocalFile(path, rel, st.st_size))
    files.sort(key=lambda f: f.rel)
    return files, skipped


# ---------------------------------------------------------------- copying with verification


def _user_folder(path: Path) -> Path:
    """The storage folder a user knows for an internal path (``<root>/.labshelf/.tmp-…/x``
    → ``<root>``)."""
    for parent in [path, *path.parents]:
        if parent.name == OBJECTS_DIR:
            return parent.parent
    return path.parent


def _free_space(folder: Path) -> str:
    from .humanize import human_size

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
        if exc.errno == errno.ENOSPC:
            folder = _user_folder(dst)
            raise StorageError(
                f"The disk is full: {src} does not fit into {folder} ({_free_space(folder)} free)."
            ) from None
        if exc.errno in (errno.EFBIG, errno.EDQUOT):
            raise StorageError(
                f"{src} cannot be stored in {_user_folder(dst)}: the file size limit "
                "or disk quota is reached."
            ) from None
        raise StorageError(f"Copying {src} failed: {exc.strerror or exc}.") from None
    if written != expected_size:
        raise StorageError(
            f"The file {src} changed while it was being copied ({expected_size} bytes "
            f"expected, {written} read); save it again once it is complete."
        )
    if md5 is not None:
        return b64(md5.digest())
    from .hashing import hash_file

    return hash_file(dst, written)[0]


class Cancelled(Exception):
    """Internal: a copy was cancelled by the caller."""


def remove_local(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def store_local(
    source: Path,
    files: list[LocalFile] | None,
    root: str,
    final_key: str,
    expected_hash: str,
    expected_hash_type: str,
    *,
    cancel: Callable[[], bool] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Copy a file (``files is None``) or folder into a local root under ``final_key``.

    The copy goes to a temporary name, is verified against the expected hash
    computed when the artifact was created, then renamed into place.
    """
    final = Path(root) / final_key
    tmp = Path(root) / tmp_key(final.name, "")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        if files is None:
            size = source.stat().st_size
            got = copy_file_hashing(source, tmp, size, cancel, on_bytes)
            if expected_hash_type in ("md5", "sha1-fl") and got != expected_hash:
                raise StorageError(f"The file {source} changed after it was hashed; save it again.")
        else:
            hashes = []
            for f in files:
                dst = tmp / f.rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                hashes.append(copy_file_hashing(f.path, dst, f.size, cancel, on_bytes))
            if (
                expected_hash_type == "md5-d"
                and hash_folder_from_hashes(hashes)[0] != expected_hash
            ):
                raise StorageError(
                    f"The folder {source} changed after it was hashed; save it again."
                )
        if final.exists():
            raise StorageError(f"An object already exists at {final}; refusing to overwrite it.")
        os.replace(tmp, final)
    except BaseException:
        remove_local(tmp)
        raise


# ---------------------------------------------------------------- roots and filesystems


def ensure_root(root: str, options: dict[str, Any] | None = None) -> None:
    """Create a local root (and its object dir) or check that a bucket is reachable."""
    if is_cloud(root):
        from .cloud import check_bucket

        check_bucket(root, options or {})
        return
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise InvalidArgument(f"The storage location {root} is a file, not a folder.")
    try:
        (path / OBJECTS_DIR).mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise StorageError(
            f"The storage folder {root} cannot be created: permission denied."
        ) from None
    except OSError as exc:
        raise StorageError(
            f"The storage folder {root} cannot be created: {exc.strerror}."
        ) from None


def iter_tmp_leftovers(root: str) -> Iterator[str]:
    """Keys of temporary objects left by interrupted saves under a local root."""
    folder = Path(root) / OBJECTS_DIR
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if entry.name.startswith(TMP_PREFIX):
            yield f"{OBJECTS_DIR}/{entry.name}"
