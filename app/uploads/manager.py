"""The transfer queue's manager: starts drops, folds their progress in, cancels and retries.

The items themselves (`Drop`, `DropItem`, their states) are plain data in
`labshelf.app.data.transfers`; the queue's Qt model and dock (`queue_model`, `queue_dock`)
only show them. Unfinished drops are kept in a small JSON file in the app's data dir, so that
after a restart (or a crash) they are offered for resumption; uploading again finishes only
what is missing (by hash).

Each drop runs in a worker process (`labshelf.app.upload_worker`): the engine's Python threads
would otherwise take the GIL from the UI thread, which stutters then. A pool thread here
relays the worker's reports as progress signals and forwards cancels; the worker stops when
the app goes.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from labshelf.app import gateway, upload_worker
from labshelf.app.base.tasks import Task, TaskContext, TaskRunner
from labshelf.app.data.transfers import (
    CANCELLED_PATHS,
    FINAL,
    KEYS,
    TITLE,
    Drop,
    ItemState,
    QueueStore,
    TransferProgress,
    items_from_plan,
)
from PySide6.QtCore import QObject, Signal


class UploadManager(QObject):
    """Starts drops on workers, folds their progress in, cancels and retries them.

    Attributes:
        drops: every drop of this session, oldest first.
        workers: the worker processes (one may be started ahead of its drop).
        keep_unfinished: "continue next time" was chosen on quit: the queue file is left as
            it is.
        in_process: run drops on this process's threads instead of a worker process (only
            for tests that patch core).

    Signals:
        drop_added(drop id): a drop was started (its items are not known yet).
        drop_planned(drop id): its items arrived.
        drop_changed(drop id): its progress, state or message changed.
        items_changed(drop id, plan indices): these items changed state.
        drop_finished(drop id): it ended (done, failed or cancelled).
    """

    drop_added = Signal(int)
    drop_planned = Signal(int)
    drop_changed = Signal(int)
    items_changed = Signal(int, object)
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
            if item.state == ItemState.FAILED and item.key:
                # key = prefix/name for a file and for a folder uploaded as one artifact alike
                prefix = item.key.rsplit("/", 1)[0] if "/" in item.key else ""
                groups.setdefault(prefix, []).append(item.path)
        options = {k: v for k, v in drop.options.items() if k != CANCELLED_PATHS}
        return [
            self.start(dict(options, paths=paths, key_prefix=prefix, as_folder=True))
            for prefix, paths in groups.items()
        ]

    def resume_rest(self, drop_id: int) -> Drop | None:
        """A new drop for what a cancel left undone (`Drop.rest`), each item under the key
        it had. A drop into a collection is run again whole: what is done already counts as
        registered, and the collection gets every item. None if nothing is left."""
        drop = self.drop(drop_id)
        rest = drop.rest() if drop.finished else []
        if not rest:
            return None
        title = drop.title.removesuffix(" (the rest)")
        options = dict(drop.resumable(), **{TITLE: f"{title} (the rest)"})
        if options.get("collection") or options.get("collection_uid"):
            return self.start(options)  # items cancelled alone stay out (CANCELLED_PATHS)
        items = [drop.items[i] for i in rest]
        keys = {item.path: item.key for item in items if item.key}
        options.pop(CANCELLED_PATHS, None)
        return self.start(
            dict(
                options,
                paths=[item.path for item in items],
                key_prefix=None,
                as_folder=True,  # a folder item stays one artifact; file items are files
                **{KEYS: keys},
            )
        )

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    # -- progress --------------------------------------------------------------------------
    def _on_progress(self, drop: Drop, event: tuple[str, Any]) -> None:
        kind, payload = event
        if kind == "worker":
            drop.worker_pid = payload
        elif kind == "plan":
            drop.plan(payload)  # DropItems built on the worker: 10,000 cost the UI nothing
            self.drop_planned.emit(drop.id)
        else:
            changed = drop.progress(payload)
            if changed:
                self.items_changed.emit(drop.id, changed)
            self.drop_changed.emit(drop.id)

    def _on_done(self, drop: Drop, result: dict[str, Any]) -> None:
        drop.end(result)
        self._finish(drop)

    def _on_failed(self, drop: Drop, message: str) -> None:
        drop.fail(message)
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
        store, unfinished, seq = self._store, [d.resumable() for d in self.running()], self._saves
        self._runner.submit(lambda ctx: store.save(unfinished, seq), name="save upload queue")

    def forget_unfinished(self) -> None:
        """The user declined to resume: the queue file keeps only what runs now."""
        self._persist()

    def load_unfinished(self, done: Callable[[list[dict[str, Any]]], None]) -> None:
        """Read the drops left unfinished last time; `done(list_of_options)` in the UI thread."""
        if self._store is not None:
            store = self._store
            self._runner.submit(lambda ctx: store.load(), done=done, name="read upload queue")


def _run_drop_here(
    options: dict[str, Any], cancel: threading.Event, cancelled_items: set[int], ctx: TaskContext
) -> dict[str, Any]:
    """The drop on this process's threads (`UploadManager.in_process`: tests that patch core)."""

    def send(kind: str, payload: Any) -> None:
        # the worker's own relay: a few progress reports a second, from a thread of its own
        if kind == "plan":
            ctx.progress(("plan", items_from_plan(payload)), force=True)
        elif kind == "progress":
            ctx.progress(("progress", TransferProgress(**payload)), force=True)

    return upload_worker.run_drop(
        options, cancel, cancelled_items, send, upload_worker.upload_workers(_target_root(options))
    )


def _target_root(options: dict[str, Any]) -> str:
    return str(options.get("storage") or gateway.default_storage_root())


class UploadProcessError(RuntimeError):
    """The worker process failed or vanished; its message is meant for the user."""


def worker_command() -> list[str]:
    """How to start the upload worker process: the bundle's executable, or this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, upload_worker.UPLOAD_WORKER_FLAG]
    return [sys.executable, "-m", "labshelf.app.upload_worker"]


def _worker_env(instance: str) -> dict[str, str]:
    return dict(os.environ, LABSHELF_INSTANCE=instance)


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
        instance = gateway.current_instance_name()
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
        instance = gateway.current_instance_name()
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
        if process.stdin is not None:
            process.stdin.close()  # end of input: it exits
        if wait:
            process.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()


def _reap(process: subprocess.Popen) -> None:
    """Wait for a worker that has reported its outcome to exit (its interpreter takes a
    moment to shut down: the drop does not wait for that), on a thread of its own; kill it
    if it hangs."""

    def wait() -> None:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    threading.Thread(target=wait, name="upload-worker-reaper", daemon=True).start()


def _run_drop_in_worker(
    options: dict[str, Any],
    cancel: threading.Event,
    cancelled_items: set[int],
    ctx: TaskContext,
    workers: WorkerPool,
) -> dict[str, Any]:
    """The drop in a worker process of its own (see `labshelf.app.upload_worker`); this pool thread only
    relays: it forwards cancels and turns the worker's reports into progress signals."""
    process = workers.take()
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None and stdout is not None  # both are pipes (WorkerPool._spawn)
    outcome: list[Any] = []

    def tell(message: dict[str, Any]) -> None:
        try:
            stdin.write((json.dumps(message) + "\n").encode())
        except OSError:
            pass  # the worker is gone; its end shows on stdout

    def handle(line: bytes) -> None:
        kind, payload, *more = json.loads(line)
        if kind == "plan":
            ctx.progress(("plan", items_from_plan(payload)), force=True)
        elif kind == "progress":
            ctx.progress(("progress", TransferProgress(**payload)), force=True)
        else:
            outcome[:] = [kind, payload, *more]

    ctx.progress(("worker", process.pid), force=True)
    tell({"options": options, "max_workers": upload_worker.upload_workers(_target_root(options))})
    told_cancel, buffer = False, b""
    forwarded: set[int] = set()
    fd = stdout.fileno()
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
                if outcome:
                    break  # the drop is over; the worker exits on its own (reaped below)
        stdin.close()
        code = None if outcome else process.wait(60)
    finally:
        if not outcome and process.poll() is None:  # an error here: do not leave it running
            process.kill()
            process.wait()
    if outcome:
        _reap(process)
    if outcome and outcome[0] == "done":
        return outcome[1]
    if outcome and outcome[0] == "error":
        raise UploadProcessError(outcome[1])
    raise UploadProcessError(
        f"The upload process stopped unexpectedly (exit code {code}); "
        "what it had not finished can be retried."
    )
