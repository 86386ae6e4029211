"""`registryTable`: the registry's rows as a table — key or name first, long texts elided in
the middle (the end of a key is the file name), columns that can be chosen, moved and
resized (remembered per registry by the window), and rows that can be dragged out."""

from __future__ import annotations

from labshelf.app.browser.table_model import RegistryTableModel
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

ROW_HEIGHT = 24


class RegistryTable(QTableView):
    """The table view. Signals: `drag_requested()` when rows are dragged,
    `header_menu_requested(global pos)` for the column chooser."""

    drag_requested = Signal()
    header_menu_requested = Signal(QPoint)

    def __init__(self, model: RegistryTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("registryTable")
        self.setModel(model)
        self.setSortingEnabled(False)  # sorting runs in SQL; the header only asks for it
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSectionsMovable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
        header.setStretchLastSection(True)
        header.setDefaultSectionSize(130)
        header.setMinimumSectionSize(40)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(
            lambda pos: self.header_menu_requested.emit(header.mapToGlobal(pos))
        )

    def startDrag(self, supportedActions: Qt.DropAction) -> None:  # noqa: N802, N803
        # The rows' files are made on a worker first (see drag_out): the window starts it.
        self.drag_requested.emit()

    def column_menu(self, parent: QWidget) -> QMenu:
        """Checkable columns: which ones the table shows (the last one shown stays)."""
        menu = QMenu(parent)
        menu.setObjectName("columnMenu")
        model, header = self.model(), self.horizontalHeader()
        shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
        for column in range(header.count()):
            title = model.headerData(column, Qt.Orientation.Horizontal)
            action = menu.addAction(str(title))
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.setEnabled(not (len(shown) == 1 and column in shown))
            action.toggled.connect(lambda on, c=column: header.setSectionHidden(c, not on))
        return menu
