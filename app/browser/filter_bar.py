"""Filter chips above the table: suffix, created by, transform, key prefix, date range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labshelf.app.base.theme import set_icon
from labshelf.app.data.registries import FILTER_LOOKUPS
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QMenu, QToolButton, QWidget

DATE_HINT = "YYYY-MM-DD..YYYY-MM-DD (either side may be empty)"


def parse_date_range(text: str) -> tuple[datetime, datetime]:
    """`2026-01-01..2026-02-01` -> (start, end of the last day), UTC; raises ValueError."""
    start_text, _, end_text = text.partition("..")
    start = (
        datetime.fromisoformat(start_text.strip()) if start_text.strip() else datetime(1970, 1, 1)
    )
    end = datetime.fromisoformat(end_text.strip()) if end_text.strip() else datetime(9999, 1, 1)
    return start.replace(tzinfo=UTC), end.replace(tzinfo=UTC) + timedelta(days=1)


class FilterBar(QWidget):
    """Chips for the active filters; `changed` carries the lookups as (name, value) pairs."""

    changed = Signal(tuple)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self._filters: dict[str, tuple[str, Any, str]] = {}  # kind -> (lookup, value, text)
        self._chip_widgets: dict[str, QToolButton] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = QToolButton(text="Filter", objectName="addFilter")
        set_icon(self.add_button, "filter")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setMenu(QMenu(self.add_button))
        self._layout.addWidget(self.add_button)
        self._layout.addStretch(1)

    @property
    def lookups(self) -> tuple[tuple[str, Any], ...]:
        return tuple((lookup, value) for lookup, value, _ in self._filters.values())

    def set_kinds(self, kinds: tuple[str, ...]) -> None:
        """The filters the current registry offers; chips of other kinds are dropped."""
        menu = self.add_button.menu()
        menu.clear()
        for kind in kinds:
            menu.addAction(FILTER_LOOKUPS[kind][0] + "…", lambda k=kind: self._ask(k))
        for kind in [k for k in self._filters if k not in kinds]:
            self._remove(kind, notify=False)

    def _ask(self, kind: str) -> None:
        label = FILTER_LOOKUPS[kind][0]
        hint = DATE_HINT if kind == "date" else label
        text, ok = QInputDialog.getText(self, "Filter", hint)
        if ok and text.strip():
            self.add_filter(kind, text.strip())

    def add_filter(self, kind: str, text: str) -> None:
        """Add (or replace) the chip of `kind`; raises ValueError for a bad date range."""
        lookup = FILTER_LOOKUPS[kind][1]
        value: Any = parse_date_range(text) if kind == "date" else text
        if kind in self._filters:
            self._remove(kind, notify=False)
        chip = QToolButton(text=f"{FILTER_LOOKUPS[kind][0]}: {text}  ✕", objectName=f"chip_{kind}")
        chip.setProperty("chip", True)
        chip.setToolTip("Remove this filter")
        chip.clicked.connect(lambda: self._remove(kind))
        self._layout.insertWidget(self._layout.count() - 1, chip)
        self._filters[kind] = (lookup, value, text)
        self._chip_widgets[kind] = chip
        self.changed.emit(self.lookups)

    def _remove(self, kind: str, notify: bool = True) -> None:
        self._filters.pop(kind, None)
        chip = self._chip_widgets.pop(kind, None)
        if chip is not None:
            chip.deleteLater()
        if notify:
            self.changed.emit(self.lookups)
