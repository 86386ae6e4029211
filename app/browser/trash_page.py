"""The Trash page: trashed records of the registries that have a trash (artifacts,
collections) in `trashView`, with restore and delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.base.theme import set_icon
from labshelf.app.browser.table_model import UID_ROLE, RegistryTableModel
from labshelf.app.data import registries
from labshelf.app.data.rows import RowSource, TableQuery
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)


class TrashPage(QWidget):
    """Restore or permanently delete trashed records; `changed` after either."""

    changed = Signal()

    def __init__(
        self, source: RowSource, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self.model = RegistryTableModel(source, runner, self)
        self.view = QTableView(objectName="trashView")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        self.registry = QComboBox(objectName="trashRegistry")  # filled on the first reload
        self.registry.currentIndexChanged.connect(lambda _i: self.reload())
        self.restore_button = QPushButton("Restore", objectName="restoreButton")
        set_icon(self.restore_button, "restore")
        self.restore_button.clicked.connect(self.restore_selected)
        self.delete_button = QPushButton("Delete permanently…", objectName="purgeButton")
        set_icon(self.delete_button, "trash")
        self.delete_button.clicked.connect(self._confirm_delete)
        self.status = QLabel()
        bar = QHBoxLayout()
        for widget in (QLabel("Trash of"), self.registry, self.restore_button, self.delete_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.model.loaded.connect(lambda n: self.status.setText(f"{n} in the trash"))

    def reload(self) -> None:
        """Show the trash of the chosen registry (asking core which have one, the first time)."""
        if not self.registry.count():
            self._runner.submit(
                lambda ctx: [v.name for v in registries.views() if v.has_trash],
                done=self._fill_registries,
                name="trash registries",
            )
            return
        self.model.set_query(TableQuery(registry=self.registry.currentData(), trash=True))

    def _fill_registries(self, names: list[str]) -> None:
        self.registry.blockSignals(True)
        for name in names:
            self.registry.addItem(registries.LOOKS[name].label, name)
        self.registry.blockSignals(False)
        if names:
            self.reload()

    def selected_uids(self) -> list[str]:
        rows = self.view.selectionModel().selectedRows() if self.view.selectionModel() else []
        return [uid for uid in (r.data(UID_ROLE) for r in rows) if uid]

    def restore_selected(self) -> None:
        self._run(gateway.restore, "restore")

    def delete_selected(self) -> None:
        self._run(gateway.delete_permanently, "delete")

    def _confirm_delete(self) -> None:
        uids = self.selected_uids()
        if (
            uids
            and QMessageBox.question(
                self,
                "Delete permanently",
                f"Delete {len(uids)} record(s) permanently? Copied objects are removed from storage; "
                "files registered in place stay where they are.",
            )
            == QMessageBox.StandardButton.Yes
        ):
            self.delete_selected()

    def _run(self, fn: Callable[[str, Sequence[str]], None], verb: str) -> None:
        uids, registry = self.selected_uids(), self.registry.currentData()
        if not uids or not registry:
            return
        self._runner.submit(
            lambda ctx: fn(registry, uids),
            done=lambda _r: self._after(),
            error=lambda msg, _d: self.status.setText(f"Could not {verb}: {msg}"),
            name=verb,
        )

    def _after(self) -> None:
        self.model.refresh()
        self.changed.emit()
