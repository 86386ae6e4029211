"""S3 and GCS through fsspec: filesystems and options, bucket checks, registering
objects in place, verified uploads, removal.

Credentials and endpoints come only from each backend's standard
configuration (AWS env/profile incl. ``AWS_ENDPOINT_URL``; Google ADC incl.
``STORAGE_EMULATOR_HOST``) or non-secret per-storage options in the instance
settings file. s3fs and gcsfs are imported on first use.

Uploads never leave an incomplete or unverified object under a final key:

- a single file on S3 is sent straight to its final key with ``Content-MD5``
  (per part for multipart uploads), so S3 itself refuses bytes that differ from
  the ones we read, and the object appears only once complete;
- GCS files and every folder go to a temporary key (``.labshelf/.tmp-…``), are
  verified (size, and the md5 the backend reports), then copied server-side to
  the final key; the temporary objects are removed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidArgument, LabshelfError, StorageError
from .hashing import CHUNK_THRESHOLD, READ_BLOCK, b64, hash_folder_from_hashes

# gcsfs otherwise waits 60 s per operation on a gRPC lookup that emulators cannot answer.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

PART_SIZE = 8 * 1024 * 1024  # S3 multipart part (parts are 5 MiB at least, 10,000 at most)
MAX_PARTS = 10_000
PARALLEL_PARTS = 4  # parts of one file in flight at once (memory: PARALLEL_PARTS x part size)
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


def storage_options_for(url: str) -> dict[str, Any]:
    """fsspec options for a URL: the instance's options for the longest matching root,
    plus the anonymous token an emulator needs. Never holds a secret."""
    options: dict[str, Any] = {}
    try:
        from .instance import current

        configured = current().config.storage_options
    except LabshelfError:
        configured = {}
    matches = [root for root in configured if url == root or url.startswith(root.rstrip("/") + "/")]
    if matches:
        options.update(configured[max(matches, key=len)])
    return _with_defaults(split_url(url)[0], options)


def _with_defaults(scheme: str, options: dict[str, Any]) -> dict[str, Any]:
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


_filesystems: dict[tuple, Any] = {}
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


def filesystem(url: str, options: dict[str, Any] | None = None, *, quick: bool = False) -> Any:
    """The fsspec filesystem for a URL (one per options and environment, shared by threads).

    ``quick`` filesystems have short timeouts and no retries, for checks that
    must answer within seconds.
    """
    scheme = split_url(url)[0]
    options = storage_options_for(url) if options is None else _with_defaults(scheme, options)
    env = tuple(os.environ.get(k) for k in _ENV_KEYS)
    key = (scheme, repr(sorted(options.items())), quick, hash(env))
    with _fs_lock:
        fs = _filesystems.get(key)
        if fs is None:
            fs = _make_s3(options, quick) if scheme == "s3" else _make_gcs(options, quick)
            _filesystems[key] = fs
    return fs


def _make_s3(options: dict[str, Any], quick: bool) -> Any:
    import s3fs

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
    import gcsfs

    if quick:
        options = {"requests_timeout": 5, **options}
    return gcsfs.GCSFileSystem(skip_instance_cache=True, **options)


# ---------------------------------------------------------------- errors


def translate(exc: BaseException, what: str) -> StorageError:
    """One clear sentence for an error of s3fs, gcsfs, botocore or aiohttp about ``what``."""
    if isinstance(exc, StorageError):
        return exc
    code = _error_code(exc)
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


# ---------------------------------------------------------------- bucket checks


def check_bucket(root: str, options: dict[str, Any]) -> None:
    """Fail within seconds with one sentence if the bucket of ``root`` is not usable."""
    scheme, bucket, _ = split_url(root)
    endpoint = endpoint_of(root, _with_defaults(scheme, options))
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


# ---------------------------------------------------------------- registering in place


@dataclass
class CloudEntry:
    """One object of a cloud source: its path, size and the backend's md5-like tag."""

    path: str
    size: int
    tag: str | None
    mtime: float | None = None


def describe_cloud_source(url: str) -> dict[str, Any]:
    """Hash, size, suffix and object count of an existing cloud object or prefix, from one
    listing; the bucket is registered as a storage if no registered root contains it."""
    from .artifact import Source
    from .storage import suffix_of

    url = url.replace("gcs://", "gs://", 1)
    scheme = split_url(url)[0]
    entries, is_dir = _list_source(url)
    _ensure_storage(url)
    source = Source(path=url.rstrip("/"), is_dir=is_dir, cloud=entries)
    if not is_dir:
        hash_, hash_type = object_hash(scheme, entries[0].tag, url)
        return dict(
            source=source,
            hash=hash_,
            hash_type=hash_type,
            size=entries[0].size,
            suffix=suffix_of(url.rstrip("/").rsplit("/", 1)[-1]),
            n_objects=None,
        )
    if any(e.tag is None for e in entries):
        raise StorageError(
            f"The storage does not report content hashes for the objects under {url}."
        )
    hash_, hash_type = hash_folder_from_hashes(e.tag for e in entries)
    return dict(
        source=source,
        hash=hash_,
        hash_type=hash_type,
        size=sum(e.size for e in entries),
        suffix="",
        n_objects=len(entries),
    )


def _list_source(url: str) -> tuple[list[CloudEntry], bool]:
    fs = filesystem(url)
    path = _fs_path(url)
    scheme = split_url(url)[0]
    try:
        info = None if url.endswith("/") else fs.info(path)
        if info is not None and info.get("type") == "file":
            return [_entry(scheme, info)], False
        found = fs.find(path, detail=True)
    except FileNotFoundError:
        raise InvalidArgument(f"The path {url} does not exist.") from None
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, url) from None
    entries = [_entry(scheme, i) for p, i in sorted(found.items()) if not p.endswith("/")]
    if not entries:
        raise InvalidArgument(f"The folder {url} contains no files; there is nothing to register.")
    return entries, True


def _entry(scheme: str, info: dict[str, Any]) -> CloudEntry:
    tag = info.get("ETag") if scheme == "s3" else info.get("md5Hash")
    return CloudEntry(
        info["name"],
        int(info.get("size") or 0),
        tag.strip('"=') if tag else None,
        remote_mtime(info),
    )


def remote_mtime(info: dict[str, Any]) -> float | None:
    """The modification time (epoch seconds) in an s3fs or gcsfs info dict."""
    from datetime import datetime

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


def _ensure_storage(url: str) -> None:
    """Register ``scheme://bucket`` as a storage unless a registered root holds ``url``."""
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError as SAIntegrityError

    from . import context
    from .models import Storage
    from .storage import relative_key, storage_type
    from .uids import UID_LENGTHS, base62

    roots = context.read(lambda s: list(s.scalars(select(Storage.root))), what="listing storages")
    if any(relative_key(r, url.rstrip("/")) is not None for r in roots):
        return
    root = bucket_root(url)
    user = context.user_id()

    def add(s: Any) -> None:
        s.execute(
            insert(Storage).values(
                uid=base62(UID_LENGTHS["storage"]),
                root=root,
                type=storage_type(root),
                created_by_id=user,
            )
        )

    try:
        context.write(add, what=f"registering the storage {root}")
    except SAIntegrityError:
        pass  # registered meanwhile by another process
    from .log import say

    say(f"registered the storage {root}")


# ---------------------------------------------------------------- hashing while streaming


class StreamHasher:
    """The artifact hash (``md5`` or ``sha1-fl``) of bytes fed in order, plus their md5."""

    def __init__(self, size: int):
        self.size, self.seen = size, 0
        self.md5 = hashlib.md5()
        self.first, self.last = hashlib.sha1(), hashlib.sha1()

    def update(self, block: bytes) -> None:
        start, self.seen = self.seen, self.seen + len(block)
        self.md5.update(block)
        if self.size > CHUNK_THRESHOLD:
            if start < CHUNK_THRESHOLD:
                self.first.update(block[: CHUNK_THRESHOLD - start])
            tail_from = self.size - CHUNK_THRESHOLD
            if self.seen > tail_from:
                self.last.update(block[max(0, tail_from - start) :])

    def result(self) -> tuple[str, str]:
        if self.size <= CHUNK_THRESHOLD:
            return b64(self.md5.digest()), "md5"
        return b64(hashlib.sha1(self.first.digest() + self.last.digest()).digest()), "sha1-fl"


@dataclass
class Transfer:
    """What one upload call needs besides the bytes: cancel and progress hooks, and the
    request slots shared by all transfers of one ``ls.upload`` (its ``max_workers``)."""

    cancel: Callable[[], bool] | None = None
    on_bytes: Callable[[int], None] | None = None
    slots: threading.Semaphore | None = None

    def take_slot(self) -> None:
        while self.slots is not None and not self.slots.acquire(timeout=0.05):
            self.check()

    def free_slot(self, _: Any = None) -> None:
        if self.slots is not None:
            self.slots.release()

    def check(self) -> None:
        if self.cancelled():
            raise UploadCancelled("The upload was cancelled.")

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel()

    def sent(self, n: int) -> None:
        if self.on_bytes is not None:
            self.on_bytes(n)


def _read_blocks(local: Path, size: int, block: int, transfer: Transfer):
    """Blocks of a local file, checking for cancel between them and for size changes."""
    read = 0
    try:
        with open(local, "rb") as fh:
            while data := fh.read(block):
                transfer.check()
                read += len(data)
                yield data
    except (FileNotFoundError, PermissionError) as exc:
        raise StorageError(f"The file {local} cannot be read: {exc.strerror}.") from None
    if read != size:
        raise StorageError(
            f"The file {local} changed while it was being uploaded ({size} bytes expected, "
            f"{read} read); upload it again once it is complete."
        )


# ---------------------------------------------------------------- uploads


def store_cloud(
    source: Any,
    root: str,
    key: str,
    hash_: str,
    hash_type: str,
    *,
    cancel: Callable[[], bool] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    max_workers: int = 8,
    slots: threading.Semaphore | None = None,
) -> None:
    """Upload a local file or folder to ``root/key``, verified; nothing is left under the
    final key on failure or cancel. ``slots`` bounds the data requests in flight."""
    if source.cloud is not None:
        raise InvalidArgument(
            f"{source.path} is a cloud object that is not registered in place; labshelf does not "
            "copy objects between buckets."
        )
    transfer = Transfer(cancel, on_bytes, slots)
    final = _fs_path(f"{root.rstrip('/')}/{key}")
    fs = filesystem(root)
    if source.is_dir:
        _store_folder(fs, source, root, final, hash_, max_workers, transfer)
        return
    got = _store_file(fs, Path(source.path), final, root, transfer)
    if got != (hash_, hash_type) and hash_type in ("md5", "sha1-fl"):
        remove_object(root, key)
        raise StorageError(f"The file {source.path} changed after it was hashed; save it again.")


def _store_file(fs: Any, local: Path, final: str, root: str, transfer: Transfer) -> tuple[str, str]:
    """Upload one file to ``final`` (S3: directly, server-verified; GCS: via a temporary key)."""
    from .storage import tmp_key

    size = _local_size(local)
    if split_url(root)[0] == "s3":
        return _put_s3(fs, local, size, final, transfer)
    tmp = _fs_path(f"{root.rstrip('/')}/{tmp_key(local.name, '')}")
    try:
        got = _put_gcs(fs, local, size, tmp, transfer)
        # a server-side copy: gcsfs' mv tries a moveTo API that emulators lack, then copies
        _call(lambda: fs.cp_file(tmp, final), final)
    finally:
        _remove_quietly(fs, tmp)
    return got


def _local_size(local: Path) -> int:
    try:
        return local.stat().st_size
    except FileNotFoundError:
        raise StorageError(f"The file {local} vanished before it could be uploaded.") from None


def _call(fn: Callable[[], Any], what: str) -> Any:
    try:
        return fn()
    except (LabshelfError, UploadCancelled):
        raise
    except Exception as exc:
        raise translate(exc, what) from exc


def _start(fs: Any, transfer: Transfer, method: str, **kwargs: Any) -> Future:
    """An S3 request running on s3fs' event loop, once a request slot is free."""
    import asyncio

    transfer.take_slot()
    future = asyncio.run_coroutine_threadsafe(fs._call_s3(method, **kwargs), fs.loop)
    future.add_done_callback(transfer.free_slot)
    return future


def _finish(future: Future, transfer: Transfer) -> dict[str, Any]:
    """The response of a request; a cancel interrupts it mid-request."""
    while True:
        try:
            return future.result(timeout=0.05)
        except WaitTimeout:
            if transfer.cancelled():
                future.cancel()
                raise UploadCancelled("The upload was cancelled.") from None


def _s3(fs: Any, transfer: Transfer, method: str, **kwargs: Any) -> dict[str, Any]:
    """``fs.call_s3`` that a cancel interrupts mid-request."""
    return _finish(_start(fs, transfer, method, **kwargs), transfer)


def _put_s3(fs: Any, local: Path, size: int, path: str, transfer: Transfer) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    hasher = StreamHasher(size)
    if size <= 2 * PART_SIZE:
        data = b"".join(_read_blocks(local, size, READ_BLOCK * 4, transfer))
        hasher.update(data)
        digest = hasher.md5.digest()
        try:
            out = _call(
                lambda: _s3(
                    fs,
                    transfer,
                    "put_object",
                    Bucket=bucket,
                    Key=key,
                    Body=data,
                    ContentMD5=base64.b64encode(digest).decode(),
                ),
                path,
            )
        except UploadCancelled:
            _remove_quietly(fs, path)  # S3 may have completed the request as it was cancelled
            raise
        _check_etag(out, digest.hex(), path, fs)
        transfer.sent(size)
        return hasher.result()
    _put_s3_multipart(fs, local, size, bucket, key, hasher, transfer)
    return hasher.result()


def _check_etag(out: dict[str, Any], expected: str, path: str, fs: Any) -> None:
    etag = str(out.get("ETag", "")).strip('"')
    if etag and etag != expected:
        _remove_quietly(fs, path)
        raise TransientStorageError(
            f"The object {path} was stored with other bytes than were sent."
        )


def _put_s3_multipart(
    fs: Any, local: Path, size: int, bucket: str, key: str, hasher: StreamHasher, transfer: Transfer
) -> None:
    """Parts are read and hashed in order and sent ``PARALLEL_PARTS`` at a time; each carries
    its Content-MD5, and the object appears only when the upload is completed."""
    where = f"{bucket}/{key}"
    mpu = _call(lambda: fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key), where)
    upload_id, parts, digests = mpu["UploadId"], [], []
    running: deque[tuple[int, bytes, int, Future]] = deque()

    def settle_oldest() -> None:
        number, digest, n, future = running.popleft()
        out = _call(lambda: _finish(future, transfer), where)
        if out["ETag"].strip('"') != digest.hex():
            raise TransientStorageError(
                f"Part {number} of {where} was stored with other bytes than were sent."
            )
        parts.append({"PartNumber": number, "ETag": out["ETag"]})
        transfer.sent(n)

    try:
        for number, data in enumerate(
            _read_blocks(local, size, _part_size(size), transfer), start=1
        ):
            hasher.update(data)
            digests.append(hashlib.md5(data).digest())
            running.append(
                (
                    number,
                    digests[-1],
                    len(data),
                    _start(
                        fs,
                        transfer,
                        "upload_part",
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ContentMD5=base64.b64encode(digests[-1]).decode(),
                    ),
                )
            )
            while len(running) >= PARALLEL_PARTS:
                settle_oldest()
        while running:
            settle_oldest()
        out = _call(
            lambda: fs.call_s3(
                "complete_multipart_upload",
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            ),
            where,
        )
    except BaseException:
        for *_, future in running:
            future.cancel()
        _abort_quietly(fs, bucket, key, upload_id)
        raise
    expected = f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"
    _check_etag(out, expected, where, fs)


def _part_size(size: int) -> int:
    mib = 1024 * 1024
    return max(PART_SIZE, -(-size // (MAX_PARTS * mib)) * mib)


def _abort_quietly(fs: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception:  # noqa: BLE001 - doctor lists incomplete uploads that could not be aborted
        pass


def _put_gcs(fs: Any, local: Path, size: int, path: str, transfer: Transfer) -> tuple[str, str]:
    """Upload to ``path`` and check size and md5 against what GCS reports."""
    hasher = StreamHasher(size)
    for block in _read_blocks(local, size, READ_BLOCK * 4, transfer):
        hasher.update(block)

    class Progress:
        def relative_update(self, n: int = 1) -> None:
            transfer.check()
            transfer.sent(n)

        def __getattr__(self, name: str) -> Any:  # set_size, call, … : nothing to do
            return lambda *a, **k: None

    _call(lambda: fs.put_file(str(local), path, callback=Progress()), path)
    info = _call(lambda: fs.info(path), path)
    tag = info.get("md5Hash")
    reported = base64.b64decode(tag) if tag else None
    if int(info.get("size", -1)) != size or (reported and reported != hasher.md5.digest()):
        raise TransientStorageError(
            f"The object {path} was stored with other bytes than were sent."
        )
    return hasher.result()


def _store_folder(
    fs: Any, source: Any, root: str, final: str, hash_: str, max_workers: int, transfer: Transfer
) -> None:
    """Upload a folder's files under a temporary prefix, verify, then copy them into place."""
    from .storage import tmp_key

    tmp = _fs_path(f"{root.rstrip('/')}/{tmp_key(Path(source.path).name, '')}")
    copied: list[str] = []
    try:
        hashes = _map(
            lambda f: _store_file_direct(fs, f, f"{tmp}/{f.rel}", root, transfer),
            source.files,
            max_workers,
        )
        if hash_folder_from_hashes(h for h, _ in hashes)[0] != hash_:
            raise StorageError(
                f"The folder {source.path} changed after it was hashed; save it again."
            )

        def place(f: Any) -> None:
            transfer.check()
            _call(lambda: fs.cp_file(f"{tmp}/{f.rel}", f"{final}/{f.rel}"), f"{final}/{f.rel}")
            copied.append(f"{final}/{f.rel}")

        _map(place, source.files, max_workers)
    except BaseException:
        for path in copied:
            _remove_quietly(fs, path)
        raise
    finally:
        _remove_quietly(fs, tmp)


def _store_file_direct(
    fs: Any, f: Any, path: str, root: str, transfer: Transfer
) -> tuple[str, str]:
    if split_url(root)[0] == "s3":
        return _put_s3(fs, f.path, f.size, path, transfer)
    return _put_gcs(fs, f.path, f.size, path, transfer)


def _map(fn: Callable[[Any], Any], items: list[Any], max_workers: int) -> list[Any]:
    if len(items) < 2 or max_workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(items)), thread_name_prefix="ls-cloud"
    ) as pool:
        return list(pool.map(fn, items))


# ---------------------------------------------------------------- reading and removing


def hash_remote_file(path: str, root: str, size: int) -> tuple[str, str]:
    """The artifact hash of a stored object, read in ranges (only the first and last
    50 MiB of a large file)."""
    fs = filesystem(root)

    def digest(hasher: Any, start: int, end: int) -> bytes:
        for at in range(start, end, PART_SIZE):
            stop = min(at + PART_SIZE, end)
            hasher.update(_call(lambda a=at, b=stop: fs.cat_file(path, start=a, end=b), path))
        return hasher.digest()

    if size <= CHUNK_THRESHOLD:
        return b64(digest(hashlib.md5(), 0, size)), "md5"
    first = digest(hashlib.sha1(), 0, CHUNK_THRESHOLD)
    last = digest(hashlib.sha1(), size - CHUNK_THRESHOLD, size)
    return b64(hashlib.sha1(first + last).digest()), "sha1-fl"


def object_info(root: str, key: str) -> dict[str, Any] | None:
    """The backend's info of ``root/key`` (a file) or ``None`` if there is no such object."""
    fs = filesystem(root)
    path = _fs_path(f"{root.rstrip('/')}/{key}")
    try:
        return fs.info(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, path) from None


def list_objects(url: str) -> list[CloudEntry]:
    """Every object under a prefix (empty if there is none)."""
    fs = filesystem(url)
    try:
        found = fs.find(_fs_path(url), detail=True)
    except FileNotFoundError:
        return []
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, url) from None
    scheme = split_url(url)[0]
    return [_entry(scheme, i) for p, i in sorted(found.items()) if not p.endswith("/")]


def incomplete_uploads(root: str) -> list[dict[str, Any]]:
    """S3 multipart uploads under ``root/.labshelf/`` that were never completed or aborted
    (``Key``, ``UploadId``, ``Initiated``); GCS keeps no such state."""
    from .storage import OBJECTS_DIR

    scheme, bucket, prefix = split_url(root)
    if scheme != "s3":
        return []
    fs = filesystem(root)
    start = f"{prefix}/{OBJECTS_DIR}/" if prefix else f"{OBJECTS_DIR}/"
    uploads = _call(lambda: fs.list_multipart_uploads(bucket), root)
    return [u for u in uploads if u.get("Key", "").startswith(start)]


def abort_upload(root: str, upload: dict[str, Any]) -> None:
    _abort_quietly(filesystem(root), split_url(root)[1], upload["Key"], upload["UploadId"])


def remove_object(root: str, key: str) -> None:
    """Remove the object or prefix ``root/key``; a missing one is not an error."""
    fs = filesystem(root)
    path = _fs_path(f"{root.rstrip('/')}/{key}")
    try:
        fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, path) from None
    finally:
        fs.invalidate_cache()


def _remove_quietly(fs: Any, path: str) -> None:
    try:
        fs.rm(path, recursive=True)
    except Exception:  # noqa: BLE001 - leftovers under temporary names are cleaned by doctor
        pass
    fs.invalidate_cache()


def cache_object(artifact: Any) -> Path:
    """The local copy of a cloud artifact (downloaded once; see ``labshelf.cache``)."""
    from .cache import cached_path

    return cached_path(artifact)
