"""Keeps a registry view's selection on the same records, by id, whatever the table does
underneath (a reload, rows added on top by another user, a reset), and keeps the rows in
sight where they were; says when the *records* selected change — not when rows merely
moved — so that the details panel and the actions follow the selection and nothing else.
"""

from __future__ import annotations

from labshelf.app.browser.table_model import ID_ROLE, UID_ROLE, RegistryTableModel
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QObject, Signal
from PySide6.QtWidgets import QAbstractItemView, QTableView

Flag = QItemSelectionModel.SelectionFlag


class SelectionKeeper(QObject):
    """The selected records of one view over a `RegistryTableModel`.

    Signals:
        changed(): the selected records (or the current one) are others now.
    """

    changed = Signal()

    def __init__(self, view: QAbstractItemView, model: RegistryTableModel) -> None:
        super().__init__(view)
        self.view = view
        self.model = model
        self._ids: list[int] = []  # selected record ids, the current one first
        self._restoring = False
        self._anchor: tuple[int | None, int] = (None, 0)  # top row's id, scroll value
        self._missing = False
        model.modelAboutToBeReset.connect(self._remember_scroll)
        # While rows move underneath, the selection model reports rows whose records are
        # not at hand: those reports say nothing about what the user chose.
        for about in (model.modelAboutToBeReset, model.rowsAboutToBeInserted):
            about.connect(self._hold)
        model.modelReset.connect(self._release)
        model.rowsInserted.connect(self._on_rows_inserted)
        model.loaded.connect(lambda _n: self._restore())
        model.page_loaded.connect(self._on_page)
        selection = view.selectionModel()
        selection.selectionChanged.connect(self._on_selection)
        selection.currentRowChanged.connect(self._on_selection)

    # -- what is selected ------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return list(self._ids)

    def selected_rows(self) -> list[int]:
        return sorted(i.row() for i in self.view.selectionModel().selectedRows())

    def uids(self) -> list[str]:
        """uids of the selected rows whose records are loaded, the current one first."""
        rows = self.selected_rows()
        current = self.view.currentIndex().row()
        if current in rows:
            rows.remove(current)
            rows.insert(0, current)
        found = (self.model.index(r, 0).data(UID_ROLE) for r in rows)
        return [uid for uid in found if uid]

    def unloaded(self) -> int:
        """Selected rows whose records have not arrived yet (a select-all over pages never
        scrolled to)."""
        return len(self.selected_rows()) - len(self.uids())

    def clear(self) -> None:
        """Select nothing (and forget the selection)."""
        self._ids = []
        self._restoring = True
        try:
            self.view.selectionModel().clear()
        finally:
            self._restoring = False
        self.changed.emit()

    def select_id(self, row_id: int) -> bool:
        """Select the record `row_id` alone if its row is loaded (scrolled into view)."""
        row = self.model.row_of_id(row_id)
        if row < 0:
            return False
        self._select_rows([row], row)
        self.view.scrollTo(self.model.index(row, 0))
        self._ids = [row_id]
        self.changed.emit()
        return True

    # -- following the view ------------------------------------------------------------------
    def _on_selection(self, *_args: object) -> None:
        if self._restoring:
            return
        rows = self.selected_rows()
        current = self.view.currentIndex().row()
        if current in rows:
            rows.remove(current)
            rows.insert(0, current)
        found = [self.model.index(r, 0).data(ID_ROLE) for r in rows]
        if None in found and len(found) == len(self._ids):
            return  # rows whose records are not at hand (being re-read): nothing was chosen
        ids = [i for i in found if i is not None]
        if ids != self._ids:
            self._ids = ids
            self.changed.emit()

    def _select_rows(self, rows: list[int], current: int | None) -> None:
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for row in rows:
            selection.select(self.model.index(row, 0), self.model.index(row, max(last, 0)))
        model = self.view.selectionModel()
        self._restoring = True
        try:
            model.select(selection, Flag.ClearAndSelect | Flag.Rows)
            if current is not None:
                model.setCurrentIndex(self.model.index(current, 0), Flag.NoUpdate)
        finally:
            self._restoring = False

    def _restore(self) -> None:
        """Select the remembered records again where their rows are loaded."""
        rows_of = self.model.loaded_row_ids()
        wanted = [rows_of[i] for i in self._ids if i in rows_of]
        self._missing = len(wanted) < len(self._ids)
        if sorted(wanted) != self.selected_rows():
            self._select_rows(wanted, wanted[0] if wanted else None)
        self._restore_scroll(rows_of)

    def _hold(self, *_args: object) -> None:
        self._restoring = True

    def _release(self, *_args: object) -> None:
        self._restoring = False
        self._restore()

    def _on_page(self, _page: int) -> None:
        if self._missing:
            self._restore()

    # -- keeping the rows in sight -------------------------------------------------------------
    def _remember_scroll(self) -> None:
        top = self.view.indexAt(self.view.viewport().rect().topLeft())
        top_id = top.data(ID_ROLE) if top.isValid() else None
        self._anchor = (top_id, self.view.verticalScrollBar().value())

    def _restore_scroll(self, rows_of: dict[int, int]) -> None:
        top_id, value = self._anchor
        if top_id is None and not value:
            return
        self._anchor = (None, 0)
        if top_id in rows_of and isinstance(self.view, QTableView):
            self.view.scrollTo(
                self.model.index(rows_of[top_id], 0), QAbstractItemView.ScrollHint.PositionAtTop
            )
        else:
            self.view.verticalScrollBar().setValue(value)

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        self._release()
        # Rows added above what the user looks at: the same rows stay in sight (at the very
        # top, the new rows show).
        bar, view = self.view.verticalScrollBar(), self.view
        if first != 0 or bar.value() <= 0 or not isinstance(view, QTableView):
            return
        rows = last - first + 1
        if view.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerPixel:
            rows *= view.verticalHeader().defaultSectionSize()
        bar.setValue(bar.value() + rows)
