"""Verified uploads to S3 and GCS: nothing incomplete or unverified under a final key.

- a single file on S3 is sent straight to its final key with ``Content-MD5`` (per part for
  multipart uploads), so S3 itself refuses bytes that differ from the ones we read, and the
  object appears only once complete;
- GCS files and every folder go to a temporary key (``.labshelf/.tmp-…``), are verified
  (size, and the md5 the backend reports), then copied server-side to the final key; the
  temporary objects are removed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from pathlib import Path
from typing import Any, Protocol

from ..errors import InvalidArgument, StorageError
from ..hashing import CHUNK_THRESHOLD, READ_BLOCK, b64, hash_folder_from_hashes
from ..keys import tmp_key
from .base import Expected, LocalFile, Progress, Source
from .remote import (
    PART_SIZE,
    TransientStorageError,
    UploadCancelled,
    _abort_quietly,
    _call,
    _fs_path,
    _remove_quietly,
    split_url,
)

MAX_PARTS = 10_000
PARALLEL_PARTS = 4  # parts of one file in flight at once (memory: PARALLEL_PARTS x part size)


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


class Transfer:
    """One upload call's cancel and progress hooks and request slots (see ``Progress``)."""

    def __init__(self, progress: Progress):
        self.cancel = progress.cancel
        self.on_bytes = progress.on_bytes
        self.slots = progress.slots
        self.max_workers = progress.max_workers

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


def _read_blocks(local: Path, size: int, block: int, transfer: Transfer) -> Iterator[bytes]:
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


class Target(Protocol):
    """Where an upload goes (a ``CloudBackend``)."""

    root: str

    @property
    def fs(self) -> Any: ...

    def fs_path(self, key: str) -> str: ...

    def remove(self, key: str) -> None: ...


def store(
    backend: Target,
    source: Source,
    key: str,
    expected: Expected,
    progress: Progress,
    shared: dict[str, str] | None = None,
) -> None:
    """Upload a local file or folder to ``key`` under the backend's root, verified; nothing
    is left under the final key on failure or cancel. ``progress.slots`` bounds the data
    requests in flight. ``shared`` (relative path -> bucket path of an earlier object's file
    with the same bytes) are copied server-side instead of uploaded (folders only)."""
    if source.cloud is not None:
        raise InvalidArgument(
            f"{source.path} is a cloud object that is not registered in place; labshelf does "
            "not copy objects between buckets."
        )
    transfer = Transfer(progress)
    final, fs, root = backend.fs_path(key), backend.fs, backend.root
    if source.is_dir:
        _store_folder(fs, source, root, final, expected.hash, transfer, shared or {})
        return
    got = _store_file(fs, Path(source.path), final, root, transfer)
    if got != (expected.hash, expected.hash_type) and expected.hash_type in ("md5", "sha1-fl"):
        backend.remove(key)
        raise StorageError(f"The file {source.path} changed after it was hashed; save it again.")


def _store_file(fs: Any, local: Path, final: str, root: str, transfer: Transfer) -> tuple[str, str]:
    """Upload one file to ``final`` (S3: directly, server-verified; GCS: via a temporary key)."""
    size = _local_size(local)
    if split_url(root)[0] == "s3":
        return _put_s3(fs, local, size, final, transfer)
    # named after the final key (its uid): doctor can prove such a leftover is its own
    tmp = _fs_path(f"{root.rstrip('/')}/{tmp_key(final.rsplit('/', 1)[-1], '')}")
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


def _start(fs: Any, transfer: Transfer, method: str, **kwargs: Any) -> Future:
    """An S3 request running on s3fs' event loop, once a request slot is free."""
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


def _put_gcs(fs: Any, local: Path, size: int, path: str, transfer: Transfer) -> tuple[str, str]:
    """Upload to ``path`` and check size and md5 against what GCS reports."""
    hasher = StreamHasher(size)
    for block in _read_blocks(local, size, READ_BLOCK * 4, transfer):
        hasher.update(block)

    class Callback:
        def relative_update(self, n: int = 1) -> None:
            transfer.check()
            transfer.sent(n)

        def __getattr__(self, name: str) -> Any:  # set_size, call, … : nothing to do
            return lambda *a, **k: None

    _call(lambda: fs.put_file(str(local), path, callback=Callback()), path)
    info = _call(lambda: fs.info(path), path)
    tag = info.get("md5Hash")
    reported = base64.b64decode(tag) if tag else None
    if int(info.get("size", -1)) != size or (reported and reported != hasher.md5.digest()):
        raise TransientStorageError(
            f"The object {path} was stored with other bytes than were sent."
        )
    return hasher.result()


def _store_folder(
    fs: Any,
    source: Source,
    root: str,
    final: str,
    hash_: str | None,
    transfer: Transfer,
    shared: dict[str, str],
) -> None:
    """Upload a folder's files under a temporary prefix, verify, then copy them into place;
    files in ``shared`` are copied server-side from the earlier object instead (no byte of
    them is sent)."""
    files: list[LocalFile] = source.files or []
    max_workers = transfer.max_workers
    tmp = _fs_path(f"{root.rstrip('/')}/{tmp_key(final.rsplit('/', 1)[-1], '')}")
    copied: list[str] = []
    sent = [f for f in files if f.rel not in shared]
    try:
        hashes = _map(
            lambda f: _store_file_direct(fs, f, f"{tmp}/{f.rel}", root, transfer),
            sent,
            max_workers,
        )
        # a shared file's hash is the new file's (the storage reported the same md5)
        kept = [f.hash or "" for f in files if f.rel in shared]
        if hash_folder_from_hashes([*(h for h, _ in hashes), *kept])[0] != hash_:
            raise StorageError(
                f"The folder {source.path} changed after it was hashed; save it again."
            )

        def place(f: Any) -> None:
            transfer.check()
            origin = shared.get(f.rel, f"{tmp}/{f.rel}")
            _call(lambda: fs.cp_file(origin, f"{final}/{f.rel}"), f"{final}/{f.rel}")
            copied.append(f"{final}/{f.rel}")
            if f.rel in shared:
                transfer.sent(f.size)

        _map(place, files, max_workers)
    except BaseException:
        for path in copied:
            _remove_quietly(fs, path)
        raise
    finally:
        if sent:
            _remove_quietly(fs, tmp)


def _store_file_direct(
    fs: Any, f: LocalFile, path: str, root: str, transfer: Transfer
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
