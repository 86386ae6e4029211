"""The import dialog opened by a drop: key prefix, description, one folder artifact or one per
file, target storage, collection, and a dry-run summary hashed in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.tasks import Task, TaskContext, TaskRunner
from labshelf.app.data.formatting import human_size
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

NO_COLLECTION, NEW_COLLECTION = "", "\0new"


class ImportDialog(QDialog):
    """Asks how to import `paths`; `options()` is what `UploadManager.start` takes."""

    summary_changed = Signal(dict)

    def __init__(self, paths: list[str], runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.setWindowTitle("Import")
        self.setMinimumWidth(560)
        self.paths = paths
        self._runner = runner
        self._dry_run: Task | None = None
        self.summary: dict[str, int] = {}
        self._build()
        self._load_choices()
        self._restart_timer = QTimer(self, singleShot=True, interval=300)
        self._restart_timer.timeout.connect(self.start_dry_run)
        self.start_dry_run()

    def _build(self) -> None:
        names = ", ".join(Path(p).name for p in self.paths[:3]) + (
            " …" if len(self.paths) > 3 else ""
        )
        self.key_prefix = QLineEdit(objectName="keyPrefix")
        self.key_prefix.setPlaceholderText("optional, e.g. projects/imaging")
        self.description = QLineEdit(objectName="importDescription")
        self.as_folder = QRadioButton(
            "One artifact per folder", objectName="asFolder", checked=True
        )
        self.per_file = QRadioButton(
            "One artifact per file (keys keep the relative paths)", objectName="perFile"
        )
        group = QButtonGroup(self)
        group.addButton(self.as_folder)
        group.addButton(self.per_file)
        has_folder = any(Path(p).is_dir() for p in self.paths)
        for button in (self.as_folder, self.per_file):
            button.setEnabled(has_folder)
        self.storage = QComboBox(objectName="importStorage")
        self.collection = QComboBox(objectName="importCollection")
        self.collection.addItem("No collection", NO_COLLECTION)
        self.collection.addItem("New collection named…", NEW_COLLECTION)
        self.collection_name = QLineEdit(objectName="collectionName", enabled=False)
        self.collection.currentIndexChanged.connect(
            lambda _i: self.collection_name.setEnabled(
                self.collection.currentData() == NEW_COLLECTION
            )
        )
        self.keys = QLabel(objectName="keyExample")
        self.keys.setProperty("muted", True)
        self.summary_label = QLabel("Counting…", objectName="dryRunSummary", wordWrap=True)
        form = QFormLayout()
        form.addRow("Import:", QLabel(names))
        form.addRow("Key prefix:", self.key_prefix)
        form.addRow("", self.keys)
        form.addRow("Description:", self.description)
        form.addRow("As:", self.as_folder)
        form.addRow("", self.per_file)
        form.addRow("Storage:", self.storage)
        form.addRow("Collection:", self.collection)
        form.addRow("", self.collection_name)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary_label)
        layout.addWidget(buttons)
        self.key_prefix.textChanged.connect(self._options_changed)
        self.per_file.toggled.connect(self._options_changed)
        self._show_key_example()

    def _load_choices(self) -> None:
        self._runner.submit(
            lambda ctx: gateway.storage_roots(), done=self._fill_storages, name="storages"
        )
        self._runner.submit(
            lambda ctx: gateway.collection_names(),
            done=self._fill_collections,
            name="collections",
        )

    def _fill_storages(self, roots: list[str]) -> None:
        for root in roots:
            self.storage.addItem(root, root)

    def _fill_collections(self, names: list[tuple[str, str]]) -> None:
        for name, uid in names:  # the latest version of each collection
            self.collection.addItem(f"{name} (new version)", uid)

    def _options_changed(self) -> None:
        self._show_key_example()
        if self._dry_run is not None:
            self._dry_run.cancel()  # its numbers no longer apply
        self.summary = {}
        self.summary_label.setText("Counting…")
        self._restart_timer.start()

    def _show_key_example(self) -> None:
        first = Path(self.paths[0])
        name = first.name
        if first.is_dir() and self.per_file.isChecked():
            name = f"{first.name}/…/file"
        prefix = self.key_prefix.text().strip().strip("/")
        self.keys.setText(f"keys like: {prefix + '/' if prefix else ''}{name}")

    # -- dry run ---------------------------------------------------------------------------
    def start_dry_run(self) -> None:
        """Count files and bytes and hash them (in the background) to see what is new."""
        if self._dry_run is not None:
            self._dry_run.cancel()
        paths, prefix, as_folder = (
            list(self.paths),
            self.key_prefix.text().strip() or None,
            not self.per_file.isChecked(),
        )

        def work(ctx: TaskContext) -> dict[str, int]:
            return gateway.dry_run(paths, prefix, as_folder, ctx.progress, lambda: ctx.cancelled)

        self._dry_run = self._runner.submit(
            work,
            done=self._show_summary,
            progress=self._show_summary,
            error=lambda msg, _d: self.summary_label.setText(msg),
            name="dry run",
        )

    def _show_summary(self, summary: dict[str, int]) -> None:
        self.summary = summary
        hashing = summary["hashed"] < summary["items"]
        status = (
            f"checking {summary['hashed']}/{summary['items']}…"
            if hashing
            else f"{summary['registered']} already registered"
        )
        unreadable = f" · {summary['unreadable']} unreadable" if summary["unreadable"] else ""
        self.summary_label.setText(
            f"{summary['items']} artifact(s) from {summary['files']} file(s), "
            f"{human_size(summary['bytes'])} · {status}{unreadable}"
        )
        self.summary_changed.emit(summary)

    def done(self, result: int) -> None:
        if self._dry_run is not None:
            self._dry_run.cancel()
        super().done(result)

    # -- result ----------------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        choice = self.collection.currentData()
        options: dict[str, Any] = {
            "paths": list(self.paths),
            "key_prefix": self.key_prefix.text().strip().strip("/") or None,
            "description": self.description.text().strip() or None,
            "as_folder": not self.per_file.isChecked(),
            "storage": self.storage.currentData(),
        }
        if choice == NEW_COLLECTION and self.collection_name.text().strip():
            options["collection"] = self.collection_name.text().strip()
        elif choice not in (NO_COLLECTION, NEW_COLLECTION):
            options["collection_uid"] = choice
        return options
