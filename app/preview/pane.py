"""`previewPane`: images with fit/zoom/pan, tables, text, folders; loaded on a worker. For a
text or CSV artifact with several versions it offers to show what changed between two of
them (`labshelf.app.preview.diff_view`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.data.formatting import human_size, human_time
from labshelf.app.preview.content import PreviewData, load_preview
from labshelf.app.preview.diff import diffable
from labshelf.app.preview.diff_view import VersionDiffDialog
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

ZOOM_STEP = 1.25
TABLE_COLUMN_MAX = 220  # a table preview's widest column (px); longer cells are elided


class ImageView(QGraphicsView):
    """A pixmap that fits the view until the user zooms; drag to pan, arrows step."""

    step_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageView")
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        scene = QGraphicsScene(self)
        scene.addItem(self._item)
        self.setScene(scene)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._fit = True

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._item.setPixmap(pixmap)
        self.scene().setSceneRect(self._item.boundingRect())
        self.fit()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom_by(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        self.zoom_by(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.step_requested.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.step_requested.emit(1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(1 / ZOOM_STEP)
        elif key in (Qt.Key.Key_0, Qt.Key.Key_F):
            self.fit()
        else:
            super().keyPressEvent(event)


class RowsModel(QAbstractTableModel):
    """A read-only table of a few rows of strings (previews, diffs)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._columns: list[str] = []
        self._rows: list[list[str]] = []

    def set_rows(self, columns: list[str], rows: list[list[str]]) -> None:
        self.beginResetModel()
        self._columns, self._rows = columns, rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            row = self._rows[index.row()]
            return row[index.column()] if index.column() < len(row) else ""
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section] if section < len(self._columns) else ""
        return str(section + 1)


class PreviewPane(QWidget):
    """Shows one file or folder; `load()` reads it on a worker, size-capped."""

    step_requested = Signal(int)
    shown = Signal(str)  # the kind shown: image, table, text, folder, message

    def __init__(
        self, runner: TaskRunner, nested: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._generation = 0
        self.kind = "message"
        self._stack = QStackedWidget(self)
        self.image_view = ImageView()
        self.image_view.step_requested.connect(self.step_requested)
        self.table_model = RowsModel(self)
        self.table_view = QTableView()
        self.table_view.setModel(self.table_model)
        self.table_view.setWordWrap(False)  # one line per row, long cells elided (issue 16 #22)
        self.table_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table_view.verticalHeader().setDefaultSectionSize(22)
        self.table_view.horizontalHeader().setResizeContentsPrecision(40)  # rows measured
        self.text_view = QPlainTextEdit(readOnly=True)
        self.text_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.message = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.message.setObjectName("previewMessage")
        self.busy = QProgressBar(maximum=0, textVisible=False)
        self.folder_view = None if nested else _FolderView(runner)
        self._pages: dict[str, QWidget] = {
            "image": self.image_view,
            "table": self.table_view,
            "text": self.text_view,
            "message": self.message,
            "busy": _centered(self.busy),
        }
        if self.folder_view is not None:
            self._pages["folder"] = self.folder_view
        for page in self._pages.values():
            self._stack.addWidget(page)
        self.note = named(QLabel(wordWrap=True), "previewNote")
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.compare_bar = self._compare_bar()
        self.diff_dialog: VersionDiffDialog | None = None
        self._versions: dict[str, dict[str, Any]] = {}
        self._record: tuple[str, str] = ("", "")  # uid and key of the record shown
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.compare_bar)
        self.show_message("Select an artifact to preview it.")

    # -- comparing versions -----------------------------------------------------------------
    def _compare_bar(self) -> QWidget:
        bar = named(QWidget(visible=False), "compareBar")
        self.compare_with = named(QComboBox(), "compareWith")
        self.compare_button = named(QPushButton("Show changes"), "compareButton")
        self.compare_button.clicked.connect(self.compare)
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Compare with"))
        row.addWidget(self.compare_with, 1)
        row.addWidget(self.compare_button)
        return bar

    def offer_versions(self, details: dict[str, Any]) -> None:
        """The details of the record shown arrived: offer to compare it with its other
        versions if it is a text or CSV artifact that has some."""
        fields = details.get("fields") or {}
        uid = details.get("uid", "")
        key = str(fields.get("key") or uid)
        suffix = str(fields.get("suffix") or Path(key).suffix)
        versions = details.get("versions") or []
        others = [v for v in versions if v["uid"] != uid]
        self._record = (uid, key)
        self._versions = {v["uid"]: v for v in versions}
        self.compare_with.clear()
        offer = (
            details.get("registry") == "Artifact"
            and bool(others)
            and not fields.get("n_objects")
            and diffable(suffix)
        )
        self.compare_bar.setVisible(offer)
        if not offer:
            return
        mine = self._versions.get(uid, {"version": "?"})
        for version in others:
            when = human_time(version.get("created_at"))
            self.compare_with.addItem(f"v{version.get('version')}  {when}", version["uid"])
        before = [i for i, v in enumerate(others) if _number(v) < _number(mine)]
        self.compare_with.setCurrentIndex(before[-1] if before else 0)  # the one before

    def compare(self) -> VersionDiffDialog | None:
        """Show what changed between the record shown and the version picked (older first)."""
        uid, key = self._record
        other = self.compare_with.currentData()
        if not other or uid not in self._versions or other not in self._versions:
            return None
        old, new = sorted((self._versions[uid], self._versions[other]), key=_number)
        self.diff_dialog = VersionDiffDialog(self._runner, old, new, key, self)
        self.diff_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.diff_dialog.show()
        return self.diff_dialog

    def show_message(self, text: str) -> None:
        self._generation += 1
        self.compare_bar.hide()
        self.message.setText(text)
        self.note.clear()
        self._show("message")

    def load(
        self, locate: Callable[[TaskContext], Path], busy_text: str = "", title: str = ""
    ) -> None:
        """Find the local path with `locate` (may download) and preview it, on a worker;
        `title` replaces the file name in the caption."""
        self.compare_bar.hide()  # offered again once the new record's versions are known
        self._generation += 1
        gen = self._generation
        self.note.setText(busy_text or "Loading preview…")
        self._show("busy")

        def work(ctx: TaskContext) -> PreviewData:
            path = locate(ctx)
            ctx.check()
            data = load_preview(path)
            data.title = title or data.title
            return data

        self._runner.submit(
            work,
            done=lambda data: self._on_loaded(gen, data),
            error=lambda msg, _d: self._on_failed(gen, msg),
            name="preview",
        )

    def _on_failed(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.show_message(f"The preview failed: {message}")

    def _on_loaded(self, gen: int, data: PreviewData) -> None:
        if gen != self._generation:
            return
        if data.kind == "folder" and self.folder_view is None:
            data = PreviewData("message", data.title, "A folder: select its files in the list.")
        self.note.setText(" · ".join(p for p in (data.title, data.note) if p))
        if data.kind == "image" and data.image is not None:
            self.image_view.set_pixmap(QPixmap.fromImage(data.image))
        elif data.kind == "table":
            self.table_model.set_rows(data.columns, data.rows)
            self._fit_table_columns()
        elif data.kind == "text":
            self.text_view.setPlainText(data.text)
        elif data.kind == "folder" and self.folder_view is not None:
            self.folder_view.set_files(data.root, data.files)
        else:
            self.message.setText(data.note)
            self.note.setText(data.title)
        self._show(data.kind)

    def _fit_table_columns(self) -> None:
        header = self.table_view.horizontalHeader()
        self.table_view.resizeColumnsToContents()  # from the first 40 rows (the precision)
        for column in range(header.count()):
            header.resizeSection(column, min(header.sectionSize(column), TABLE_COLUMN_MAX))

    def _show(self, kind: str) -> None:
        self.kind = kind
        self._stack.setCurrentWidget(self._pages[kind])
        if kind != "busy":
            self.shown.emit(kind)


class _FolderView(QSplitter):
    """A folder's files, each previewed when selected."""

    def __init__(self, runner: TaskRunner) -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.files = QListWidget()
        self.files.setObjectName("folderFiles")
        self.files.setUniformItemSizes(True)
        self.inner = PreviewPane(runner, nested=True)
        self.addWidget(self.files)
        self.addWidget(self.inner)
        self._root = Path()
        self.files.currentItemChanged.connect(self._preview_current)

    def set_files(self, root: str, files: list[tuple[str, int]]) -> None:
        self._root = Path(root)
        self.files.clear()
        for rel, size in files:
            item = QListWidgetItem(f"{rel}    {human_size(size)}")
            item.setData(Qt.ItemDataRole.UserRole, rel)
            self.files.addItem(item)
        self.inner.show_message("Select a file to preview it.")

    def _preview_current(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            path = self._root / item.data(Qt.ItemDataRole.UserRole)
            self.inner.load(lambda ctx: path)


def _number(version: dict[str, Any]) -> int:
    """A version's number ("2" -> 2) for ordering; unknown ones first."""
    try:
        return int(version.get("version") or 0)
    except ValueError:
        return 0


def _centered(widget: QWidget) -> QWidget:
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.addStretch(1)
    layout.addWidget(widget)
    layout.addStretch(1)
    return holder
