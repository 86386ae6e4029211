"""The upload engine behind ``ls.upload``: plan, hash in a pool, skip registered
content, store with bounded concurrency, publish each record once its object is
verified, report every item.

Records go through the verified three-step save of ``labshelf.artifact``: pending
rows are inserted for the new items, objects are stored (retried with backoff on
transient errors), and stored items are published in small batches (every ~0.1 s)
by the calling thread. A pending row left by an interrupted upload (same content,
storage and key) is adopted: if its object is already stored and verified it is
published without sending the bytes again.

Many items go through in windows of ``WINDOW`` (in plan order): a window is hashed,
probed for registered content (batched ``IN`` queries), given pending rows, stored
and published before the next one starts, and its records are then dropped (an item
keeps its artifact's id; ``UploadItem.artifact`` loads records a few hundred at a
time when asked). Memory is bounded by the window, not by the number of files. A
window's published records stay when a later window fails or is cancelled: each
item is all or nothing (its object under the final key only complete and verified,
its record committed only after that), not the upload as a whole — as the report
says item by item.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from . import artifact as art
from .artifact import Artifact
from .collection import Collection
from .config import normalize_storage
from .errors import InvalidArgument, LabshelfError, StorageError
from .filekinds import is_os_junk
from .hashing import reads_serially
from .humanize import printable
from .instance import current
from .keys import is_cloud, validate_key
from .log import say, warn
from .records import record_from_row
from .runtime import gc_paused
from .schema import VISIBLE
from .session import read, storage_root, storage_roots
from .states import FINAL_STATES, STATES
from .storage import Cancelled, TransientStorageError, UploadCancelled
from .storage.sources import OS_CLUTTER, check_local_source, walk_folder
from .storages import Storage, check_not_storage

PROGRESS_INTERVAL = 0.1  # seconds between on_progress calls (at most ~10 per second)
PUBLISH_INTERVAL = 0.1
SERIAL_PUBLISH_INTERVAL = 0.25  # small files copied one after the other (see store_all)
CANCEL_SCAN_INTERVAL = 0.3  # how often items waiting for a worker are checked for a cancel
RETRY_DELAYS = (0.25, 1.0)  # backoff before the 2nd and 3rd attempt
TRIP_AFTER = 3  # items failing in a row on transient errors: the storage is unreachable
WINDOW = 2000  # items hashed, registered, stored and published together (memory is per window)
RECORDS_CHUNK = 500  # artifacts a finished report loads per query


@dataclass(slots=True)
class UploadItem:
    """One planned artifact: a local file or folder, its key and where it stands."""

    path: Path
    key: str | None
    size: int = 0
    n_files: int = 1
    state: str = "queued"
    sent: int = 0
    uid: str | None = None
    error: str | None = None
    # the class name of the error that failed the item ("IntegrityError": same content in the
    # trash; "StorageError"/"TransientStorageError": storage unreachable; …), for front ends
    # that act on the kind of failure (the CLI's exit codes) rather than on the sentence
    error_type: str | None = None
    reused: bool = False  # stored by an interrupted upload earlier; not sent again
    unsure: bool = False  # stored, or a transient error: an object may be under its final key
    # the record while the upload works on the item; then only its id (memory: 10^5 items)
    held: Artifact | None = field(default=None, repr=False, compare=False)
    artifact_id: int | None = field(default=None, repr=False, compare=False)
    index: int = field(default=-1, repr=False, compare=False)  # in the plan (Progress.changes)
    records: _Records | None = field(default=None, repr=False, compare=False)

    @property
    def artifact(self) -> Artifact | None:
        """The item's record: the new one (done), the registered one (duplicate), else the
        pending one while the upload runs. A finished upload's records are loaded from the
        database when asked for, a few hundred items at a time."""
        if self.held is not None:
            return self.held
        if self.artifact_id is None or self.records is None:
            return None
        return self.records.get(self)

    @artifact.setter
    def artifact(self, value: Artifact | None) -> None:
        self.held = value
        self.artifact_id = None if value is None else value.__dict__.get("id")

    def release(self) -> None:
        """Keep the id of a saved record, not the record (it is loaded again when asked for)."""
        held = self.held
        if held is not None and held.__dict__.get("id") is not None:
            self.artifact_id, self.held = held.id, None


class _Records:
    """The artifacts of an upload's items, loaded by id ``RECORDS_CHUNK`` items at a time
    (the ones that follow the item asked about: reading a report in order costs one query
    per chunk); only the last chunk is kept."""

    def __init__(self, items: list[UploadItem]):
        self.items = items
        self.lock = threading.Lock()
        self.cache: dict[int, Artifact] = {}

    def get(self, item: UploadItem) -> Artifact | None:
        wanted = item.artifact_id
        if wanted is None:
            return None
        with self.lock:
            if wanted not in self.cache:
                start = max(item.index, 0)
                chunk = self.items[start : start + RECORDS_CHUNK]
                ids = {i.artifact_id for i in chunk if i.artifact_id is not None}
                self.cache = _load_by_id(sorted({wanted, *ids}))
            return self.cache.get(wanted)


@dataclass
class Progress:
    """What ``on_progress`` receives: totals and the item state changes since the last call.

    Item indices refer to the list ``plan(paths, key_prefix, as_folder)`` returns for the
    same arguments (a front end can show the queue before the upload starts); the report
    holds the same items in the same order. Cancelled items leave the totals (and the bytes
    they had sent leave ``bytes_done``), so an upload whose rest was cancelled ends at 100%.
    """

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    changes: list[tuple[int, str]]  # (item index, new state)
    finished: bool = False


@dataclass
class UploadReport:
    """The outcome of ``ls.upload``: every item's final state, totals and the collection."""

    items: list[UploadItem]
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    collection: Collection | None = None

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        for item in self.items:
            out[item.state] += 1
        return {k: v for k, v in out.items() if v}

    @property
    def failed(self) -> list[UploadItem]:
        return [i for i in self.items if i.state == "failed"]

    @property
    def ok(self) -> bool:
        return all(i.state in ("done", "duplicate") for i in self.items)

    @property
    def artifacts(self) -> list[Artifact]:
        """The records of the items that are done or were registered already, in plan order."""
        found = (i.artifact for i in self.items if i.state in ("done", "duplicate"))
        return [a for a in found if a is not None]

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in self.counts.items())
        lines = [
            f"upload of {len(self.items)} item(s) in {self.seconds:.1f} s: {counts}; "
            f"{self.bytes_done}/{self.bytes_total} bytes"
        ]
        lines += [f"  failed: {printable(i.path)}: {printable(i.error)}" for i in self.failed[:20]]
        if len(self.failed) > 20:
            lines.append(f"  … and {len(self.failed) - 20} more failures")
        return "\n".join(lines)


def upload(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    key_prefix: str | None = None,
    description: str | None = None,
    as_folder: bool = True,
    storage: Storage | str | None = None,
    collection: str | Collection | None = None,
    run: Any = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    cancel_item: Callable[[int], bool] | AbstractSet[int] | None = None,
    max_workers: int = 8,
    skip_junk: bool = True,
    keys: Mapping[str | os.PathLike, str] | None = None,
    on_plan: Callable[[list[UploadItem]], None] | None = None,
) -> UploadReport:
    """Upload local files and folders as artifacts (see API.md, *Bulk and background work*).

    ``as_folder=True`` makes each folder one artifact; ``False`` makes one artifact
    per file, keyed by its path relative to the folder's parent under ``key_prefix``.
    ``on_progress`` is called from worker threads at most ~10 times per second and
    once at the end (``finished=True``). ``cancel.set()`` stops promptly: nothing new
    starts, running transfers abort, unfinished items get no record.
    ``cancel_item(index)`` (index into the plan, as in ``Progress.changes``) is asked from
    worker threads while the upload runs; once it says True for an unfinished item, that
    item alone stops and ends ``cancelled``: no record, no object under a final key.
    ``cancel_item`` may also be a set of indices the caller adds to (cheapest to watch: items
    waiting for a worker are then checked without asking about each of them).
    ``skip_junk`` leaves out operating-system clutter (``.DS_Store``, ``Thumbs.db``, ``._x``,
    …: ``labshelf.filekinds.is_os_junk``), given directly or inside folders.
    ``keys`` gives single items their key, by local path (a file or folder given, or a file
    of a folder with ``as_folder=False``); the key of an existing artifact makes the item its
    next version, as saving new content under an existing key always does.
    ``on_plan(items)`` is called once, from the calling thread, with the planned items (the
    ones the report will hold, in plan order: ``Progress.changes`` indices) before anything
    is hashed or stored, so that a front end shows the queue without planning again. It must
    not change them. An exception it raises ends the upload before anything is written and
    propagates.
    """
    if max_workers < 1:
        raise InvalidArgument("max_workers must be at least 1.")
    with gc_paused():
        items = plan(paths, key_prefix, as_folder, skip_junk=skip_junk, keys=keys)
        if on_plan is not None:
            on_plan(items)
        engine = _Engine(
            items,
            description=description,
            storage=_target_storage(storage),
            run=run,
            on_progress=on_progress,
            cancel=cancel or threading.Event(),
            cancel_item=cancel_item,
            max_workers=max_workers,
            skip_junk=skip_junk,
        )
        report = engine.run()
        if collection is not None and report.artifacts and not report.cancelled:
            report.collection = _collect(report.artifacts, collection, run)
    return report


# ---------------------------------------------------------------- planning


def plan(
    paths: Any,
    key_prefix: str | None,
    as_folder: bool,
    *,
    skip_junk: bool = True,
    skipped: list[Path] | None = None,
    keys: Mapping[str | os.PathLike, str] | None = None,
) -> list[UploadItem]:
    """The items to upload, in order; a path that cannot be read becomes a failed item.
    With ``skip_junk``, operating-system clutter is left out (and appended to ``skipped``,
    if given: a dry run shows it). ``keys``: the key of single items, by local path."""
    junk: list[Path] = [] if skipped is None else skipped
    chosen = {os.path.abspath(os.fspath(p)): k for p, k in (keys or {}).items()}
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise InvalidArgument("ls.upload() got no paths; pass files or folders.")
    prefix = validate_key(key_prefix) if key_prefix else None
    items: list[UploadItem] = []
    for raw in paths:
        path = Path(os.path.abspath(Path(os.fspath(raw)).expanduser()))
        if "://" in os.fspath(raw):
            items.append(
                _failed(
                    Path(os.fspath(raw)),
                    "ls.upload takes local files and folders; "
                    "register cloud objects with ls.Artifact(url).",
                    "InvalidArgument",
                )
            )
            continue
        if skip_junk and is_os_junk(path.name):
            junk.append(path)
            continue
        try:
            items.extend(_plan_path(path, prefix, as_folder, skip_junk, junk))
        except LabshelfError as exc:
            items.append(_failed(path, str(exc), type(exc).__name__))
    return [_with_key(item, chosen) for item in items] if chosen else items


def _with_key(item: UploadItem, chosen: dict[str, str]) -> UploadItem:
    """The item under the key chosen for its path (a key that is no key fails the item)."""
    key = chosen.get(str(item.path))
    if key is None or item.state == "failed":
        return item
    try:
        item.key = validate_key(key)
    except LabshelfError as exc:
        return _failed(item.path, str(exc), type(exc).__name__)
    return item


def _failed(path: Path, error: str, error_type: str) -> UploadItem:
    return UploadItem(path, None, state="failed", error=error, error_type=error_type)


def _plan_path(
    path: Path, prefix: str | None, as_folder: bool, skip_junk: bool, junk: list[Path]
) -> list[UploadItem]:
    check_local_source(path)
    if not path.is_dir():
        return [UploadItem(path, _key(prefix, path.name), size=path.stat().st_size)]
    check_not_storage(str(path))  # before walking it: the store itself, or a folder holding it
    files, notes = walk_folder(path, skip_junk=skip_junk)
    clutter = f" ({OS_CLUTTER})"
    junk.extend(Path(n.removesuffix(clutter)) for n in notes if n.endswith(clutter))
    notes = [n for n in notes if not n.endswith(clutter)]
    if as_folder:
        return [
            UploadItem(
                path, _key(prefix, path.name), size=sum(f.size for f in files), n_files=len(files)
            )
        ]
    for note in notes:  # as_folder=True says so while hashing the folder
        say(f"skipped {note}")
    items = []
    for f in files:  # a file whose name cannot be a key fails alone
        try:
            items.append(UploadItem(f.path, _key(prefix, f"{path.name}/{f.rel}"), size=f.size))
        except LabshelfError as exc:
            items.append(_failed(f.path, str(exc), type(exc).__name__))
    return items


def _key(prefix: str | None, rel: str) -> str:
    return validate_key(f"{prefix}/{rel}" if prefix else rel)


def _target_storage(storage: Storage | str | None) -> Storage:
    if storage is None:
        return default_storage()
    if isinstance(storage, Storage):
        return storage
    root = normalize_storage(storage)
    found = read(lambda s: s.scalars(select(Storage).where(Storage.root == root)).first())
    if found is None:
        raise InvalidArgument(f"The storage {root} is not registered in this instance.")
    return found


# ---------------------------------------------------------------- the engine


def _drain(
    finished: queue.SimpleQueue[Any], timeout: float, ended: threading.Event | None = None
) -> list[Any]:
    """What ended: waits up to `timeout` for the first outcome (with ``ended``: for it to be
    set), then takes what is there."""
    done: list[Any] = []
    if ended is not None:
        ended.wait(timeout)
    else:
        try:
            done.append(finished.get(timeout=timeout))
        except queue.Empty:
            return []
    while True:
        try:
            done.append(finished.get_nowait())
        except queue.Empty:
            return done


class _Engine:
    def __init__(
        self,
        items: list[UploadItem],
        *,
        description: str | None,
        storage: Storage,
        run: Any,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event,
        cancel_item: Callable[[int], bool] | AbstractSet[int] | None,
        max_workers: int,
        skip_junk: bool = True,
    ):
        self.items, self.description, self.storage, self.run_ = items, description, storage, run
        self.skip_junk = skip_junk
        self.on_progress, self.cancel, self.max_workers = on_progress, cancel, max_workers
        # a set of indices is watched directly; any other callable is asked item by item
        self.cancelled_set: AbstractSet[int] | None = None
        self.cancel_item: Callable[[int], bool] | None = None
        if isinstance(cancel_item, AbstractSet):
            self.cancelled_set, self.cancel_item = cancel_item, cancel_item.__contains__
        else:
            self.cancel_item = cancel_item
        self.lock, self.emit_lock = threading.Lock(), threading.Lock()
        self.changes: list[tuple[int, str]] = []
        self.bytes_done = 0
        self.files_done = 0
        # totals shrink by what is cancelled: a transfer whose rest was cancelled ends at 100%
        self.bytes_total = sum(i.size for i in items)
        self.files_total = sum(i.n_files for i in items)
        self.last_emit = 0.0
        self.own_pending: list[Artifact] = []  # the pending rows this window inserted
        self.transient_streak = 0
        self.tripped: str | None = None
        self.facts: dict[int, dict[str, Any]] = {}
        self.twins: list[tuple[UploadItem, UploadItem]] = []  # (item, first item with its content)
        # the first new item of each content, by hash; past its window only those that ended
        # neither done nor duplicate (a later item with the content of a published one finds
        # its record in the database)
        self.first: dict[str, UploadItem] = {}
        self.window_end = -1  # plan index of the current window's last item
        # an upload of one window keeps its records for the report (as fast as before for
        # the few items of a drop or a watched folder's batch); more windows keep ids
        self.keep_records = True
        records = _Records(items)
        for n, item in enumerate(items):
            item.index, item.records = n, records
        self.slots = threading.Semaphore(max_workers)  # cloud requests in flight
        self.backends = art.StorageBackends()  # one per storage, not one per object

    # -- state and progress

    def stopped(self, item: UploadItem) -> bool:
        """Whether the whole upload or this item alone was cancelled."""
        return self.cancel.is_set() or self.item_cancelled(item)

    def item_cancelled(self, item: UploadItem) -> bool:
        if self.cancel_item is None or item.state in FINAL_STATES:
            return False
        try:
            return bool(self.cancel_item(item.index))
        except Exception as exc:  # noqa: BLE001 - a faulty callback must not break the upload
            warn(f"the upload's cancel_item callback failed: {exc!r}")
            return False

    def set_state(
        self,
        item: UploadItem,
        state: str,
        error: str | None = None,
        expect: str | None = None,
        error_type: str | None = None,
    ) -> bool:
        """Move `item` to `state` (only from state `expect`, if given: two threads may race
        for a queued item); whether it moved."""
        with self.lock:
            if expect is not None and item.state != expect:
                return False
            if state == "cancelled" and item.state != "cancelled":
                self.bytes_total -= item.size
                self.files_total -= item.n_files
                self.bytes_done -= item.sent
                item.sent = 0
            item.state, item.error = state, error or item.error
            item.error_type = error_type or item.error_type
            if self.on_progress is not None:  # (else nobody takes them: memory)
                self.changes.append((item.index, state))
            if state in ("done", "duplicate"):
                self.files_done += item.n_files
                if not item.sent:  # skipped or reused: nothing to send
                    self.bytes_done += item.size
        self.emit()
        return True

    def add_bytes(self, item: UploadItem, n: int) -> None:
        with self.lock:
            item.sent += n
            self.bytes_done += n
        self.emit()

    def emit(self, finished: bool = False) -> None:
        if self.on_progress is None or (
            not finished and time.monotonic() - self.last_emit < PROGRESS_INTERVAL
        ):
            return
        if not self.emit_lock.acquire(blocking=finished):
            return  # another thread is reporting right now
        try:
            with self.lock:
                now = time.monotonic()
                if not finished and now - self.last_emit < PROGRESS_INTERVAL:
                    return  # another thread reported since this one looked at the time
                self.last_emit = now
                changes, self.changes = self.changes, []
                snapshot = Progress(
                    self.bytes_done,
                    self.bytes_total,
                    self.files_done,
                    self.files_total,
                    changes,
                    finished,
                )
            self.on_progress(snapshot)
        except Exception as exc:  # noqa: BLE001 - a faulty callback must not break the upload
            warn(f"the upload progress callback failed: {exc!r}")
        finally:
            self.emit_lock.release()

    def nothing_stored(self, item: UploadItem) -> bool:
        """Whether no object of an ended item can be under its final key; else its pending
        row stays, for the next upload to adopt or ``doctor`` to clean."""
        if not item.unsure:
            return True
        if self.tripped is not None:
            return False  # the storage is unreachable: removing would fail too
        try:
            art.remove_objects([_built(item)])
        except LabshelfError:
            return False
        return True

    # -- phases

    def run(self) -> UploadReport:
        started = time.monotonic()
        todo = [i for i in self.items if i.state == "queued"]
        self.keep_records = len(todo) <= WINDOW
        # into local storage, no more threads than CPUs (see ``artifact.local_workers``)
        workers = self.max_workers
        if not is_cloud(self.storage.root):
            workers = art.local_workers(self.max_workers)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="ls-upload") as pool:
                for start in range(0, len(todo), WINDOW):
                    if self.cancel.is_set():
                        break  # the rest stay queued: ``finish`` ends them cancelled
                    part = todo[start : start + WINDOW]
                    self.window_end = part[-1].index
                    # (items cancelled alone while they waited for their window have ended)
                    window = [i for i in part if i.state == "queued"]
                    try:
                        self.run_window(pool, window)
                    finally:
                        self.end_window(window)
        finally:
            self.finish()
        report = UploadReport(
            self.items,
            self.bytes_done,
            self.bytes_total,
            self.files_done,
            self.files_total,
            time.monotonic() - started,
            self.cancel.is_set(),
        )
        self.emit(finished=True)
        return report

    def run_window(self, pool: ThreadPoolExecutor, window: list[UploadItem]) -> None:
        """Hash, probe, register, store and publish one window of items."""
        facts = self.hash_all(pool, window)
        new = self.skip_registered(window, facts)
        del facts
        self.prepare_records(pool, new)
        self.store_all(pool, [i for i in new if i.state == "queued"])

    def end_window(self, window: list[UploadItem]) -> None:
        """After a window (or its failure): remove our pending rows of its items that did not
        end done or duplicate (and whose object cannot be stored); keep only the ids of its
        records."""
        mine = {id(o) for o in self.own_pending}
        leftover = [
            i.held
            for i in window
            if i.state not in ("done", "duplicate")
            and i.held is not None
            and id(i.held) in mine
            and i.held.id is not None
            and self.nothing_stored(i)
        ]
        self.own_pending = []
        if leftover:
            art.discard_pending(leftover)
        if not self.keep_records:
            for item in window:
                item.release()
        self.facts = {}
        self.first = {h: i for h, i in self.first.items() if i.state not in ("done", "duplicate")}

    def hash_all(
        self, pool: ThreadPoolExecutor, todo: list[UploadItem]
    ) -> dict[int, dict[str, Any]]:
        def one(item: UploadItem) -> dict[str, Any] | None:
            if self.cancel.is_set():
                return None
            if self.item_cancelled(item):
                self.set_state(item, "cancelled")
                return None
            self.set_state(item, "hashing")
            try:
                facts = art.describe_source(item.path, skip_junk=self.skip_junk)
            except LabshelfError as exc:
                self.set_state(item, "failed", str(exc), error_type=type(exc).__name__)
                return None
            if self.item_cancelled(item):
                self.set_state(item, "cancelled")
                return None
            self.set_state(item, "queued")
            return facts

        if reads_serially((i.path for i in todo), (i.size for i in todo)):
            results = [one(i) for i in todo]  # small files on a local disk: one thread
        else:
            groups = _groups(todo)
            results = [r for part in pool.map(lambda g: [one(i) for i in g], groups) for r in part]
        return {id(i): f for i, f in zip(todo, results, strict=True) if f is not None}

    def skip_registered(
        self, window: list[UploadItem], facts: dict[int, dict[str, Any]]
    ) -> list[UploadItem]:
        """Mark content that is registered (or twice in this upload) as duplicate; the rest is new."""
        hashed = [i for i in window if id(i) in facts]
        existing = _visible_by_hash([facts[id(i)]["hash"] for i in hashed])
        first = self.first
        new = []
        for item in hashed:
            h = facts[id(item)]["hash"]
            found = existing.get(h)
            if found is not None and found.visibility < 0:
                self.set_state(
                    item,
                    "failed",
                    f"The same content is in the trash (uid {found.uid}); "
                    f"restore it with ls.Artifact.get('{found.uid}').restore().",
                    error_type="IntegrityError",
                )
            elif found is not None:
                item.artifact, item.uid = found, found.uid
                self.set_state(item, "duplicate")
            elif h in first:
                self.twins.append((item, first[h]))  # settled once the first one is
            else:
                first[h] = item
                new.append(item)
        self.facts = facts
        return new

    def prepare_records(self, pool: ThreadPoolExecutor, new: list[UploadItem]) -> None:
        """Build the new artifacts (in the pool: they read the database) and insert pending rows."""
        prefixes = tuple(r.rstrip(os.sep) + os.sep for r in _storage_roots() if not is_cloud(r))
        adopted = _pending_by_hash([self.facts[id(i)]["hash"] for i in new], self.storage.id)

        build: list[UploadItem] = []
        for item in new:
            if self.cancel.is_set():
                break  # the rest stay queued: ``finish`` ends them cancelled
            if self.item_cancelled(item):
                self.set_state(item, "cancelled")
                continue
            facts = self.facts[id(item)]
            in_place = str(item.path).startswith(prefixes)
            row = adopted.get((facts["hash"], item.key))
            if row is not None and not in_place:
                item.artifact = _adopt(row, facts)
            else:
                facts["in_place_upload"] = in_place
                build.append(item)
        kwargs = dict(description=self.description, run=self.run_, storage=self.storage)
        keys = [None if self.facts[id(i)].pop("in_place_upload") else i.key for i in build]
        try:  # the families of all keys in one query per few hundred
            built = art.build_new([self.facts[id(i)] for i in build], keys, **kwargs)
            for item, obj in zip(build, built, strict=True):
                item.artifact = obj
        except LabshelfError:  # one bad item: build them one by one, failing only it
            for item, key in zip(build, keys, strict=True):
                try:
                    item.artifact = art.from_facts(self.facts[id(item)], key=key, **kwargs)
                except LabshelfError as exc:
                    self.set_state(item, "failed", str(exc), error_type=type(exc).__name__)
        self.facts = {}  # the artifacts hold what they need
        made = [a for a in (i.held for i in new) if a is not None]
        fresh = [a for a in made if a.id is None]  # not registered yet
        if fresh and not self.cancel.is_set():
            self.own_pending = list(fresh)  # (before: a failed insert leaves none behind)
            art.insert_pending(fresh)
        for item in new:
            if item.held is not None:
                item.artifact_id, item.uid = item.held.__dict__.get("id"), item.held.uid

    def store_all(self, pool: ThreadPoolExecutor, todo: list[UploadItem]) -> None:
        """Store objects with bounded concurrency; publish stored items in small batches."""
        if self.cancel.is_set():
            return
        # Finished futures come through a queue: `concurrent.futures.wait` over thousands of
        # pending futures walks (and locks) every one of them per call, holding the GIL for
        # milliseconds each time an item ends, which starves the UI thread of a front end.
        # Small files go several to a task (a task costs more than a small copy); each item's
        # outcome comes through the queue as soon as it is stored (progress stays per item).
        finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
        groups = _groups(todo)
        floor = PUBLISH_INTERVAL
        ended: threading.Event | None = None
        if art.copy_serially(self.storage.root, [i.size for i in todo]):
            # Small files into a local disk: one thread copies them all (``copy_serially``);
            # this thread wakes once per interval, not once per item (each wake-up took the
            # GIL from the copies), and publishes at most every 0.25 s (a window of small
            # files often takes about that long; a slow disk still shows progress).
            groups = [[item for group in groups for item in group]]
            floor, ended = SERIAL_PUBLISH_INTERVAL, threading.Event()
        for group in groups:
            pool.submit(self.store_group, group, finished, ended)
        interval = floor
        remaining, todo_ids = len(todo), {id(i) for i in todo}
        stored: list[UploadItem] = []
        waiting, last_scan = todo, time.monotonic()
        last_publish = time.monotonic()
        while remaining:
            done = _drain(finished, PUBLISH_INTERVAL, ended)
            remaining -= len(done)
            for outcome in done:
                if isinstance(outcome, BaseException):
                    raise outcome
                if outcome is not None:
                    stored.append(outcome)
            if (
                self.cancel_item is not None
                and time.monotonic() - last_scan >= CANCEL_SCAN_INTERVAL
            ):
                waiting = self.end_cancelled_waiting(waiting, todo_ids)
                last_scan = time.monotonic()
            due = time.monotonic() - last_publish >= interval or not remaining
            if stored and due and self.cancel_item is not None:
                # items cancelled alone after they were stored are not published (finish
                # removes their objects): asked once per publish, not per outcome (asking for
                # every stored item each time one ended was quadratic in a publish's size)
                kept = []
                for item in stored:
                    if self.item_cancelled(item):
                        self.cancelled_alone(item)
                    else:
                        kept.append(item)
                stored = kept
            if stored and due:
                began = time.monotonic()
                self.publish(stored)
                stored, last_publish = [], time.monotonic()
                # a publish is a transaction of this thread (holding the GIL for much of
                # it): with many small items, publishing every PUBLISH_INTERVAL took most of
                # the time; now at most a third of it, in larger batches
                interval = max(floor, 2 * (last_publish - began))
            self.emit()

    def end_cancelled_waiting(
        self, waiting: list[UploadItem], todo_ids: set[int]
    ) -> list[UploadItem]:
        """End the items cancelled alone while they wait for a worker (now, not when a worker
        is free); returns the items still waiting."""
        if self.cancelled_set is not None:
            indices = list(self.cancelled_set)  # one atomic copy: the caller adds from its thread
            chosen = [self.items[n] for n in indices if 0 <= n < len(self.items)]
            # this window's items waiting for a worker, and the items of later windows
            chosen = [
                i
                for i in chosen
                if i.state == "queued" and (id(i) in todo_ids or i.index > self.window_end)
            ]
        else:
            waiting = [i for i in waiting if i.state == "queued"]
            chosen = [i for i in waiting if self.item_cancelled(i)]
        for item in chosen:
            self.set_state(item, "cancelled", expect="queued")
        return waiting

    def store_group(
        self,
        group: list[UploadItem],
        finished: queue.SimpleQueue[Any],
        ended: threading.Event | None = None,
    ) -> None:
        """Store a group's items one after the other; each outcome (the item if stored,
        None, or an unexpected exception) goes to ``finished`` at once; ``ended`` is set
        when the group is done."""
        try:
            for item in group:
                try:
                    finished.put(self.store_one(item))
                except BaseException as exc:  # noqa: BLE001 - re-raised by store_all's loop
                    finished.put(exc)
        finally:
            if ended is not None:
                ended.set()

    def store_one(self, item: UploadItem) -> UploadItem | None:
        """Store one item's object (retrying transient errors); the item if it is stored."""
        if self.cancel.is_set():
            return None
        if self.item_cancelled(item):
            self.cancelled_alone(item)
            return None
        if self.tripped is not None:
            self.set_state(
                item,
                "failed",
                "Not attempted: the storage stopped answering "
                f"({TRIP_AFTER} items in a row failed; the last: {self.tripped})",
                error_type="TransientStorageError",
            )
            return None
        if not self.set_state(item, "uploading", expect="queued"):
            return None  # cancelled alone while it waited
        try:
            self.store_with_retries(item)
        except (Cancelled, UploadCancelled):
            if not self.cancel.is_set():
                self.cancelled_alone(item)
            return None
        except LabshelfError as exc:
            if self.item_cancelled(item):  # e.g. a retry given up because of the cancel
                self.cancelled_alone(item)
                return None
            self.note_failure(exc)
            self.set_state(item, "failed", str(exc), error_type=type(exc).__name__)
            return None
        with self.lock:
            self.transient_streak = 0
        item.unsure = True  # until published
        return item

    def cancelled_alone(self, item: UploadItem) -> None:
        """End an item cancelled on its own; ``finish`` removes its pending row and object."""
        self.undo_bytes(item)
        self.set_state(item, "cancelled")

    def store_with_retries(self, item: UploadItem) -> None:
        obj = _built(item)
        # An adopted row's object may be complete already; if not, storing it again writes the
        # same bytes under the same key (another process may be finishing it right now).
        if getattr(obj, "_ls_adopted", False) and _already_stored(obj):
            item.reused = True
            return
        for delay in (*RETRY_DELAYS, None):
            try:
                self.store_once(item, obj)
                return
            except StorageError as exc:
                if _stored_meanwhile(obj):  # a process that adopted this row got there first
                    self.undo_bytes(item)
                    item.reused = True
                    return
                if not isinstance(exc, TransientStorageError):
                    raise
                item.unsure = True
                if delay is None or self.interrupted(item, delay):
                    raise
                self.undo_bytes(item)

    def store_once(self, item: UploadItem, obj: Artifact) -> None:
        progress: dict[str, Any] = {
            "cancel": lambda: self.stopped(item),
            "on_bytes": lambda n: self.add_bytes(item, n),
        }
        if is_cloud(storage_root(obj.storage_id)):
            progress.update(max_workers=self.max_workers, slots=self.slots)
        try:
            art.store_object(obj, backend=self.backends.of(obj), **progress)
        except (LabshelfError, Cancelled, UploadCancelled):
            raise
        except OSError as exc:
            raise StorageError(f"Storing {item.path} failed: {exc.strerror or exc}.") from exc

    def interrupted(self, item: UploadItem, delay: float) -> bool:
        """Wait ``delay`` seconds before a retry; True at once if cancelled or tripped."""
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self.tripped is not None or self.cancel.wait(0.05) or self.item_cancelled(item):
                return True
        return self.tripped is not None or self.stopped(item)

    def undo_bytes(self, item: UploadItem) -> None:
        with self.lock:
            self.bytes_done -= item.sent
            item.sent = 0

    def note_failure(self, exc: LabshelfError) -> None:
        with self.lock:
            if not isinstance(exc, TransientStorageError):
                self.transient_streak = 0
                return
            self.transient_streak += 1
            if self.transient_streak >= TRIP_AFTER and self.tripped is None:
                self.tripped = str(exc)

    def publish(self, stored: list[UploadItem]) -> None:
        objs = [_built(i) for i in stored]
        dropped = art.publish(objs)  # content registered meanwhile by someone else
        if dropped:
            art.remove_objects(dropped)
        duplicates = {id(d) for d in dropped}
        kept = [o for o in objs if id(o) not in duplicates]
        present = _visible_ids([o.id for o in kept]) if kept else set()
        vanished = {id(o) for o in kept if o.id not in present}
        if self.keep_records:  # else the records are dropped with their window: ids suffice
            art.attach([o for o in kept if id(o) not in vanished])
        # (duplicates by content: each has a hash)
        existing = (
            _visible_by_hash([d.hash for d in dropped if d.hash is not None]) if dropped else {}
        )
        for item in stored:
            if id(item.artifact) in vanished:  # another upload that made the row gave it up
                self.set_state(
                    item,
                    "failed",
                    "The upload that started this item was stopped and "
                    "removed its record; upload the file again.",
                )
            elif id(item.artifact) in duplicates:
                dup_hash = _built(item).hash
                item.artifact = existing.get(dup_hash) if dup_hash is not None else None
                item.uid = item.artifact.uid if item.artifact is not None else None
                self.set_state(item, "duplicate")
            else:
                self.set_state(item, "done")

    def finish(self) -> None:
        """Mark unfinished items cancelled or failed (``end_window`` has removed our pending
        rows of those a window started); settle items with the content of another."""
        unfinished = [i for i in self.items if i.state not in FINAL_STATES]
        twins = {id(t) for t, _ in self.twins}
        for item in unfinished:
            if id(item) in twins:
                continue
            if self.cancel.is_set():
                self.set_state(item, "cancelled")
            else:
                self.set_state(item, "failed", item.error or "The upload stopped before this item.")
        for item, first in self.twins:
            if self.item_cancelled(item):
                self.set_state(item, "cancelled")
                continue
            item.held, item.artifact_id, item.uid = first.held, first.artifact_id, first.uid
            if first.state in ("done", "duplicate"):
                self.set_state(item, "duplicate")
            elif first.state == "cancelled":
                self.set_state(
                    item, "cancelled", f"Same content as {first.path}, which was cancelled."
                )
            else:
                self.set_state(
                    item,
                    first.state,
                    f"Same content as {first.path}: {first.error}",
                    error_type=first.error_type,
                )


GROUP_FILES = 16  # small items per pool task
GROUP_BYTES = 1024 * 1024  # a task of several items holds at most this much


def _groups(items: list[UploadItem]) -> list[list[UploadItem]]:
    """Items in plan order, small ones several to a group (one pool task each)."""
    groups: list[list[UploadItem]] = []
    current: list[UploadItem] = []
    size = 0
    for item in items:
        if current and (len(current) >= GROUP_FILES or size + item.size > GROUP_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        groups.append(current)
    return groups


# ---------------------------------------------------------------- database helpers


def default_storage() -> Storage:
    """The current instance's default storage record."""
    storage_id = current().default_storage_id
    storage = read(lambda s: s.get(Storage, storage_id), what="reading the default storage")
    assert storage is not None  # an instance's default storage is never deleted
    return storage


def _built(item: UploadItem) -> Artifact:
    """The artifact of an item past the build phase (only built items are stored)."""
    assert item.artifact is not None
    return item.artifact


def _visible_by_hash(hashes: list[str]) -> dict[str, Artifact]:
    """The registered (visible, hidden or trashed) artifact of each hash, preferring visible."""
    found: dict[str, Artifact] = {}

    def q(s: Any) -> None:
        for start in range(0, len(hashes), 500):
            rows = s.execute(art.hash_probe(hashes[start : start + 500])).mappings().all()
            ordered = sorted(rows, key=lambda r: (r["visibility"], r["id"]))
            # later (more visible, newer) rows win
            found.update({r["hash"]: record_from_row(Artifact, r) for r in ordered})

    read(q, what="looking up content by hash")
    return found


def _load_by_id(ids: list[int]) -> dict[int, Artifact]:
    """The artifacts with these ids (whatever their visibility), one query per few hundred."""
    found: dict[int, Artifact] = {}
    table = Artifact.__table__

    def q(s: Any) -> None:
        for start in range(0, len(ids), 500):
            rows = s.execute(select(table).where(table.c.id.in_(ids[start : start + 500])))
            found.update({r["id"]: record_from_row(Artifact, r) for r in rows.mappings()})

    if ids:
        read(q, what="loading the uploaded artifacts")
    return found


def _visible_ids(ids: list[int]) -> set[int]:
    return set(
        read(
            lambda s: s.scalars(
                select(Artifact.id).where(Artifact.id.in_(ids), Artifact.visibility == VISIBLE)
            ).all(),
            what="checking published rows",
        )
    )


def _pending_by_hash(hashes: list[str], storage_id: int) -> dict[tuple[str, str | None], Artifact]:
    """Pending rows of earlier, interrupted uploads to this storage, by (hash, key)."""
    found: dict[tuple[str, str | None], Artifact] = {}

    def q(s: Any) -> None:
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            rows = s.execute(art.pending_probe(chunk, storage_id)).mappings().all()
            found.update({(r["hash"], r["key"]): record_from_row(Artifact, r) for r in rows})

    read(q, what="looking for interrupted uploads")
    return found


def _adopt(row: Artifact, facts: dict[str, Any]) -> Artifact:
    """A pending row of an interrupted upload, ready to be stored (or found stored) and published."""
    row._ls_source = facts["source"]  # type: ignore[attr-defined]
    row._ls_adopted = True  # type: ignore[attr-defined]
    return row


def _stored_meanwhile(obj: Artifact) -> bool:
    """After a failed store: whether the object is complete at its key all the same (only
    a process storing the same row can have put it there)."""
    try:
        return _already_stored(obj)
    except LabshelfError:
        return False


def _already_stored(obj: Artifact) -> bool:
    """Whether an adopted row's object is complete at its final key (then it is not sent again)."""
    backend = current().backend(storage_root(obj.storage_id))
    return backend.matches(art.stored_key(obj), art.expected(obj))


def _storage_roots() -> list[str]:
    return [root for _, root in storage_roots()]


def _collect(artifacts: list[Artifact], collection: str | Collection, run: Any) -> Collection:
    """A new version of the named (or given) collection holding the uploaded artifacts."""
    artifacts = list({a.id: a for a in artifacts}.values())  # content uploaded twice counts once
    if isinstance(collection, Collection):
        return Collection(artifacts, revises=collection, run=run).save()
    if not isinstance(collection, str) or not collection.strip():
        raise InvalidArgument("collection= takes a collection name or a saved Collection.")
    return Collection(artifacts, name=collection, run=run).save()
