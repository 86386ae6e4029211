"""Watch folders: register what an instrument writes into a folder, as it lands.

A :class:`Watcher` follows one folder with ``watchdog`` (inotify, FSEvents, Windows) and a
periodic rescan as a safety net (network shares deliver no events). A *unit* (a file, or with
``unit="folder"`` an acquisition subfolder) is registered through ``ls.upload`` once it is
complete:

- its size and modification time (for a folder: file count, total size, newest mtime) stayed
  the same for ``settle`` seconds, watched by this process (no trust in the file server's
  clock), and
- on Linux, no process on this machine holds one of its files open for writing (a scan of
  ``/proc/*/fd`` and ``fdinfo`` flags, done only for units about to be registered; processes of
  other users are invisible without root, and writers on other machines of a network share
  are covered by the settle time alone); elsewhere the settle time alone decides.
- with ``marker="DONE"`` (folder units only) a folder is complete once that file is in it
  (no settle wait) and none of its files is open for writing.

Provenance: one ``Transform(type="instrument", name=instrument)`` per instrument, one ``Run``
per watch session (params: folder, host, filters, …), every registered file an output of that
run. Keys: ``key_prefix`` + the path relative to the watched folder. A file modified after
its registration becomes a new version under the same key; a deleted file stays in the
catalog (a watch never deletes).

Restart-safe: the state (what was registered, with the size/mtime it had) is a JSON file in
the user data dir, written atomically; on start, everything that arrived or changed while the
watch was stopped is registered (catch-up), and content registered already is skipped by the
catalog itself (so a state file lost in a crash costs hashing, never a duplicate); rows an
interrupted upload left pending are adopted by the next one.

Faults: a unit that vanishes or cannot be read is retried, then reported (``ls.upload``
never leaves a half-registered record); the database or storage going away pauses the watch
with the reason, and it resumes once a probe succeeds; a watched folder that disappears
(unmounted share) is reported and waited for, never taken for "everything deleted".

Front ends (the CLI, a desktop panel) drive it with ``start``/``pause``/``resume``/``stop``,
read ``snapshot()``, and hear :class:`WatchEvent` objects through ``on_event``, called from the
watcher's own thread (a Qt panel marshals them to its UI thread).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .collection import Collection
from .config import data_dir
from .errors import DatabaseError, InvalidArgument, LabshelfError, StorageError
from .filekinds import is_os_junk
from .instance import current
from .keys import validate_key
from .labels import resolve_labels
from .log import logger
from .paths import UPath
from .provenance import Transform, finish_run, start_run
from .storages import Storage
from .transfer import upload

UNITS = ("file", "folder")
STATE_FORMAT = 1
INTERNAL_DIR = ".labshelf"  # a storage's own folder: never registered from a watched folder
UPLOAD_BATCH = 500  # units per ls.upload call
RETRY_DELAYS = (2.0, 10.0, 30.0)  # before the 2nd, 3rd, 4th attempt; then the unit is reported
PROBE_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # between health probes while paused by a fault
STATE_WRITE_INTERVAL = 1.0  # seconds between state file writes (and at stop)
FOLDER_CHECK_INTERVAL = 2.0  # an idle watch still looks whether its folder is there
TRANSIENT = ("DatabaseError", "StorageError", "TransientStorageError")

# what a Watcher is doing, for snapshot().state
STARTING, CATCHING_UP, WATCHING, PAUSED, FOLDER_MISSING, STOPPED = (
    "starting",
    "catching up",
    "watching",
    "paused",
    "folder missing",
    "stopped",
)

Signature = tuple[int, int, int]  # (files, bytes, newest mtime in ns)


# ---------------------------------------------------------------- options, events, snapshot


@dataclass(frozen=True)
class WatchOptions:
    """What to watch and how (the ``labshelf watch`` options)."""

    folder: Path
    instrument: str
    key_prefix: str | None = None
    unit: str = "file"
    settle: float = 10.0
    marker: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    collection: str | None = None
    rescan_interval: float = 60.0
    collection_interval: float = 60.0
    state_dir: Path | None = None  # default: <user data dir>/watches
    max_workers: int = 4

    def params(self) -> dict[str, Any]:
        """The run's params: where, on which machine, with which filters."""
        return {
            "folder": str(self.folder),
            "host": socket.gethostname(),
            "unit": self.unit,
            "settle": self.settle,
            "marker": self.marker,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "key_prefix": self.key_prefix,
            "labels": list(self.labels),
            "collection": self.collection,
        }


@dataclass
class WatchEvent:
    """One thing that happened. ``as_dict()`` is the ``--json`` line (stable field names):

    ``event`` (below), ``time`` (ISO 8601, UTC), ``path`` (relative to the watched folder),
    ``key``, ``uid``, ``version``, ``message``, ``count`` and ``bytes`` (catch-up totals),
    ``catchup`` (true on the outcome of a unit the catch-up found); absent fields are null.
    Events: ``started``, ``catchup`` (units found that arrived or changed while stopped),
    ``catchup_done``, ``registered``, ``new_version`` (a modified file), ``skipped`` (content
    registered already), ``waiting`` (complete but still open for writing), ``retrying``,
    ``failed``, ``vanished`` (gone before it was registered), ``paused``, ``resumed``,
    ``folder_missing``, ``folder_back``, ``folder_changed`` (another device is mounted there
    now, or none), ``collection`` (a new collection version),
    ``note``, ``stopped``.
    """

    event: str
    path: str | None = None
    key: str | None = None
    uid: str | None = None
    version: str | None = None
    message: str | None = None
    count: int | None = None
    bytes: int | None = None
    catchup: bool | None = None  # True on the outcome of a unit found by the catch-up
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out["time"] = datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds")
        return {"event": out.pop("event"), "time": out.pop("time"), **out}

    def __str__(self) -> str:
        stamp = datetime.fromtimestamp(self.time).strftime("%H:%M:%S")
        what = self.path or ""
        if self.uid:
            what += f" -> {self.uid}" + (f" (version {self.version})" if self.version else "")
        text = " ".join(p for p in (what, self.message or "") if p)
        return f"{stamp} {self.event:<14} {text}".rstrip()


@dataclass
class WatchSnapshot:
    """The state of a watch at one moment, for a status line or a panel row."""

    folder: str
    instrument: str
    state: str
    reason: str | None
    run: str | None
    registered: int
    skipped: int
    failed: int
    pending: int
    last_file: str | None
    last_uid: str | None
    errors: list[str]


# ---------------------------------------------------------------- units and their signatures


@dataclass
class _Candidate:
    """A unit that is new or changed and not registered yet."""

    rel: str
    sig: Signature | None
    since: float  # monotonic time its signature was last seen to change
    attempts: int = 0
    not_before: float = 0.0
    waiting_noted: bool = False


def _file_signature(path: Path) -> Signature | None:
    """(1, bytes, mtime in ns) of a regular file (symlinks followed); None for anything else."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (1, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def _folder_signature(path: Path) -> Signature | None:
    """(files, bytes, newest mtime of a file or folder) below ``path``; None if it is gone."""
    try:
        top = path.stat()
    except OSError:
        return None
    files, size, newest = 0, 0, top.st_mtime_ns
    for entry in _walk_entries(path):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        newest = max(newest, st.st_mtime_ns)
        if entry.is_file(follow_symlinks=False):
            files += 1
            size += st.st_size
    return (files, size, newest)


def _walk_entries(folder: Path) -> Iterator[os.DirEntry]:
    """Every entry below ``folder`` (not following folder symlinks), skipping OS clutter."""
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if is_os_junk(entry.name) or entry.name == INTERNAL_DIR:
                continue
            yield entry
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))


def open_for_writing(paths: set[str]) -> set[str]:
    """The ``paths`` (absolute, resolved) some process on this machine holds open for writing.

    Linux only (``/proc``); elsewhere nothing is reported. Processes this user may not
    inspect are not seen."""
    proc = Path("/proc")
    if not paths or not (proc / "self" / "fd").is_dir():
        return set()
    found: set[str] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in paths and target not in found and _writable(pid, fd):
                found.add(target)
    return found


def _writable(pid: str, fd: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as info:
            for line in info:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & 0o3 in (os.O_WRONLY, os.O_RDWR)
    except (OSError, ValueError, IndexError):
        return False
    return False


# ---------------------------------------------------------------- the persisted state


class WatchState:
    """What a watch registered: ``rel -> {sig, uid, key}``; failures: ``rel -> {sig, error}``.

    One JSON file per (instance, folder, key prefix, unit), replaced atomically; a lock file
    next to it keeps a second process from watching the same folder the same way."""

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = identity
        self.entries: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self._lock_file: Any = None

    @staticmethod
    def path_for(state_dir: Path, identity: dict[str, Any]) -> Path:
        digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        name = Path(identity["folder"]).name or "root"
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:40]
        return state_dir / f"{safe}-{digest}.json"

    def lock(self) -> None:
        """Take the watch's lock, or say which process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the watch's lifetime
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; one watch per folder by convention
            self._lock_file = handle
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InvalidArgument(
                f"{self.identity['folder']} is already watched this way by {holder}; "
                "stop that watch first."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"labshelf watch (pid {os.getpid()})")
        handle.flush()
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def load(self) -> str | None:
        """Read the file; a note when it was unreadable (the watch then starts afresh)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return f"the watch state {self.path} could not be read ({exc}); starting afresh"
        if data.get("format") != STATE_FORMAT or data.get("identity") != self.identity:
            return f"the watch state {self.path} belongs to another watch; starting afresh"
        self.entries = dict(data.get("entries") or {})
        self.failed = dict(data.get("failed") or {})
        return None

    def save(self) -> None:
        data = {
            "format": STATE_FORMAT,
            "identity": self.identity,
            "entries": self.entries,
            "failed": self.failed,
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        self.dirty = False

    def registered(self, rel: str, sig: Signature) -> bool:
        """Whether ``rel`` was registered (or failed for good) with exactly this signature."""
        for table in (self.entries, self.failed):
            entry = table.get(rel)
            if entry is not None and tuple(entry["sig"]) == sig:
                return True
        return False

    def record(self, rel: str, sig: Signature, uid: str | None, key: str | None) -> None:
        self.entries[rel] = {"sig": list(sig), "uid": uid, "key": key}
        self.failed.pop(rel, None)
        self.dirty = True

    def record_failure(self, rel: str, sig: Signature, error: str) -> None:
        self.failed[rel] = {"sig": list(sig), "error": error}
        self.dirty = True


def default_state_dir() -> Path:
    return data_dir() / "watches"


# ---------------------------------------------------------------- the watcher


class Watcher:
    """One watched folder. ``start()`` returns once the session's run exists and the first
    scan is under way; work happens on the watcher's own thread until ``stop()``."""

    def __init__(
        self, options: WatchOptions, on_event: Callable[[WatchEvent], None] | None = None
    ) -> None:
        self.options = _checked(options)
        self.folder = self.options.folder
        self.on_event = on_event
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # absolute paths events named -> when (monotonic) the latest of those events came: a
        # unit settles from its last change, not from when a busy watcher got to look at it
        self._dirty: dict[str, float] = {}
        self._dirty_dirs: set[str] = set()  # folders to scan (created or moved in)
        self._moved_away: set[str] = set()  # units renamed away: dropped without a report
        self._candidates: dict[str, _Candidate] = {}
        self._stopping = threading.Event()
        self._cancel = threading.Event()
        self._user_paused = False
        self._fault: str | None = None
        self._state_name = STARTING
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self._folder_dev: int | None = None
        self._folder_missing = False
        self._next_rescan = 0.0
        self._next_probe = 0.0
        self._probe_step = 0
        self._last_state_write = 0.0
        self._catchup_left: set[str] | None = None
        self._pending_done = False
        self._loose_noted: set[str] = set()
        self._collect: list[Any] = []
        self._last_collect = time.monotonic()
        self._labels: list[Any] = []
        self.run: Any = None
        self.transform: Any = None
        self.counts = {"registered": 0, "skipped": 0, "failed": 0}
        self.last_file: str | None = None
        self.last_uid: str | None = None
        self.errors: list[str] = []
        identity = {
            "instance": _instance_name(),
            "folder": str(self.folder),
            "key_prefix": self.options.key_prefix,
            "unit": self.options.unit,
        }
        state_dir = self.options.state_dir or default_state_dir()
        self.state = WatchState(WatchState.path_for(state_dir, identity), identity)

    # -- control (any thread)

    def start(self) -> None:
        """Lock the state, record the run, start the observer and the watcher's thread."""
        if not self.folder.is_dir():
            raise InvalidArgument(f"The folder {self.folder} does not exist or is no folder.")
        self._labels = _resolve_labels(self.options.labels)
        self.state.lock()
        try:
            note = self.state.load()
            self.transform = Transform(
                name=self.options.instrument,
                key=self.options.instrument,
                type="instrument",
                description="files registered from a watched folder",
            ).save()
            self.run = start_run(self.transform, params=self.options.params())
        except BaseException:
            self.state.unlock()
            raise
        self._emit(
            WatchEvent(
                "started",
                message=f"watching {self.folder} for '{self.options.instrument}' "
                f"(run {self.run.uid}, settle {self.options.settle:g} s)",
            )
        )
        if note:
            self._emit(WatchEvent("note", message=note))
        self._folder_dev = self.folder.stat().st_dev
        self._start_observer()
        self._thread = threading.Thread(target=self._main, name="ls-watch", daemon=True)
        self._thread.start()

    def pause(self, reason: str = "paused by the user") -> None:
        """Stop registering (arrivals are still noted) until ``resume()``."""
        with self._lock:
            self._user_paused = True
            self._wake.notify()
        self._emit(WatchEvent("paused", message=reason))

    def resume(self) -> None:
        with self._lock:
            was = self._user_paused
            self._user_paused = False
            self._next_probe = 0.0
            self._wake.notify()
        if was:
            self._emit(WatchEvent("resumed", message="resumed by the user"))

    def stop(self, timeout: float | None = 30.0) -> None:
        """End the session: a running upload is cancelled (its units are registered by the next
        session), the collection and state are written, the run is finished."""
        self._stopping.set()
        self._cancel.set()
        with self._lock:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the watcher's thread has ended (after ``stop()``); whether it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> WatchSnapshot:
        with self._lock:
            pending = len(self._candidates)
            state = self._state_name
            reason = self._fault if state == PAUSED and not self._user_paused else None
            if state == PAUSED and self._user_paused:
                reason = "paused by the user"
            if state == FOLDER_MISSING:
                reason = f"{self.folder} is missing (unmounted?)"
        return WatchSnapshot(
            folder=str(self.folder),
            instrument=self.options.instrument,
            state=state,
            reason=reason,
            run=self.run.uid if self.run is not None else None,
            registered=self.counts["registered"],
            skipped=self.counts["skipped"],
            failed=self.counts["failed"],
            pending=pending,
            last_file=self.last_file,
            last_uid=self.last_uid,
            errors=list(self.errors[-20:]),
        )

    # -- events in (watchdog's thread)

    def _start_observer(self) -> None:
        from watchdog.events import (  # deferred: watchdog loads when a watch starts
            DirCreatedEvent,
            DirMovedEvent,
            FileClosedEvent,
            FileCreatedEvent,
            FileDeletedEvent,
            FileModifiedEvent,
            FileMovedEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                watcher._note_event(event)

        observer = Observer()
        try:
            observer.schedule(
                Handler(),
                str(self.folder),
                recursive=True,
                event_filter=[
                    FileCreatedEvent,
                    FileModifiedEvent,
                    FileClosedEvent,
                    FileMovedEvent,
                    FileDeletedEvent,
                    DirCreatedEvent,
                    DirMovedEvent,
                ],
            )
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit: the rescan still finds files
            self._emit(
                WatchEvent(
                    "note",
                    message=f"file events are unavailable ({exc}); relying on the rescan "
                    f"every {self.options.rescan_interval:g} s",
                )
            )
            return
        self._observer = observer

    def _stop_observer(self) -> None:
        if self._observer is not None:
            with contextlib.suppress(Exception):  # an observer of a vanished folder may fail
                self._observer.stop()
                self._observer.join(5)
            self._observer = None

    def _note_event(self, event: Any) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else ""
        now = time.monotonic()
        with self._lock:
            if event.is_directory:
                self._dirty_dirs.add(dest or src)
            else:
                self._dirty[dest or src] = now
            if event.event_type == "moved":
                self._moved_away.add(src)
                if not event.is_directory:
                    self._dirty[src] = now
            self._wake.notify()

    # -- the watcher's thread

    def _main(self) -> None:
        self._state_name = CATCHING_UP
        try:
            while not self._stopping.is_set():
                try:
                    self._tick()
                except Exception as exc:  # noqa: BLE001 - the watch must outlive one bad tick
                    self._error(None, f"the watch hit an unexpected error: {exc!r}")
                    self._stopping.wait(1.0)
                self._sleep()
        finally:
            self._shutdown()

    def _sleep(self) -> None:
        """Wait for an event or the next deadline (a candidate settling, a retry, a probe,
        the rescan, the collection); an idle watch wakes only to check that its folder is
        there (a removed or unmounted folder sends no event)."""
        now = time.monotonic()
        deadline = min(self._next_rescan, now + FOLDER_CHECK_INTERVAL)
        if self._folder_missing or self._fault is not None:
            deadline = min(deadline, self._next_probe)
        elif not self._user_paused:
            for c in self._candidates.values():
                deadline = min(deadline, max(c.since + self._settle_for(), c.not_before))
        if self._collect:
            deadline = min(deadline, self._last_collect + self.options.collection_interval)
        if self.state.dirty:
            deadline = min(deadline, self._last_state_write + STATE_WRITE_INTERVAL)
        with self._lock:
            if not (self._dirty or self._dirty_dirs) and not self._stopping.is_set():
                self._wake.wait(max(0.0, deadline - now))
        self._stopping.wait(self._tick_floor())  # a short pause batches the events of a burst

    def _tick_floor(self) -> float:
        return min(0.25, max(0.02, self.options.settle / 10))

    def _tick(self) -> None:
        if not self._check_folder():
            self._write_state(final=False)
            return
        self._take_events()
        now = time.monotonic()
        if now >= self._next_rescan:
            self._rescan()
            self._next_rescan = time.monotonic() + self.options.rescan_interval
        if self._fault is not None and now >= self._next_probe:
            self._probe()
        if self._user_paused or self._fault is not None:
            self._set_state(PAUSED)
        else:
            self._set_state(CATCHING_UP if self._catchup_left else WATCHING)
            self._register(self._ready())
        self._flush_collection(final=False)
        self._write_state(final=False)

    def _set_state(self, name: str) -> None:
        with self._lock:
            self._state_name = name

    # -- the folder itself

    def _check_folder(self) -> bool:
        """Whether the folder is there; reports it going away and coming back."""
        try:
            st = self.folder.stat()
            present = os.path.isdir(self.folder)
        except OSError:
            present = False
        if not present:
            if not self._folder_missing:
                self._folder_missing = True
                self._set_state(FOLDER_MISSING)
                self._stop_observer()
                self._emit(
                    WatchEvent(
                        "folder_missing",
                        message=f"{self.folder} is gone (unmounted or removed); its "
                        "registered files stay in the catalog; waiting for it to come back",
                    )
                )
            self._next_probe = time.monotonic() + 2.0
            return False
        if self._folder_missing or st.st_dev != self._folder_dev:
            changed = not self._folder_missing
            self._folder_missing = False
            self._folder_dev = st.st_dev
            self._stop_observer()
            self._start_observer()
            self._next_rescan = 0.0
            self._emit(
                WatchEvent(
                    "folder_changed" if changed else "folder_back",
                    message=(
                        f"{self.folder} is on another device now (a share unmounted or "
                        "mounted); files no longer there stay in the catalog; rescanning it"
                        if changed
                        else f"{self.folder} is back; rescanning it"
                    ),
                )
            )
        return True

    # -- finding units

    def _unit_of(self, path: str) -> str | None:
        """The unit (relative path) an absolute path belongs to, if it is watched."""
        try:
            rel = Path(path).relative_to(self.folder)
        except ValueError:
            return None
        parts = rel.parts
        if not parts or any(is_os_junk(p) or p == INTERNAL_DIR for p in parts):
            return None
        if self.options.unit == "folder":
            if len(parts) == 1 and not (self.folder / parts[0]).is_dir():
                self._note_loose(parts[0])
                return None
            parts = parts[:1]
        rel_text = "/".join(parts)
        return rel_text if self._wanted(rel_text) else None

    def _wanted(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]

        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)

        if self.options.include and not hit(self.options.include):
            return False
        return not hit(self.options.exclude)

    def _note_loose(self, name: str) -> None:
        if name not in self._loose_noted and not is_os_junk(name):
            self._loose_noted.add(name)
            self._emit(
                WatchEvent(
                    "note",
                    path=name,
                    message="not in an acquisition folder: with --unit folder only the "
                    "subfolders are registered",
                )
            )

    def _signature(self, rel: str) -> Signature | None:
        path = self.folder / rel
        if self.options.unit == "folder":
            return _folder_signature(path) if path.is_dir() else None
        return _file_signature(path)

    def _take_events(self) -> None:
        with self._lock:
            paths, self._dirty = self._dirty, {}
            dirs, self._dirty_dirs = self._dirty_dirs, set()
            moved, self._moved_away = self._moved_away, set()
        now = time.monotonic()
        units: dict[str, float] = {}
        for path, at in paths.items():
            unit = self._unit_of(path)
            if unit is not None:
                units[unit] = max(at, units.get(unit, 0.0))
        for d in dirs:
            for unit in self._units_below(Path(d)):
                units[unit] = now
        gone = {u for p in moved if (u := self._unit_of(p)) is not None}
        for rel, at in units.items():
            self._observe(rel, silent_if_gone=rel in gone, changed_at=at)

    def _units_below(self, folder: Path) -> set[str]:
        """The units at or below ``folder`` (a folder that was created or moved in)."""
        if self.options.unit == "folder":
            unit = self._unit_of(str(folder))
            return {unit} if unit is not None else set()
        return {
            u
            for e in _walk_entries(folder)
            if e.is_file(follow_symlinks=False) and (u := self._unit_of(e.path)) is not None
        }

    def _rescan(self) -> None:
        """Walk the whole folder: whatever is new or changed since it was registered."""
        first = self._catchup_left is None
        found: set[str] = set()
        if self.options.unit == "folder":
            try:
                entries = list(os.scandir(self.folder))
            except OSError:
                return
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    unit = self._unit_of(e.path)
                    if unit is not None:
                        found.add(unit)
                elif e.is_file(follow_symlinks=False):
                    self._note_loose(e.name)
        else:
            found = self._units_below(self.folder)
        for rel in found:
            if rel not in self._candidates:
                self._observe(rel, silent_if_gone=True)
        if first:
            self._start_catchup()

    def _start_catchup(self) -> None:
        self._catchup_left = set(self._candidates)
        total = sum(c.sig[1] for c in self._candidates.values() if c.sig)
        self._emit(
            WatchEvent(
                "catchup",
                count=len(self._catchup_left),
                bytes=total,
                message=f"{len(self._catchup_left)} unit(s) arrived or changed while the "
                "watch was stopped",
            )
        )
        if not self._catchup_left:
            self._emit(WatchEvent("catchup_done", message="nothing to catch up"))

    def _in_catchup(self, rel: str) -> bool | None:
        """True for a unit of the catch-up (its events say so), and ends the catch-up with
        its last unit."""
        if not self._catchup_left or rel not in self._catchup_left:
            return None
        self._catchup_left.discard(rel)
        if not self._catchup_left:
            self._pending_done = True
        return True

    def _finish_catchup(self) -> None:
        if self._pending_done:
            self._pending_done = False
            self._emit(WatchEvent("catchup_done", message="caught up"))

    def _observe(
        self, rel: str, *, silent_if_gone: bool = False, changed_at: float | None = None
    ) -> None:
        """Look at one unit: a new or changed one becomes (or stays) a candidate, settling
        from ``changed_at`` (its latest event) or, without an event, from now."""
        sig = self._signature(rel)
        cand = self._candidates.get(rel)
        now = time.monotonic() if changed_at is None else changed_at
        if sig is None:
            if cand is not None:
                self._drop(rel, vanished=not silent_if_gone)
            return
        if cand is None:
            if self.state.registered(rel, sig):
                return
            self._candidates[rel] = _Candidate(rel, sig, now)
        elif cand.sig != sig:
            cand.sig, cand.since = sig, now

    def _drop(self, rel: str, *, vanished: bool) -> None:
        self._candidates.pop(rel, None)
        catchup = self._in_catchup(rel)
        if vanished:
            self._emit(
                WatchEvent(
                    "vanished",
                    path=rel,
                    catchup=catchup,
                    message="disappeared before it was registered; nothing was registered",
                )
            )
        self._finish_catchup()

    # -- deciding what is complete

    def _settle_for(self) -> float:
        """How long a candidate waits before it is looked at again: the settle time, or with
        a marker file, a short interval between looks for the marker."""
        if self.options.marker:
            return max(self._tick_floor(), min(1.0, self.options.settle))
        return self.options.settle

    def _ready(self) -> list[_Candidate]:
        """Candidates complete now: settled (or with their marker), not open for writing."""
        now = time.monotonic()
        due = [
            c
            for c in list(self._candidates.values())
            if now >= c.not_before and now - c.since >= self._settle_for()
        ]
        ready: list[_Candidate] = []
        marker = self.options.marker
        for cand in due:
            if marker and not (self.folder / cand.rel / marker).is_file():
                cand.since = now  # not done yet: look again shortly
                continue
            sig = self._signature(cand.rel)
            if sig is None:
                self._drop(cand.rel, vanished=True)
            elif sig != cand.sig and not marker:
                cand.sig, cand.since = sig, now
            else:
                cand.sig = sig
                ready.append(cand)
        return self._not_being_written(ready)

    def _not_being_written(self, ready: list[_Candidate]) -> list[_Candidate]:
        if not ready:
            return ready
        files: dict[str, str] = {}  # resolved file path -> unit
        for cand in ready:
            path = self.folder / cand.rel
            if self.options.unit == "folder":
                for e in _walk_entries(path):
                    if e.is_file(follow_symlinks=False):
                        files[os.path.realpath(e.path)] = cand.rel
            else:
                files[os.path.realpath(path)] = cand.rel
        busy = {files[p] for p in open_for_writing(set(files))}
        now = time.monotonic()
        for cand in ready:
            if cand.rel in busy:
                cand.since = now
                if not cand.waiting_noted:
                    cand.waiting_noted = True
                    self._emit(
                        WatchEvent(
                            "waiting",
                            path=cand.rel,
                            message="unchanged but still open for writing; waiting",
                        )
                    )
        return [c for c in ready if c.rel not in busy]

    # -- registering

    def _register(self, ready: list[_Candidate]) -> None:
        groups: dict[str, list[_Candidate]] = {}
        for cand in ready:
            parent = cand.rel.rsplit("/", 1)[0] if "/" in cand.rel else ""
            groups.setdefault(parent, []).append(cand)
        for parent, cands in groups.items():
            for start in range(0, len(cands), UPLOAD_BATCH):
                if self._stopping.is_set() or self._fault is not None:
                    return
                self._upload(parent, cands[start : start + UPLOAD_BATCH])

    def _upload(self, parent: str, cands: list[_Candidate]) -> None:

        prefix = "/".join(p for p in (self.options.key_prefix, parent) if p) or None
        try:
            report = upload(
                [self.folder / c.rel for c in cands],
                key_prefix=prefix,
                as_folder=True,
                run=self.run,
                cancel=self._cancel,
                max_workers=self.options.max_workers,
            )
        except LabshelfError as exc:
            self._batch_failed(cands, exc)
            return
        if report.cancelled:
            return  # stopping: the next session registers them
        for cand, item in zip(cands, report.items, strict=True):
            self._outcome(cand, item)

    def _batch_failed(self, cands: list[_Candidate], exc: LabshelfError) -> None:
        if isinstance(exc, DatabaseError | StorageError):
            reason = self._health()
            if reason is not None:
                self._pause_for(reason)
                return
        for cand in cands:
            self._retry_or_fail(cand, str(exc))

    def _outcome(self, cand: _Candidate, item: Any) -> None:
        rel = cand.rel
        if item.state in ("done", "duplicate"):
            artifact = item.artifact
            assert cand.sig is not None  # signed before it was handed to the transfer
            self.state.record(rel, cand.sig, item.uid, artifact.key if artifact else None)
            self._candidates.pop(rel, None)
            catchup = self._in_catchup(rel)
            if item.state == "done":
                self._registered(rel, artifact, catchup)
            else:
                self.counts["skipped"] += 1
                where = f" ({artifact.key})" if artifact is not None and artifact.key else ""
                self._emit(
                    WatchEvent(
                        "skipped",
                        path=rel,
                        uid=item.uid,
                        catchup=catchup,
                        message=f"the same content is registered already{where}",
                    )
                )
                if artifact is not None and self.options.collection:
                    self._collect.append(artifact)
            self._finish_catchup()
        elif item.state == "failed":
            self._item_failed(cand, item)

    def _registered(self, rel: str, artifact: Any, catchup: bool | None) -> None:
        self.counts["registered"] += 1
        self.last_file, self.last_uid = rel, artifact.uid
        if self._labels:
            self._label(rel, artifact)
        if self.options.collection:
            self._collect.append(artifact)
        new_version = not artifact.uid.endswith("0000")
        self._emit(
            WatchEvent(
                "new_version" if new_version else "registered",
                path=rel,
                key=artifact.key,
                uid=artifact.uid,
                version=artifact.version,
                catchup=catchup,
            )
        )

    def _label(self, rel: str, artifact: Any) -> None:
        try:
            artifact.ulabels.add(*self._labels, run=self.run)
        except Exception as exc:  # noqa: BLE001 - the file is registered; say what is missing
            self._error(rel, f"registered, but its labels could not be added: {exc}")

    def _item_failed(self, cand: _Candidate, item: Any) -> None:
        error = item.error or "the upload failed"
        if item.error_type == "IntegrityError":  # content in the trash: retrying cannot help
            self._give_up(cand, error)
            return
        if item.error_type in TRANSIENT:
            reason = self._health()
            if reason is not None:
                self._pause_for(reason)
                return
        if self._signature(cand.rel) is None:
            self._drop(cand.rel, vanished=True)
            return
        self._retry_or_fail(cand, error)

    def _retry_or_fail(self, cand: _Candidate, error: str) -> None:
        if cand.attempts < len(RETRY_DELAYS):
            delay = RETRY_DELAYS[cand.attempts]
            cand.attempts += 1
            cand.not_before = time.monotonic() + delay
            self._emit(
                WatchEvent(
                    "retrying",
                    path=cand.rel,
                    message=f"{error} (attempt {cand.attempts} of {len(RETRY_DELAYS) + 1}; "
                    f"again in {delay:g} s)",
                )
            )
            return
        self._give_up(cand, error)

    def _give_up(self, cand: _Candidate, error: str) -> None:
        if cand.sig is not None:
            self.state.record_failure(cand.rel, cand.sig, error)
        self._candidates.pop(cand.rel, None)
        catchup = self._in_catchup(cand.rel)
        self.counts["failed"] += 1
        self._error(cand.rel, error, catchup)
        self._finish_catchup()

    def _error(self, rel: str | None, message: str, catchup: bool | None = None) -> None:
        self.errors.append(f"{rel}: {message}" if rel else message)
        del self.errors[:-100]
        self._emit(WatchEvent("failed", path=rel, message=message, catchup=catchup))

    # -- faults of the database or the storage

    def _health(self) -> str | None:
        """Why the catalog cannot take registrations right now (None: it can)."""

        try:
            roots = [s.root for s in Storage.filter()]
        except LabshelfError as exc:
            return f"the database is unreachable: {exc}"
        root = _default_root()
        if root is None or root not in roots:
            return None
        if "://" in root:
            try:
                ok = UPath(root).exists()
            except Exception as exc:  # noqa: BLE001 - any failure means: not reachable now
                return f"the storage {root} is unreachable: {exc}"
            return None if ok else f"the storage {root} is unreachable"
        if not os.path.isdir(root) or not os.access(root, os.W_OK):
            return f"the storage {root} is unreachable (missing or read-only)"
        return None

    def _pause_for(self, reason: str) -> None:
        if self._fault is None:
            self._emit(WatchEvent("paused", message=f"{reason}; resuming when it is back"))
        self._fault = reason
        self._probe_step = 0
        self._next_probe = time.monotonic() + PROBE_DELAYS[0]
        self._set_state(PAUSED)

    def _probe(self) -> None:
        reason = self._health()
        if reason is None:
            self._fault = None
            self._emit(WatchEvent("resumed", message="the catalog is reachable again"))
            return
        self._fault = reason
        self._probe_step = min(self._probe_step + 1, len(PROBE_DELAYS) - 1)
        self._next_probe = time.monotonic() + PROBE_DELAYS[self._probe_step]

    # -- collection, state, shutdown

    def _flush_collection(self, *, final: bool) -> None:
        name = self.options.collection
        if not name or not self._collect:
            return
        if not final and time.monotonic() - self._last_collect < self.options.collection_interval:
            return
        if self._fault is not None:
            return

        try:
            latest = Collection.filter(name=name, is_latest=True).first()
            members = list(latest.artifacts) if latest is not None else []
            fresh = {a.id: a for a in self._collect}
            keys = {a.key for a in fresh.values() if a.key}
            kept = [
                m for m in members if m.id not in fresh and (m.key is None or m.key not in keys)
            ]
            new_members = kept + list(fresh.values())
            collection = Collection(new_members, name=name, revises=latest, run=self.run)
            if collection.__dict__.get("id") is None:  # as Record.save() tells a new record
                collection.save()
        except LabshelfError as exc:
            self._error(None, f"the collection '{name}' could not be updated: {exc}")
            self._last_collect = time.monotonic()
            return
        self._collect = []
        self._last_collect = time.monotonic()
        if latest is None or collection.id != latest.id:
            self._emit(
                WatchEvent(
                    "collection",
                    uid=collection.uid,
                    version=collection.version,
                    count=len(new_members),
                    message=f"collection '{name}' now holds {len(new_members)} artifact(s)",
                )
            )

    def _write_state(self, *, final: bool) -> None:
        now = time.monotonic()
        if not self.state.dirty or (
            not final and now - self._last_state_write < STATE_WRITE_INTERVAL
        ):
            return
        try:
            self.state.save()
        except OSError as exc:
            self._error(None, f"the watch state could not be written to {self.state.path}: {exc}")
        self._last_state_write = now

    def _shutdown(self) -> None:

        self._stop_observer()
        try:
            self._flush_collection(final=True)
            self._write_state(final=True)
            if self.run is not None:
                try:
                    finish_run(self.run)
                except LabshelfError as exc:
                    self._emit(WatchEvent("note", message=f"the run stays unfinished: {exc}"))
        finally:
            self.state.unlock()
            self._set_state(STOPPED)
            self._emit(
                WatchEvent(
                    "stopped",
                    message=f"{self.counts['registered']} registered, "
                    f"{self.counts['skipped']} skipped, {self.counts['failed']} failed",
                )
            )

    def _emit(self, event: WatchEvent) -> None:

        logger.debug("watch %s: %s", self.folder, event)
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception as exc:  # noqa: BLE001 - a faulty listener must not stop the watch
            print(f"labshelf watch: the event listener failed: {exc!r}", file=sys.stderr)


# ---------------------------------------------------------------- helpers


def _checked(options: WatchOptions) -> WatchOptions:
    """Options with an absolute, resolved folder; one clear error for a bad one."""
    if options.unit not in UNITS:
        raise InvalidArgument(f"'{options.unit}' is not a watch unit; use 'file' or 'folder'.")
    if not options.instrument or not options.instrument.strip():
        raise InvalidArgument("A watch needs an instrument name, e.g. --instrument 'Confocal 2'.")
    if options.settle < 0:
        raise InvalidArgument("The settle time cannot be negative.")
    if options.marker and options.unit != "folder":
        raise InvalidArgument("A marker file completes a folder: use it with --unit folder.")
    if options.marker and ("/" in options.marker or options.marker in (".", "..")):
        raise InvalidArgument(f"The marker '{options.marker}' must be a plain file name.")
    if options.key_prefix:
        validate_key(options.key_prefix)
    folder = Path(options.folder).expanduser().resolve()
    return replace(options, folder=folder)


def _instance_name() -> str:
    return current().name


def _default_root() -> str | None:
    return current().config.storage


def _resolve_labels(names: tuple[str, ...]) -> list[Any]:
    """The labels to put on every registered file: a name is the one label of that name,
    created when there is none (several of that name are refused, naming them)."""
    return resolve_labels(names) if names else []
