"""`detailsPanel`: the selected record's fields, editable description, versions, preview,
lineage and describe() tree. Everything is fetched on a worker through the gateway.
"""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.data import registries
from labshelf.app.data.formatting import format_value
from labshelf.app.lineage.panel import LineagePanel
from labshelf.app.preview.pane import PreviewPane
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

TITLE_FIELDS = ("key", "name", "handle", "root", "transform__name")  # the first one set


class DetailsPanel(QWidget):
    """Shows one record; emits requests the window carries out (with its actions).

    Signals:
        loaded(details): the record's fields, versions and describe() text arrived.
        version_selected(uid): another version of the record was clicked.
        make_latest_requested(uid): "Make this the latest" for that version.
        description_saved(registry, uid): the edited description is stored.
    """

    loaded = Signal(dict)
    version_selected = Signal(str)
    make_latest_requested = Signal(str)
    description_saved = Signal(str, str)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailsPanel")
        self._runner = runner
        self._generation = 0
        self.details: dict[str, Any] = {}
        self.title = QLabel("Nothing selected", objectName="detailsTitle", wordWrap=True)
        self.subtitle = QLabel(objectName="detailsSubtitle")
        self.subtitle.setProperty("muted", True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview = PreviewPane(runner)
        self.preview.setObjectName("previewPane")
        self.loaded.connect(self.preview.offer_versions)  # "Compare with" another version
        self.lineage = LineagePanel(runner)
        self.describe_text = QPlainTextEdit(readOnly=True, objectName="describeText")
        self.describe_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.actions_box = QWidget(objectName="recordActions")
        self.actions_row = QHBoxLayout(self.actions_box)
        self.actions_row.setContentsMargins(0, 0, 0, 0)
        self._build()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        overview = QWidget()
        column = QVBoxLayout(overview)
        column.addWidget(self.title)
        column.addWidget(self.subtitle)
        column.addWidget(self.actions_box)
        column.addLayout(self.form)
        column.addWidget(QLabel("Description"))
        column.addWidget(self._description_editor())
        column.addWidget(QLabel("Versions"))
        column.addWidget(self._version_box())
        column.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(overview)
        self.tabs = QTabWidget(objectName="detailsTabs")
        self.tabs.addTab(self.preview, "Preview")
        self.tabs.addTab(self.lineage, "Lineage")
        self.tabs.addTab(self.describe_text, "Describe")
        self.splitter = QSplitter(Qt.Orientation.Vertical, objectName="detailsSplitter")
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(self.tabs)
        self.splitter.setSizes([300, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def _description_editor(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.description = QPlainTextEdit(objectName="descriptionEdit")
        self.description.setFixedHeight(60)
        self.save_description = QPushButton("Save", enabled=False, objectName="saveDescription")
        self.description.textChanged.connect(lambda: self.save_description.setEnabled(True))
        self.save_description.clicked.connect(self._save_description)
        row.addWidget(self.description, 1)
        row.addWidget(self.save_description, 0, Qt.AlignmentFlag.AlignTop)
        return box

    def _version_box(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.version_list = QListWidget(objectName="versionList")
        self.version_list.setMaximumHeight(120)
        self.version_list.itemClicked.connect(self._on_version_clicked)
        self.make_latest = QPushButton(
            "Make this the latest", enabled=False, objectName="makeLatest"
        )
        self.make_latest.clicked.connect(self._request_make_latest)
        self.version_list.currentItemChanged.connect(self._update_make_latest)
        column.addWidget(self.version_list)
        column.addWidget(self.make_latest, 0, Qt.AlignmentFlag.AlignLeft)
        return box

    def set_actions(self, actions: list[QAction]) -> None:
        """The record actions shown as buttons above the fields."""
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.actions_row.addWidget(button)
        self.actions_row.addStretch(1)

    # -- content -------------------------------------------------------------------------
    @property
    def current(self) -> tuple[str, str] | None:
        if not self.details:
            return None
        return self.details["registry"], self.details["uid"]

    def clear(self) -> None:
        self._generation += 1
        self.details = {}
        self.title.setText("Nothing selected")
        self.subtitle.clear()
        self._fill_form({})
        self.description.blockSignals(True)
        self.description.clear()
        self.description.blockSignals(False)
        self.save_description.setEnabled(False)
        self.actions_box.hide()
        self.version_list.clear()
        self.make_latest.setEnabled(False)
        self.describe_text.clear()
        self.preview.show_message("Select an artifact to preview it.")
        self.lineage.clear()

    def show_record(self, registry: str, uid: str, title: str = "") -> None:
        """Fetch and show a record (fields, versions, preview, lineage); `title` names it
        in the preview (e.g. its key) instead of the stored file's name."""
        self._generation += 1
        gen = self._generation
        self.title.setText("Loading…")
        look = registries.LOOKS[registry]
        self._runner.submit(
            lambda ctx: gateway.record_details(registry, uid, look.detail_fields),
            done=lambda details: self._on_details(gen, details),
            error=lambda msg, _d: self._on_error(gen, msg),
            name="details",
        )
        self.actions_box.setVisible(look.content)
        if look.content:
            self.preview.load(lambda ctx: gateway.local_path(uid), "Fetching the content…", title)
        else:
            self.preview.show_message(f"{registry} records have no content to preview.")
        if look.lineage:
            self.lineage.show_record(registry, uid)
        else:
            self.lineage.clear()

    def _on_error(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.title.setText("Cannot show this record")
            self.subtitle.setText(message)

    def _on_details(self, gen: int, details: dict[str, Any]) -> None:
        if gen != self._generation:
            return
        self.details = details
        fields = details["fields"]
        self.title.setText(
            str(next((fields[f] for f in TITLE_FIELDS if fields.get(f)), details["uid"]))
        )
        self.subtitle.setText(f"{details['registry']} · {details['uid']}")
        self._fill_form(fields)
        self.description.blockSignals(True)
        self.description.setPlainText(str(fields.get("description") or ""))
        self.description.blockSignals(False)
        self.description.setEnabled("description" in fields)
        self.save_description.setEnabled(False)
        self._fill_versions(details.get("versions", []), details["uid"])
        self.describe_text.setPlainText(details.get("describe", ""))
        self.loaded.emit(details)

    def _fill_form(self, fields: dict[str, Any]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for name, value in fields.items():
            if name in ("description", "uid") or value in (None, ""):
                continue
            label = QLabel(format_value(registries.field_look(name).kind, value), wordWrap=True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(name.replace("__", " ").replace("_", " ") + ":", label)

    def _fill_versions(self, versions: list[dict[str, Any]], uid: str) -> None:
        self.version_list.clear()
        for version in versions:
            latest = "  · latest" if version.get("is_latest") else ""
            when = format_value("time", version.get("created_at"))
            item = QListWidgetItem(
                f"v{version.get('version') or '?'}  {version['uid']}  {when}{latest}"
            )
            item.setData(Qt.ItemDataRole.UserRole, version["uid"])
            item.setData(Qt.ItemDataRole.UserRole + 1, bool(version.get("is_latest")))
            self.version_list.addItem(item)
            if version["uid"] == uid:
                self.version_list.setCurrentItem(item)

    def _on_version_clicked(self, item: QListWidgetItem) -> None:
        uid = item.data(Qt.ItemDataRole.UserRole)
        if self.details and uid != self.details["uid"]:
            self.version_selected.emit(uid)

    def _update_make_latest(self, item: QListWidgetItem | None) -> None:
        self.make_latest.setEnabled(
            item is not None and not item.data(Qt.ItemDataRole.UserRole + 1)
        )

    def _request_make_latest(self) -> None:
        item = self.version_list.currentItem()
        if item is not None:
            self.make_latest_requested.emit(item.data(Qt.ItemDataRole.UserRole))

    def _save_description(self) -> None:
        if not self.details:
            return
        registry, uid = self.details["registry"], self.details["uid"]
        text = self.description.toPlainText().strip()
        self.save_description.setEnabled(False)
        self._runner.submit(
            lambda ctx: gateway.set_description(registry, uid, text),
            done=lambda _r: self.description_saved.emit(registry, uid),
            error=lambda msg, _d: self.subtitle.setText(f"Saving the description failed: {msg}"),
            name="save description",
        )
