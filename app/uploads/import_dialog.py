"""The import dialog opened by a drop: key prefix, description, one folder artifact or one per
file, target storage, collection, and a dry run hashed in the background that says per item
what happens ("new", "already registered (uid)", "new version of KEY (v1 → v2)", skipped
clutter) and lets the user pick each item's key or version family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import Task, TaskContext, TaskRunner
from labshelf.app.data.formatting import human_size
from labshelf.app.data.transfers import KEYS
from labshelf.app.uploads.dry_run_model import (
    FILE,
    KEY,
    SIZE,
    STATUS,
    DryRunModel,
    choices,
)
from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QRadioButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

NO_COLLECTION, NEW_COLLECTION = "", "\0new"


class ChoiceDelegate(QStyledItemDelegate):
    """The "What happens" cell as a pick list: a new artifact, or the next version of a
    family that has the item's key or file name."""

    def createEditor(  # noqa: N802
        self,
        parent: QWidget,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> QWidget:
        model = index.model()
        assert isinstance(model, DryRunModel)
        box = named(QComboBox(parent), "familyChoice")
        for label, key in choices(model.rows[index.row()]):
            box.addItem(label, key)
        return box

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        assert isinstance(editor, QComboBox)
        model = index.model()
        assert isinstance(model, DryRunModel)
        found = editor.findData(model.rows[index.row()].get("key"))
        editor.setCurrentIndex(max(found, 0))

    def setModelData(  # noqa: N802
        self,
        editor: QWidget,
        model: QAbstractItemModel,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentData())


class ImportDialog(QDialog):
    """Asks how to import `paths`; `options()` is what `UploadManager.start` takes.

    Signals:
        summary_changed(summary): the dry run's counts changed (items, files, bytes, hashed,
            registered, in_trash, new, versions, unreadable, skipped).
    """

    summary_changed = Signal(dict)

    def __init__(self, paths: list[str], runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.setWindowTitle("Import")
        self.setMinimumWidth(760)
        self.paths = paths
        self._runner = runner
        self._dry_run: Task | None = None
        self.summary: dict[str, int] = {}
        self.items = DryRunModel(self)
        self.items.key_edited.connect(self._look_up_key)
        self._build()
        self._load_choices()
        self._restart_timer = QTimer(self, singleShot=True, interval=300)
        self._restart_timer.timeout.connect(self.start_dry_run)
        self.start_dry_run()

    def _build(self) -> None:
        names = ", ".join(Path(p).name for p in self.paths[:3]) + (
            " …" if len(self.paths) > 3 else ""
        )
        self.key_prefix = named(QLineEdit(), "keyPrefix")
        self.key_prefix.setPlaceholderText("optional, e.g. projects/imaging")
        self.description = named(QLineEdit(), "importDescription")
        self.as_folder = named(QRadioButton("One artifact per folder"), "asFolder")
        self.as_folder.setChecked(True)
        self.per_file = named(
            QRadioButton("One artifact per file (keys keep the relative paths)"), "perFile"
        )
        group = QButtonGroup(self)
        group.addButton(self.as_folder)
        group.addButton(self.per_file)
        has_folder = any(Path(p).is_dir() for p in self.paths)
        for button in (self.as_folder, self.per_file):
            button.setEnabled(has_folder)
        self.storage = named(QComboBox(), "importStorage")
        self.collection = named(QComboBox(), "importCollection")
        self.collection.addItem("No collection", NO_COLLECTION)
        self.collection.addItem("New collection named…", NEW_COLLECTION)
        self.collection_name = named(QLineEdit(), "collectionName")
        self.collection_name.setEnabled(False)
        self.collection.currentIndexChanged.connect(
            lambda _i: self.collection_name.setEnabled(
                self.collection.currentData() == NEW_COLLECTION
            )
        )
        self.keys = named(QLabel(), "keyExample")
        self.keys.setProperty("muted", True)
        self.summary_label = named(QLabel("Counting…", wordWrap=True), "dryRunSummary")
        # "Read metadata from meta.csv": offered when a dropped folder holds a table whose
        # column names the dropped files (issue 17); checked by default once offered
        self.read_metadata = named(QCheckBox(), "readMetadata")
        self.read_metadata.hide()
        self.metadata_note = named(QLabel(wordWrap=True), "metadataPreview")
        self.metadata_note.setProperty("muted", True)
        self.metadata_note.hide()
        self.metadata_offer: dict[str, Any] | None = None
        self.metadata_preview: dict[str, Any] | None = None
        self.item_view = self._item_table()
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
        form.addRow("", self.read_metadata)
        form.addRow("", self.metadata_note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.import_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        hint = named(
            QLabel(
                "Double-click a key to change it, or “What happens” to pick the artifact an item "
                "is a new version of.",
                wordWrap=True,
            ),
            "itemsHint",
        )
        hint.setProperty("muted", True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.item_view, 1)
        layout.addWidget(hint)
        layout.addWidget(self.summary_label)
        layout.addWidget(buttons)
        self.key_prefix.textChanged.connect(self._options_changed)
        self.per_file.toggled.connect(self._options_changed)
        self._show_key_example()

    def _item_table(self) -> QTableView:
        view = named(QTableView(), "importItems")
        view.setModel(self.items)
        view.setItemDelegateForColumn(STATUS, ChoiceDelegate(view))
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        rows = view.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # 10,000 rows: never measured
        rows.setDefaultSectionSize(view.fontMetrics().height() + 10)
        view.setWordWrap(False)
        view.setAlternatingRowColors(True)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keys keep their file names
        header = view.horizontalHeader()
        for column, width in ((FILE, 190), (KEY, 250), (SIZE, 90)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        view.setMinimumHeight(160)
        return view

    def _load_choices(self) -> None:
        self._look_for_metadata()
        self._runner.submit(
            lambda ctx: gateway.storage_roots(), done=self._fill_storages, name="storages"
        )
        self._runner.submit(
            lambda ctx: gateway.collection_names(),
            done=self._fill_collections,
            name="collections",
        )

    def _look_for_metadata(self) -> None:
        paths = list(self.paths)
        if any(Path(p).is_dir() for p in paths):
            self._runner.submit(
                lambda ctx: gateway.find_metadata_tables(paths),
                done=self._offer_metadata,
                error=lambda msg, _d: None,  # no offer; the import itself is unaffected
                name="metadata tables",
            )

    def _offer_metadata(self, offers: list[dict[str, Any]]) -> None:
        if not offers:
            return
        offer = self.metadata_offer = offers[0]
        name = Path(offer["table"]).name
        self.read_metadata.setText(f"Read metadata from {name}")
        self.read_metadata.setToolTip(offer["table"])
        self.read_metadata.setChecked(True)
        self.read_metadata.show()
        self.metadata_note.setText(
            f"Reading {name} (column “{offer['column']}”: {offer['matches']:,} of "
            f"{offer['rows']:,} rows name dropped files)…"
        )
        self.metadata_note.show()
        paths, table = list(self.paths), offer["table"]
        self._runner.submit(
            lambda ctx: gateway.preview_metadata(table, paths),
            done=self._show_metadata_preview,
            error=lambda msg, _d: self.metadata_note.setText(f"{name} cannot be read: {msg}"),
            name="metadata preview",
        )

    def _show_metadata_preview(self, report: dict[str, Any]) -> None:
        self.metadata_preview = report
        self.metadata_note.setText(metadata_text(report))

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
        """Hash what would be imported (in the background) and say per item what happens."""
        if self._dry_run is not None:
            self._dry_run.cancel()
        paths, prefix, as_folder = (
            list(self.paths),
            self.key_prefix.text().strip() or None,
            not self.per_file.isChecked(),
        )
        keys = self.items.explicit_keys()  # the user's choices survive a new dry run
        self.items.reset(paths)

        def work(ctx: TaskContext) -> dict[str, Any]:
            def report(value: dict[str, Any]) -> None:
                ctx.progress(value, force=True)  # every report carries rows: none may be lost

            return gateway.dry_run(
                paths, prefix, as_folder, report, lambda: ctx.cancelled, keys=keys
            )

        self._dry_run = self._runner.submit(
            work,
            progress=self._on_report,
            error=lambda msg, _d: self.summary_label.setText(f"The dry run failed: {msg}"),
            name="dry run",
        )

    def _on_report(self, report: dict[str, Any]) -> None:
        self.items.apply(report)
        self._show_summary(report["summary"])

    def _show_summary(self, summary: dict[str, int]) -> None:
        self.summary = summary
        invalid = len(self.items.invalid_rows())
        self.import_button.setEnabled(not invalid and summary["items"] > 0)
        self.summary_label.setText(summary_text(summary, invalid))
        self.summary_changed.emit(summary)

    def _look_up_key(self, row: int, key: str) -> None:
        """A typed key: which family (if any) it continues, on a worker."""
        self._show_summary(self.summary)

        def settle(family: dict[str, Any] | None) -> None:
            self.items.set_family(row, key, family)
            self._show_summary(self.summary)

        def refuse(message: str, _details: str) -> None:
            self.items.set_invalid(row, key, message)
            self._show_summary(self.summary)

        self._runner.submit(
            lambda ctx: gateway.key_family(key), done=settle, error=refuse, name="key family"
        )

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
        keys = self.items.chosen_keys()
        if keys:
            options[KEYS] = keys
        if choice == NEW_COLLECTION and self.collection_name.text().strip():
            options["collection"] = self.collection_name.text().strip()
        elif choice not in (NO_COLLECTION, NEW_COLLECTION):
            options["collection_uid"] = choice
        return options

    @property
    def metadata_table(self) -> str | None:
        """The table to read for the imported artifacts once the upload is done (None: the
        offer was declined or there was none)."""
        if self.metadata_offer is None or not self.read_metadata.isChecked():
            return None
        return str(self.metadata_offer["table"])


def metadata_text(report: dict[str, Any]) -> str:
    """The dry run of a metadata table in one line: "12 of 13 rows match a file · features
    stain, temperature · 1 value refused (row 2, length: 4,9)"."""
    matched, rows = len(report["matched"]), report["rows"]
    parts = [f"{matched:,} of {rows:,} rows match a file"]
    features = [f["feature"] for f in report["features"]]
    if features:
        parts.append("features " + ", ".join(features))
    if report["unmatched"]:
        parts.append(f"{len(report['unmatched']):,} unmatched")
    refused = report["refused"]
    if refused:
        first = refused[0]
        parts.append(
            f"{len(refused):,} value{'s' if len(refused) != 1 else ''} refused "
            f"(row {first['row']}, {first['column']}: {first['value']})"
        )
    return " · ".join(parts) + " — read after the upload."


def summary_text(summary: dict[str, int], invalid: int = 0) -> str:
    """ "3 artifacts from 3 files, 1.2 MB · 1 new · 1 new version · …" (the dialog's summary)."""
    items, files = summary["items"], summary["files"]
    head = (
        f"{items:,} artifact{'s' if items != 1 else ''} from {files:,} "
        f"file{'s' if files != 1 else ''}, {human_size(summary['bytes'])}"
    )
    if summary["hashed"] < items:
        parts = [f"checking {summary['hashed']:,} of {items:,}…"]
    else:
        parts = [
            f"{summary[name]:,} {label}"
            for name, label in (
                ("new", "new"),
                ("versions", "new version" if summary["versions"] == 1 else "new versions"),
                ("registered", "already registered"),
                ("in_trash", "in the trash (restore instead)"),
            )
            if summary.get(name)
        ]
    parts += [
        f"{summary[name]:,} {label}"
        for name, label in (
            ("unreadable", "unreadable"),
            ("skipped", "skipped (operating-system clutter)"),
        )
        if summary.get(name)
    ]
    if invalid:
        parts.append(f"{invalid} invalid key{'s' if invalid != 1 else ''}: fix or undo to import")
    return " · ".join([head, *parts])
