"""`versionDiff`: the differences between two versions of a text or CSV file, in a window of
its own. Both versions are fetched (downloaded if need be) and compared on a worker."""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.preview.diff import ADDED, CHANGED, REMOVED, DiffData, load_diff
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

Index = QModelIndex | QPersistentModelIndex
# Translucent, so that they read on light and dark themes alike.
COLOURS = {
    ADDED: QColor(46, 160, 67, 70),
    REMOVED: QColor(218, 54, 51, 70),
    CHANGED: QColor(210, 153, 34, 60),
}
MARKS = {ADDED: "+", REMOVED: "−", CHANGED: "~", "": ""}  # noqa: RUF001 - a minus sign


class DiffTableModel(QAbstractTableModel):
    """A table diff: a mark column, then the new version's columns; rows coloured by mark."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.diff = DiffData("table")

    def set_diff(self, diff: DiffData) -> None:
        self.beginResetModel()
        self.diff = diff
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.diff.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid():
            return 0
        widest = max((len(r) for r in self.diff.rows), default=0)
        return 1 + max(len(self.diff.columns), widest)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        columns = self.diff.columns
        return "" if section == 0 else (columns[section - 1] if section <= len(columns) else "")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        mark = self.diff.marks[row]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == 0:
                return MARKS[mark] if role == Qt.ItemDataRole.DisplayRole else mark
            cells = self.diff.rows[row]
            return cells[column - 1] if column - 1 < len(cells) else ""
        if role == Qt.ItemDataRole.BackgroundRole and mark:
            return COLOURS[mark]
        if role == Qt.ItemDataRole.FontRole and (row, column - 1) in self.diff.cells:
            font = QFont()
            font.setBold(True)
            return font
        return None


class VersionDiffDialog(QDialog):
    """Compares version `old_uid` with `new_uid` of an artifact; `shown(kind)` once the diff
    (text, table or a message) is on screen."""

    shown = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        old: dict[str, Any],
        new: dict[str, Any],
        key: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("versionDiff")
        self.setWindowTitle(f"{key}: v{old['version']} → v{new['version']}")
        self.resize(900, 600)
        self.kind = "busy"
        self.title = named(
            QLabel(f"<b>{key}</b>: what changed from v{old['version']} to v{new['version']}"),
            "diffTitle",
        )
        self.note = named(QLabel("Fetching both versions…", wordWrap=True), "diffNote")
        self.note.setProperty("muted", True)
        self.text_view = named(QPlainTextEdit(readOnly=True), "diffText")
        self.text_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.table_model = DiffTableModel(self)
        self.table_view = named(QTableView(), "diffTable")
        self.table_view.setModel(self.table_model)
        self.table_view.setWordWrap(False)
        self.message = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.pages = QStackedWidget()
        for page in (QProgressBar(maximum=0), self.text_view, self.table_view, self.message):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(self.pages, 1)
        old_uid, new_uid = old["uid"], new["uid"]

        def work(ctx: TaskContext) -> DiffData:
            before = gateway.local_path(old_uid)
            ctx.check()
            after = gateway.local_path(new_uid)
            ctx.check()
            return load_diff(before, after, key)

        self._task = runner.submit(
            work, done=self._show, error=self._failed, name="compare versions"
        )

    def _failed(self, message: str, _details: str) -> None:
        self._show(DiffData("message", note=f"The versions cannot be compared: {message}"))

    def _show(self, diff: DiffData) -> None:
        self.kind = diff.kind
        self.note.setText(diff.note if diff.kind != "message" else "")
        if diff.kind == "text":
            self._show_text(diff.lines)
            self.pages.setCurrentWidget(self.text_view)
        elif diff.kind == "table":
            self.table_model.set_diff(diff)
            self.pages.setCurrentWidget(self.table_view)
        else:
            self.message.setText(diff.note)
            self.pages.setCurrentWidget(self.message)
        self.shown.emit(diff.kind)

    def _show_text(self, lines: list[tuple[str, str]]) -> None:
        self.text_view.clear()
        cursor = self.text_view.textCursor()
        plain = QTextCharFormat()
        for tag, text in lines:
            fmt = QTextCharFormat(plain)
            colour = {"+": COLOURS[ADDED], "-": COLOURS[REMOVED]}.get(tag)
            if colour is not None:
                fmt.setBackground(colour)
            if tag == "@":
                fmt.setForeground(QColor(120, 120, 120))
            prefix = "" if tag == "@" else f"{'−' if tag == '-' else tag} "  # noqa: RUF001
            cursor.insertText(prefix + text + "\n", fmt)
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        self.text_view.setTextCursor(cursor)

    def done(self, result: int) -> None:
        self._task.cancel()
        super().done(result)
