"""Dragging artifacts out of the window (to a file manager, or into another application):
what is dropped are the read-only copies named after the keys (`gateway.read_only_copies`),
made on a worker when the drag begins. The drag starts once they are ready, if the mouse
button is still held; otherwise the status line says to drag again (they are ready then)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.data.formatting import count_of
from PySide6.QtCore import QMimeData, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QWidget

OWN_FORMAT = "application/x-labshelf-uids"  # marks drags that come from this app


def drag_mime(uids: list[str], paths: list[Path]) -> QMimeData:
    """File URLs of the copies (what file managers and applications read), plus the uids."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    mime.setData(OWN_FORMAT, "\n".join(uids).encode())
    return mime


class DragOut(QObject):
    """Starts drags of artifacts from a view. Signals: `status(text)` for the status line,
    `started(mime)` as a drag begins (tests read what it carries)."""

    status = Signal(str)
    started = Signal(QMimeData)

    def __init__(self, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._ready: dict[str, Path] = {}
        self.exec_drag: Callable[[QDrag], object] = lambda drag: drag.exec(Qt.DropAction.CopyAction)

    def begin(self, uids: list[str], source: QWidget) -> None:
        """The user started dragging these artifacts from `source`."""
        if not uids:
            return
        ready = [self._ready.get(uid) for uid in uids]
        if all(p is not None and p.exists() for p in ready):
            self._drag(uids, [p for p in ready if p is not None], source)
            return
        self.status.emit(f"Getting {count_of(len(uids), 'file')} ready to drag…")
        self._runner.submit(
            lambda ctx: self._copies(ctx, uids),
            done=lambda paths: self._prepared(uids, paths, source),
            error=lambda msg, _d: self.status.emit(f"Dragging failed: {msg}"),
            name="drag out",
        )

    def _copies(self, ctx: TaskContext, uids: list[str]) -> list[Path]:
        return gateway.read_only_copies(uids, lambda: ctx.cancelled)

    def _prepared(self, uids: list[str], paths: list[Path], source: QWidget) -> None:
        self._ready.update(zip(uids, paths, strict=False))
        if QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            self._drag(uids, paths, source)
        else:
            self.status.emit("The files are ready: drag the selection again to drop them.")

    def _drag(self, uids: list[str], paths: list[Path], source: QWidget) -> None:
        drag = QDrag(source)
        mime = drag_mime(uids, paths)
        drag.setMimeData(mime)
        self.started.emit(mime)
        self.exec_drag(drag)
