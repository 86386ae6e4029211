"""Cloud storage roots (``s3://bucket[/prefix]``, ``gs://bucket[/prefix]``) as a backend:
the same operations as a local root, over fsspec (see ``storage.remote``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument, StorageError
from ..hashing import CHUNK_THRESHOLD, hash_folder_from_hashes
from ..keys import OBJECTS_DIR, safe_relative
from .base import Entry, Expected, Progress, Reuse, Source, wrong_kind
from .cache import CacheProgress, download
from .remote import (
    _abort_quietly,
    _call,
    _entry,
    _error_code,
    _fs_path,
    _remove_quietly,
    check_bucket,
    filesystem,
    hash_remote_file,
    object_hash,
    split_url,
    translate,
)
from .upload import store

# ---------------------------------------------------------------- the backend


class CloudBackend:
    """An ``s3://bucket[/prefix]`` or ``gs://bucket[/prefix]`` root through fsspec."""

    def __init__(self, root: str, options: dict[str, Any] | None = None):
        self.root = root.rstrip("/")
        self.options = dict(options or {})
        self.kind, self.bucket, self.prefix = split_url(self.root)

    def __repr__(self) -> str:
        return f"CloudBackend({self.root!r})"

    @property
    def fs(self) -> Any:
        return filesystem(self.root, self.options)

    def url(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def fs_path(self, key: str) -> str:
        """The path fsspec uses for ``key``: ``bucket/prefix/key``."""
        return _fs_path(self.url(key))

    def ensure(self) -> None:
        check_bucket(self.root, self.options)

    # -- writing

    def put(
        self,
        source: Source,
        key: str,
        expected: Expected,
        progress: Progress,
        reuse: Reuse | None = None,
    ) -> None:
        shared = self._shareable(source, reuse) if reuse is not None else None
        store(self, source, key, expected, progress, shared)

    def _shareable(self, source: Source, reuse: Reuse) -> dict[str, str]:
        """rel -> bucket path of the earlier object's files that hold exactly the bytes of
        the new folder's file of that name (same size, and the md5 the storage reports, or
        the given hash, equals the new file's hash): these are copied server-side."""
        if not source.is_dir or not source.files:
            return {}
        try:
            entries = {e.rel: e for e in self.list(reuse.key)}
        except StorageError:
            return {}  # nothing to share: every file is uploaded
        base = self.fs_path(reuse.key)
        known = reuse.hashes or {}
        out: dict[str, str] = {}
        for f in source.files:
            entry = entries.get(f.rel)
            if entry is None or f.hash is None or entry.size != f.size:
                continue
            old = known.get(f.rel)
            if old is None and entry.tag is not None:
                got = object_hash(self.kind, entry.tag, entry.path)
                old = got[0] if got[1] == "md5" and f.size <= CHUNK_THRESHOLD else None
            if old == f.hash:
                out[f.rel] = f"{base}/{f.rel}"
        return out

    def remove(self, key: str) -> None:
        fs, path = self.fs, self.fs_path(key)
        try:
            fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - every backend error becomes one sentence
            raise translate(exc, path) from None
        finally:
            fs.invalidate_cache()

    def move(self, old: str, new: str) -> None:
        fs, src, dst = self.fs, self.fs_path(old), self.fs_path(new)
        if self.stat(new) is not None or self.list(new):
            raise StorageError(f"{self.url(new)} exists already; labshelf does not overwrite it.")
        entries = self.list(old)
        if entries:  # a folder: copy every object, then remove the old ones
            pairs = [(f"{src}/{e.rel}", f"{dst}/{e.rel}") for e in entries]
        elif self.stat(old) is not None:
            pairs = [(src, dst)]
        else:
            raise StorageError(f"{self.url(old)} is missing; it cannot be moved.")
        for a, b in pairs:
            _call(partial(fs.cp_file, a, b), b)
        for a, _ in pairs:
            _remove_quietly(fs, a)

    # -- reading

    def stat(self, key: str) -> Entry | None:
        fs, path = self.fs, self.fs_path(key)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, path) from None
        if info.get("type") == "directory":
            return None
        entry = _entry(self.kind, info)
        entry.rel = key
        return entry

    def list(self, key: str) -> list[Entry]:
        """Every object under the folder ``key``, names relative to it and validated."""
        fs, base = self.fs, self.fs_path(key).rstrip("/")
        try:
            found = fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, base) from None
        entries = []
        for path, info in sorted(found.items()):
            if path.endswith("/") or not path.startswith(base + "/"):
                continue  # folder markers; the folder itself when it is a file
            entry = _entry(self.kind, info)
            entry.rel = safe_relative(path[len(base) + 1 :], self.url(key))
            entries.append(entry)
        return entries

    def matches(self, key: str, expected: Expected) -> bool:
        if expected.n_objects is None:
            entry = self.stat(key)
            return entry is not None and entry.size == expected.size
        entries = self.list(key)
        return len(entries) == expected.n_objects and sum(e.size for e in entries) == expected.size

    def content_hash(self, key: str, expected: Expected) -> tuple[str, int] | None:
        """From the backend's tags where they are md5s of the kind recorded, else re-read."""
        if expected.n_objects is None:
            entry = self.stat(key)
            if entry is None:
                if self.list(key):
                    raise wrong_kind(self.url(key), True)
                return None
            return self._file_hash(entry, expected.hash_type)[0], entry.size
        entries = self.list(key)
        if not entries:
            if self.stat(key) is not None:
                raise wrong_kind(self.url(key), False)
            return None
        if expected.in_place:  # registered in place: LaminDB combines the backend's tags
            hashes = [e.tag or "" for e in entries]
        else:  # uploaded from local files: per-file artifact hashes
            hashes = [self._file_hash(e, None)[0] for e in entries]
        return hash_folder_from_hashes(hashes)[0], sum(e.size for e in entries)

    def _file_hash(self, entry: Entry, hash_type: str | None) -> tuple[str, str]:
        if entry.tag is not None:
            got = object_hash(self.kind, entry.tag, entry.path)
            if got[1] == hash_type or (
                hash_type is None and got[1] == "md5" and entry.size <= CHUNK_THRESHOLD
            ):
                return got
        return hash_remote_file(self.fs, entry.path, entry.size)

    def local_copy(
        self,
        key: str,
        cache_dir: Path,
        expected: Expected,
        max_bytes: int | None,
        *,
        max_workers: int = 8,
        on_progress: CacheProgress | None = None,
    ) -> Path:
        return download(
            self,
            key,
            cache_dir,
            expected,
            max_bytes,
            max_workers=max_workers,
            on_progress=on_progress,
        )

    def read_bytes(self, key: str) -> bytes | None:
        fs, path = self.fs, self.fs_path(key)
        try:
            return bytes(fs.cat_file(path))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - every backend error becomes one sentence
            raise translate(exc, self.url(key)) from None

    def write_new(self, key: str, data: bytes) -> bool:
        """Written with the service's create-only condition (S3 ``If-None-Match: *``, GCS
        ``ifGenerationMatch=0``); where a service ignores it, a check just before."""
        fs, path = self.fs, self.fs_path(key)
        if self.stat(key) is not None:
            return False
        try:
            fs.pipe_file(path, data, mode="create")
        except Exception as exc:  # noqa: BLE001
            if isinstance(exc, FileExistsError) or _error_code(exc) in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
                412,
            ):
                return False
            raise translate(exc, self.url(key)) from None
        finally:
            fs.invalidate_cache()
        return True

    def objects(self) -> Iterator[tuple[str, float | None]]:
        base = self.fs_path(OBJECTS_DIR)
        entries: dict[str, float | None] = {}
        for e in self.list(OBJECTS_DIR):
            name = e.rel.split("/", 1)[0]
            entries[name] = max(entries.get(name) or 0, e.mtime or 0) or None
        del base
        yield from sorted(entries.items())

    def incomplete_uploads(self) -> builtins.list[dict[str, Any]]:
        """S3 multipart uploads under ``.labshelf/`` never completed or aborted (``Key``,
        ``UploadId``, ``Initiated``); GCS keeps no such state."""
        if self.kind != "s3":
            return []
        fs = self.fs
        start = f"{self.prefix}/{OBJECTS_DIR}/" if self.prefix else f"{OBJECTS_DIR}/"
        uploads = _call(lambda: fs.list_multipart_uploads(self.bucket), self.root)
        return [u for u in uploads if u.get("Key", "").startswith(start)]

    def abort_upload(self, upload: dict[str, Any]) -> None:
        _abort_quietly(self.fs, self.bucket, upload["Key"], upload["UploadId"])

    # -- sources registered in place

    def describe(self, url: str) -> tuple[builtins.list[Entry], bool]:
        """The listing of a cloud file or folder to register in place, and whether it is a
        folder; ``InvalidArgument`` if there is nothing."""
        key = url[len(self.root) + 1 :] if url.startswith(self.root + "/") else ""
        try:
            entry = None if url.endswith("/") else self.stat(key.rstrip("/"))
        except StorageError:
            raise
        if entry is not None:
            entry.path = self.fs_path(key)
            return [entry], False
        entries = self.list(key.rstrip("/"))
        if not entries:
            if self.stat(key.rstrip("/")) is None and not self._exists(key):
                raise InvalidArgument(f"The path {url} does not exist.")
            raise InvalidArgument(
                f"The folder {url} contains no files; there is nothing to register."
            )
        return entries, True

    def _exists(self, key: str) -> bool:
        try:
            return bool(self.fs.exists(self.fs_path(key)))
        except Exception:  # noqa: BLE001
            return False
