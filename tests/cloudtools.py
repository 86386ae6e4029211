"""What tests look at in a bucket directly (through the same fsspec filesystems as labshelf)."""

from __future__ import annotations

from typing import Any

from labshelf.artifact import describe_cloud_source
from labshelf.instance import current
from labshelf.storage import Entry
from labshelf.storage.remote import _entry, _fs_path, split_url
from labshelf.storage.remote import filesystem as _filesystem

__all__ = [
    "describe_cloud_source",
    "filesystem",
    "incomplete_uploads",
    "list_objects",
    "object_info",
]


def filesystem(url: str, options: dict[str, Any] | None = None) -> Any:
    """The fsspec filesystem labshelf uses for ``url`` (the instance's options by default)."""
    return _filesystem(url, current().storage_options(url) if options is None else options)


def list_objects(url: str) -> list[Entry]:
    """Every object under a prefix ([] if none); ``Entry.path`` is ``bucket/key``."""
    fs = filesystem(url)
    try:
        found = fs.find(_fs_path(url), detail=True)
    except FileNotFoundError:
        return []
    scheme = split_url(url)[0]
    return [_entry(scheme, i) for p, i in sorted(found.items()) if not p.endswith("/")]


def object_info(root: str, key: str) -> dict[str, Any] | None:
    fs = filesystem(root)
    try:
        return fs.info(_fs_path(f"{root.rstrip('/')}/{key}"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def incomplete_uploads(root: str) -> list[dict[str, Any]]:
    return current().backend(root).incomplete_uploads()
