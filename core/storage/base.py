"""What every storage backend offers, and the plain data that crosses the boundary.

A backend owns one storage root (a local folder, ``s3://bucket[/prefix]`` or
``gs://bucket[/prefix]``) and speaks in *keys* relative to it. Objects reach a final key
only complete and verified; everything else (temporary names, incomplete multipart uploads)
is a leftover that ``leftovers()``/``incomplete_uploads()`` report.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import StorageError


class LocalFile:
    """A file found while walking a local source: its path, its path relative to the
    source, size, and its artifact hash once hashed. Folders hold one per file (10^5 and
    more), so it is small: slots, the path kept as the string the walk found."""

    __slots__ = ("fspath", "hash", "rel", "size")

    def __init__(self, path: str | Path, rel: str, size: int, hash: str | None = None):
        self.fspath = path if isinstance(path, str) else str(path)
        self.rel, self.size, self.hash = rel, size, hash

    @property
    def path(self) -> Path:
        return Path(self.fspath)

    def __fspath__(self) -> str:
        return self.fspath

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalFile):
            return NotImplemented
        return (self.fspath, self.rel, self.size, self.hash) == (
            other.fspath,
            other.rel,
            other.size,
            other.hash,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LocalFile({self.fspath!r}, {self.rel!r}, {self.size})"


@dataclass
class Entry:
    """One stored object as a listing reports it: its path relative to the listed prefix
    (validated), size, the backend's md5-like tag (S3 ETag, GCS md5Hash) and mtime."""

    rel: str
    size: int
    tag: str | None = None
    mtime: float | None = None
    path: str = ""  # the backend's own path (``bucket/key`` for fsspec, absolute locally)


@dataclass
class Source:
    """Where a not-yet-saved artifact's bytes come from: a local file or folder (with its
    walked files), or a cloud object/prefix registered in place (with its listing)."""

    path: Path | str
    is_dir: bool
    files: list[LocalFile] | None = None
    notes: list[str] = field(default_factory=list)
    in_place: bool = False
    cloud: list[Entry] | None = None  # the listing of a cloud source


@dataclass
class Expected:
    """What a stored object must be: the record's hash, hash type, size and file count."""

    hash: str | None
    hash_type: str | None
    size: int | None
    n_objects: int | None = None  # None: one file; else a folder of that many files
    in_place: bool = False  # registered in place: a cloud folder's hash combines the tags


@dataclass
class Progress:
    """Cancel and progress hooks of one transfer, and the request slots shared by all
    transfers of one ``ls.upload`` (its ``max_workers``)."""

    cancel: Callable[[], bool] | None = None
    on_bytes: Callable[[int], None] | None = None
    slots: threading.Semaphore | None = None
    max_workers: int = 8


class WrongKind(StorageError):
    """A file is stored where the record says a folder, or a folder where it says a file."""


def wrong_kind(where: str, found_folder: bool | None) -> WrongKind:
    """``WrongKind`` for ``where``: a folder (True), a file (False) or something else (None)
    is stored where the record says the opposite."""
    if found_folder is None:
        return WrongKind(f"{where}: a broken link or a special file is stored there.")
    found, expected = ("a folder", "a file") if found_folder else ("a file", "a folder")
    return WrongKind(f"{where}: {found} is stored where the record says {expected}.")


@dataclass
class Reuse:
    """An earlier object under the same root whose files a new folder may share: a new
    version of a folder stores only what changed. ``key`` is the earlier object's key;
    ``hashes`` (relative path -> artifact hash) are its per-file hashes when known (else
    the backend reads them: a local root re-hashes the earlier file, a cloud root takes the
    md5 its listing reports). A file is shared only when its size and hash match the new
    file's; locally as a hard link (a copy across devices), in a cloud bucket as a
    server-side copy, so every version stays a complete folder of its own."""

    key: str
    hashes: dict[str, str] | None = None


class Cancelled(Exception):
    """Internal: a transfer was cancelled by the caller; nothing is left under a final key."""


class Backend(Protocol):
    """One storage root. Every method raises ``StorageError`` (one sentence) on failure."""

    root: str
    kind: str  # "local", "s3" or "gs"

    def ensure(self) -> None:
        """Create the root's objects folder (local) or check the bucket is reachable."""

    def url(self, key: str) -> str:
        """The location of ``key`` for people and for ``UPath``."""

    def put(
        self,
        source: Source,
        key: str,
        expected: Expected,
        progress: Progress,
        reuse: Reuse | None = None,
    ) -> None:
        """Store a local file or folder under ``key``, verified against ``expected``;
        nothing is left under ``key`` on failure or cancel. For a folder, ``reuse`` names
        an earlier object whose unchanged files are shared instead of stored again (the
        per-file hashes in ``source.files`` say which are unchanged)."""

    def remove(self, key: str) -> None:
        """Remove the object or folder ``key``; a missing one is not an error; one that is
        still there afterwards raises ``StorageError``."""

    def move(self, old: str, new: str) -> None:
        """Rename an object within the root; refuses when ``new`` exists."""

    def stat(self, key: str) -> Entry | None:
        """The object ``key`` (a file), or None if there is none."""

    def list(self, key: str) -> list[Entry]:
        """Every file under the folder ``key`` (names validated), sorted; [] if none."""

    def matches(self, key: str, expected: Expected) -> bool:
        """Whether ``key`` holds an object of the expected size and file count (cheap)."""

    def content_hash(self, key: str, expected: Expected) -> tuple[str, int] | None:
        """(hash, size) of what is stored at ``key`` (re-read or from the backend's
        tags), or None if nothing is there; ``WrongKind`` when a file is stored where
        ``expected`` says a folder (or the other way round)."""

    def local_copy(
        self, key: str, cache_dir: Path, expected: Expected, max_bytes: int | None
    ) -> Path:
        """A local path holding exactly the bytes of ``key`` (downloaded into the cache
        for cloud roots); ``StorageError`` when they no longer match ``expected``."""

    def read_bytes(self, key: str) -> bytes | None:
        """The bytes of a small object (labshelf's own notes, such as the catalog marker), or
        None if there is none."""

    def write_new(self, key: str, data: bytes) -> bool:
        """Store a small object only if ``key`` holds none yet; whether it was written."""

    def objects(self) -> Iterator[tuple[str, float | None]]:
        """(name, mtime) of every entry directly under the root's objects folder."""

    def incomplete_uploads(self) -> builtins.list[dict[str, Any]]:
        """Multipart uploads under the objects folder never completed (S3 only)."""

    def abort_upload(self, upload: dict[str, Any]) -> None: ...
