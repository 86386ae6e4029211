"""`uploadQueue`: the transfer queue's dock — a tree view over `UploadQueueModel` that only
renders and offers cancel, resume the rest, retry, cancel all and details; the manager does
the work. Rows are tall enough to read, running drops show a progress bar."""

from __future__ import annotations

from labshelf.app.base.named import named
from labshelf.app.data.transfers import Drop, DropState, ItemState
from labshelf.app.uploads.manager import UploadManager
from labshelf.app.uploads.queue_model import (
    FRACTION_ROLE,
    NAME,
    PROGRESS,
    SOURCE,
    STARTED,
    STATE,
    UploadQueueModel,
    progress_text,
)
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

ROW_PADDING = 10  # pixels above and below the text of a row


class QueueDelegate(QStyledItemDelegate):
    """Readable rows (text height plus padding) and a progress bar for running drops."""

    def sizeHint(  # noqa: N802
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), option.fontMetrics.height() + ROW_PADDING))

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        done = index.data(FRACTION_ROLE)
        if done is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum, bar.progress = 0, 1000, int(done * 1000)
        bar.text = str(index.data())
        bar.textVisible = True
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class UploadQueueDock(QDockWidget):
    """The queue's dock: the tree, and cancel / resume the rest / retry / cancel all /
    details."""

    def __init__(self, manager: UploadManager, parent: QWidget | None = None) -> None:
        super().__init__("Transfers", parent)
        self.setObjectName("uploadQueue")
        self.manager = manager
        self.model = UploadQueueModel(manager, self)
        self.view = named(QTreeView(), "uploadTree")
        self.view.setModel(self.model)
        self.view.setItemDelegate(QueueDelegate(self.view))
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setSelectionMode(QTreeView.SelectionMode.ExtendedSelection)
        for column, width in ((NAME, 260), (STARTED, 80), (SOURCE, 200), (STATE, 100)):
            self.view.setColumnWidth(column, width)
        self.view.setColumnWidth(PROGRESS, 430)
        self.buttons: dict[str, QPushButton] = {}
        buttons = QHBoxLayout()
        for text, slot, name, tip in (
            ("Cancel", self.cancel_selected, "cancelDrop", "Stop the selected imports or items"),
            (
                "Resume the rest",
                self.resume_selected,
                "resumeDrop",
                "Import what a cancel left undone, under the same keys",
            ),
            ("Retry failed", self.retry_selected, "retryDrop", "Import the failed items again"),
            ("Cancel all", manager.cancel_all, "cancelAll", "Stop every running import"),
            ("Details", self.show_details, "dropDetails", "What happened to each item"),
        ):
            button = named(QPushButton(text), name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[name] = button
        buttons.addStretch(1)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(4, 4, 4, 4)
        body_layout.addLayout(buttons)
        body_layout.addWidget(self.view, 1)
        self.setWidget(body)
        manager.drop_added.connect(lambda _id: self.show())
        for signal in (
            manager.drop_added,
            manager.drop_planned,
            manager.drop_changed,
            manager.drop_finished,
        ):
            signal.connect(lambda _id: self.update_buttons())
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())
        self.update_buttons()

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

    def _selected_drops(self) -> list[Drop]:
        drops, items = self.selection()
        return [self.manager.drop(i) for i in [*drops, *items]]

    def update_buttons(self) -> None:
        """Enable what applies to the selection (nothing selected: cancel all only)."""
        chosen = self._selected_drops()
        self.buttons["cancelDrop"].setEnabled(any(not d.finished for d in chosen))
        self.buttons["resumeDrop"].setEnabled(any(d.finished and d.rest() for d in chosen))
        self.buttons["retryDrop"].setEnabled(
            any(i.state == ItemState.FAILED for d in chosen for i in d.items)
        )
        self.buttons["cancelAll"].setEnabled(bool(self.manager.running()))
        self.buttons["dropDetails"].setEnabled(bool(chosen))

    def cancel_selected(self) -> None:
        """Cancel the selected drops, and the selected items alone."""
        drops, items = self.selection()
        for drop_id in drops:
            self.manager.cancel(drop_id)
        for drop_id, rows in items.items():
            self.manager.cancel_items(drop_id, rows)

    def resume_selected(self) -> list[Drop]:
        """Import the rest of each selected drop that a cancel left undone."""
        started = [self.manager.resume_rest(d.id) for d in self._selected_drops()]
        return [d for d in started if d is not None]

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
        lines = [
            f"{item.key or item.path}: {drop.item_state_text(i)}"
            + (f" — {item.error}" if item.error else "")
            for i, item in enumerate(drop.items)
            if item.state not in (ItemState.DONE, ItemState.DUPLICATE)
        ]
        state = "running" if drop.state == DropState.RUNNING else drop.state
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Transfer details",
            f"{drop.title} (from {drop.source}): {state}\n{progress_text(drop)}",
            parent=self,
        )
        box.setDetailedText("\n".join(lines) or "Every item is imported.")
        box.open()
