"""`watchPanel`: the "Watched folders" dock — one row per watch (folder, instrument, state with
its reason, files registered, last file, last error) and Pause / Resume / Stop / Remove for
the selected row. It only renders; `WatchManager` does the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labshelf.app.base.named import named
from labshelf.app.watching.manager import WatchManager
from labshelf.app.watching.watches import PAUSED, WatchRow
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Folder", "Instrument", "State", "Registered", "Last file", "Last error")
Index = QModelIndex | QPersistentModelIndex
PANEL_HEIGHT = 200  # the dock's height when it opens in a window


class WatchTableModel(QAbstractTableModel):
    """The manager's rows as a table; repaints when the manager says rows changed."""

    def __init__(self, manager: WatchManager, parent: Any = None) -> None:
        super().__init__(parent)
        self.manager = manager
        manager.row_inserting.connect(lambda i: self.beginInsertRows(QModelIndex(), i, i))
        manager.row_inserted.connect(self.endInsertRows)
        manager.row_removing.connect(lambda i: self.beginRemoveRows(QModelIndex(), i, i))
        manager.row_removed.connect(self.endRemoveRows)
        manager.rows_changed.connect(self._all_changed)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.manager.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def row_at(self, index: Index) -> WatchRow | None:
        rows = self.manager.rows
        return rows[index.row()] if index.isValid() and index.row() < len(rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tip(row, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: WatchRow, column: int) -> str:
        spec = row.spec
        if column == 0:
            return spec.folder
        if column == 1:
            return spec.instrument
        if column == 2:
            return row.state_text()
        if column == 3:
            extra = f" ({row.skipped} skipped)" if row.skipped else ""
            return f"{row.registered}{extra}"
        if column == 4:
            return row.last_file
        return row.last_error

    @staticmethod
    def _tip(row: WatchRow, column: int) -> str:
        spec = row.spec
        lines = [
            f"{spec.folder} → {spec.key_prefix or '(no key prefix)'}",
            f"unit: {spec.unit}, settle {spec.settle:g} s"
            + (f", marker {spec.marker}" if spec.marker else ""),
        ]
        if spec.include or spec.exclude:
            lines.append(
                f"include {', '.join(spec.include) or '*'}; exclude {', '.join(spec.exclude) or '—'}"
            )
        if spec.collection:
            lines.append(f"collection: {spec.collection}")
        lines.append("resumes when labshelf starts" if spec.auto_resume else "comes back paused")
        if row.failed:
            lines.append(f"{row.failed} failed")
        if column in (2, 5) and (row.reason or row.last_error):
            lines.insert(0, row.reason if column == 2 and row.reason else row.last_error)
        return "\n".join(lines)

    def _all_changed(self) -> None:
        if self.manager.rows:
            last = self.index(len(self.manager.rows) - 1, len(COLUMNS) - 1)
            self.dataChanged.emit(self.index(0, 0), last)


class WatchPanel(QDockWidget):
    """The dock: the watches' table and the buttons for the selected one."""

    watch_requested = Signal()  # "Watch a folder…" clicked

    def __init__(self, manager: WatchManager, parent: QWidget | None = None) -> None:
        super().__init__("Watched folders", parent)
        self.setObjectName("watchPanel")
        self.manager = manager
        self.model = WatchTableModel(manager, self)
        self.view = named(QTreeView(rootIsDecorated=False), "watchTable")
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)
        self.view.setAllColumnsShowFocus(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a folder's name is at its end
        header = self.view.header()
        header.setStretchLastSection(True)
        for column, width in enumerate((260, 170, 260, 90, 220)):
            self.view.setColumnWidth(column, width)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.buttons: dict[str, QPushButton] = {}
        bar = QHBoxLayout()
        for text, slot, name in (
            ("Watch a folder…", self.watch_requested.emit, "watchAdd"),
            ("Pause", lambda: self._on_selected(manager.pause), "watchPause"),
            ("Resume", lambda: self._on_selected(manager.resume), "watchResume"),
            ("Stop", lambda: self._on_selected(manager.stop), "watchStop"),
            ("Remove", lambda: self._on_selected(manager.remove), "watchRemove"),
        ):
            button = named(QPushButton(text), name)
            button.clicked.connect(slot)
            bar.addWidget(button)
            self.buttons[name] = button
        bar.addStretch(1)
        self.message = named(QLabel(wordWrap=True), "watchMessage")
        self.message.setProperty("error", True)
        self.message.hide()
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.message)
        self.setWidget(body)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        manager.rows_changed.connect(self._update_buttons)
        manager.row_inserted.connect(self._select_new)
        manager.row_removed.connect(self._update_buttons)
        manager.failed.connect(self.say)
        manager.restored.connect(lambda n: self.show() if n else None)
        self.visibilityChanged.connect(self._fit_height)
        self._update_buttons()

    def _fit_height(self, visible: bool) -> None:
        """Shown in a main window: a few rows high, the table keeps the rest."""
        window = self.parentWidget()
        if visible and isinstance(window, QMainWindow) and not self.isFloating():
            height = min(PANEL_HEIGHT, window.height() // 3)
            window.resizeDocks([self], [height], Qt.Orientation.Vertical)

    def selected(self) -> WatchRow | None:
        return self.model.row_at(self.view.currentIndex())

    def select(self, row: WatchRow) -> None:
        if row in self.manager.rows:
            self.view.setCurrentIndex(self.model.index(self.manager.rows.index(row), 0))

    def say(self, message: str) -> None:
        """One sentence under the table (a command that failed)."""
        self.message.setText(message)
        self.message.setVisible(bool(message))

    def _on_selected(self, command: Callable[[WatchRow], None]) -> None:
        row = self.selected()
        if row is not None:
            self.say("")
            command(row)
            self._update_buttons()

    def _select_new(self) -> None:
        self.show()
        self.select(self.manager.rows[-1])

    def _update_buttons(self) -> None:
        row = self.selected()
        self.buttons["watchPause"].setEnabled(row is not None and row.can_pause)
        self.buttons["watchResume"].setEnabled(row is not None and row.can_resume)
        self.buttons["watchStop"].setEnabled(row is not None and row.can_stop)
        self.buttons["watchRemove"].setEnabled(row is not None and not row.active)
        resume = self.buttons["watchResume"]
        resume.setText(
            "Start"
            if row is not None and row.watch_id is None and row.state != PAUSED
            else "Resume"
        )
