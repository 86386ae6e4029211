"""S3 and GCS through fsspec: bucket checks, registering objects in place,
uploads with verification, the download cache.

Credentials and endpoints come only from each backend's standard
configuration (AWS env/profile incl. ``AWS_ENDPOINT_URL``; Google ADC incl.
``STORAGE_EMULATOR_HOST``) or non-secret per-storage options in the instance
settings file.
"""

from __future__ import annotations

from typing import Any

from .errors import StorageError


def _not_yet(what: str) -> StorageError:
    return StorageError(f"Cloud storage ({what}) is not available in this build of labshelf yet.")


def storage_options_for(url: str) -> dict[str, Any]:
    return {}


def check_bucket(root: str, options: dict[str, Any]) -> None:
    raise _not_yet(root)


def describe_cloud_source(url: str) -> dict[str, Any]:
    raise _not_yet(url)


def store_cloud(source: Any, root: str, key: str, hash_: str, hash_type: str, **progress: Any) -> None:
    raise _not_yet(root)


def remove_object(root: str, key: str) -> None:
    raise _not_yet(root)


def cache_object(artifact: Any) -> Any:
    raise _not_yet(artifact.uid)
