"""Storage roots behind one protocol (``Backend``): a local folder or an S3/GCS bucket.

``backend(root, options)`` is the one way in; callers never branch on the kind of root.
Layout: ``base`` (the protocol and plain data), ``local`` (folders), ``remote`` (fsspec
filesystems, errors, listings), ``upload`` (verified uploads), ``cache`` (downloads),
``cloud`` (the S3/GCS backend), ``sources`` (walking local files the user registers).
"""

from __future__ import annotations

from typing import Any

from ..keys import is_cloud
from .base import Backend, Cancelled, Entry, Expected, LocalFile, Progress, Reuse, Source
from .cloud import CloudBackend
from .local import LocalBackend
from .remote import TransientStorageError, UploadCancelled

__all__ = [
    "Backend",
    "Cancelled",
    "CloudBackend",
    "Entry",
    "Expected",
    "LocalBackend",
    "LocalFile",
    "Progress",
    "Reuse",
    "Source",
    "TransientStorageError",
    "UploadCancelled",
    "backend",
]


def backend(root: str, options: dict[str, Any] | None = None) -> Backend:
    """The backend of a storage root; ``options`` are the root's non-secret fsspec options."""
    if is_cloud(root):
        return CloudBackend(root, options)
    return LocalBackend(root)
