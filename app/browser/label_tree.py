"""The sidebar's "Labels" section (issue 17): every label under its type, with how many
artifacts carry it, read on a worker (`gateway.label_tree`). Clicking one asks the window to
filter the table by it (`label_chosen`)."""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

UID_ROLE = Qt.ItemDataRole.UserRole
NO_LABELS = "No labels yet: add one in the details or with Record → Label selected…"


class LabelTree(QWidget):
    """Labels by type with counts.

    Signals:
        label_chosen(uid, name, is_type): a label (or a whole type) was clicked.
        loaded(): the tree was read again.
    """

    label_chosen = Signal(str, str, bool)
    loaded = Signal()

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labelSidebar")
        self._runner = runner
        self._generation = 0
        self.title = named(QLabel("Labels"), "labelSidebarTitle")
        self.title.setProperty("sectionHeader", True)
        self.tree = named(QTreeWidget(), "labelTree")
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(2)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setIndentation(14)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)
        self.empty = named(QLabel(NO_LABELS, wordWrap=True), "labelTreeEmpty")
        self.empty.setProperty("muted", True)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 6, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.title)
        column.addWidget(self.tree, 1)
        column.addWidget(self.empty)
        self.empty.hide()

    def reload(self) -> None:
        """Read the labels and their counts again (on a worker)."""
        self._generation += 1
        gen = self._generation
        self._runner.submit(
            lambda ctx: gateway.label_tree("Artifact"),
            done=lambda nodes: self._fill(gen, nodes),
            error=lambda msg, _d: self._failed(gen, msg),
            name="label tree",
        )

    def _failed(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.empty.setText(f"Cannot read the labels: {message}")
            self.empty.show()

    def _fill(self, gen: int, nodes: list[dict[str, Any]]) -> None:
        if gen != self._generation:
            return
        opened = {
            item.data(0, UID_ROLE)
            for item in self.items()
            if item.isExpanded() and item.childCount()
        }
        self.tree.clear()
        for node in nodes:
            self.tree.addTopLevelItem(self._item(node))
        for item in self.items():  # types open (as they were; all at first)
            if item.childCount():
                item.setExpanded(item.data(0, UID_ROLE) in opened or not opened)
        self.empty.setText(NO_LABELS)
        self.empty.setVisible(not nodes)
        self.tree.setVisible(bool(nodes))
        self.loaded.emit()

    def _item(self, node: dict[str, Any]) -> QTreeWidgetItem:
        item = QTreeWidgetItem([node["name"], f"{node['count']:,}"])
        item.setData(0, UID_ROLE, node["uid"])
        item.setData(0, UID_ROLE + 1, bool(node["is_type"]))
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        what = "of this type" if node["is_type"] else "with this label"
        item.setToolTip(0, f"{node['count']:,} artifacts {what}; click to show only them")
        for child in node.get("children") or []:
            item.addChild(self._item(child))
        return item

    def items(self) -> list[QTreeWidgetItem]:
        """Every item, depth first."""
        out: list[QTreeWidgetItem] = []
        stack: list[QTreeWidgetItem | None] = [
            self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())
        ]
        while stack:
            item = stack.pop(0)
            if item is not None:
                out.append(item)
                stack[:0] = [item.child(i) for i in range(item.childCount())]
        return out

    def find_label(self, name: str) -> QTreeWidgetItem | None:
        return next((i for i in self.items() if i.text(0) == name), None)

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.label_chosen.emit(
            item.data(0, UID_ROLE), item.text(0), bool(item.data(0, UID_ROLE + 1))
        )
