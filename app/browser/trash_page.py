"""The Trash page: trashed records of the registries that have a trash (artifacts,
collections) in `trashView`, searchable like any registry; restoring and deleting for good
are the window's actions (with feedback and undo), the page only shows and selects."""

from __future__ import annotations

from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.base.theme import set_icon
from labshelf.app.browser.empty_state import EmptyStateOverlay
from labshelf.app.browser.registry_table import apply_columns
from labshelf.app.browser.selection import SelectionKeeper
from labshelf.app.browser.table_model import RegistryTableModel
from labshelf.app.data import registries
from labshelf.app.data.empty_states import empty_state
from labshelf.app.data.formatting import count_of
from labshelf.app.data.rows import RowSource, TableQuery
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)


class TrashPage(QWidget):
    """Trashed records of one registry at a time.

    Signals:
        restore_clicked(), delete_clicked(): the page's buttons (the window acts).
        registry_changed(name): another registry's trash is shown.
    """

    restore_clicked = Signal()
    delete_clicked = Signal()
    registry_changed = Signal(str)

    def __init__(
        self, source: RowSource, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self.search = ""
        self._columns_for = ""  # the registry whose columns the view has
        self.model = RegistryTableModel(source, runner, self)
        self.view = named(QTableView(), "trashView")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setStretchLastSection(True)
        self.keeper = SelectionKeeper(self.view, self.model)
        self.empty = EmptyStateOverlay(self.view, "trashEmptyState")
        self.registry = named(QComboBox(), "trashRegistry")  # filled on the first reload
        self.registry.currentIndexChanged.connect(lambda _i: self.reload())
        self.restore_button = named(QPushButton("Restore"), "restoreButton")
        set_icon(self.restore_button, "restore")
        self.restore_button.clicked.connect(self.restore_clicked)
        self.delete_button = named(QPushButton("Delete permanently…"), "purgeButton")
        set_icon(self.delete_button, "trash")
        self.delete_button.clicked.connect(self.delete_clicked)
        self.status = named(QLabel(), "trashStatus")
        self.status.setProperty("muted", True)
        bar = QHBoxLayout()
        for widget in (QLabel("Trash of"), self.registry, self.restore_button, self.delete_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.model.loaded.connect(self._on_loaded)
        self.model.columns_changed.connect(self._on_columns)
        self.keeper.changed.connect(self._update_buttons)
        self._update_buttons()

    @property
    def record_registry(self) -> str:
        """The registry whose trash is shown ("Artifact" until the list is filled)."""
        return str(self.registry.currentData() or "Artifact")

    def reload(self, search: str | None = None) -> None:
        """Show the trash of the chosen registry (asking core which have one, the first time);
        `search` narrows it like the search box does a registry."""
        if search is not None:
            self.search = search
        if not self.registry.count():
            self._runner.submit(
                lambda ctx: [v.name for v in registries.views() if v.has_trash],
                done=self._fill_registries,
                name="trash registries",
            )
            return
        self.model.set_query(
            TableQuery(registry=self.record_registry, trash=True, search=self.search, order=())
            if self.search
            else TableQuery(registry=self.record_registry, trash=True)
        )
        self.registry_changed.emit(self.record_registry)

    def _fill_registries(self, names: list[str]) -> None:
        self.registry.blockSignals(True)
        for name in names:
            self.registry.addItem(registries.LOOKS[name].label, name)
        self.registry.blockSignals(False)
        if names:
            self.reload()

    def _on_columns(self) -> None:
        spec = self.model.spec
        if spec is not None and spec.name != self._columns_for:
            self._columns_for = spec.name
            apply_columns(self.view, spec, None)

    def count_text(self, count: int) -> str:
        noun = registries.LOOKS[self.record_registry].noun
        return f"{count_of(count, *noun)} in the trash"

    def _on_loaded(self, count: int) -> None:
        self._on_columns()
        self.empty.show_state(
            None if count else empty_state(self.record_registry, self.search, trash=True)
        )
        self._update_buttons()

    def selected_uids(self) -> list[str]:
        return self.keeper.uids()

    def _update_buttons(self) -> None:
        chosen = bool(self.keeper.selected_rows())
        self.restore_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def say(self, text: str) -> None:
        """Feedback next to the buttons (what was restored or deleted)."""
        self.status.setText(text)
