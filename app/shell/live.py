"""The live catalog: a worker of its own follows the database's changes (PostgreSQL
LISTEN/NOTIFY, SQLite's data_version, through the gateway) for the window's lifetime and
says when something may have changed; the window then compares what it shows (a cheap
fingerprint) and reloads only if it differs, keeping selection and scroll position."""

from __future__ import annotations

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from PySide6.QtCore import QObject, QTimer, Signal

SETTLE_MS = 250  # changes are gathered this long (a drop publishes in several batches)


class LiveCatalog(QObject):
    """Follows the current instance's database. Signals: changed() at most every
    `SETTLE_MS` while changes arrive."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner: TaskRunner | None = None
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.changed)

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> None:
        """Follow the current instance (again, after another instance was opened)."""
        self.stop()
        runner = TaskRunner(max_threads=1, parent=self)
        self._runner = runner

        def follow(ctx: TaskContext) -> None:
            gateway.follow_changes(lambda: ctx.progress(True, force=True), lambda: ctx.cancelled)

        runner.submit(follow, progress=self._heard, name="live catalog")

    def _heard(self, _value: object) -> None:
        if not self._settle.isActive():
            self._settle.start()

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.shutdown(3000)
            self._runner.deleteLater()
            self._runner = None
