"""`detailsPanel`: the selected record as a scientist reads it — what it is, where it came
from, its versions and collections — with the internals under a collapsed "Technical"
section, the actions that apply as buttons, and the preview, lineage and describe() tree
in tabs below. Everything is fetched on a worker through the gateway; the words come from
`labshelf.app.data.details`.

Sections are kept in `sections` by name, one per kind of information, so that a new kind
(labels, features) is one more `add_section`.
"""

from __future__ import annotations

from html import escape
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.flow_layout import FlowLayout
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.browser.annotations_box import AnnotationsBox
from labshelf.app.data import registries
from labshelf.app.data.details import DetailsView, Line, details_view
from labshelf.app.data.formatting import format_value, version_text
from labshelf.app.lineage.panel import LineagePanel
from labshelf.app.preview.pane import PreviewPane
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase, QTextOption
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

NOTHING = "Nothing selected"
ANNOTATED = ("Artifact", "Collection")  # registries that carry labels and feature values
LIST_ROWS = 5  # the versions and collections lists show this many rows, then scroll


def _fit_rows(view: QListWidget) -> None:
    """As tall as its rows (up to `LIST_ROWS`)."""
    rows = min(max(view.count(), 1), LIST_ROWS)
    height = max(view.sizeHintForRow(0), view.fontMetrics().height() + 2)
    view.setFixedHeight(rows * height + 2 * view.frameWidth() + 2)


class Section(QWidget):
    """A titled block of the panel; `collapsible` ones start folded (Technical)."""

    def __init__(self, title: str, name: str, collapsible: bool = False) -> None:
        super().__init__()
        self.setObjectName(f"section_{name}")
        self.header = named(QToolButton(), f"sectionHeader_{name}")
        self.header.setText(title)
        self.header.setProperty("sectionHeader", True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.body = QWidget()
        self.content = QVBoxLayout(self.body)
        self.content.setContentsMargins(0, 0, 0, 0)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 6, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.header, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.body)
        if collapsible:
            self.header.setCheckable(True)
            self.header.setArrowType(Qt.ArrowType.RightArrow)
            self.header.toggled.connect(self.set_open)
            self.body.hide()
        else:
            self.header.setEnabled(True)
            self.header.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def set_open(self, open_: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)

    @property
    def is_open(self) -> bool:
        return not self.body.isHidden()


class FieldsForm(QWidget):
    """Label: text rows; texts can be selected, and lines with a link open that record."""

    link_activated = Signal(str, str)  # registry, uid

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.lines: list[Line] = []

    def set_lines(self, lines: list[Line], links: dict[str, tuple[str, str]] | None = None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.lines = list(lines)
        for label, text in lines:
            value = QLabel(wordWrap=True)
            value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            target = (links or {}).get(label)
            if target is not None:
                value.setText(f'<a href="{target[0]}:{target[1]}">{escape(text)}</a>')
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
                value.linkActivated.connect(self._open_link)
            else:
                value.setText(text)
                value.setTextFormat(Qt.TextFormat.PlainText)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setToolTip(text if len(text) > 40 else "")
            caption = QLabel(f"{label}:")
            caption.setProperty("muted", True)
            self.form.addRow(caption, value)

    def _open_link(self, href: str) -> None:
        registry, _, uid = href.partition(":")
        self.link_activated.emit(registry, uid)


class DetailsPanel(QWidget):
    """Shows one record; emits requests the window carries out (with its actions).

    Signals:
        loaded(details): the record's summary arrived (the gateway's `record_summary`).
        version_selected(uid): another version of the record was clicked.
        make_latest_requested(registry, uid): "Make this the latest" for that version.
        description_saved(registry, uid, before): the edited description is stored.
        record_requested(registry, uid): a collection, transform, run or user was clicked.
        annotations_changed(what, undo): a label was added or removed here; `undo()` (a
            gateway call, for a worker) reverses it.
    """

    loaded = Signal(dict)
    version_selected = Signal(str)
    make_latest_requested = Signal(str, str)
    description_saved = Signal(str, str, str)
    record_requested = Signal(str, str)
    annotations_changed = Signal(str, object)
    # the scroll area shadows QWidget.scroll(), which nothing here calls
    scroll: QScrollArea  # type: ignore[assignment]

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailsPanel")
        self._runner = runner
        self._generation = 0
        self.details: dict[str, Any] = {}
        self.view: DetailsView | None = None
        self._wanted: tuple[str, str] | None = None
        self._switching_tab = False  # the panel (not the user) is changing the tab
        self.title = named(QLabel(NOTHING, wordWrap=True), "detailsTitle")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = named(QLabel(wordWrap=True), "detailsSubtitle")
        self.subtitle.setProperty("muted", True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview = PreviewPane(runner)
        self.preview.setObjectName("previewPane")
        self.loaded.connect(self.preview.offer_versions)  # "Compare with" another version
        self.lineage = LineagePanel(runner)
        self.describe_text = named(QPlainTextEdit(readOnly=True), "describeText")
        self.describe_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.describe_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.describe_text.setWordWrapMode(QTextOption.WrapMode.NoWrap)
        self.actions_box = named(QWidget(), "recordActions")
        self.actions_row = FlowLayout(self.actions_box)
        self.sections: dict[str, Section] = {}
        self._build()
        self.clear()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.overview_form = FieldsForm("overviewFields")
        self.provenance_form = FieldsForm("provenanceFields")
        self.technical_form = FieldsForm("technicalFields")
        for form in (self.overview_form, self.provenance_form, self.technical_form):
            form.link_activated.connect(self.record_requested)
        self.overview = named(QWidget(), "detailsOverview")
        self._column = QVBoxLayout(self.overview)
        self._column.addWidget(self.title)
        self._column.addWidget(self.subtitle)
        self._column.addWidget(self.actions_box)
        self.add_section("about", "About", self.overview_form)
        self.add_section("description", "Description", self._description_editor())
        self.add_section("versions", "Versions", self._version_box())
        self.add_section("collections", "In collections", self._collection_list())
        self.annotations = AnnotationsBox(self._runner)
        self.annotations.changed.connect(self.annotations_changed)
        self.annotations.failed.connect(self.subtitle.setText)
        self.add_section("labels", "Labels && features", self.annotations)
        self.add_section("provenance", "Provenance", self.provenance_form)
        self.add_section("technical", "Technical", self.technical_form, collapsible=True)
        self._column.addStretch(1)
        self.scroll = named(QScrollArea(widgetResizable=True), "detailsScroll")
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.overview)
        self.tabs = named(QTabWidget(), "detailsTabs")
        self.tabs.addTab(self.preview, "Preview")
        self.tabs.addTab(self.lineage, "Lineage")
        self.tabs.addTab(self.describe_text, "Describe")
        self._preferred_tab: QWidget = self.preview
        self.tabs.currentChanged.connect(self._tab_chosen)
        self.splitter = named(QSplitter(Qt.Orientation.Vertical), "detailsSplitter")
        self.splitter.addWidget(self.scroll)
        self.splitter.addWidget(self.tabs)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([380, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.setMinimumWidth(300)

    def add_section(
        self, name: str, title: str, widget: QWidget, collapsible: bool = False
    ) -> Section:
        """A section of its own for one kind of information, above Technical (which stays
        last); hidden while nothing is shown."""
        section = Section(title, name, collapsible)
        section.content.addWidget(widget)
        technical = self.sections.get("technical")
        index = self._column.indexOf(technical) if technical is not None else -1
        if index >= 0:
            self._column.insertWidget(index, section)
        else:
            self._column.addWidget(section)
        self.sections[name] = section
        return section

    def _description_editor(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.description = named(QPlainTextEdit(), "descriptionEdit")
        self.description.setFixedHeight(60)
        self.description.setPlaceholderText("What is this? (saved for everyone)")
        self.save_description = named(QPushButton("Save"), "saveDescription")
        self.save_description.setEnabled(False)
        self.description.textChanged.connect(self._description_edited)
        self.save_description.clicked.connect(self._save_description)
        row.addWidget(self.description, 1)
        row.addWidget(self.save_description, 0, Qt.AlignmentFlag.AlignTop)
        return box

    def _version_box(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.version_list = named(QListWidget(), "versionList")
        self.version_list.itemClicked.connect(self._on_version_clicked)
        self.make_latest = named(QPushButton("Make this the latest…"), "makeLatest")
        self.make_latest.setEnabled(False)
        self.make_latest.setToolTip(
            "Publish the chosen version's content again as the family's new latest version"
        )
        self.make_latest.clicked.connect(self._request_make_latest)
        self.version_list.currentItemChanged.connect(self._update_make_latest)
        column.addWidget(self.version_list)
        column.addWidget(self.make_latest, 0, Qt.AlignmentFlag.AlignLeft)
        return box

    def _collection_list(self) -> QWidget:
        self.collection_list = named(QListWidget(), "inCollections")
        self.collection_list.itemActivated.connect(self._open_collection)
        self.collection_list.itemClicked.connect(self._open_collection)
        return self.collection_list

    def set_actions(self, actions: list[QAction]) -> None:
        """The record actions shown as buttons above the fields; a button shows only while
        its action applies (is enabled)."""
        for action in actions:
            button = named(QToolButton(), f"button_{action.objectName() or action.text()}")
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setVisible(action.isEnabled())
            action.changed.connect(lambda b=button, a=action: self._show_button(b, a))
            self.actions_row.addWidget(button)

    def _show_button(self, button: QToolButton, action: QAction) -> None:
        if button.isVisibleTo(self.actions_box) != action.isEnabled():
            button.setVisible(action.isEnabled())
            self.actions_row.invalidate()

    # -- content -------------------------------------------------------------------------
    @property
    def current(self) -> tuple[str, str] | None:
        """(registry, uid) of the record shown, once its details arrived."""
        if not self.details:
            return None
        return self.details["registry"], self.details["uid"]

    @property
    def wanted(self) -> tuple[str, str] | None:
        """(registry, uid) of the record shown or being loaded."""
        return self._wanted

    def clear(self, hint: str = "Select a row to see what it is and where it came from.") -> None:
        self._generation += 1
        self._wanted = None
        self.details = {}
        self.view = None
        self.title.setText(NOTHING)
        self.subtitle.setText(hint)
        self.actions_box.hide()
        for section in self.sections.values():
            section.hide()
        self._set_description("", editable=False)
        self.version_list.clear()
        self.make_latest.setEnabled(False)
        self.describe_text.clear()
        self.preview.show_message("Select an artifact to preview it.")
        self.lineage.clear()
        self.annotations.clear()
        self.scroll.verticalScrollBar().setValue(0)

    def show_record(self, registry: str, uid: str, title: str = "") -> None:
        """Fetch and show a record (fields, versions, preview, lineage); `title` names it
        in the preview (e.g. its key) instead of the stored file's name."""
        if self._wanted == (registry, uid):
            return
        self._generation += 1
        gen = self._generation
        self._wanted = (registry, uid)
        self.details = {}
        self.title.setText(title or "Loading…")
        self.subtitle.setText("")
        self.scroll.verticalScrollBar().setValue(0)
        look = registries.LOOKS[registry]
        self._runner.submit(
            lambda ctx: gateway.record_summary(registry, uid, look.detail_fields),
            done=lambda summary: self._on_details(gen, summary),
            error=lambda msg, _d: self._on_error(gen, msg),
            name="details",
        )
        self.actions_box.show()
        if look.content:
            self.preview.load(lambda ctx: gateway.local_path(uid), "Fetching the content…", title)
        else:
            self.preview.show_message(f"{look.label} have no file content to preview.")
        self._choose_tab(look.content, look.lineage)
        if registry in ANNOTATED:
            self.annotations.show_record(registry, uid)
        else:
            self.annotations.clear()
        if look.lineage:
            self.lineage.show_record(registry, uid)
        else:
            self.lineage.clear()

    def _choose_tab(self, content: bool, lineage: bool) -> None:
        """Only the tabs that apply are enabled (no preview without a file, no lineage for
        users); the one the user chose last is shown when it applies, else the first that
        does."""
        tabs = (self.preview, self.lineage, self.describe_text)
        self._switching_tab = True  # disabling the current tab moves to another one too
        try:
            for widget, applies in zip(tabs, (content, lineage, True), strict=True):
                self.tabs.setTabEnabled(self.tabs.indexOf(widget), applies)
            wanted = self._preferred_tab
            if not self.tabs.isTabEnabled(self.tabs.indexOf(wanted)):
                wanted = next(w for w in tabs if self.tabs.isTabEnabled(self.tabs.indexOf(w)))
            self.tabs.setCurrentWidget(wanted)
        finally:
            self._switching_tab = False

    def _tab_chosen(self, index: int) -> None:
        if not self._switching_tab and index >= 0:
            tab = self.tabs.widget(index)
            assert tab is not None  # currentChanged gives a valid index when >= 0
            self._preferred_tab = tab

    def reload(self) -> None:
        """Read the record shown again (after an edit, here or elsewhere)."""
        if self._wanted is not None:
            registry, uid = self._wanted
            self._wanted = None
            self.show_record(registry, uid, self.title.text())

    def _on_error(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.title.setText("Cannot show this record")
            self.subtitle.setText(message)
            self.actions_box.hide()  # no buttons for a record that could not be read

    def _on_details(self, gen: int, summary: dict[str, Any]) -> None:
        if gen != self._generation:
            return
        self.details = summary
        view = details_view(summary, gateway.kind_of)
        self.view = view
        self.title.setText(view.title)
        self.subtitle.setText(view.subtitle)
        self.overview_form.set_lines(view.overview, view.links)
        self.provenance_form.set_lines(view.provenance, view.links)
        self.technical_form.set_lines(view.technical, view.links)
        self._show_section("about", bool(view.overview))
        self._show_section("provenance", bool(view.provenance))
        self._show_section("technical", True)
        self._show_section("labels", summary["registry"] in ANNOTATED and not view.in_trash)
        self._show_section("description", view.has_description)
        self._set_description(view.description, editable=view.has_description and not view.in_trash)
        self._fill_versions(summary.get("versions", []), summary["uid"], view)
        self._fill_collections(view.collections)
        self.describe_text.setPlainText(summary.get("describe", ""))
        self.scroll.verticalScrollBar().setValue(0)
        self.loaded.emit(summary)

    def _show_section(self, name: str, shown: bool) -> None:
        self.sections[name].setVisible(shown)

    def _set_description(self, text: str, editable: bool) -> None:
        self.description.blockSignals(True)
        self.description.setPlainText(text)
        self.description.blockSignals(False)
        self.description.setReadOnly(not editable)
        self.save_description.setEnabled(False)

    def _fill_versions(self, versions: list[dict[str, Any]], uid: str, view: DetailsView) -> None:
        self.version_list.clear()
        self._show_section("versions", view.versioned and bool(versions))
        self.make_latest.setVisible(view.can_make_latest)
        for version in versions:
            latest = "  · latest" if version.get("is_latest") else ""
            when = format_value("time", version.get("created_at"))
            label = version_text(version.get("version")) or "?"
            item = QListWidgetItem(f"{label}  {when}{latest}")
            item.setToolTip(version["uid"])
            item.setData(Qt.ItemDataRole.UserRole, version["uid"])
            item.setData(Qt.ItemDataRole.UserRole + 1, bool(version.get("is_latest")))
            self.version_list.addItem(item)
            if version["uid"] == uid:
                self.version_list.setCurrentItem(item)
        _fit_rows(self.version_list)

    def _fill_collections(self, collections: list[dict[str, Any]]) -> None:
        self.collection_list.clear()
        for collection in collections:
            latest = "" if collection.get("is_latest") else " (an older version)"
            item = QListWidgetItem(
                f"{collection['name']} {version_text(collection.get('version'))}{latest}"
            )
            item.setData(Qt.ItemDataRole.UserRole, collection["uid"])
            self.collection_list.addItem(item)
        _fit_rows(self.collection_list)
        self._show_section("collections", bool(collections))

    def _open_collection(self, item: QListWidgetItem) -> None:
        self.record_requested.emit("Collection", item.data(Qt.ItemDataRole.UserRole))

    def _on_version_clicked(self, item: QListWidgetItem) -> None:
        uid = item.data(Qt.ItemDataRole.UserRole)
        if self.details and uid != self.details["uid"]:
            self.version_selected.emit(uid)

    def _update_make_latest(self, item: QListWidgetItem | None) -> None:
        self.make_latest.setEnabled(
            item is not None
            and not item.data(Qt.ItemDataRole.UserRole + 1)
            and self.view is not None
            and self.view.can_make_latest
        )

    def _request_make_latest(self) -> None:
        item = self.version_list.currentItem()
        if item is not None and self.details:
            self.make_latest_requested.emit(
                self.details["registry"], item.data(Qt.ItemDataRole.UserRole)
            )

    def _description_edited(self) -> None:
        if self.view is not None and self.view.has_description:
            changed = self.description.toPlainText().strip() != self.view.description.strip()
            self.save_description.setEnabled(changed)

    def _save_description(self) -> None:
        if not self.details or self.view is None:
            return
        registry, uid = self.details["registry"], self.details["uid"]
        text = self.description.toPlainText().strip()
        self.save_description.setEnabled(False)
        self._runner.submit(
            lambda ctx: gateway.set_description(registry, uid, text),
            done=lambda before: self._saved(registry, uid, text, before),
            error=lambda msg, _d: self.subtitle.setText(f"Saving the description failed: {msg}"),
            name="save description",
        )

    def _saved(self, registry: str, uid: str, text: str, before: str) -> None:
        if self.view is not None and self.current == (registry, uid):
            self.view.description = text
        self.description_saved.emit(registry, uid, before)
