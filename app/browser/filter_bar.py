"""Filter chips above the table (type, created by, transform, storage, key prefix, date) and
the small dialog that asks for a chip's value: a pick list from the data (file types, users,
transforms, storages: loaded on a worker), date pickers for dates, and typed values read
the way people write them (`labshelf.app.data.filters`). A value that cannot be read keeps
the dialog open with one sentence saying why."""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.base.theme import set_icon
from labshelf.app.data.filters import DATE_HINT, Choice, date_range, filter_value
from labshelf.app.data.registries import FILTER_LOOKUPS
from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QWidget,
)

LABEL_KIND = "label"  # the label filter's kind (one label chip at a time: lookups are a dict)
Filters = dict[str, tuple[str, Any, str]]  # kind -> (lookup, value, chip text)


class FilterDialog(QDialog):
    """Asks for one filter's value; `value` and `text` hold it once accepted."""

    def __init__(
        self, kind: str, registry: str, runner: TaskRunner | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("filterDialog")
        self.kind = kind
        self.value: Any = None
        self.text = ""
        self.choices: list[Choice] = []
        label = FILTER_LOOKUPS[kind][0]
        self.setWindowTitle(f"Filter by {label.lower()}")
        self.form = QFormLayout(self)
        self.error = named(QLabel(wordWrap=True), "filterError")
        self.error.setProperty("error", True)
        self.error.hide()
        if kind == "date":
            self._date_fields()
        else:
            self._choice_field(label, registry, runner)
        self.form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.form.addRow(buttons)
        self.setMinimumWidth(420)

    def _date_fields(self) -> None:
        today = QDate.currentDate()
        self.first = named(QDateEdit(today.addMonths(-1)), "dateFrom")
        self.last = named(QDateEdit(today), "dateTo")
        for edit in (self.first, self.last):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.typed = named(QLineEdit(), "dateText")
        self.typed.setPlaceholderText(DATE_HINT)
        self.form.addRow("From:", self.first)
        self.form.addRow("To:", self.last)
        self.form.addRow("Or type:", self.typed)

    def _choice_field(self, label: str, registry: str, runner: TaskRunner | None) -> None:
        self.combo = named(QComboBox(editable=True), "filterValue")
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line_edit = self.combo.lineEdit()
        assert line_edit is not None  # an editable combo box has one
        line_edit.setPlaceholderText("pick from the list or type")
        self.form.addRow(f"{label}:", self.combo)
        if runner is not None and self.kind in ("suffix", "created_by", "transform", "storage"):
            kind = self.kind
            runner.submit(
                lambda ctx: gateway.filter_choices(registry, kind),
                done=self.set_choices,
                name="filter choices",
            )

    def set_choices(self, rows: list[dict[str, Any]]) -> None:
        """The values the data has (most used first)."""
        self.choices = [
            Choice(r["label"], r["value"], tuple(r.get("aliases") or ()), r.get("count"))
            for r in rows
        ]
        typed = self.combo.currentText()
        self.combo.clear()
        for choice in self.choices:
            count = f"  ({choice.count:,})" if choice.count is not None else ""
            self.combo.addItem(f"{choice.label}{count}", choice.label)
        self.combo.setCurrentIndex(-1)
        self.combo.setEditText(typed)

    def _typed_text(self) -> str:
        index = self.combo.currentIndex()
        text = self.combo.currentText()
        if index >= 0 and text == self.combo.itemText(index):
            return str(self.combo.itemData(index))  # picked: the label without its count
        return text

    def accept(self) -> None:
        try:
            if self.kind == "date":
                self.value, self.text = self._date_value()
            else:
                self.value, self.text = filter_value(self.kind, self._typed_text(), self.choices)
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        super().accept()

    def _date_value(self) -> tuple[Any, str]:
        typed = self.typed.text().strip()
        if typed:
            return filter_value("date", typed)
        first, last = self.first.date().toPython(), self.last.date().toPython()
        value = date_range(first, last)  # type: ignore[arg-type]
        return value, f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


class FilterBar(QWidget):
    """Chips for the active filters; `changed` carries the lookups as (name, value) pairs."""

    changed = Signal(tuple)

    def __init__(self, runner: TaskRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("filterBar")
        self._runner = runner
        self.registry = "Artifact"
        self._filters: Filters = {}
        self._chip_widgets: dict[str, QToolButton] = {}
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = named(QToolButton(), "addFilter")
        self.add_button.setText("Filter")
        set_icon(self.add_button, "filter")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setMenu(QMenu(self.add_button))
        self._layout.addWidget(self.add_button)
        self._layout.addStretch(1)
        self.dialog: FilterDialog | None = None

    @property
    def lookups(self) -> tuple[tuple[str, Any], ...]:
        return tuple((lookup, value) for lookup, value, _ in self._filters.values())

    @property
    def state(self) -> Filters:
        """The chips (to keep per registry and give back with `set_state`)."""
        return dict(self._filters)

    def set_kinds(self, registry: str, kinds: tuple[str, ...], state: Filters) -> None:
        """The filters `registry` offers, and its chips (`state`); no `changed` signal."""
        self.registry = registry
        menu = self.add_button.menu()
        menu.clear()
        for kind in kinds:

            def ask_kind(k: str = kind) -> None:
                self.ask(k)

            menu.addAction(FILTER_LOOKUPS[kind][0] + "…", ask_kind)
        for kind in list(self._filters):
            self._remove(kind, notify=False)
        for kind, (lookup, value, text) in state.items():
            if kind in kinds or kind == LABEL_KIND:
                self._add_chip(kind, lookup, value, text)

    def ask(self, kind: str) -> FilterDialog:
        """The dialog for a filter's value; accepting it adds the chip."""
        dialog = FilterDialog(kind, self.registry, self._runner, self)
        dialog.accepted.connect(lambda: self.add_value(kind, dialog.value, dialog.text))
        dialog.finished.connect(dialog.deleteLater)
        self.dialog = dialog
        dialog.open()
        return dialog

    def add_filter(self, kind: str, text: str) -> None:
        """Add (or replace) the chip of `kind` from typed text; `ValueError` says why a value
        cannot be read (nothing changes then)."""
        value, chip = filter_value(kind, text)
        self.add_value(kind, value, chip)

    def add_value(self, kind: str, value: Any, text: str) -> None:
        """Add (or replace) the chip of `kind` with a lookup value read already."""
        if kind in self._filters:
            self._remove(kind, notify=False)
        self._add_chip(kind, FILTER_LOOKUPS[kind][1], value, text)
        self.changed.emit(self.lookups)

    def add_label(self, lookup: str, value: Any, text: str) -> None:
        """Add (or replace) the label chip (a lookup from `gateway.label_lookups`): records
        with that label, or with any label of that type."""
        kind = LABEL_KIND
        if kind in self._filters:
            self._remove(kind, notify=False)
        self._add_chip(kind, lookup, value, text)
        self.changed.emit(self.lookups)

    def _add_chip(self, kind: str, lookup: str, value: Any, text: str) -> None:
        chip = named(QToolButton(), f"chip_{kind}")
        title = "Label" if kind == LABEL_KIND else FILTER_LOOKUPS[kind][0]
        chip.setText(f"{title}: {text}  ✕")
        chip.setProperty("chip", True)
        chip.setToolTip("Remove this filter")
        chip.clicked.connect(lambda: self._remove(kind))
        self._layout.insertWidget(self._layout.count() - 1, chip)
        self._filters[kind] = (lookup, value, text)
        self._chip_widgets[kind] = chip

    def clear_all(self) -> None:
        if self._filters:
            for kind in list(self._filters):
                self._remove(kind, notify=False)
            self.changed.emit(self.lookups)

    def _remove(self, kind: str, notify: bool = True) -> None:
        self._filters.pop(kind, None)
        chip = self._chip_widgets.pop(kind, None)
        if chip is not None:
            chip.hide()
            chip.deleteLater()
        if notify:
            self.changed.emit(self.lookups)
