"""`WatchManager`: the app's watched folders — starting, pausing, resuming and stopping them on
workers through the gateway, their rows (`WatchRow`) updated from the watchers' events, and
the list kept in the app settings so that the watches come back after a restart.

Events come from each watcher's own thread through a queued signal; the rows change in the
UI thread and the views hear `rows_changed` a few times a second at most. Nothing here waits
on a watcher, the disk or the database, except `close()` when the window goes away (it stops
the watchers and waits for them to write their state, as closing waits for uploads).

Restored watches come back paused (not started: no run, no lock) unless their spec says
`auto_resume`; Resume starts them, and core catches up with what arrived meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.watching.watches import WatchRow, WatchSpec, spec_problem
from PySide6.QtCore import QObject, QSettings, QTimer, Signal

SETTINGS_KEY = "watches/list"
REFRESH_MS = 200  # rows_changed at most this often while events pour in
STOP_TIMEOUT = 30.0  # seconds a stopping watcher may take to finish its upload and state


class _EventBridge(QObject):
    """Lives in the UI thread: `arrived` emitted by a watcher's thread is queued to it."""

    arrived = Signal(object, dict)


class WatchManager(QObject):
    """The watches of one window. Signals: `row_inserting(index)` / `row_inserted()` and
    `row_removing(index)` / `row_removed()` around changes of `rows`; `rows_changed()` when
    rows' states or counts changed (batched); `failed(message)` for a command that failed."""

    row_inserting = Signal(int)
    row_inserted = Signal()
    row_removing = Signal(int)
    row_removed = Signal()
    rows_changed = Signal()
    restored = Signal(int)  # how many watches came back
    failed = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        settings: Callable[[], QSettings],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.rows: list[WatchRow] = []
        self._runner = runner
        self._settings = settings
        self._other: list[WatchSpec] = []  # stored watches of other instances, kept as they are
        self._live_ids: set[int] = set()  # watches started (also by a start still in flight)
        self._ids_lock = threading.Lock()
        self._closed = False
        self._bridge = _EventBridge(self)
        self._bridge.arrived.connect(self._on_event)
        self._refresh = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh.timeout.connect(self.rows_changed)

    # -- starting ------------------------------------------------------------------------
    def start(
        self,
        spec: WatchSpec,
        done: Callable[[WatchRow], object] | None = None,
        error: Callable[[str], object] | None = None,
    ) -> None:
        """Start a new watch; `done(row)` once it runs (the row is in `rows` then), or
        `error(sentence)` and nothing was started."""
        problem = spec_problem(spec) or self._duplicate(spec)
        if problem:
            (error or self.failed.emit)(problem)
            return
        row = WatchRow(spec)
        row.starting()

        def started(_row: WatchRow) -> None:
            self._insert(row)
            self.save()
            if done is not None:
                done(row)

        self._start_row(row, started, error or self.failed.emit)

    def _duplicate(self, spec: WatchSpec, but: WatchRow | None = None) -> str | None:
        for row in self.rows:
            if (
                row is not but
                and row.active
                and row.spec.same_watch(replace(spec, instance=row.spec.instance))
            ):
                return f"{spec.folder} is watched already with this key prefix and unit."
        return None

    def _start_row(
        self, row: WatchRow, done: Callable[[WatchRow], object], error: Callable[[str], object]
    ) -> None:
        row.starting()
        bridge, ids, lock = self._bridge, self._live_ids, self._ids_lock
        options = row.spec.options()

        def work(_ctx: TaskContext) -> tuple[int, str]:
            gateway.check_watch(options)
            instance = gateway.current_instance_name()
            watch_id = gateway.start_watch(options, lambda event: bridge.arrived.emit(row, event))
            with lock:
                ids.add(watch_id)
            return watch_id, instance

        def finished(result: tuple[int, str]) -> None:
            watch_id, instance = result
            row.spec = replace(row.spec, instance=instance)
            row.started(watch_id)
            self._changed()
            done(row)

        def failed(message: str, _details: str) -> None:
            row.start_failed(message)
            self._changed()
            error(message)

        self._runner.submit(work, done=finished, error=failed, name="start watch")

    # -- commands on a row ---------------------------------------------------------------
    def pause(self, row: WatchRow) -> None:
        if row.can_pause and row.watch_id is not None:
            self._call(gateway.pause_watch, row.watch_id, "pause")

    def resume(self, row: WatchRow) -> None:
        """Resume a paused watch; start one that is not running (restored, stopped, failed)."""
        if not row.can_resume:
            return
        if row.watch_id is not None:
            self._call(gateway.resume_watch, row.watch_id, "resume")
            return
        problem = self._duplicate(row.spec, but=row)
        if problem:
            self.failed.emit(problem)
            return
        was_saved = row.saved
        row.saved = True

        def started(_row: WatchRow) -> None:
            if not was_saved:
                self.save()

        self._start_row(row, started, self.failed.emit)
        self._changed()

    def stop(self, row: WatchRow) -> None:
        """Stop the watch and forget it (it does not come back after a restart)."""
        if not row.can_stop or row.watch_id is None:
            return
        watch_id = row.watch_id
        row.stopping()
        row.saved = False
        self.save()
        self._changed()

        def work(_ctx: TaskContext) -> bool:
            ended = gateway.stop_watch(watch_id, STOP_TIMEOUT)
            if ended:
                with self._ids_lock:
                    self._live_ids.discard(watch_id)
            return ended

        def finished(ended: bool) -> None:
            if not ended:
                row.last_error = f"the watch did not stop within {STOP_TIMEOUT:g} s"
                self._changed()

        self._runner.submit(work, done=finished, error=self._command_failed, name="stop watch")

    def remove(self, row: WatchRow) -> None:
        """Take a watch that is not running off the list (and out of the settings)."""
        if row.active or row not in self.rows:
            return
        index = self.rows.index(row)
        self.row_removing.emit(index)
        del self.rows[index]
        self.row_removed.emit()
        self.save()

    def _call(self, fn: Callable[[int], object], watch_id: int, what: str) -> None:
        self._runner.submit(
            lambda _ctx: fn(watch_id), error=self._command_failed, name=f"{what} watch"
        )

    def _command_failed(self, message: str, _details: str) -> None:
        self.failed.emit(message)

    # -- events --------------------------------------------------------------------------
    def _on_event(self, row: WatchRow, event: dict[str, Any]) -> None:
        if self._closed:
            return
        row.apply(event)
        self._changed()

    def _changed(self) -> None:
        if not self._refresh.isActive():
            self._refresh.start()

    def _insert(self, row: WatchRow) -> None:
        self.row_inserting.emit(len(self.rows))
        self.rows.append(row)
        self.row_inserted.emit()

    # -- settings ------------------------------------------------------------------------
    def save(self) -> None:
        """Store the watches to bring back: folder and options only (no secret)."""
        specs = [r.spec for r in self.rows if r.saved] + self._other
        settings = self._settings()
        settings.setValue(SETTINGS_KEY, json.dumps([json.loads(s.to_json()) for s in specs]))
        settings.sync()

    def stored(self) -> list[WatchSpec]:
        """The watches the settings hold (damaged entries left out)."""
        text = self._settings().value(SETTINGS_KEY, "")
        try:
            items = json.loads(str(text)) if text else []
        except ValueError:
            return []
        specs = [WatchSpec.from_json(json.dumps(item)) for item in items if isinstance(item, dict)]
        return [s for s in specs if s is not None]

    def restore(self) -> None:
        """Bring back the stored watches of the current instance (its name is read on a
        worker): paused, or started where the spec says `auto_resume`."""
        self._runner.submit(
            lambda _ctx: gateway.current_instance_name(),
            done=self._restore_for,
            error=self._command_failed,
            name="restore watches",
        )

    def _restore_for(self, instance: str) -> None:
        mine = [s for s in self.stored() if s.instance in (instance, "")]
        self._other = [s for s in self.stored() if s.instance not in (instance, "")]
        for spec in mine:
            if any(r.spec.same_watch(replace(spec, instance=r.spec.instance)) for r in self.rows):
                continue
            row = WatchRow(replace(spec, instance=instance))
            row.restored()
            self._insert(row)
            if spec.auto_resume:
                self._start_row(row, lambda _r: None, self.failed.emit)
        self.restored.emit(len(mine))

    def instance_switched(self) -> None:
        """Another instance is current: this one's watches stop (they would register into
        the other) and stay stored; the new instance's watches come back."""
        for row in list(self.rows):
            if row.watch_id is not None:
                saved = row.saved
                self.stop(row)
                row.saved = saved
        self.save()
        while self.rows:
            self.row_removing.emit(0)
            del self.rows[0]
            self.row_removed.emit()
        self._other = self.stored()  # until the new instance's watches are back
        self.restore()

    # -- closing -------------------------------------------------------------------------
    def close(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop every watch (each writes its state and finishes its run; the next start
        catches up) and wait for them, at most `timeout` seconds in all; whether all ended.
        The window calls this as it closes: the only place the UI thread waits for them."""
        self._closed = True
        self._refresh.stop()
        self._runner.shutdown(int(timeout * 1000))  # a start in flight registers its id
        with self._ids_lock:
            ids = sorted(self._live_ids)
            self._live_ids.clear()
        for watch_id in ids:
            gateway.stop_watch(watch_id, 0)  # all asked at once: they finish in parallel
        deadline = time.monotonic() + timeout
        ended = [gateway.wait_watch(i, max(0.0, deadline - time.monotonic())) for i in ids]
        return all(ended)
