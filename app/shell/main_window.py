"""`mainWindow`: registries on the left, the table (or thumbnail grid) in the centre, the
selected record on the right, the transfer queue below. The window arranges the rooms
(browser, preview, lineage, uploads) and carries the menus (`labshelf.app.shell.actions`);
all data comes from workers (`labshelf.app.base.tasks`) through the gateway.

One subject at a time: the selected rows (kept on the same records by id across reloads,
`SelectionKeeper`), or — when no row is selected — the record the details show (a version
picked there, a node clicked in the lineage). The details, the enabled actions and the
commands all follow it. Each page (registry, trash) keeps its own search, filters and
"all versions" choice. The catalog is live: what other windows or users save appears within
a couple of seconds (`LiveCatalog`).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.base.theme import icon, set_icon, theme_signals
from labshelf.app.browser.collection_browser import CollectionBrowser
from labshelf.app.browser.details_panel import DetailsPanel
from labshelf.app.browser.drag_out import OWN_FORMAT, DragOut
from labshelf.app.browser.empty_state import EmptyStateOverlay
from labshelf.app.browser.filter_bar import FilterBar, Filters
from labshelf.app.browser.label_tree import LabelTree
from labshelf.app.browser.registry_table import RegistryTable, apply_columns
from labshelf.app.browser.selection import SelectionKeeper
from labshelf.app.browser.table_model import RECORD_ROLE, UID_ROLE, RegistryTableModel
from labshelf.app.browser.thumbnail_grid import ThumbnailGrid
from labshelf.app.browser.trash_page import TrashPage
from labshelf.app.data import registries
from labshelf.app.data.empty_states import empty_state
from labshelf.app.data.formatting import count_of
from labshelf.app.data.registries import LOOKS, TRASH_PAGE
from labshelf.app.data.rows import CoreRowSource, TableQuery
from labshelf.app.data.transfers import ItemState, default_store
from labshelf.app.preview.thumbnails import ThumbnailCache
from labshelf.app.shell.actions import ACTIONS, Actions, Page
from labshelf.app.shell.app_settings import AppSettings, open_settings
from labshelf.app.shell.commands import Commands
from labshelf.app.shell.live import LiveCatalog
from labshelf.app.shell.recent import RecentInstances
from labshelf.app.shell.settings_dialog import SettingsDialog
from labshelf.app.shell.undo import UndoHistory
from labshelf.app.uploads.drop_zone import DropZone, local_paths
from labshelf.app.uploads.import_dialog import ImportDialog
from labshelf.app.uploads.manager import UploadManager
from labshelf.app.uploads.queue_dock import UploadQueueDock
from labshelf.app.uploads.quit_prompt import ask_close_choice
from labshelf.app.watching.dialog import WatchFolderDialog
from labshelf.app.watching.manager import WatchManager
from labshelf.app.watching.panel import WatchPanel
from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SEARCH_DEBOUNCE_MS = 250
SELECT_DEBOUNCE_MS = 60
CENTER_MIN_WIDTH = 360
QUEUE_HEIGHT = 190  # the transfer queue's share when it opens (the table keeps the rest)
AFTER_FIRST_ROWS_MS = 300  # the live feed starts this long after the first rows are painted


@dataclass
class BrowseState:
    """What one page remembers while another is shown: search, filter chips, versions."""

    search: str = ""
    filters: Filters = field(default_factory=dict)
    all_versions: bool = False


class MainWindow(QMainWindow):
    """The browser window on the current instance, showing Artifacts first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("labshelf")
        self.runner = TaskRunner(parent=self)
        self.thumb_runner = TaskRunner(max_threads=2, parent=self)
        self.source = CoreRowSource()
        self.model = RegistryTableModel(self.source, self.runner, self)
        thumb_size = AppSettings.load().thumbnail_size
        self.thumbs = ThumbnailCache(
            self.thumb_runner,
            locate=lambda uid, ctx: gateway.local_path(uid),
            folder=lambda: gateway.thumbnail_folder(thumb_size),
            size=thumb_size,
            parent=self,
        )
        self.transfer_runner = TaskRunner(parent=self)  # long uploads never starve the table
        self.uploads = UploadManager(self.transfer_runner, default_store(), self)
        self.undo_history = UndoHistory(self)
        self.recent = RecentInstances(self.runner, self)
        self.live = LiveCatalog(self)
        self.drag_out = DragOut(self.runner, self)
        self.states: dict[str, BrowseState] = {}
        self._page = "Artifact"
        self._close_when_done = False
        self._wanted_row_id: int | None = None
        self._query_changed = False  # the user changed the query: the next load may drop rows
        self._heap_frozen = False
        self._metadata_tables: dict[int, str] = {}  # drop id -> table to read when it ends
        self.metadata_report: dict[str, Any] | None = None  # the last one read
        self._has_saved_layout = False
        self._build_center()
        self.details = DetailsPanel(self.runner)
        self._build_splitter()
        self._build_status_bar()
        self._build_uploads()
        self._build_watches()
        self.commands = Commands(self, self)
        self.actions_ = Actions(
            ACTIONS, self.commands, self, (self.table, self.grid, self.trash_page.view)
        )
        self.actions_.fill_menus(self.menuBar())
        self.details.set_actions(self.actions_.buttons())
        self._connect()
        self._restore_settings()
        if self.model.spec is not None:  # known already (another window loaded it): no signal
            self._on_columns()
        self.refresh_instance()
        self.uploads.load_unfinished(self._offer_resume)
        # What the first rows need not wait for starts once they are in (threads started
        # now would compete with the first page for the GIL).
        self.model.loaded.connect(self._after_first_rows, Qt.ConnectionType.SingleShotConnection)

    # -- building ------------------------------------------------------------------------
    def _build_center(self) -> None:
        self.registry_list = named(QListWidget(), "registryList")
        for name, look in LOOKS.items():
            item = QListWidgetItem(look.label)
            set_icon(item, look.icon)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.registry_list.addItem(item)
        trash = QListWidgetItem(TRASH_PAGE)
        set_icon(trash, "trash")
        trash.setData(Qt.ItemDataRole.UserRole, TRASH_PAGE)
        self.registry_list.addItem(trash)
        widest = max(
            self.registry_list.fontMetrics().horizontalAdvance(self.registry_list.item(i).text())
            for i in range(self.registry_list.count())
        )
        self.registry_list.setMinimumWidth(widest + 64)  # icon, padding: labels never cut
        self.label_tree = LabelTree(self.runner)
        self.sidebar = named(QSplitter(Qt.Orientation.Vertical), "sidebar")
        self.sidebar.addWidget(self.registry_list)
        self.sidebar.addWidget(self.label_tree)
        self.sidebar.setChildrenCollapsible(False)
        rows = self.registry_list.count() * self.registry_list.sizeHintForRow(0)
        self.registry_list.setMinimumHeight(min(rows, 120))
        self.sidebar.setSizes([rows + 2 * self.registry_list.frameWidth() + 4, 400])
        self.sidebar.setStretchFactor(1, 1)
        self.search_box = named(QLineEdit(clearButtonEnabled=True), "searchBox")
        self.search_box.setPlaceholderText("Search (Ctrl+F)")
        self.search_box.setMinimumWidth(160)
        set_icon(
            self.search_box.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition),
            "search",
        )
        QShortcut(
            QKeySequence(Qt.Key.Key_Escape),
            self.search_box,
            self.search_box.clear,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        self.filter_bar = FilterBar(self.runner)
        self.table = RegistryTable(self.model)
        self.keeper = SelectionKeeper(self.table, self.model)
        self.grid = ThumbnailGrid(self.thumbs)
        self.grid.setModel(self.model)
        self.grid.setSelectionModel(self.table.selectionModel())
        self.table_empty = EmptyStateOverlay(self.table)
        self.grid_empty = EmptyStateOverlay(self.grid, "gridEmptyState")
        self.trash_page = TrashPage(self.source, self.runner)
        self.view_stack = named(QStackedWidget(), "viewStack")
        for widget in (self.table, self.grid, self.trash_page):
            self.view_stack.addWidget(widget)
        self.collections = CollectionBrowser(self.runner, self.thumbs)
        self.collections.hide()
        self.count_label = named(QLabel(), "rowCount")
        self.count_label.setProperty("muted", True)

    def _build_splitter(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.search_box, 2)
        top.addWidget(self.filter_bar, 3)
        self.view_toggle = named(QToolButton(), "viewToggle")
        self.view_toggle.setCheckable(True)
        set_icon(self.view_toggle, "grid")
        self.view_toggle.setToolTip("Thumbnails (Ctrl+G)")
        top.addWidget(self.view_toggle)
        top.addWidget(self.count_label)
        self.center_split = named(QSplitter(Qt.Orientation.Vertical), "centerSplitter")
        self.center_split.addWidget(self.view_stack)
        self.center_split.addWidget(self.collections)
        self.center_split.setChildrenCollapsible(False)
        self.center_split.setSizes([420, 260])
        center = named(QWidget(), "centerPane")
        center.setMinimumWidth(CENTER_MIN_WIDTH)
        column = QVBoxLayout(center)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(top)
        column.addWidget(self.center_split, 1)
        self.splitter = named(QSplitter(Qt.Orientation.Horizontal), "mainSplitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.details)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([170, 760, 420])
        self.setCentralWidget(self.splitter)
        self.resize(1360, 820)

    def _build_status_bar(self) -> None:
        self.instance_label = named(QLabel("connecting…"), "instanceLabel")
        self.busy_bar = named(QProgressBar(maximum=0, textVisible=False), "busyIndicator")
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.hide()
        self.busy_label = named(QLabel(), "busyLabel")
        status = self.statusBar()
        status.addPermanentWidget(self.busy_label)
        status.addPermanentWidget(self.busy_bar)
        status.addPermanentWidget(self.instance_label)

    def _build_uploads(self) -> None:
        self.queue_dock = UploadQueueDock(self.uploads, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.queue_dock)
        self.queue_dock.hide()
        self.queue_dock.visibilityChanged.connect(self._size_queue)
        self.drop_zone = DropZone(self)
        self.setAcceptDrops(True)
        self.search_box.setAcceptDrops(False)
        self.uploads.drop_changed.connect(lambda _id: self._update_title())
        self.uploads.drop_finished.connect(self._on_drop_finished)

    def _build_watches(self) -> None:
        self.watch_runner = TaskRunner(max_threads=2, parent=self)  # never behind the table
        self.watches = WatchManager(self.watch_runner, open_settings, self)
        self.watch_panel = WatchPanel(self.watches, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.watch_panel)
        self.watch_panel.hide()
        self.watch_panel.watch_requested.connect(self.open_watch_dialog)
        self.watches.restore()  # paused, or resumed where the user asked for it

    def _connect(self) -> None:
        self.registry_list.currentItemChanged.connect(self._on_registry_changed)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search_box.textChanged.connect(lambda _t: self._search_timer.start())
        self.filter_bar.changed.connect(self._apply_filters)
        self.label_tree.label_chosen.connect(self.filter_by_label)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self.model.sort)
        self._select_timer = QTimer(self, singleShot=True, interval=SELECT_DEBOUNCE_MS)
        self._select_timer.timeout.connect(self._show_selection)
        for keeper in (self.keeper, self.trash_page.keeper):
            keeper.changed.connect(self._select_timer.start)
            keeper.changed.connect(self._update_actions)
        self.model.loaded.connect(self._on_loaded)
        self.model.columns_changed.connect(self._on_columns)
        self.model.page_loaded.connect(lambda _p: self._retry_wanted_row())
        self.model.failed.connect(self.show_error)
        self.trash_page.model.loaded.connect(self._on_trash_loaded)
        self.trash_page.registry_changed.connect(lambda _r: self._on_trash_registry())
        self.trash_page.restore_clicked.connect(self.commands.restore_from_trash)
        self.trash_page.delete_clicked.connect(self.commands.delete_permanently)
        self.view_toggle.toggled.connect(self.set_grid_mode)
        self.view_toggle.toggled.connect(self.actions_["thumbnails"].setChecked)
        for view in (self.table, self.grid, self.trash_page.view):
            view.customContextMenuRequested.connect(
                lambda pos, v=view: self.show_row_menu(v.viewport().mapToGlobal(pos), v)
            )
        self.table.activated.connect(self._on_activated)
        self.grid.activated.connect(self._on_activated)
        self.table.drag_requested.connect(lambda: self._drag(self.table))
        self.grid.drag_requested.connect(lambda: self._drag(self.grid))
        self.drag_out.status.connect(self.show_status)
        self.table.header_menu_requested.connect(
            lambda pos: self.table.column_menu(self).popup(pos)
        )
        self.details.version_selected.connect(
            lambda uid: (
                self.select_record(self.details.current[0], uid) if self.details.current else None
            )
        )
        self.details.record_requested.connect(self.select_record)
        self.details.make_latest_requested.connect(self.commands.make_latest)
        self.details.description_saved.connect(self.commands.description_saved)
        self.details.annotations_changed.connect(self.commands.annotations_changed)
        self.details.preview.step_requested.connect(self.step_selection)
        self.details.lineage.node_activated.connect(self.select_record)
        self.details.lineage.view.node_menu_requested.connect(self.show_node_menu)
        self.collections.member_activated.connect(lambda uid: self.select_record("Artifact", uid))
        self.runner.busy_changed.connect(self._on_busy)
        self.thumb_runner.busy_changed.connect(self._on_busy)
        self.undo_history.changed.connect(self._on_undo_changed)
        self.live.changed.connect(self._on_live_change)
        theme_signals().changed.connect(self._on_theme)

    # -- pages: registries and the trash ----------------------------------------------------
    @property
    def registry(self) -> str:
        """The page shown: a registry's name, or `TRASH_PAGE`."""
        item = self.registry_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else "Artifact"

    @property
    def record_registry(self) -> str:
        """The registry of the records shown (on the trash page, the trash's registry)."""
        if self.registry == TRASH_PAGE:
            return self.trash_page.record_registry
        return self.registry

    def show_registry(self, name: str) -> None:
        """Switch to a registry (or "Trash") as if clicked in the list."""
        for row in range(self.registry_list.count()):
            if self.registry_list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.registry_list.setCurrentRow(row)
                return
        raise ValueError(f"unknown registry {name}")

    def state(self, page: str | None = None) -> BrowseState:
        return self.states.setdefault(page or self.registry, BrowseState())

    def _on_registry_changed(
        self, current: QListWidgetItem | None, previous: QListWidgetItem | None
    ) -> None:
        if previous is not None:
            self._leave_page(previous.data(Qt.ItemDataRole.UserRole))
        name = self.registry
        self._page = name
        state = self.state(name)
        look = registries.look(name)
        self._search_timer.stop()
        self.search_box.blockSignals(True)
        self.search_box.setText(state.search)
        self.search_box.blockSignals(False)
        self._clear_subject()
        self.collections.setVisible(look is not None and look.collection_browser)
        all_versions = self.actions_["all_versions"]
        all_versions.blockSignals(True)
        all_versions.setChecked(state.all_versions)
        all_versions.blockSignals(False)
        if look is None:  # the trash page
            self.filter_bar.set_kinds(name, (), {})
            self.filter_bar.add_button.setEnabled(False)
            self.view_toggle.setEnabled(False)
            self.view_stack.setCurrentWidget(self.trash_page)
            self.trash_page.reload(state.search)
            self._update_actions()
            return
        self.filter_bar.add_button.setEnabled(True)
        self.filter_bar.set_kinds(name, look.filters, state.filters)
        # thumbnails: of artifacts in the grid, of a collection's members in its browser
        self.view_toggle.setEnabled(look.content or look.collection_browser)
        self.model.set_query(self._query_of(name))
        self.set_grid_mode(self.view_toggle.isChecked() and look.content)
        self._update_actions()

    def _leave_page(self, page: str) -> None:
        state = self.state(page)
        state.search = self.search_box.text().strip()
        if page != TRASH_PAGE:
            state.filters = self.filter_bar.state
            self._save_header(page)

    def _query_of(self, name: str) -> TableQuery:
        state = self.state(name)
        return TableQuery(
            registry=name,
            search=state.search,
            filters=tuple((lookup, value) for lookup, value, _ in state.filters.values()),
            order=() if state.search else ("-created_at",),
            latest_only=not state.all_versions,
        )

    def _on_columns(self) -> None:
        """The table shows another registry's columns (or they arrived with its first rows)."""
        spec = self.model.spec
        if spec is None:
            return
        if spec.name_field in spec.fields:
            self.grid.setModelColumn(spec.column_index(spec.name_field))
        self._restore_header(spec.name)
        self._update_actions()

    def _apply_search(self) -> None:
        text = self.search_box.text().strip()
        self.state().search = text
        if self.registry == TRASH_PAGE:
            self.trash_page.reload(text)
            return
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
        self._query_changed = True
        self.model.update_query(search=text, order=() if text else ("-created_at",))

    def _read_features(self) -> None:
        def keep(features: list[dict[str, Any]]) -> None:
            self.table.features = features

        self.runner.submit(
            lambda ctx: gateway.feature_list("Artifact"),
            done=keep,
            error=lambda msg, _d: None,  # the column chooser offers no features then
            name="feature list",
        )

    def filter_by_label(self, uid: str, name: str, is_type: bool) -> None:
        """Show only the artifacts with this label (or any label of this type), as a
        removable chip in the filter bar; combined with the search and the other chips."""
        if self.registry not in ("Artifact", "Collection"):
            self.show_registry("Artifact")
        text = f"{name} (any)" if is_type else name

        def add_chip(lookups: dict[str, Any]) -> None:
            for lookup, value in lookups.items():  # one: a label's uids, or a type's
                self.filter_bar.add_label(lookup, value, text)

        self.runner.submit(
            lambda ctx: gateway.label_lookups([uid]),
            done=add_chip,
            error=lambda msg, _d: self.show_error(f"Filtering by {name} failed: {msg}"),
            name="label filter",
        )

    def _apply_filters(self, lookups: tuple[tuple[str, Any], ...]) -> None:
        if self.registry != TRASH_PAGE:
            self.state().filters = self.filter_bar.state
            self._query_changed = True
            self.model.update_query(filters=lookups)

    def set_all_versions(self, on: bool) -> None:
        """Every version as a row (else one row per family, its latest)."""
        if self.registry == TRASH_PAGE:
            return
        self.state().all_versions = on
        self._query_changed = True
        self.model.update_query(latest_only=not on)

    def _on_loaded(self, count: int) -> None:
        if self.registry == TRASH_PAGE:
            return
        look = LOOKS.get(self.registry)
        noun = look.noun if look is not None else ("row", "rows")
        view = registries.loaded(self.registry)
        latest = view is not None and view.versioned and self.model.query.latest_only and count
        text = count_of(count, *noun) + (" (latest versions)" if latest else "")
        if self.model.count_is_lower_bound:  # near misses of a mistyped word
            text = f"{count:,}+ {noun[1]} — refine the search"
        self.count_label.setText(text)
        if self._query_changed:
            # Another search or filter: records it no longer shows are no longer selected.
            self._query_changed = False
            if self.keeper.ids and not self.keeper.selected_rows():
                self.keeper.clear()
        query = self.model.query
        state = None if count else empty_state(query.registry, query.search, len(query.filters))
        self.table_empty.show_state(state)
        self.grid_empty.show_state(state)
        self._retry_wanted_row()

    def _on_trash_loaded(self, count: int) -> None:
        if self.registry == TRASH_PAGE:
            self.count_label.setText(self.trash_page.count_text(count))

    def _on_trash_registry(self) -> None:
        if self.registry == TRASH_PAGE:
            self._clear_subject()
            self._update_actions()

    def set_grid_mode(self, on: bool) -> None:
        """Thumbnails instead of the table (where records have content)."""
        look = registries.look(self.registry)
        if look is None:
            return
        self.view_stack.setCurrentWidget(self.grid if on and look.content else self.table)
        if self.view_toggle.isChecked() != on:
            self.view_toggle.setChecked(on)

    def refresh(self) -> None:
        """Re-read what the page shows (F5, or after a write), the sidebar's labels and
        the features the column chooser offers."""
        self.label_tree.reload()
        self._read_features()
        if self.registry == TRASH_PAGE:
            self.trash_page.model.refresh()
        else:
            self.model.refresh()

    def _on_live_change(self) -> None:
        # Not while this window's imports run: the table would reset with every published
        # batch, and repainting it waits for the GIL behind the transfer threads. A finished
        # drop refreshes the table.
        if self.uploads.running():
            return
        model = self.trash_page.model if self.registry == TRASH_PAGE else self.model
        model.check_stale()

    # -- the subject: selection and details -------------------------------------------------
    @property
    def active_keeper(self) -> SelectionKeeper:
        return self.trash_page.keeper if self.registry == TRASH_PAGE else self.keeper

    def selected_uids(self) -> list[str]:
        """What the actions work on: the selected rows (current first), or — with no row
        selected — the record the details show, if it belongs to this page."""
        uids = self.active_keeper.uids()
        if uids or self.active_keeper.selected_rows():
            return uids
        wanted = self.details.wanted
        if wanted is not None and wanted[0] == self.record_registry:
            return [wanted[1]]
        return []

    def unloaded_selection(self) -> int:
        return self.active_keeper.unloaded()

    def current_uid(self) -> str | None:
        index = self.table.currentIndex()
        return index.data(UID_ROLE) if index.isValid() else None

    def _clear_subject(self) -> None:
        self._select_timer.stop()
        self._wanted_row_id = None
        for keeper in (self.keeper, self.trash_page.keeper):
            keeper.blockSignals(True)
            keeper.clear()
            keeper.blockSignals(False)
        self.details.clear()

    def _show_selection(self) -> None:
        """The details follow the selection: its current (or first) record, or nothing."""
        uids = self.active_keeper.uids()
        if not uids:
            if not self.active_keeper.selected_rows():
                self.details.clear()
            self._update_actions()
            return
        view = self.trash_page.view if self.registry == TRASH_PAGE else self.table
        record = next(
            (
                view.model().index(i.row(), 0).data(RECORD_ROLE)
                for i in view.selectionModel().selectedRows()
                if view.model().index(i.row(), 0).data(UID_ROLE) == uids[0]
            ),
            None,
        )
        title = str((record or {}).get("key") or "")
        self._show_record(self.record_registry, uids[0], title)

    def _show_record(self, registry: str, uid: str, title: str = "") -> None:
        self.details.show_record(registry, uid, title)
        look = registries.look(registry)
        if look is not None and look.collection_browser and self.registry == registry:
            self.collections.show_collection(uid)
        self._update_actions()

    def select_record(self, registry: str, uid: str) -> None:
        """Show a record (clicked in the lineage, the versions, a link): switch registry,
        select its row if it is in the table (else no row: the details are the subject)."""
        if registry != self.registry:
            self.show_registry(registry)
        self.keeper.blockSignals(True)
        self.keeper.clear()
        self.keeper.blockSignals(False)
        self._show_record(registry, uid)
        self.runner.submit(
            lambda ctx: gateway.record_id(registry, uid),
            done=lambda row_id: self._want_row(registry, row_id),
            name="locate row",
        )

    def _want_row(self, registry: str, row_id: int | None) -> None:
        if registry == self.registry and row_id is not None:
            self._wanted_row_id = row_id
            self._retry_wanted_row()

    def _retry_wanted_row(self) -> None:
        # The table may still be loading the registry: retried when rows arrive.
        if self._wanted_row_id is None:
            return
        self.keeper.blockSignals(True)
        found = self.keeper.select_id(self._wanted_row_id)
        self.keeper.blockSignals(False)
        if found:
            self._wanted_row_id = None
            self._update_actions()

    def step_selection(self, step: int) -> None:
        """Move the current row by `step` (arrow keys in the image preview)."""
        row = self.table.currentIndex().row() + step
        if 0 <= row < self.model.rowCount():
            self.table.selectRow(row)
            self.details.preview.image_view.setFocus()

    def _update_actions(self) -> None:
        self.actions_.update(
            Page(
                page=self.registry,
                registry=self.record_registry,
                selected=len(self.selected_uids()) + self.unloaded_selection(),
                can_undo=self.undo_history.can_undo,
            )
        )

    def _on_undo_changed(self) -> None:
        self.actions_["undo"].setText(self.undo_history.next_text)
        self._update_actions()

    # -- right-click menus, opening, dragging -----------------------------------------------
    def show_row_menu(self, pos: QPoint, view: QAbstractItemView) -> QMenu | None:
        """The right-click menu of rows (at global `pos`): a row under the mouse that is not
        selected becomes the selection, as in a file manager."""
        index = view.indexAt(view.viewport().mapFromGlobal(pos))
        selection = view.selectionModel()
        if index.isValid() and not selection.isRowSelected(index.row(), QModelIndex()):
            flags = selection.SelectionFlag
            selection.setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
            self._show_selection()
        self._update_actions()
        menu = self.actions_.context_menu(self)
        if not menu.actions():
            return None
        menu.popup(pos)
        self.row_menu = menu
        return menu

    def show_node_menu(self, node_id: str, pos: QPoint) -> QMenu | None:
        """The right-click menu of a lineage node: show it, open it, copy its uid, expand."""
        item = self.details.lineage.view.nodes.get(node_id)
        if item is None:
            return None
        node = item.node
        menu = QMenu(self)
        menu.setObjectName("nodeMenu")
        menu.addAction("Show this record", lambda: self.select_record(node.registry, node.uid))
        if node.registry == "Artifact":
            menu.addAction("Open", lambda: self.commands.open_uids([node.uid]))
        menu.addAction("Copy uid", lambda: QGuiApplication.clipboard().setText(node.uid))
        if node.hidden_parents:
            menu.addAction(
                f"Show {count_of(node.hidden_parents, 'more step')} upstream",
                lambda: self.details.lineage.expand(node.id),
            )
        menu.popup(pos)
        self.node_menu = menu
        return menu

    def _on_activated(self, _index: QModelIndex) -> None:
        look = registries.look(self.record_registry)
        if look is not None and look.content:
            self.commands.open_external()

    def _drag(self, source: QWidget) -> None:
        look = registries.look(self.record_registry)
        if look is not None and look.content:
            self.drag_out.begin(self.active_keeper.uids(), source)

    def choose_columns(self) -> None:
        header = self.table.horizontalHeader()
        self.table.column_menu(self).popup(header.mapToGlobal(header.rect().bottomLeft()))

    def set_pane_visible(self, pane: str, on: bool) -> None:
        """Show or hide the sidebar or the details (View menu)."""
        widget = self.sidebar if pane == "sidebar" else self.details
        widget.setVisible(on)
        action = self.actions_[pane]
        if action.isChecked() != on:
            action.setChecked(on)

    # -- imports (drag and drop, File → Import, paste) ----------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(OWN_FORMAT):
            return  # our own artifacts, dragged out: not an import
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.drop_zone.cover()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if local_paths(event.mimeData()) and not event.mimeData().hasFormat(OWN_FORMAT):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.drop_zone.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.drop_zone.hide()
        if event.mimeData().hasFormat(OWN_FORMAT):
            return
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_import(paths)

    def open_import(self, paths: list[str]) -> ImportDialog:
        """The import dialog for `paths`; confirming it starts the upload."""
        self.uploads.prestart_worker()  # ready by the time the dialog is confirmed
        dialog = ImportDialog(paths, self.transfer_runner, self)
        dialog.accepted.connect(lambda: self._start_import(dialog))
        dialog.finished.connect(dialog.deleteLater)
        self.import_dialog = dialog
        dialog.open()
        return dialog

    def _start_import(self, dialog: ImportDialog) -> None:
        drop = self.uploads.start(dialog.options())
        table = dialog.metadata_table
        if table is not None:
            self._metadata_tables[drop.id] = table

    def _on_drop_finished(self, drop_id: int) -> None:
        drop = self.uploads.drop(drop_id)
        self.statusBar().showMessage(
            f"Import of {drop.title}: {drop.state} ({drop.message})", 10000
        )
        table = self._metadata_tables.pop(drop_id, None)
        if table is not None:
            self._annotate_drop(drop, table)
        self._update_title()
        self.refresh()
        if self._close_when_done and not self.uploads.running():
            self.close()

    def _annotate_drop(self, drop: Any, table: str) -> None:
        """Read the drop's metadata table for the artifacts it registered (or found
        registered already), as the upload's run, in one transaction."""
        keys = [
            item.key
            for item in drop.items
            if item.key and item.state in (ItemState.DONE, ItemState.DUPLICATE)
        ]
        if not keys:
            return
        name, run_uid = Path(table).name, drop.run_uid

        def work(ctx: TaskContext) -> dict[str, Any]:
            uids = gateway.latest_uids_of_keys(keys)
            return gateway.annotate_uploaded(uids, table, run_uid=run_uid)

        def done(report: dict[str, Any]) -> None:
            self.metadata_report = report
            self.after_write(
                f"Read {name}: {len(report['matched']):,} of {report['rows']:,} rows matched, "
                f"{report['annotated']:,} artifacts annotated, "
                f"{len(report['refused']):,} values refused"
            )

        self.runner.submit(
            work,
            done=done,
            error=lambda msg, _d: self.show_error(f"Reading {name} failed: {msg}"),
            name="annotate import",
        )

    def _update_title(self) -> None:
        done, total = self.uploads.overall()
        base = self.windowTitle().split(" — uploading")[0]
        self.setWindowTitle(
            f"{base} — uploading {100 * done // total}%" if total and done < total else base
        )

    def _size_queue(self, visible: bool) -> None:
        if visible:
            height = min(QUEUE_HEIGHT, self.height() // 3)
            self.resizeDocks([self.queue_dock], [height], Qt.Orientation.Vertical)

    def _offer_resume(self, unfinished: list[dict[str, Any]]) -> None:
        if not unfinished:
            return
        if self.ask_resume(len(unfinished)):
            for options in unfinished:
                self.uploads.start(options)
        else:
            self.uploads.forget_unfinished()

    def ask_resume(self, count: int) -> bool:
        answer = QMessageBox.question(
            self,
            "Unfinished imports",
            f"{count_of(count, 'import')} did not finish last time. Resume? Only what is "
            "missing is uploaded; nothing is duplicated.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_close_choice(self) -> str:
        """'wait', 'cancel', 'continue' (next time) or 'stay' while transfers run."""
        return ask_close_choice(self, self.uploads)

    def _may_close(self) -> bool:
        if not self.uploads.running():
            return True
        choice = self.ask_close_choice()
        if choice == "wait":
            self._close_when_done = True
            self.statusBar().showMessage("The window closes when the imports are done.")
            return False
        if choice in ("cancel", "continue"):
            self.uploads.keep_unfinished = choice == "continue"
            self.uploads.cancel_all()
            return True
        return False

    # -- status ------------------------------------------------------------------------
    def refresh_instance(self) -> None:
        self.runner.submit(
            lambda ctx: gateway.instance_summary(),
            done=self._first_instance,
            error=lambda msg, _d: self.instance_label.setText(f"no instance: {msg}"),
            name="instance",
        )

    def _after_first_rows(self, _count: int = 0) -> None:
        QTimer.singleShot(AFTER_FIRST_ROWS_MS, self._start_background)

    def _start_background(self) -> None:
        self.label_tree.reload()
        self._read_features()
        if not self.live.running and self.isVisible():
            self.live.start()
            self.recent.load()

    def _first_instance(self, summary: dict[str, Any]) -> None:
        self.recent.current = summary["name"]
        self.set_instance(summary)

    def set_instance(self, summary: dict[str, Any]) -> None:
        self.instance_label.setText(
            f"{summary['name']} · {summary['backend']} · {summary['storage']}"
        )
        self.instance_label.setToolTip(summary["db"])
        self.setWindowTitle(f"labshelf — {summary['name']}")

    def instance_switched(self) -> None:
        """Another instance is current: forget this one's undo history, follow the new
        one's changes, show its records."""
        self.undo_history.clear()
        self.watches.instance_switched()
        self.live.start()
        self.recent.load()
        self.after_write("", clear=True)

    def _on_busy(self, _count: int) -> None:
        active = self.runner.active + self.thumb_runner.active
        self.busy_bar.setVisible(active > 0)
        self.busy_label.setText(count_of(active, "task") if active else "")

    def open_settings_dialog(self) -> SettingsDialog:
        """The settings dialog (modeless); thumbnail size applies to the next window."""
        dialog = SettingsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _on_theme(self, theme: str) -> None:
        action = self.actions_["dark_theme"]
        action.blockSignals(True)
        action.setChecked(theme == "dark")
        action.blockSignals(False)

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 10000)

    def show_status(self, message: str, msecs: int = 5000) -> None:
        self.statusBar().showMessage(message, msecs)

    def after_write(self, message: str, clear: bool = False) -> None:
        """Records changed: say so (if `message`), re-read the page and the details; with
        `clear` (the records left this page) select nothing."""
        if message:
            self.show_status(message, 8000)
        if clear:
            self._clear_subject()
        else:
            self.details.reload()
        self.refresh()
        if self.trash_page.isVisible() or self.registry == TRASH_PAGE:
            self.trash_page.say(message)
        self._update_actions()

    @property
    def table_query(self) -> TableQuery:
        """What the registry table shows (filters, search, order)."""
        return self.model.query

    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def show_transfers(self) -> None:
        self.queue_dock.show()

    # -- watched folders -----------------------------------------------------------------
    def open_watch_dialog(self, folder: str = "") -> WatchFolderDialog:
        """File → Watch a folder…: the dialog; the watch starts when it is confirmed."""
        dialog = WatchFolderDialog(self.watches.start, self, folder)
        dialog.finished.connect(dialog.deleteLater)
        self.watch_dialog = dialog
        dialog.open()
        return dialog

    def show_watches(self) -> None:
        self.watch_panel.show()
        self.watch_panel.raise_()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(action, keys) of every menu action with a shortcut, for Help → Keyboard shortcuts."""
        rows = []
        for spec in ACTIONS:
            action = self.actions_[spec.id]
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if keys:
                rows.append((spec.text.rstrip("…"), keys))
        return rows

    # -- settings ------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        settings = open_settings()
        if settings.contains("geometry"):
            self._has_saved_layout = True
            self.restoreGeometry(settings.value("geometry"))
            self.restoreState(settings.value("state"))
        for splitter in (self.splitter, self.center_split, self.details.splitter):
            value = settings.value(f"splitters/{splitter.objectName()}")
            if value is not None:
                splitter.restoreState(value)
        for pane in ("sidebar", "details"):
            self.set_pane_visible(pane, bool(settings.value(f"panes/{pane}", True, type=bool)))
        self.view_toggle.setChecked(bool(settings.value("grid", False, type=bool)))
        self.show_registry(str(settings.value("registry", "Artifact")))

    def save_settings(self) -> None:
        settings = open_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("state", self.saveState())
        for splitter in (self.splitter, self.center_split, self.details.splitter):
            settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        for pane in ("sidebar", "details"):
            settings.setValue(f"panes/{pane}", self.actions_[pane].isChecked())
        settings.setValue("registry", self.registry)
        settings.setValue("grid", self.view_toggle.isChecked())
        self._save_header(self.registry)
        settings.sync()

    def _save_header(self, registry: str) -> None:
        # only the header of the registry the table shows (its columns may not have arrived)
        spec = self.model.spec
        if spec is not None and spec.name == registry:
            header = self.table.horizontalHeader().saveState()
            open_settings().setValue(f"columns/{registry}", header)

    def _restore_header(self, registry: str) -> None:
        spec = registries.loaded(registry)
        if spec is not None:
            apply_columns(self.table, spec, open_settings().value(f"columns/{registry}"))

    def _fit_panes(self) -> None:
        """First start at this size: the sidebar as wide as its labels, the details a third."""
        width = self.width()
        side = self.registry_list.minimumWidth()
        details = max(self.details.minimumWidth(), min(440, width * 3 // 10))
        self.splitter.setSizes([side, max(CENTER_MIN_WIDTH, width - side - details), details])

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._has_saved_layout:
            self._has_saved_layout = True
            QTimer.singleShot(0, self._fit_panes)
        if not self._heap_frozen:
            # Everything built so far (modules, widgets) lives as long as the app: moving it out
            # of the collector's reach keeps full collections short, and they run on whichever
            # thread allocates, the UI thread included.
            self._heap_frozen = True
            QTimer.singleShot(0, gc.freeze)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._may_close():
            event.ignore()
            return
        self.save_settings()
        self.live.stop()
        self.runner.shutdown()
        self.thumb_runner.shutdown()
        self.uploads.close()
        self.watches.close()  # each watcher writes its state; the next start catches up
        self.transfer_runner.shutdown(30000)  # cancelled uploads roll back before we exit
        super().closeEvent(event)


__all__ = ["MainWindow"]
