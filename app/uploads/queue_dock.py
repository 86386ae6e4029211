"""`uploadQueue`: the transfer queue's dock — a tree view over `UploadQueueModel` that only
renders and offers cancel, retry, cancel all and details; the manager does the work."""

from __future__ import annotations

from labshelf.app.data.transfers import Drop
from labshelf.app.uploads.manager import UploadManager
from labshelf.app.uploads.queue_model import UploadQueueModel
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)


class UploadQueueDock(QDockWidget):
    """The queue's dock: the tree, and cancel / retry / cancel all / details."""

    def __init__(self, manager: UploadManager, parent: QWidget | None = None) -> None:
        super().__init__("Transfers", parent)
        self.setObjectName("uploadQueue")
        self.manager = manager
        self.model = UploadQueueModel(manager, self)
        self.view = QTreeView(objectName="uploadTree")
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QTreeView.SelectionMode.ExtendedSelection)
        self.view.setColumnWidth(0, 320)
        self.view.setColumnWidth(1, 220)
        self.view.setColumnWidth(2, 200)
        buttons = QHBoxLayout()
        for text, slot, name in (
            ("Cancel", self.cancel_selected, "cancelDrop"),
            ("Retry failed", self.retry_selected, "retryDrop"),
            ("Cancel all", manager.cancel_all, "cancelAll"),
            ("Details", self.show_details, "dropDetails"),
        ):
            button = QPushButton(text, objectName=name)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(buttons)
        column.addWidget(self.view, 1)
        self.setWidget(body)
        manager.drop_added.connect(lambda _id: self.show())

    def selected_drop(self) -> Drop | None:
        return self.model.drop_at(self.view.currentIndex())

    def selection(self) -> tuple[list[int], dict[int, list[int]]]:
        """The selected drops (ids) and the selected items of other drops (drop id -> rows)."""
        drops: list[int] = []
        items: dict[int, list[int]] = {}
        rows = self.view.selectionModel().selectedRows() or [self.view.currentIndex()]
        for index in rows:
            if not index.isValid():
                continue
            if index.internalId():
                items.setdefault(index.internalId(), []).append(index.row())
            else:
                drops.append(self.manager.drops[index.row()].id)
        return drops, {d: r for d, r in items.items() if d not in drops}

    def cancel_selected(self) -> None:
        """Cancel the selected drops, and the selected items alone."""
        drops, items = self.selection()
        for drop_id in drops:
            self.manager.cancel(drop_id)
        for drop_id, rows in items.items():
            self.manager.cancel_items(drop_id, rows)

    def retry_selected(self) -> None:
        """Retry the failed items of the selected drops, and the selected failed items."""
        drops, items = self.selection()
        for drop_id in drops:
            self.manager.retry_failed(drop_id)
        for drop_id, rows in items.items():
            self.manager.retry_failed(drop_id, rows)

    def show_details(self) -> None:
        drop = self.selected_drop()
        if drop is None:
            return
        failed = [f"{i.key or i.path}: {i.error}" for i in drop.items if i.error]
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Transfer details",
            f"{drop.title}: {drop.state} {drop.message}",
            parent=self,
        )
        box.setDetailedText("\n".join(failed) or "No item failed.")
        box.open()
