"""S3 and GCS through fsspec: filesystems and their options, one-sentence errors, bucket
checks, and what listings report (entries, content tags, ranged re-reads).

Credentials and endpoints come only from each backend's standard configuration (AWS
env/profile incl. ``AWS_ENDPOINT_URL``; Google ADC incl. ``STORAGE_EMULATOR_HOST``) or the
non-secret per-storage options the caller passes (the instance settings). s3fs and gcsfs are
imported when the first filesystem is made. The backend built on this is ``storage.cloud``;
uploads are in ``storage.upload``, downloads in ``storage.cache``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidArgument, LabshelfError, StorageError
from ..hashing import CHUNK_THRESHOLD, b64
from .base import Entry

# gcsfs otherwise waits 60 s per operation on a gRPC lookup that emulators cannot answer.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

PART_SIZE = 8 * 1024 * 1024  # S3 multipart part (parts are 5 MiB at least, 10,000 at most)
CHECK_TIMEOUT = 3.0
TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeTooSkewed",
}
DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "InvalidToken",
    "ExpiredToken",
}


class TransientStorageError(StorageError):
    """A storage error that may go away when retried (connection lost, 5xx, throttling)."""


class UploadCancelled(LabshelfError):
    """An upload was cancelled by the caller; nothing was left under a final key."""


# ---------------------------------------------------------------- locations


def split_url(url: str) -> tuple[str, str, str]:
    """``(scheme, bucket, key)`` of ``s3://bucket/key`` or ``gs://bucket/key``."""
    scheme, _, rest = url.partition("://")
    scheme = "gs" if scheme.lower() == "gcs" else scheme.lower()
    if scheme not in ("s3", "gs"):
        raise InvalidArgument(
            f"The URL '{url}' has the unsupported scheme '{scheme}://'; use s3:// or gs://."
        )
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidArgument(f"The URL '{url}' names no bucket.")
    return scheme, bucket, key.strip("/")


def bucket_root(url: str) -> str:
    scheme, bucket, _ = split_url(url)
    return f"{scheme}://{bucket}"


def _fs_path(url: str) -> str:
    """The path fsspec uses for a URL: ``bucket/key``."""
    _, bucket, key = split_url(url)
    return f"{bucket}/{key}" if key else bucket


# ---------------------------------------------------------------- options and filesystems


def with_defaults(scheme: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options plus what a GCS emulator needs (``STORAGE_EMULATOR_HOST`` set): an
    anonymous token and a project. Without an emulator gcsfs uses Google's ADC."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if scheme != "gs" or not emulator:
        return dict(options)
    endpoint = emulator if "://" in emulator else f"http://{emulator}"
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "labshelf")
    return {"endpoint_url": endpoint, "token": "anon", "project": project, **options}


def endpoint_of(url: str, options: dict[str, Any]) -> str | None:
    """The endpoint a URL's requests go to, when one is configured (emulators, MinIO…)."""
    if split_url(url)[0] == "gs":
        return options.get("endpoint_url") or "https://storage.googleapis.com"
    client = options.get("client_kwargs") or {}
    return (
        options.get("endpoint_url")
        or client.get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )


_filesystems: dict[tuple[Any, ...], Any] = {}
_fs_lock = threading.Lock()
_ENV_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


def filesystem(url: str, options: dict[str, Any], *, quick: bool = False) -> Any:
    """The fsspec filesystem for a URL (one per options and environment, shared by threads).

    ``quick`` filesystems have short timeouts and no retries, for checks that
    must answer within seconds.
    """
    scheme = split_url(url)[0]
    options = with_defaults(scheme, options)
    env = tuple(os.environ.get(k) for k in _ENV_KEYS)
    key = (scheme, repr(sorted(options.items())), quick, hash(env))
    with _fs_lock:
        fs = _filesystems.get(key)
        if fs is None:
            fs = _make_s3(options, quick) if scheme == "s3" else _make_gcs(options, quick)
            _filesystems[key] = fs
    return fs


def _make_s3(options: dict[str, Any], quick: bool) -> Any:
    import s3fs  # deferred: S3 support loads on the first S3 filesystem

    config = {
        "connect_timeout": CHECK_TIMEOUT if quick else 10,
        "read_timeout": 5 if quick else 60,
        "retries": {"max_attempts": 1, "mode": "standard"},
        "max_pool_connections": 64,
    }
    options = dict(options)
    config.update(options.pop("config_kwargs", {}))
    fs = s3fs.S3FileSystem(config_kwargs=config, skip_instance_cache=True, **options)
    fs.retries = 1 if quick else 2  # attempts; the upload engine retries with its own backoff
    return fs


def _make_gcs(options: dict[str, Any], quick: bool) -> Any:
    import gcsfs  # deferred: GCS support loads on the first GCS filesystem

    if quick:
        options = {"requests_timeout": 5, **options}
    return gcsfs.GCSFileSystem(skip_instance_cache=True, **options)


# ---------------------------------------------------------------- errors


def translate(exc: BaseException, what: str) -> StorageError:
    """One clear sentence for an error of s3fs, gcsfs, botocore or aiohttp about ``what``."""
    if isinstance(exc, StorageError):
        return exc
    code = _error_code(exc)
    hint = _missing_credentials(exc)
    if hint:
        return StorageError(f"No credentials were found for {what}: {hint}")
    if code == "NoSuchBucket":
        return StorageError(f"The bucket of {what} does not exist; create it or check the name.")
    if isinstance(exc, PermissionError) or code in DENIED_CODES or code in (401, 403):
        return StorageError(
            f"Access to {what} was denied; check the credentials (AWS profile or environment, "
            "Google application default credentials) and the bucket's permissions."
        )
    if isinstance(exc, FileNotFoundError) or code in ("NoSuchKey", 404):
        return StorageError(f"{what} does not exist.")
    if code in TRANSIENT_CODES or (isinstance(code, int) and (code >= 500 or code == 429)):
        return TransientStorageError(
            f"The storage service failed on {what} ({code}); try again later."
        )
    if _is_connection_error(exc):
        return TransientStorageError(
            f"The connection to the storage service failed on {what} ({type(exc).__name__}); "
            "check the network and the endpoint."
        )
    return StorageError(f"The storage operation on {what} failed: {exc}")


AWS_CREDENTIALS_HINT = (
    "put them in ~/.aws/credentials (the `aws configure` command writes it), or set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment "
    "labshelf starts from, then try again."
)
GOOGLE_CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to "
    "a service-account key file in the environment labshelf starts from, then try again."
)


def _missing_credentials(exc: BaseException) -> str | None:
    """How to provide credentials, if ``exc`` says there are none (botocore's "Unable to
    locate credentials", google-auth's missing default credentials)."""
    names = {
        cls.__name__
        for err in (exc, exc.__cause__, exc.__context__)
        if err is not None
        for cls in type(err).__mro__
    }
    if names & {"NoCredentialsError", "PartialCredentialsError"}:
        return AWS_CREDENTIALS_HINT
    if "DefaultCredentialsError" in names:
        return GOOGLE_CREDENTIALS_HINT
    return None


def _error_code(exc: BaseException) -> str | int | None:
    for err in (exc, exc.__cause__, exc.__context__):
        response = getattr(err, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = response["Error"].get("Code")
            return int(code) if isinstance(code, str) and code.isdigit() else code
        if type(err).__name__ == "HttpError":
            return getattr(err, "code", None)
    return None


def _is_connection_error(exc: BaseException) -> bool:
    names = {
        cls.__name__ for err in (exc, exc.__cause__) if err is not None for cls in type(err).__mro__
    }
    return bool(
        names
        & {
            "ConnectionError",
            "HTTPClientError",
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ClientError",
            "TimeoutError",
            "ServerDisconnectedError",
            "ClientPayloadError",
            "IncompleteRead",
            "FSTimeoutError",
            "ResponseParserError",
        }
    )


def _call(fn: Callable[[], Any], what: str) -> Any:
    try:
        return fn()
    except (LabshelfError, UploadCancelled):
        raise
    except Exception as exc:
        raise translate(exc, what) from exc


# ---------------------------------------------------------------- bucket checks


def check_bucket(root: str, options: dict[str, Any]) -> None:
    """Fail within seconds with one sentence if the bucket of ``root`` is not usable."""
    scheme, bucket, _ = split_url(root)
    endpoint = endpoint_of(root, with_defaults(scheme, options))
    if endpoint:
        _probe(endpoint, root)
    fs = filesystem(root, options, quick=True)
    try:
        if scheme == "s3":
            fs.call_s3("head_bucket", Bucket=bucket)
        else:
            fs.info(bucket)
    except Exception as exc:  # noqa: BLE001 - every backend error becomes one sentence
        if isinstance(exc, FileNotFoundError) or _error_code(exc) in ("NoSuchBucket", "404", 404):
            where = f" at {endpoint}" if endpoint else ""
            raise StorageError(
                f"The bucket '{bucket}' of {root} does not exist{where}; create it first or check the name."
            ) from None
        raise translate(exc, f"the bucket '{bucket}'") from None
    finally:
        fs.invalidate_cache()


def _probe(endpoint: str, root: str) -> None:
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CHECK_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageError(
            f"The storage endpoint {endpoint} for {root} cannot be reached ({reason}); "
            "check the endpoint setting and that the service is running."
        ) from None


# ---------------------------------------------------------------- listings


def _entry(scheme: str, info: dict[str, Any]) -> Entry:
    tag = info.get("ETag") if scheme == "s3" else info.get("md5Hash")
    name = str(info["name"])
    return Entry(
        name, int(info.get("size") or 0), tag.strip('"=') if tag else None, remote_mtime(info), name
    )


def remote_mtime(info: dict[str, Any]) -> float | None:
    """The modification time (epoch seconds) in an s3fs or gcsfs info dict."""
    value = info.get("LastModified") or info.get("mtime") or info.get("updated")
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.timestamp() if isinstance(value, datetime) else None


def object_hash(scheme: str, tag: str | None, url: str) -> tuple[str, str]:
    """LaminDB's hash of one cloud object from its tag (S3 ETag or GCS md5Hash)."""
    if tag is None:
        raise StorageError(f"The storage does not report a content hash for {url}.")
    if scheme == "gs":
        return b64(base64.b64decode(tag + "=" * (-len(tag) % 4))), "md5"
    hex_part, _, parts = tag.partition("-")
    return b64(bytes.fromhex(hex_part)), (f"md5-{parts}" if parts else "md5")


def hash_remote_file(fs: Any, path: str, size: int) -> tuple[str, str]:
    """The artifact hash of a stored object, read in ranges (only the first and last
    50 MiB of a large file)."""

    def digest(hasher: Any, start: int, end: int) -> bytes:
        for at in range(start, end, PART_SIZE):
            stop = min(at + PART_SIZE, end)
            hasher.update(_call(partial(fs.cat_file, path, start=at, end=stop), path))
        return hasher.digest()

    if size <= CHUNK_THRESHOLD:
        return b64(digest(hashlib.md5(), 0, size)), "md5"
    first = digest(hashlib.sha1(), 0, CHUNK_THRESHOLD)
    last = digest(hashlib.sha1(), size - CHUNK_THRESHOLD, size)
    return b64(hashlib.sha1(first + last).digest()), "sha1-fl"


def _remove_quietly(fs: Any, path: str) -> None:
    try:
        fs.rm(path, recursive=True)
    except Exception:  # noqa: BLE001 - leftovers under temporary names are cleaned by doctor
        pass
    fs.invalidate_cache()


def _abort_quietly(fs: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception:  # noqa: BLE001 - doctor lists incomplete uploads that could not be aborted
        pass
