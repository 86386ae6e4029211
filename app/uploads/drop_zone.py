"""`dropZone`: the highlight over the window while files are dragged onto it."""

from __future__ import annotations

from labshelf.app.base.named import named
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders a drag or the clipboard carries."""
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def mime_for(paths: list[str]) -> QMimeData:
    """Mime data with `paths` as file URLs (what a file manager puts in a drag)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    return mime


class DropZone(QFrame):
    """A dashed frame with a hint, laid over its parent; transparent to the mouse."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.label = named(QLabel("Drop files or folders to import them"), "dropZoneLabel")
        layout = QVBoxLayout(self)
        layout.addWidget(self.label, 0, Qt.AlignmentFlag.AlignCenter)
        self.hide()

    def cover(self) -> None:
        """Show over the whole parent."""
        parent = self.parentWidget()
        assert parent is not None  # made with a parent, never reparented
        self.setGeometry(parent.rect().adjusted(8, 8, -8, -8))
        self.raise_()
        self.show()
