"""`collectionBrowser`: a collection's version timeline, a version's members (grid or table,
in order) and the diff between two versions."""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.browser.table_model import RECORD_ROLE
from labshelf.app.browser.thumbnail_grid import ThumbnailGrid
from labshelf.app.data.formatting import count_of, format_value, human_size, version_text
from labshelf.app.preview.pane import RowsModel
from labshelf.app.preview.thumbnails import ThumbnailCache
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)


def diff_members(old: list[dict], new: list[dict]) -> list[tuple[str, str]]:
    """(status, key) for members added, removed or changed (same key, other content)."""

    def keyed(members: list[dict]) -> dict[str, dict]:
        return {str(m.get("key") or m["uid"]): m for m in members}

    before, after = keyed(old), keyed(new)
    rows = [("added", k) for k in after if k not in before]
    rows += [("removed", k) for k in before if k not in after]
    rows += [("changed", k) for k in after if k in before and after[k]["hash"] != before[k]["hash"]]
    return rows


class MembersModel(QAbstractListModel):
    """A collection version's members as plain dicts, in order."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.members: list[dict] = []

    def set_members(self, members: list[dict]) -> None:
        self.beginResetModel()
        self.members = members
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.members)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        member = self.members[index.row()]
        if role == RECORD_ROLE:
            return member
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return str(member.get("key") or member["uid"])
        return None


class CollectionBrowser(QWidget):
    """Browse one collection family; `member_activated(uid)` when a member is opened."""

    member_activated = Signal(str)
    loaded = Signal()
    diffed = Signal()

    def __init__(
        self, runner: TaskRunner, thumbs: ThumbnailCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("collectionBrowser")
        self._runner = runner
        self._generation = 0
        self.versions: list[dict] = []
        self.header = named(QLabel("Select a collection."), "collectionHeader")
        self.timeline = named(QListWidget(), "collectionVersions")
        self.timeline.setFlow(QListView.Flow.LeftToRight)
        self.timeline.setMaximumHeight(48)
        self.timeline.currentItemChanged.connect(self._on_version_changed)
        self.members = MembersModel(self)
        self.member_rows = RowsModel(self)
        self.grid = ThumbnailGrid(thumbs, name="collectionMembersGrid")
        self.grid.setModel(self.members)
        self.grid.doubleClicked.connect(
            lambda i: self.member_activated.emit(i.data(RECORD_ROLE)["uid"])
        )
        self.table = named(QTableView(), "collectionMembersTable")
        self.table.setModel(self.member_rows)
        self._build()

    def _build(self) -> None:
        self.member_stack = QStackedWidget()
        self.member_stack.addWidget(self.grid)
        self.member_stack.addWidget(self.table)
        toggle = QPushButton("Table / grid")
        toggle.clicked.connect(
            lambda: self.member_stack.setCurrentIndex(1 - self.member_stack.currentIndex())
        )
        members_page = QWidget()
        column = QVBoxLayout(members_page)
        column.addWidget(toggle, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.member_stack, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(members_page, "Members")
        self.tabs.addTab(self._diff_page(), "Compare versions")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.timeline)
        layout.addWidget(self.tabs, 1)

    def _diff_page(self) -> QWidget:
        page = QWidget()
        self.diff_from = named(QComboBox(), "diffFrom")
        self.diff_to = named(QComboBox(), "diffTo")
        compare = named(QPushButton("Compare"), "compareVersions")
        compare.clicked.connect(self.compare)
        row = QHBoxLayout()
        for widget in (QLabel("From"), self.diff_from, QLabel("to"), self.diff_to, compare):
            row.addWidget(widget)
        row.addStretch(1)
        self.diff = named(QTreeWidget(), "collectionDiff")
        self.diff.setHeaderLabels(["Change", "Member"])
        column = QVBoxLayout(page)
        column.addLayout(row)
        column.addWidget(self.diff, 1)
        return page

    # -- loading -------------------------------------------------------------------------
    def show_collection(self, uid: str) -> None:
        """Show the family of collection `uid`, with that version's members."""
        self._generation += 1
        gen = self._generation
        self.header.setText("Loading…")
        self._runner.submit(
            lambda ctx: gateway.collection_versions(uid),
            done=lambda versions: self._on_versions(gen, uid, versions),
            error=lambda msg, _d: self.header.setText(f"The collection cannot be shown: {msg}"),
            name="collection versions",
        )

    def _on_versions(self, gen: int, uid: str, versions: list[dict]) -> None:
        if gen != self._generation:
            return
        self.versions = versions
        self.timeline.blockSignals(True)
        self.timeline.clear()
        for combo in (self.diff_from, self.diff_to):
            combo.clear()
        for version in versions:
            when = format_value("time", version["created_at"])
            members = count_of(version["n_members"], "member")
            text = f"{version_text(version['version'])} · {when} · {members}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, version["uid"])
            self.timeline.addItem(item)
            for combo in (self.diff_from, self.diff_to):
                combo.addItem(f"{version_text(version['version'])} ({when})", version["uid"])
        self.timeline.blockSignals(False)
        current = next((i for i, v in enumerate(versions) if v["uid"] == uid), len(versions) - 1)
        self.diff_from.setCurrentIndex(max(current - 1, 0))
        self.diff_to.setCurrentIndex(current)
        self.timeline.setCurrentRow(current)

    def _on_version_changed(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        gen, uid = self._generation, item.data(Qt.ItemDataRole.UserRole)
        self._runner.submit(
            lambda ctx: gateway.collection_members(uid),
            done=lambda members: self._on_members(gen, uid, members),
            name="collection members",
        )

    def _on_members(self, gen: int, uid: str, members: list[dict]) -> None:
        if gen != self._generation:
            return
        version = next((v for v in self.versions if v["uid"] == uid), {})
        self.header.setText(
            f"{version.get('name', '')} · {version_text(version.get('version'))} · "
            f"{count_of(len(members), 'member')}"
        )
        self.members.set_members(members)
        self.member_rows.set_rows(
            ["#", "key", "uid", "size"],
            [
                [str(i + 1), str(m.get("key") or ""), m["uid"], human_size(m.get("size"))]
                for i, m in enumerate(members)
            ],
        )
        self.loaded.emit()

    def compare(self) -> None:
        """Diff the two chosen versions (members fetched on a worker)."""
        old_uid, new_uid = self.diff_from.currentData(), self.diff_to.currentData()
        if not old_uid or not new_uid:
            return
        self._runner.submit(
            lambda ctx: diff_members(
                gateway.collection_members(old_uid), gateway.collection_members(new_uid)
            ),
            done=self._on_diff,
            name="collection diff",
        )

    def _on_diff(self, rows: list[tuple[str, str]]) -> None:
        self.diff.clear()
        for status, key in rows:
            self.diff.addTopLevelItem(QTreeWidgetItem([status, key]))
        if not rows:
            self.diff.addTopLevelItem(QTreeWidgetItem(["same", "no member differs"]))
        self.diffed.emit()
