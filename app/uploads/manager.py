"""The transfer queue's state: drops and their items, fed by `labshelf.upload` on workers.

A `Drop` is one import (one run of the app's upload transform); its items are the ones
`labshelf.transfer.plan` lists, in the order the engine's progress refers to. Unfinished drops are
kept in a small JSON file in the app's data dir, so that after a restart (or a crash) they are
offered for resumption; uploading again finishes only what is missing (by hash).

Each drop runs in a worker process (`labshelf.app.upload_worker`): the engine's Python threads would
otherwise take the GIL from the UI thread, which stutters then. A pool thread here relays the
worker's reports as progress signals and forwards cancels; the worker stops when the app goes.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labshelf.app import upload_worker
from labshelf.app.base.tasks import Task, TaskContext, TaskRunner
from PySide6.QtCore import QObject, Signal

FINAL = upload_worker.FINAL
CANCELLED_PATHS = upload_worker.CANCELLED_PATHS  # of a persisted drop: items cancelled one by one


@dataclass
class DropItem:
    """One artifact of a drop: a file or folder, its key and where it stands."""

    path: str
    key: str | None
    size: int
    n_files: int = 1
    state: str = "queued"
    error: str | None = None


@dataclass
class Drop:
    """One import: options, items and progress."""

    id: int
    options: dict[str, Any]
    items: list[DropItem] = field(default_factory=list)
    state: str = "planning"  # planning, running, done, failed, cancelled
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    started: float = field(default_factory=time.monotonic)
    message: str = ""
    run_uid: str | None = None
    worker_pid: int | None = None  # the worker process uploading it
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    # plan indices the user cancelled alone; read by the engine's threads (set lookups are atomic)
    cancelled_items: set[int] = field(default_factory=set, repr=False)

    @property
    def title(self) -> str:
        names = [Path(p).name for p in self.options["paths"]]
        return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        elapsed = time.monotonic() - self.started
        return self.bytes_done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, if known."""
        rate = self.rate
        return (
            (self.bytes_total - self.bytes_done) / rate
            if rate > 0 and self.state == "running"
            else None
        )

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.state] = out.get(item.state, 0) + 1
        return out


class QueueStore:
    """Unfinished drops' options in `<data dir>/desktop/uploads.json` (worker side)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._written = 0  # sequence number of the snapshot on disk

    def load(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads(self.path.read_text()).get("drops", []))
        except (FileNotFoundError, ValueError):
            return []

    def save(self, drops: list[dict[str, Any]], seq: int = 0) -> None:
        """Write snapshot number `seq` (saves run on pool threads: an older snapshot that comes
        late is dropped)."""
        with self._lock:
            if seq and seq < self._written:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"drops": drops}, indent=1))
            os.replace(tmp, self.path)
            self._written = seq


def default_store() -> QueueStore:
    from labshelf.instance import data_dir

    return QueueStore(data_dir() / "desktop" / "uploads.json")


class UploadManager(QObject):
    """Starts drops on workers, folds their progress in, cancels and retries them."""

    drop_added = Signal(int)
    drop_planned = Signal(int)
    drop_changed = Signal(int)
    items_changed = Signal(int, object)  # drop id, plan indices whose state changed
    drop_finished = Signal(int)

    def __init__(
        self, runner: TaskRunner, store: QueueStore | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._store = store
        self.drops: list[Drop] = []
        self._tasks: dict[int, Task] = {}
        self._next_id = 1
        self._saves = 0  # snapshots of the queue handed to the store
        self.keep_unfinished = False  # "continue next time": leave the queue file as it is
        # Drops run in a worker process (the UI keeps the GIL to itself); in this process's
        # threads only for tests that patch core.
        self.in_process = False
        self.workers = WorkerPool()

    # -- queries ---------------------------------------------------------------------------
    def drop(self, drop_id: int) -> Drop:
        return next(d for d in self.drops if d.id == drop_id)

    def running(self) -> list[Drop]:
        return [d for d in self.drops if not d.finished]

    def overall(self) -> tuple[int, int]:
        """Bytes done and total over the drops still running."""
        live = self.running()
        return sum(d.bytes_done for d in live), sum(d.bytes_total for d in live)

    # -- actions ---------------------------------------------------------------------------
    def prestart_worker(self) -> None:
        """Start a worker process ahead of the next drop (the import dialog opened)."""
        if not self.in_process:
            workers = self.workers
            self._runner.submit(lambda ctx: workers.prestart(), name="start upload worker")

    def close(self) -> None:
        """The app closes: let a worker started ahead go (running drops are cancelled by the
        caller, and their workers end with them)."""
        self.workers.close()

    def start(self, options: dict[str, Any]) -> Drop:
        """Start an upload of `options` (paths, key_prefix, description, as_folder, storage,
        collection or collection_uid)."""
        drop = Drop(self._next_id, dict(options))
        self._next_id += 1
        self.drops.append(drop)
        self.drop_added.emit(drop.id)
        self._persist()
        workers = self.workers

        def run(ctx: TaskContext) -> dict[str, Any]:
            if self.in_process:
                return _run_drop_here(drop.options, drop.cancel, drop.cancelled_items, ctx)
            return _run_drop_in_worker(
                drop.options, drop.cancel, drop.cancelled_items, ctx, workers
            )

        self._tasks[drop.id] = self._runner.submit(
            run,
            done=lambda result: self._on_done(drop, result),
            error=lambda msg, _d: self._on_failed(drop, msg),
            progress=lambda event: self._on_progress(drop, event),
            name="upload",
        )
        return drop

    def cancel(self, drop_id: int) -> None:
        drop = self.drop(drop_id)
        if not drop.finished:
            drop.cancel.set()
            drop.message = "cancelling…"
            self.drop_changed.emit(drop.id)

    def cancel_items(self, drop_id: int, indices: list[int]) -> None:
        """Cancel single items of a running drop; the rest goes on. Items that already ended
        (or a drop still being planned) are left as they are."""
        drop = self.drop(drop_id)
        if drop.finished:
            return
        for index in indices:
            if 0 <= index < len(drop.items) and drop.items[index].state not in FINAL:
                drop.cancelled_items.add(index)
        self._persist()  # a resumed drop must not upload them again
        self.drop_changed.emit(drop.id)

    def cancel_all(self) -> None:
        for drop in self.running():
            self.cancel(drop.id)

    def retry_failed(self, drop_id: int, indices: list[int] | None = None) -> list[Drop]:
        """New drops for the failed items (all, or those of `indices`), one per key prefix
        so that keys stay the same."""
        drop = self.drop(drop_id)
        chosen = range(len(drop.items)) if indices is None else indices
        groups: dict[str, list[str]] = {}
        for item in (drop.items[i] for i in chosen if 0 <= i < len(drop.items)):
            if item.state == "failed" and item.key:
                # key = prefix/name for a file and for a folder uploaded as one artifact alike
                prefix = item.key.rsplit("/", 1)[0] if "/" in item.key else ""
                groups.setdefault(prefix, []).append(item.path)
        options = {k: v for k, v in drop.options.items() if k != CANCELLED_PATHS}
        return [
            self.start(dict(options, paths=paths, key_prefix=prefix, as_folder=True))
            for prefix, paths in groups.items()
        ]

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    # -- progress --------------------------------------------------------------------------
    def _on_progress(self, drop: Drop, event: tuple[str, Any]) -> None:
        kind, payload = event
        if kind == "worker":
            drop.worker_pid = payload
            return
        if kind == "plan":
            drop.items = (
                payload  # DropItems built by the worker: 10,000 of them cost the UI nothing
            )
            kept = [i for i in drop.items if i.state != "cancelled"]  # cancelled before a restart
            drop.bytes_total = sum(i.size for i in kept)
            drop.files_total = sum(i.n_files for i in kept)
            drop.state = "running"
            self.drop_planned.emit(drop.id)
            return
        drop.bytes_done, drop.bytes_total = payload.bytes_done, payload.bytes_total
        drop.files_done, drop.files_total = payload.files_done, payload.files_total
        changed = []
        for index, state in payload.changes:
            if index < len(drop.items):
                drop.items[index].state = state
                changed.append(index)
        if changed:
            self.items_changed.emit(drop.id, changed)
        self.drop_changed.emit(drop.id)

    def _on_done(self, drop: Drop, result: dict[str, Any]) -> None:
        for item, final in zip(drop.items, result["items"], strict=False):
            item.state, item.error = final["state"], final["error"]
        drop.run_uid = result["run"]
        counts = drop.counts()
        if result["cancelled"]:
            drop.state = "cancelled"
        elif counts.get("failed"):
            drop.state = "failed"
        elif counts.get("cancelled") and not counts.get("done") and not counts.get("duplicate"):
            drop.state = "cancelled"  # every item was cancelled alone
        else:
            drop.state = "done"
        drop.message = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        self._finish(drop)

    def _on_failed(self, drop: Drop, message: str) -> None:
        drop.state, drop.message = "failed", message
        for item in drop.items:
            if item.state not in FINAL:
                item.state, item.error = "failed", message
        self._finish(drop)

    def _finish(self, drop: Drop) -> None:
        self._tasks.pop(drop.id, None)
        self._persist()
        self.drop_changed.emit(drop.id)
        self.drop_finished.emit(drop.id)

    # -- persistence -----------------------------------------------------------------------
    def _persist(self) -> None:
        if self._store is None or self.keep_unfinished:
            return
        self._saves += 1
        store, unfinished, seq = self._store, [_resumable(d) for d in self.running()], self._saves
        self._runner.submit(lambda ctx: store.save(unfinished, seq), name="save upload queue")

    def forget_unfinished(self) -> None:
        """The user declined to resume: the queue file keeps only what runs now."""
        self._persist()

    def load_unfinished(self, done: Any) -> None:
        """Read the drops left unfinished last time; `done(list_of_options)` in the UI thread."""
        if self._store is not None:
            store = self._store
            self._runner.submit(lambda ctx: store.load(), done=done, name="read upload queue")


def _resumable(drop: Drop) -> dict[str, Any]:
    """What the queue file keeps of an unfinished drop: its options and the paths of the items
    the user cancelled alone (by path: plan indices may differ once files change)."""
    cancelled = set(drop.options.get(CANCELLED_PATHS, ()))
    cancelled.update(drop.items[i].path for i in list(drop.cancelled_items) if i < len(drop.items))
    return dict(drop.options, **{CANCELLED_PATHS: sorted(cancelled)}) if cancelled else drop.options


def _items(planned: list[dict[str, Any]]) -> list[DropItem]:
    return [
        DropItem(p["path"], p["key"], p["size"], p["n_files"], p["state"], p["error"])
        for p in planned
    ]


def _run_drop_here(
    options: dict[str, Any], cancel: threading.Event, cancelled_items: set[int], ctx: TaskContext
) -> dict[str, Any]:
    """The drop on this process's threads (`UploadManager.in_process`: tests that patch core)."""

    def send(kind: str, payload: Any) -> None:
        # core calls on_progress at most ~10 times a second, from its own threads
        ctx.progress((kind, _items(payload) if kind == "plan" else payload), force=True)

    return upload_worker.run_drop(
        options, cancel, cancelled_items, send, upload_worker.upload_workers(_target_root(options))
    )


def _target_root(options: dict[str, Any]) -> str:
    import labshelf as ls

    return options.get("storage") or ls.settings.storage.root


class UploadProcessError(RuntimeError):
    """The worker process failed or vanished; its message is meant for the user."""


def worker_command() -> list[str]:
    """How to start the upload worker process: the bundle's executable, or this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, upload_worker.UPLOAD_WORKER_FLAG]
    return [sys.executable, "-m", "labshelf.app.upload_worker"]


def _worker_env(instance: str) -> dict[str, str]:
    return dict(os.environ, LABSHELF_INSTANCE=instance)


def _current_instance() -> str:
    import labshelf as ls

    return ls.settings.instance


class WorkerPool:
    """Starts upload worker processes; keeps at most one started ahead of its drop (a worker
    needs ~0.5 s to import and connect; the import dialog is open longer than that).
    Thread-safe; used from pool threads only (starting a process is not for the UI thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: tuple[subprocess.Popen, str, float] | None = None  # process, instance, started

    @staticmethod
    def _spawn(instance: str) -> subprocess.Popen:
        return subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_worker_env(instance),
            bufsize=0,
        )

    def prestart(self) -> None:
        """Start a spare worker for the current instance, unless a usable one waits already."""
        instance = _current_instance()
        with self._lock:
            if self._spare is not None and self._usable(*self._spare, instance):
                return
            stale, self._spare = self._spare, None
        _retire(stale)
        process = self._spawn(instance)
        with self._lock:
            stale, self._spare = self._spare, (process, instance, time.monotonic())
        _retire(stale)

    def take(self) -> subprocess.Popen:
        """A worker for a drop on the current instance: the spare if it is usable, else a new one."""
        instance = _current_instance()
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and self._usable(*spare, instance):
            return spare[0]
        _retire(spare)
        return self._spawn(instance)

    @staticmethod
    def _usable(process: subprocess.Popen, instance: str, started: float, current: str) -> bool:
        # a spare gives up after IDLE_S: never hand out one that may be about to
        fresh = time.monotonic() - started < upload_worker.IDLE_S - 60
        return fresh and instance == current and process.poll() is None

    def close(self) -> None:
        """Let the spare go: its input ends, so it exits by itself (no waiting here)."""
        with self._lock:
            spare, self._spare = self._spare, None
        _retire(spare, wait=False)


def _retire(spare: tuple[subprocess.Popen, str, float] | None, wait: bool = True) -> None:
    if spare is None:
        return
    process = spare[0]
    try:
        process.stdin.close()  # type: ignore[union-attr] - end of input: it exits
        if wait:
            process.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


def _run_drop_in_worker(
    options: dict[str, Any],
    cancel: threading.Event,
    cancelled_items: set[int],
    ctx: TaskContext,
    workers: WorkerPool,
) -> dict[str, Any]:
    """The drop in a worker process of its own (see `labshelf.app.upload_worker`); this pool thread only
    relays: it forwards cancels and turns the worker's reports into progress signals."""
    from labshelf.transfer import Progress

    process = workers.take()
    assert process.stdin is not None and process.stdout is not None
    outcome: list[Any] = []

    def tell(message: dict[str, Any]) -> None:
        try:
            process.stdin.write((json.dumps(message) + "\n").encode())
        except OSError:
            pass  # the worker is gone; its end shows on stdout

    def handle(line: bytes) -> None:
        kind, payload, *more = json.loads(line)
        if kind == "plan":
            ctx.progress(("plan", _items(payload)), force=True)
        elif kind == "progress":
            ctx.progress(("progress", Progress(**payload)), force=True)
        else:
            outcome[:] = [kind, payload, *more]

    ctx.progress(("worker", process.pid), force=True)
    tell({"options": options, "max_workers": upload_worker.upload_workers(_target_root(options))})
    told_cancel, forwarded, buffer = False, set(), b""
    fd = process.stdout.fileno()
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if (cancel.is_set() or ctx.cancelled) and not told_cancel:
                    tell({"cancel": True})
                    told_cancel = True
                fresh = set(cancelled_items) - forwarded  # one atomic copy: the UI thread adds
                if fresh:
                    tell({"cancel_items": sorted(fresh)})
                    forwarded |= fresh
                if not selector.select(0.1):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    handle(line)
        process.stdin.close()
        code = process.wait(60)
    finally:
        if process.poll() is None:  # only on an error here: do not leave the worker running
            process.kill()
            process.wait()
    if outcome and outcome[0] == "done":
        return outcome[1]
    if outcome and outcome[0] == "error":
        raise UploadProcessError(outcome[1])
    raise UploadProcessError(
        f"The upload process stopped unexpectedly (exit code {code}); "
        "what it had not finished can be retried."
    )
