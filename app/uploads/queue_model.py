"""The transfer queue's Qt model: a thin tree over `UploadManager` (one row per drop, its items
as children), told about changes in batches a few times a second. It only reads the drops.

A drop's row says what it is (name, when it started, where from) and the truth about where
it stands: while running, files and bytes done of all; once ended, how many items are done,
already registered, failed, cancelled or not started, and how many bytes were really
uploaded (a drop of files registered already uploads nothing)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from labshelf.app.data.formatting import human_size
from labshelf.app.data.transfers import Drop, DropItem, DropState, ItemState
from labshelf.app.uploads.manager import UploadManager
from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)

COLUMNS = ("Name", "Started", "From", "State", "Progress", "Speed", "Time left")
NAME, STARTED, SOURCE, STATE, PROGRESS, SPEED, LEFT = range(len(COLUMNS))
REFRESH_MS = 250  # the view repaints progress at most 4 times a second
FRACTION_ROLE = Qt.ItemDataRole.UserRole + 1  # a running drop's progress, 0..1 (None otherwise)
Index = QModelIndex | QPersistentModelIndex


def _eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def started_text(when: datetime, now: datetime | None = None) -> str:
    """ "14:32:05" today, "2026-12-01 14:32" another day."""
    now = now or datetime.now()
    return when.strftime("%H:%M:%S" if when.date() == now.date() else "%Y-%m-%d %H:%M")


def short_path(path: str) -> str:
    """`path` with the home folder as "~"."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path


def state_text(drop: Drop) -> str:
    if drop.cancel.is_set() and not drop.finished:
        return "cancelling…"
    return str(drop.state)


def bytes_text(drop: Drop) -> str:
    """What an ended drop really moved: "4.2 MB uploaded · 15.1 MB were there already"."""
    uploaded = drop.bytes_of(ItemState.DONE)
    there = drop.bytes_of(ItemState.DUPLICATE)
    parts = [f"{human_size(uploaded)} uploaded" if uploaded else "nothing uploaded"]
    if there:
        parts.append(f"{human_size(there)} were there already")
    return " · ".join(parts)


def progress_text(drop: Drop) -> str:
    """Files and bytes of a running drop; the outcome and real bytes of an ended one."""
    if drop.state == DropState.PLANNING:
        return "listing files…"
    if not drop.finished:
        return (
            f"{drop.files_done:,} of {drop.files_total:,} files · "
            f"{human_size(drop.bytes_done)} of {human_size(drop.bytes_total)}"
        )
    if drop.state == DropState.FAILED and not drop.items:
        return drop.message
    return f"{drop.message} · {bytes_text(drop)}" if drop.message else bytes_text(drop)


def fraction(drop: Drop) -> float | None:
    if drop.finished or drop.state == DropState.PLANNING:
        return None
    if drop.bytes_total:
        return min(1.0, drop.bytes_done / drop.bytes_total)
    return drop.files_done / drop.files_total if drop.files_total else 0.0


class UploadQueueModel(QAbstractItemModel):
    """Drops (top level) and their items (children) of `manager`, as columns `COLUMNS`.

    Attributes:
        manager: the `UploadManager` whose drops are shown (the model only reads them).

    Internal ids: 0 for a drop's row, the drop's id for its items' rows. The model follows
    the manager's signals; views are told about changed rows every `REFRESH_MS` at most.
    """

    def __init__(self, manager: UploadManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self._dirty: set[int] = set()
        self._dirty_rows: dict[int, tuple[int, int]] = {}  # drop id -> first, last item row
        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self._flush)
        self._timer.start()
        manager.drop_added.connect(self._on_added)
        manager.drop_planned.connect(self._on_planned)
        manager.drop_changed.connect(self._dirty.add)
        manager.drop_finished.connect(self._on_finished)
        manager.items_changed.connect(self._on_items_changed)

    def _row_of(self, drop_id: int) -> int:
        return next(i for i, d in enumerate(self.manager.drops) if d.id == drop_id)

    def _on_added(self, drop_id: int) -> None:
        row = self._row_of(drop_id)
        # the manager appended already; tell the views now
        self.beginInsertRows(QModelIndex(), row, row)
        self.endInsertRows()

    def _on_planned(self, drop_id: int) -> None:
        drop = self.manager.drop(drop_id)
        if drop.items:
            parent = self.index(self._row_of(drop_id), 0)
            self.beginInsertRows(parent, 0, len(drop.items) - 1)
            self.endInsertRows()
        self._dirty.add(drop_id)

    def _on_items_changed(self, drop_id: int, rows: list[int]) -> None:
        first, last = self._dirty_rows.get(drop_id, (min(rows), max(rows)))
        self._dirty_rows[drop_id] = (min(first, *rows), max(last, *rows))
        self._dirty.add(drop_id)

    def _on_finished(self, drop_id: int) -> None:
        count = len(self.manager.drop(drop_id).items)
        if count:  # final states and errors of any item may have changed
            self._dirty_rows[drop_id] = (0, count - 1)
        self._dirty.add(drop_id)

    def _flush(self) -> None:
        # Progress is folded into the manager as it comes; views are told in batches, and only
        # about the item rows that changed (a tree view re-measures every visible row it is
        # told about).
        for drop_id in self._dirty:
            row = self._row_of(drop_id)
            top = self.index(row, 0)
            self.dataChanged.emit(top, self.index(row, len(COLUMNS) - 1))
            if drop_id in self._dirty_rows:
                first, last = self._dirty_rows.pop(drop_id)
                self.dataChanged.emit(
                    self.index(first, 0, top), self.index(last, len(COLUMNS) - 1, top)
                )
        self._dirty.clear()

    # -- structure -------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        return self.createIndex(row, column, self.manager.drops[parent.row()].id)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        drop_id = index.internalId() if index.isValid() else 0
        if not drop_id:
            return QModelIndex()
        return self.createIndex(self._row_of(drop_id), 0, 0)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        if not parent.isValid():
            return len(self.manager.drops)
        if parent.internalId() or parent.column() != 0:
            return 0
        return len(self.manager.drops[parent.row()].items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    # -- content ---------------------------------------------------------------------------
    def drop_at(self, index: Index) -> Drop | None:
        if not index.isValid():
            return None
        drop_id = index.internalId()
        return self.manager.drop(drop_id) if drop_id else self.manager.drops[index.row()]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId():
            drop = self.manager.drop(index.internalId())
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                return _item_cell(drop, index.row(), index.column(), role)
            return None
        drop = self.manager.drops[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _drop_cell(drop, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return _drop_tip(drop, index.column())
        if role == FRACTION_ROLE and index.column() == PROGRESS:
            return fraction(drop)
        return None


def _drop_cell(drop: Drop, column: int) -> str:
    if column == NAME:
        return drop.title
    if column == STARTED:
        return started_text(drop.created)
    if column == SOURCE:
        return short_path(drop.source)
    if column == STATE:
        return state_text(drop)
    if column == PROGRESS:
        return progress_text(drop)
    if column == SPEED:
        return f"{human_size(int(drop.rate))}/s" if drop.state == DropState.RUNNING else ""
    return _eta_text(drop.eta)


def _drop_tip(drop: Drop, column: int) -> str:
    if column == SOURCE:
        return drop.source
    if column == STARTED:
        return drop.created.strftime("%Y-%m-%d %H:%M:%S")
    if column in (STATE, PROGRESS) and drop.finished:
        return f"{drop.state}: {progress_text(drop)}"
    return _drop_cell(drop, column)


def _item_cell(drop: Drop, row: int, column: int, role: int) -> str:
    item: DropItem = drop.items[row]
    if role == Qt.ItemDataRole.ToolTipRole:
        return item.error or item.path
    if column == NAME:
        return item.key or item.path
    if column == SOURCE:
        return short_path(os.path.dirname(item.path))
    if column == STATE:
        state = drop.item_state_text(row)
        return f"{state}: {item.error}" if item.error else state
    if column == PROGRESS:
        files = f"{item.n_files:,} files · " if item.n_files != 1 else ""
        return files + human_size(item.size)
    return ""
