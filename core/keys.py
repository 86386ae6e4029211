"""Keys and locations: what a key may look like, where objects live under a storage root,
and how a path relates to a root. Pure functions on strings; nothing here touches a disk.
"""

from __future__ import annotations

import secrets
from pathlib import Path, PurePosixPath

from .errors import InvalidArgument
from .humanize import describe_char, nfc, printable, unsafe_char

OBJECTS_DIR = ".labshelf"  # labshelf's own folder under every storage root
TMP_PREFIX = ".tmp-"  # objects being written, under OBJECTS_DIR
COMPRESSION_SUFFIXES = {".gz", ".bz2", ".xz", ".zst", ".zip"}
CLOUD_SCHEMES = ("s3", "gs")
MAX_KEY_LENGTH = 1000


def storage_type(root: str) -> str:
    """``s3``, ``gs`` or ``local`` for a storage root or a path under one."""
    if root.startswith("s3://"):
        return "s3"
    if root.startswith(("gs://", "gcs://")):
        return "gs"
    return "local"


def is_cloud(path: str) -> bool:
    return storage_type(str(path)) != "local"


class _Shown:
    """A key as an error message shows it (``printable``, cut at 200 characters), rendered
    when the message is."""

    __slots__ = ("key",)

    def __init__(self, key: str):
        self.key = key

    def __format__(self, spec: str) -> str:
        key = self.key
        return format(printable(key if len(key) <= 200 else key[:200] + "…"), spec)

    def __str__(self) -> str:
        return self.__format__("")


_VALID_MAX = 4096
_valid: dict[tuple[str, bool], str] = {}  # keys seen valid lately (bulk paths check twice)


def validate_key(key: object, *, normalize: bool = True) -> str:
    """A key as a clean relative POSIX path in Unicode NFC (unless ``normalize`` is False:
    an in-place key keeps a file's name, see ``storages.in_place_key``), or
    ``InvalidArgument`` saying why not."""
    if type(key) is not str:
        return _validate_key(key, normalize)
    found = _valid.get((key, normalize))
    if found is None:
        found = _validate_key(key, normalize)  # (raises for an invalid key: never kept)
        if len(_valid) >= _VALID_MAX:
            _valid.clear()
        _valid[(key, normalize)] = found
    return found


def _validate_key(key: object, normalize: bool) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument("The key is empty; give a relative path like 'study0/meta.csv'.")
    shown = _Shown(key)  # (rendered only in an error: most keys are fine)
    if "\\" in key:
        raise InvalidArgument(
            f"The key '{shown}' contains a backslash; keys use '/' between parts."
        )
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:  # a file name with bytes that are not UTF-8 (surrogate escapes)
        raise InvalidArgument(
            f"The key '{shown}' is not valid UTF-8 text; rename the file or give a key."
        ) from None
    bad = unsafe_char(key)
    if bad is not None:  # ESC and other controls, bidi overrides: terminal tricks, disguised names
        raise InvalidArgument(
            f"The key '{shown}' contains the character {describe_char(bad)}; keys cannot hold "
            "control, text-direction or invisible characters."
        )
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        raise InvalidArgument(
            f"The key '{shown}' is absolute; keys are relative to a storage root."
        )
    parts = key.rstrip("/").split("/")
    if any(p == "" for p in parts):
        raise InvalidArgument(f"The key '{shown}' has an empty path segment ('//').")
    if any(p in (".", "..") for p in parts):
        raise InvalidArgument(
            f"The key '{shown}' contains '.' or '..'; keys cannot leave their root."
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"The key '{printable(key[:40])}…' is longer than {MAX_KEY_LENGTH} characters."
        )
    return nfc(key.rstrip("/")) if normalize else key.rstrip("/")


def object_key(uid: str, suffix: str) -> str:
    """Where a copied (virtual-key) object lives under its storage root."""
    return f"{OBJECTS_DIR}/{uid}{suffix}"


def tmp_key(name: str, suffix: str = "") -> str:
    """A fresh temporary key under the objects folder (written, verified, then moved)."""
    return f"{OBJECTS_DIR}/{TMP_PREFIX}{name}-{secrets.token_hex(4)}{suffix}"


def join(root: str, key: str) -> str:
    return f"{root.rstrip('/')}/{key}" if key else root


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
    if "/" in name or name in ("", "."):
        suffixes = PurePosixPath(name).suffixes
    else:  # a plain file name (the bulk of calls): pathlib's own rule, without a Path
        suffixes = [] if name.endswith(".") else ["." + s for s in name.lstrip(".").split(".")[1:]]
    if not suffixes:
        return ""
    last = suffixes[-1]
    if len(suffixes) > 1 and last.lower() in COMPRESSION_SUFFIXES:
        prev = suffixes[-2]
        if 1 < len(prev) <= 6 and prev[1:].isalnum():
            return prev + last
    return last if len(last) <= 12 and last[1:].replace("_", "").isalnum() else ""


def safe_relative(name: str, what: str) -> str:
    """A name read from a listing as a clean relative path below its folder, or
    ``InvalidArgument`` naming ``what`` (an object name in a bucket can be anything)."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise InvalidArgument(
            f"The object name '{printable(name)}' in {what} is not a plain relative path (it is absolute, "
            "empty or contains '..', '//' or a backslash); labshelf refuses to use it."
        )
    return name
