"""Background work for the UI: a QThreadPool whose results come back as queued signals.

Every task function runs on a pool thread, receives a `TaskContext` (cancel flag, throttled
progress) and returns plain data; results reach the UI thread through signals on a QObject
that lives there, so no widget is ever touched from a worker.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from labshelf.app import gateway
from labshelf.app.base import qtcompat  # noqa: F401 - must run before any signal is emitted
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds between two progress signals of one task
# The UI thread takes the GIL back once per model callback (data(), paint); a worker holding
# it keeps it for up to the switch interval (5 ms by default), which adds up to visible stalls.
GIL_SWITCH_INTERVAL = 0.0005
DEFAULT_THREADS = 4  # database and disk work waits mostly outside the GIL


class Cancelled(Exception):
    """Raised inside a task that noticed its cancel flag."""


class TaskContext:
    """What a running task may use: its cancel flag and a throttled progress callback."""

    def __init__(self, signals: _TaskSignals, cancel: threading.Event) -> None:
        self._signals = signals
        self._cancel = cancel
        self._last_progress = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if the task was cancelled."""
        if self._cancel.is_set():
            raise Cancelled

    def progress(self, value: object, force: bool = False) -> None:
        """Report progress, at most a few times a second unless `force`."""
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._signals.progress.emit(value)


class _TaskSignals(QObject):
    # Lives in the UI thread: signals emitted from the pool are queued to it.
    finished = Signal(object)
    failed = Signal(str, str)
    progress = Signal(object)
    ended = Signal()


class Task(QRunnable):
    """One unit of background work; `cancel()` sets its flag."""

    def __init__(self, fn: Callable[[TaskContext], Any], name: str) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.name = name
        self.signals = _TaskSignals()
        self._fn = fn
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        ctx = TaskContext(self.signals, self._cancel)
        try:
            gateway.import_core()
            if not self._cancel.is_set():
                result = self._fn(ctx)
                if not self._cancel.is_set():
                    self.signals.finished.emit(result)
        except Cancelled:
            pass
        except Exception as exc:
            log.exception("background task %s failed", self.name)
            self.signals.failed.emit(str(exc) or type(exc).__name__, traceback.format_exc())
        finally:
            self.signals.ended.emit()


class TaskRunner(QObject):
    """Owns a thread pool and the tasks alive in it; `shutdown()` cancels and waits."""

    busy_changed = Signal(int)

    def __init__(self, max_threads: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads or DEFAULT_THREADS)
        self._live: set[Task] = set()
        self._closed = False

    @property
    def active(self) -> int:
        return len(self._live)

    def submit(
        self,
        fn: Callable[[TaskContext], Any],
        done: Callable[[Any], object] | None = None,
        error: Callable[[str, str], object] | None = None,
        progress: Callable[[Any], object] | None = None,
        name: str = "task",
        priority: int = 0,
    ) -> Task:
        """Run `fn(ctx)` on the pool; `done(result)`/`error(msg, details)` run in the UI thread."""
        task = Task(fn, name)
        if done is not None:
            task.signals.finished.connect(self._guard(task, done))
        task.signals.failed.connect(self._guard(task, error or _log_failure))
        if progress is not None:
            task.signals.progress.connect(self._guard(task, progress))
        task.signals.ended.connect(lambda: self._forget(task))
        self._live.add(task)
        self.busy_changed.emit(len(self._live))
        self._pool.start(task, priority)
        return task

    def _guard(self, task: Task, callback: Callable[..., object]) -> Callable[..., None]:
        # Results already queued when the runner shut down (its owner is closing) or when the
        # task was cancelled must not reach widgets that may be gone.
        def deliver(*args: Any) -> None:
            if not self._closed and not task.is_cancelled:
                callback(*args)

        return deliver

    def _forget(self, task: Task) -> None:
        if self._closed:
            return
        self._live.discard(task)
        self.busy_changed.emit(len(self._live))

    def wait(self, msecs: int = -1) -> bool:
        """Wait for running tasks (for tests and shutdown); True if all finished."""
        return self._pool.waitForDone(msecs)

    def shutdown(self, msecs: int = 5000) -> bool:
        """Cancel everything, drop tasks not started yet, wait for the running ones; no
        callback runs afterwards."""
        self._closed = True
        for task in list(self._live):
            task.cancel()
        self._pool.clear()
        finished = self._pool.waitForDone(msecs)
        self._live.clear()
        return finished


def _log_failure(message: str, details: str) -> None:
    log.warning("background task failed: %s", message)
