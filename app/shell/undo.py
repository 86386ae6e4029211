"""Undo (Ctrl+Z) for what can be reversed: trash, restore, make-latest, new versions and
description edits. Each entry holds the gateway call that reverses it (run on a worker);
the history is the window's, newest last, and forgets the oldest beyond `MAX_ENTRIES`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

MAX_ENTRIES = 50


@dataclass(frozen=True)
class UndoEntry:
    """One reversible change: what it was ("move 3 artifacts to the trash") and the call
    that reverses it."""

    what: str
    undo: Callable[[], Any]


class UndoHistory(QObject):
    """The window's reversible changes. Signals: changed() when an entry comes or goes."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[UndoEntry] = []

    def push(self, what: str, undo: Callable[[], Any]) -> None:
        self._entries.append(UndoEntry(what, undo))
        del self._entries[:-MAX_ENTRIES]
        self.changed.emit()

    def pop(self) -> UndoEntry | None:
        entry = self._entries.pop() if self._entries else None
        self.changed.emit()
        return entry

    def clear(self) -> None:
        """Forget everything (another instance is shown)."""
        self._entries.clear()
        self.changed.emit()

    @property
    def can_undo(self) -> bool:
        return bool(self._entries)

    @property
    def next_text(self) -> str:
        """The Edit menu's text: "Undo move 3 artifacts to the trash"."""
        return f"Undo {self._entries[-1].what}" if self._entries else "Undo"
