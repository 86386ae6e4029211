"""The import dialog's item list: what a drop would do with each file or folder, from the dry
run (`gateway.dry_run`), and the key or version family the user picks for it.

Rows are the dry run's plain dicts (path, key, default_key, size, n_files, status, uid,
family, candidates, error). Statuses: checking, new, version (a new version of `family`),
registered (already registered: `uid`), trash (the same content is in the trash), unreadable,
skipped (operating-system clutter, left out) and, after an edit, invalid (not a key).
"""

from __future__ import annotations

import os
from typing import Any

from labshelf.app.data.formatting import human_size
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont

Index = QModelIndex | QPersistentModelIndex
FILE, KEY, SIZE, STATUS = range(4)
COLUMNS = ("File", "Key", "Size", "What happens")
INVALID = "invalid"
FIXED = frozenset({"registered", "trash", "unreadable", "skipped"})  # no key to choose


def version_text(family: dict[str, Any]) -> str:
    """ "new version of KEY (v1 → v2)"."""
    return f"new version of {family['key']} (v{family['version']} → v{family['next']})"


def status_text(row: dict[str, Any]) -> str:
    """What happens to the item, in the words of the dialog."""
    status = row["status"]
    if status == "checking":
        return "checking…"
    if status == "registered":
        return f"already registered ({row['uid']})"
    if status == "trash":
        return f"in the trash ({row['uid']}): restore it instead"
    if status == "version":
        same_name = " — same file name" if row.get("proposed") else ""
        return version_text(row["family"]) + same_name
    if status == "new":
        n = len(row.get("candidates") or [])
        if not n or row.get("chosen"):
            return "new"
        if n == 1:
            return "new — an artifact has this file name: pick it to version it"
        return f"new — {n} artifacts have this file name: pick one to version"
    if status == "skipped":
        return "skipped: operating-system clutter"
    if status == INVALID:
        return f"invalid key: {row.get('error')}"
    return f"unreadable: {row.get('error')}"


def choices(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, key) of what the user may pick for a row: new under its own key, or the next
    version of a family that has its key or file name."""
    own = row["default_key"]
    out = [(f"new artifact {own}", own)] if own not in _family_keys(row) else []
    return out + [(version_text(f), f["key"]) for f in row.get("candidates") or []]


def _family_keys(row: dict[str, Any]) -> set[str]:
    return {f["key"] for f in row.get("candidates") or []}


class DryRunModel(QAbstractTableModel):
    """The dry run's rows; the key and status columns are editable where a choice exists.

    Signals:
        key_edited(row, key): the user typed a key: its family must be looked up (the
            dialog does it on a worker and calls `set_family` or `set_invalid`).
    """

    key_edited = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self.root = ""  # the folder the dropped items are shown relative to

    # -- filling ---------------------------------------------------------------------------
    def reset(self, paths: list[str]) -> None:
        self.beginResetModel()
        self.rows = []
        parents = [os.path.dirname(os.path.abspath(p)) for p in paths]
        try:
            self.root = os.path.commonpath(parents) if parents else ""
        except ValueError:
            self.root = ""
        self.endResetModel()

    def apply(self, report: dict[str, Any]) -> None:
        """Fold a dry-run report in: every row first, then the rows that changed."""
        changed: dict[int, dict[str, Any]] = report["rows"]
        if len(self.rows) != report["total"]:
            self.beginResetModel()
            self.rows = [changed.get(i, {}) for i in range(report["total"])]
            self.endResetModel()
            return
        for index, row in changed.items():
            self.rows[index] = row
        if changed:
            first, last = min(changed), max(changed)
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def set_choice(self, row: int, key: str) -> None:
        """The user picked `key` for `row` (its own, or a family's from `choices`)."""
        item = self.rows[row]
        family = next((f for f in item.get("candidates") or [] if f["key"] == key), None)
        item.update(key=key, family=family, status="version" if family else "new")
        item.update(chosen=True, proposed=False, error=None)
        self._changed(row)

    def set_family(self, row: int, key: str, family: dict[str, Any] | None) -> None:
        """The looked-up family of a key the user typed (None: a new artifact)."""
        item = self.rows[row]
        if item.get("key") != key:
            return  # edited again meanwhile
        item.update(family=family, status="version" if family else "new", error=None)
        if family is not None and key not in _family_keys(item):
            item["candidates"] = [*(item.get("candidates") or []), family]
        self._changed(row)

    def set_invalid(self, row: int, key: str, message: str) -> None:
        item = self.rows[row]
        if item.get("key") == key:
            item.update(status=INVALID, error=message)
            self._changed(row)

    def _changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # -- what the import gets --------------------------------------------------------------
    def chosen_keys(self) -> dict[str, str]:
        """Keys of the items that differ from what the key prefix gives them (picked,
        typed or proposed), by path."""
        return {
            r["path"]: r["key"]
            for r in self.rows
            if r and r["status"] not in FIXED and r.get("key") and r["key"] != r["default_key"]
        }

    def explicit_keys(self) -> dict[str, str]:
        """The keys the user picked or typed (a new dry run keeps them)."""
        return {r["path"]: r["key"] for r in self.rows if r.get("chosen") and r.get("key")}

    def invalid_rows(self) -> list[int]:
        return [i for i, r in enumerate(self.rows) if r.get("status") == INVALID]

    # -- Qt --------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        row = self.rows[index.row()] if index.isValid() else {}
        if not row or row.get("status") in FIXED or row.get("status") == "checking":
            return flags
        if index.column() == KEY or (index.column() == STATUS and len(choices(row)) > 1):
            return flags | Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if not row:
            return None
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row["path"] if column == FILE else self._text(row, column)
        if role == Qt.ItemDataRole.FontRole and (
            row["status"] in ("skipped", "checking") or (column == STATUS and row.get("proposed"))
        ):
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, row: dict[str, Any], column: int) -> str:
        if column == FILE:
            path = row["path"]
            return os.path.relpath(path, self.root) if self.root else path
        if column == KEY:
            return row.get("key") or "—"
        if column == SIZE:
            if row["status"] == "skipped":
                return ""
            files = f"{row['n_files']} files, " if row["n_files"] != 1 else ""
            return f"{files}{human_size(row['size'])}"
        return status_text(row)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        row = index.row()
        key = str(value).strip().strip("/")
        if not key or key == self.rows[row].get("key"):
            return False
        if index.column() == STATUS:
            self.set_choice(row, key)
            return True
        if index.column() != KEY:
            return False
        item = self.rows[row]
        if key in _family_keys(item) or key == item["default_key"]:
            self.set_choice(row, key)
            return True
        item.update(key=key, status="checking", family=None, chosen=True, proposed=False)
        self._changed(row)
        self.key_edited.emit(row, key)
        return True
