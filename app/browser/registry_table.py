"""`registryTable`: the registry's rows as a table — key or name first, paths elided in the
middle (the end of a key is the file name), columns that can be chosen, moved and resized
(remembered per registry by the window; `apply_columns` sets them up, the trash's table
too), and rows that can be dragged out."""

from __future__ import annotations

from typing import Any

from labshelf.app.browser.table_model import ANNOTATED, RegistryTableModel
from labshelf.app.data.registries import RegistryView
from PySide6.QtCore import QByteArray, QModelIndex, QPersistentModelIndex, QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

ROW_HEIGHT = 24
# Paths and ids keep both ends (the end of a key is the file name); other texts elide at the end.
MIDDLE_ELIDED = frozenset({"key", "uid", "root", "storage__root", "hash"})
# Columns narrowed to fit the view, first to last, and how narrow they may get (px).
SHRINKABLE = {"description": 120, "transform__name": 140, "name": 160, "root": 200, "key": 200}


class MiddleElide(QStyledItemDelegate):
    """Draws a column's texts elided in the middle (set on the path columns only, so that
    the other columns keep Qt's own, faster delegate)."""

    def initStyleOption(  # noqa: N802 - Qt's name
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


def apply_columns(view: QTableView, spec: RegistryView, saved: QByteArray | None) -> None:
    """Give `view` the columns of `spec`: the user's saved widths, order and choice if any,
    else the defaults (the scientist's columns shown, sized to fit the view where they can)."""
    header = view.horizontalHeader()
    header.blockSignals(True)
    for section, column in enumerate(spec.columns):
        header.resizeSection(section, column.default_width)
        header.setSectionHidden(section, not column.shown)
        view.setItemDelegateForColumn(section, None)  # type: ignore[arg-type]
    if saved is not None and header.count() == len(spec.columns):
        header.restoreState(saved)
    else:
        fit_columns(view, spec)
    middle = getattr(view, "_middle_elide", None) or MiddleElide(view)
    view._middle_elide = middle  # type: ignore[attr-defined]
    for section, column in enumerate(spec.columns):
        if column.field in MIDDLE_ELIDED:
            view.setItemDelegateForColumn(section, middle)
    header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
    header.blockSignals(False)


def fit_columns(view: QTableView, spec: RegistryView) -> None:
    """Narrow the long-text columns (down to a readable minimum) so that the shown columns
    fit the view's width."""
    header = view.horizontalHeader()
    shown = {c.field: i for i, c in enumerate(spec.columns) if not header.isSectionHidden(i)}
    excess = sum(header.sectionSize(i) for i in shown.values()) - view.viewport().width() + 4
    for field, floor in SHRINKABLE.items():
        section = shown.get(field)
        if excess <= 0:
            break
        if section is not None and header.sectionSize(section) > floor:
            cut = min(excess, header.sectionSize(section) - floor)
            header.resizeSection(section, header.sectionSize(section) - cut)
            excess -= cut


class RegistryTable(QTableView):
    """The table view. Signals: `drag_requested()` when rows are dragged,
    `header_menu_requested(global pos)` for the column chooser."""

    drag_requested = Signal()
    header_menu_requested = Signal(QPoint)

    def __init__(self, model: RegistryTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("registryTable")
        self.setModel(model)
        self._table_model = model
        # the instance's features ({"name", "dtype", "unit", "count"}), offered as columns;
        # the window reads them on a worker (`gateway.feature_list`)
        self.features: list[dict[str, Any]] = []
        self.setSortingEnabled(False)  # sorting runs in SQL; the header only asks for it
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
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
        model, header = self._table_model, self.horizontalHeader()
        spec = model.spec
        own = len(spec.columns) if spec is not None else header.count()
        shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
        for column in range(own):
            title = model.headerData(column, Qt.Orientation.Horizontal)
            action = menu.addAction(str(title))
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.setEnabled(not (len(shown) == 1 and column in shown))
            action.toggled.connect(lambda on, c=column: header.setSectionHidden(c, not on))
        if self.features and spec is not None and spec.name in ANNOTATED:
            menu.addSection("Features")
            chosen = model.feature_columns
            for feature in self.features:
                unit = f", {feature['unit']}" if feature.get("unit") else ""
                name = feature["name"]
                action = menu.addAction(f"{name} ({feature['dtype']}{unit})")
                action.setObjectName(f"featureColumn_{name}")
                action.setCheckable(True)
                action.setChecked(name in chosen)
                action.toggled.connect(lambda on, n=name: self._toggle_feature(n, on))
        return menu

    def _toggle_feature(self, name: str, on: bool) -> None:
        chosen = [n for n in self._table_model.feature_columns if n != name]
        if on:  # the new column is the last one: scroll to it once its values are in
            self._table_model.loaded.connect(
                lambda _n: self.horizontalScrollBar().setValue(
                    self.horizontalScrollBar().maximum()
                ),
                Qt.ConnectionType.SingleShotConnection,
            )
        self._table_model.set_feature_columns(tuple([*chosen, name] if on else chosen))
