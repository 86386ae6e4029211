"""The details panel's "Labels & features" section (issue 17): the record's labels as chips
(✕ takes one off, undoable), its feature values as a table (feature, value with unit, type)
and "+ label" with autocomplete from the labels in the instance. Every read and write runs on
the TaskRunner through the gateway; a write is announced with `changed(what, undo)` so that
the window puts it in its undo history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.flow_layout import FlowLayout
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SUGGEST_DELAY_MS = 150  # typing pauses this long before the labels are searched
NO_ANNOTATIONS = "No labels or feature values yet."


class AnnotationsBox(QWidget):
    """Labels and features of one record.

    Signals:
        loaded(): the record's annotations arrived and are shown.
        changed(what, undo): a write finished; `what` names it ("add the label DAPI"),
            `undo()` (a gateway call, for a worker) reverses it.
        failed(message): a read or write was refused (one sentence).
    """

    loaded = Signal()
    changed = Signal(str, object)
    failed = Signal(str)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("annotationsBox")
        self._runner = runner
        self._record: tuple[str, str] | None = None
        self._generation = 0
        self.annotations: dict[str, Any] = {}
        self.chips_box = named(QWidget(), "labelChips")
        self.chips = FlowLayout(self.chips_box, spacing=4)
        self.empty = named(QLabel(NO_ANNOTATIONS), "annotationsEmpty")
        self.empty.setProperty("muted", True)
        self.label_edit = named(QLineEdit(), "addLabelEdit")
        self.label_edit.setPlaceholderText("+ label (Enter adds it)")
        self.label_edit.setClearButtonEnabled(True)
        self._suggestions = QStringListModel(self)
        self.completer = QCompleter(self._suggestions, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.label_edit.setCompleter(self.completer)
        self._suggest_timer = QTimer(self, singleShot=True, interval=SUGGEST_DELAY_MS)
        self._suggest_timer.timeout.connect(self._suggest)
        self.label_edit.textEdited.connect(lambda _t: self._suggest_timer.start())
        self.label_edit.returnPressed.connect(self._add_typed)
        self.add_button = named(QToolButton(), "addLabelButton")
        self.add_button.setText("+ label")
        self.add_button.setToolTip("Put this label on the record (a new name makes a new label)")
        self.add_button.clicked.connect(self._add_typed)
        self.features = named(QTableWidget(0, 3), "featureTable")
        self.features.setHorizontalHeaderLabels(["Feature", "Value", "Type"])
        self.features.verticalHeader().hide()
        self.features.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.features.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.features.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        add_row = QHBoxLayout()
        add_row.setContentsMargins(0, 0, 0, 0)
        add_row.addWidget(self.label_edit, 1)
        add_row.addWidget(self.add_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.empty)
        column.addWidget(self.chips_box)
        column.addLayout(add_row)
        column.addWidget(self.features)

    # -- reading ---------------------------------------------------------------------------
    def clear(self) -> None:
        self._generation += 1
        self._record = None
        self.annotations = {}
        self._fill({"labels": [], "features": []})

    def show_record(self, registry: str, uid: str) -> None:
        """Fetch and show the annotations of a record (on a worker)."""
        self._record = (registry, uid)
        self.reload()

    def reload(self) -> None:
        if self._record is None:
            return
        self._generation += 1
        gen = self._generation
        registry, uid = self._record
        self._runner.submit(
            lambda ctx: gateway.record_annotations(registry, uid),
            done=lambda data: self._on_loaded(gen, data),
            error=lambda msg, _d: self._on_error(gen, msg),
            name="annotations",
        )

    def _on_loaded(self, gen: int, data: dict[str, Any]) -> None:
        if gen != self._generation:
            return
        self.annotations = data
        self._fill(data)
        self.loaded.emit()

    def _on_error(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.failed.emit(f"Reading the labels failed: {message}")

    def _fill(self, data: dict[str, Any]) -> None:
        while self.chips.count():
            item = self.chips.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        labels = data["labels"]
        for label in labels:
            self.chips.addWidget(self._chip(label))
        self.chips_box.setVisible(bool(labels))
        rows = data["features"]
        self.features.setRowCount(len(rows))
        for row, entry in enumerate(rows):
            cells = (entry["feature"], entry["text"], entry["dtype"])
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(str(text))
                cell.setToolTip(str(text))
                self.features.setItem(row, col, cell)
        self.features.setVisible(bool(rows))
        if rows:
            height = self.features.horizontalHeader().height() + 2 * self.features.frameWidth()
            height += sum(self.features.rowHeight(r) for r in range(min(len(rows), 8)))
            self.features.setFixedHeight(height + 2)
        self.empty.setVisible(not labels and not rows)
        self.chips.invalidate()

    def _chip(self, label: dict[str, Any]) -> QToolButton:
        """A chip reads "type: name" ("feature: name" for a categorical feature's value)."""
        owner = label.get("feature") or label.get("type")
        name = f"{owner}: {label['name']}" if owner else label["name"]
        chip = named(QToolButton(), f"labelChip_{label['name']}")
        chip.setText(f"{name}  ✕")
        chip.setProperty("chip", True)
        what = f"the {label['feature']} value" if label.get("feature") else "the label"
        chip.setToolTip(f"Take {what} {label['name']} off this record (Ctrl+Z puts it back)")
        chip.clicked.connect(
            lambda: self.remove_label(label["uid"], label["name"], label.get("feature"))
        )
        return chip

    # -- autocomplete ----------------------------------------------------------------------
    def _suggest(self) -> None:
        text = self.label_edit.text().strip()
        if not text:
            return
        self._runner.submit(
            lambda ctx: gateway.search_labels(text),
            done=self._on_suggestions,
            error=lambda msg, _d: None,  # no suggestions; typing still works
            name="label suggestions",
        )

    def _on_suggestions(self, rows: list[dict[str, Any]]) -> None:
        names = [r["name"] for r in rows if not r["is_type"]]
        self._suggestions.setStringList(names)
        if self.label_edit.hasFocus() and names:
            self.completer.complete()

    @property
    def suggestions(self) -> list[str]:
        return list(self._suggestions.stringList())

    # -- writing ---------------------------------------------------------------------------
    def _add_typed(self) -> None:
        name = self.label_edit.text().strip()
        if name:
            self.add_label(name)

    def add_label(self, name: str) -> None:
        """Put the label `name` on the record shown (made when there is none of that name)."""
        if self._record is None:
            return
        registry, uid = self._record

        def done(links: list[tuple[str, str]]) -> None:
            self.label_edit.clear()
            if links:
                self._changed(
                    f"add the label {name}",
                    lambda: gateway.remove_label_links(registry, links),
                )
            else:
                self.reload()

        self._write(lambda: gateway.add_labels(registry, [uid], [name]), done, "Adding the label")

    def remove_label(self, label_uid: str, name: str, feature: str | None = None) -> None:
        """Take a label off the record shown (a plain one, or the value of the categorical
        `feature`; the undo gives the feature its whole previous value back)."""
        if self._record is None:
            return
        registry, uid = self._record
        before = {f["feature"]: f["value"] for f in self.annotations.get("features", [])}.get(
            feature
        )

        def undo(links: list[tuple[str, str, str | None]]) -> None:
            for r, lab, owner in links:
                if owner is None:
                    gateway.add_labels(registry, [r], [lab])
            for owner in {o for _, _, o in links if o is not None}:
                previous = before if owner == feature else None
                if previous is not None:
                    gateway.restore_feature(registry, owner, {uid: previous})

        def done(links: list[tuple[str, str, str | None]]) -> None:
            self._changed(f"remove the label {name}", lambda: undo(links))

        self._write(
            lambda: gateway.remove_labels(registry, [uid], [label_uid]), done, "Removing the label"
        )

    def _write(self, call: Callable[[], Any], done: Callable[[Any], None], what: str) -> None:
        self._runner.submit(
            lambda ctx: call(),
            done=done,
            error=lambda msg, _d: self.failed.emit(f"{what} failed: {msg}"),
            name=what.lower(),
        )

    def _changed(self, what: str, undo: Callable[[], Any]) -> None:
        self.changed.emit(what, undo)
        self.reload()
