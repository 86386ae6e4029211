"""`mainWindow`: registries on the left, the table (or thumbnail grid) in the centre, the
selected record on the right, the transfer queue below. The window arranges the rooms
(browser, preview, lineage, uploads) and carries the menus (`labshelf.app.shell.actions`);
all data comes from workers (`labshelf.app.base.tasks`) through the gateway.
"""

from __future__ import annotations

import gc
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.base.theme import icon, set_icon
from labshelf.app.browser.collection_browser import CollectionBrowser
from labshelf.app.browser.details_panel import DetailsPanel
from labshelf.app.browser.filter_bar import FilterBar
from labshelf.app.browser.table_model import UID_ROLE, RegistryTableModel
from labshelf.app.browser.thumbnail_grid import ThumbnailGrid
from labshelf.app.browser.trash_page import TrashPage
from labshelf.app.data import registries
from labshelf.app.data.registries import LOOKS, TRASH_PAGE
from labshelf.app.data.rows import CoreRowSource, TableQuery
from labshelf.app.data.transfers import default_store
from labshelf.app.preview.thumbnails import ThumbnailCache
from labshelf.app.shell.actions import ACTIONS, Actions
from labshelf.app.shell.app_settings import AppSettings, open_settings
from labshelf.app.shell.commands import Commands
from labshelf.app.shell.settings_dialog import SettingsDialog
from labshelf.app.uploads.drop_zone import DropZone, local_paths
from labshelf.app.uploads.import_dialog import ImportDialog
from labshelf.app.uploads.manager import UploadManager
from labshelf.app.uploads.queue_dock import UploadQueueDock
from labshelf.app.uploads.quit_prompt import ask_close_choice
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

SEARCH_DEBOUNCE_MS = 250
STALE_CHECK_MS = 5000


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
        self._close_when_done = False
        self._pending_select = ""
        self._wanted_row_id: int | None = None
        self._heap_frozen = False
        self._build_center()
        self.details = DetailsPanel(self.runner)
        self._build_splitter()
        self._build_status_bar()
        self._build_uploads()
        self.commands = Commands(self, self)
        self.actions_ = Actions(
            ACTIONS, self.commands, self, (self.table, self.grid, self.trash_page.view)
        )
        self.actions_.fill_menus(self.menuBar())
        self.details.set_actions(self.actions_.buttons())
        self._connect()
        self._restore_settings()
        self.refresh_instance()
        self.uploads.load_unfinished(self._offer_resume)

    # -- building ------------------------------------------------------------------------
    def _build_center(self) -> None:
        self.registry_list = QListWidget(objectName="registryList")
        for name, look in LOOKS.items():
            item = QListWidgetItem(look.label)
            set_icon(item, look.icon)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.registry_list.addItem(item)
        trash = QListWidgetItem(TRASH_PAGE)
        set_icon(trash, "trash")
        trash.setData(Qt.ItemDataRole.UserRole, TRASH_PAGE)
        self.registry_list.addItem(trash)
        self.search_box = QLineEdit(objectName="searchBox", clearButtonEnabled=True)
        self.search_box.setPlaceholderText("Search (Ctrl+F)")
        set_icon(
            self.search_box.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition),
            "search",
        )
        self.filter_bar = FilterBar()
        self.table = self._make_table()
        self.grid = ThumbnailGrid(self.thumbs)
        self.grid.setModel(self.model)
        self.grid.setSelectionModel(self.table.selectionModel())
        self.trash_page = TrashPage(self.source, self.runner)
        self.view_stack = QStackedWidget(objectName="viewStack")
        for widget in (self.table, self.grid, self.trash_page):
            self.view_stack.addWidget(widget)
        self.collections = CollectionBrowser(self.runner, self.thumbs)
        self.collections.hide()
        self.count_label = QLabel(objectName="rowCount")
        self.count_label.setProperty("muted", True)

    def _make_table(self) -> QTableView:
        table = QTableView(objectName="registryTable")
        table.setModel(self.model)
        table.setSortingEnabled(False)  # sorting runs in SQL; the header only asks for it
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(24)
        header = table.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
        header.setStretchLastSection(True)
        header.setDefaultSectionSize(130)
        return table

    def _build_splitter(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.search_box, 2)
        top.addWidget(self.filter_bar, 3)
        self.view_toggle = QToolButton(objectName="viewToggle", checkable=True)
        set_icon(self.view_toggle, "grid")
        self.view_toggle.setToolTip("Thumbnails (Ctrl+G)")
        top.addWidget(self.view_toggle)
        top.addWidget(self.count_label)
        self.center_split = QSplitter(Qt.Orientation.Vertical, objectName="centerSplitter")
        self.center_split.addWidget(self.view_stack)
        self.center_split.addWidget(self.collections)
        center = QWidget()
        column = QVBoxLayout(center)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(top)
        column.addWidget(self.center_split, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        self.splitter.addWidget(self.registry_list)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([170, 760, 420])
        self.setCentralWidget(self.splitter)
        self.resize(1360, 820)

    def _build_status_bar(self) -> None:
        self.instance_label = QLabel("connecting…", objectName="instanceLabel")
        self.busy_bar = QProgressBar(objectName="busyIndicator", maximum=0, textVisible=False)
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.hide()
        self.busy_label = QLabel(objectName="busyLabel")
        status = self.statusBar()
        status.addPermanentWidget(self.busy_label)
        status.addPermanentWidget(self.busy_bar)
        status.addPermanentWidget(self.instance_label)

    def _build_uploads(self) -> None:
        self.queue_dock = UploadQueueDock(self.uploads, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.queue_dock)
        self.queue_dock.hide()
        self.drop_zone = DropZone(self)
        self.setAcceptDrops(True)
        self.search_box.setAcceptDrops(False)
        self.uploads.drop_changed.connect(lambda _id: self._update_title())
        self.uploads.drop_finished.connect(self._on_drop_finished)

    def _connect(self) -> None:
        self.registry_list.currentItemChanged.connect(self._on_registry_changed)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search_box.textChanged.connect(lambda _t: self._search_timer.start())
        self.filter_bar.changed.connect(lambda lookups: self.model.update_query(filters=lookups))
        self.table.horizontalHeader().sortIndicatorChanged.connect(self.model.sort)
        self._select_timer = QTimer(self, singleShot=True, interval=60)
        self._select_timer.timeout.connect(self.show_current)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._select_timer.start())
        self.model.loaded.connect(self._on_loaded)
        self.model.columns_changed.connect(self._on_columns)
        self.model.page_loaded.connect(lambda _p: self._retry_pending())
        self.model.failed.connect(self.show_error)
        self.view_toggle.toggled.connect(self.set_grid_mode)
        self.view_toggle.toggled.connect(self.actions_["thumbnails"].setChecked)
        self.details.version_selected.connect(
            lambda uid: self.select_record(self.details.current[0], uid)
        )
        self.details.make_latest_requested.connect(self.commands.make_latest)
        self.details.description_saved.connect(lambda *_: self.model.refresh())
        self.details.preview.step_requested.connect(self.step_selection)
        self.details.lineage.node_activated.connect(self.select_record)
        self.collections.member_activated.connect(lambda uid: self.select_record("Artifact", uid))
        self.trash_page.changed.connect(self.model.refresh)
        self.runner.busy_changed.connect(self._on_busy)
        self.thumb_runner.busy_changed.connect(self._on_busy)
        self._stale_timer = QTimer(self, interval=STALE_CHECK_MS)
        self._stale_timer.timeout.connect(self._check_stale)
        self._stale_timer.start()

    # -- registries and queries ------------------------------------------------------------
    @property
    def registry(self) -> str:
        item = self.registry_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else "Artifact"

    def show_registry(self, name: str) -> None:
        """Switch to a registry (or "Trash") as if clicked in the list."""
        for row in range(self.registry_list.count()):
            if self.registry_list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.registry_list.setCurrentRow(row)
                return
        raise ValueError(f"unknown registry {name}")

    def _on_registry_changed(
        self, current: QListWidgetItem | None, previous: QListWidgetItem | None
    ) -> None:
        if previous is not None:
            self._save_header(previous.data(Qt.ItemDataRole.UserRole))
        name = self.registry
        look = registries.look(name)
        self.details.clear()
        self.collections.setVisible(look is not None and look.collection_browser)
        self.actions_.update(name)
        if look is None:  # the trash page
            self.view_stack.setCurrentWidget(self.trash_page)
            self.trash_page.reload()
            return
        self.filter_bar.set_kinds(look.filters)
        # thumbnails: of artifacts in the grid, of a collection's members in its browser
        self.view_toggle.setEnabled(look.content or look.collection_browser)
        self.model.set_query(
            TableQuery(
                registry=name,
                search=self.search_box.text().strip(),
                filters=self.filter_bar.lookups,
                order=self._default_order(),
            )
        )
        self.set_grid_mode(self.view_toggle.isChecked() and look.content)

    def _on_columns(self) -> None:
        """The table shows another registry's columns (or they arrived with its first rows)."""
        spec = self.model.spec
        if spec is None:
            return
        if spec.name_field in spec.fields:
            self.grid.setModelColumn(spec.column_index(spec.name_field))
        self._restore_header(spec.name)
        self.actions_.update(self.registry)

    def _default_order(self) -> tuple[str, ...]:
        return () if self.search_box.text().strip() else ("-created_at",)

    def _apply_search(self) -> None:
        if self.registry == TRASH_PAGE:
            return
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
        self.model.update_query(search=self.search_box.text().strip(), order=self._default_order())

    def _on_loaded(self, count: int) -> None:
        self.count_label.setText(f"{count:,} rows")
        self._retry_pending()

    def set_grid_mode(self, on: bool) -> None:
        """Thumbnails instead of the table (where records have content)."""
        look = registries.look(self.registry)
        self.view_stack.setCurrentWidget(
            self.grid if on and look is not None and look.content else self.table
        )
        if self.view_toggle.isChecked() != on:
            self.view_toggle.setChecked(on)

    def refresh(self) -> None:
        """Re-read what the page shows (F5, or after a write)."""
        if self.registry == TRASH_PAGE:
            self.trash_page.model.refresh()
        else:
            self.model.refresh()

    def _check_stale(self) -> None:
        # Not while imports run: the table would reset with every published batch, and repainting
        # it waits for the GIL behind the transfer threads (100-250 ms stalls). A finished drop
        # refreshes the table.
        if self.isActiveWindow() and self.registry != TRASH_PAGE and not self.uploads.running():
            self.model.check_stale()

    # -- selection -----------------------------------------------------------------------
    def selected_uids(self) -> list[str]:
        """The uids of the selected rows (of the trash view on the trash page)."""
        if self.registry == TRASH_PAGE:
            return self.trash_page.selected_uids()
        rows = self.table.selectionModel().selectedRows()
        return [uid for uid in (r.data(UID_ROLE) for r in rows) if uid]

    def current_uid(self) -> str | None:
        index = self.table.currentIndex()
        return index.data(UID_ROLE) if index.isValid() else None

    def show_current(self) -> None:
        """Show the current row in the details panel (once its page has arrived)."""
        index = self.table.currentIndex()
        if not index.isValid():
            return
        record = self.model.record(index.row())
        if record is None or "uid" not in record:
            self._pending_select = "current"
            return
        self._pending_select = ""
        self.details.show_record(self.registry, record["uid"], str(record.get("key") or ""))
        look = registries.look(self.registry)
        if look is not None and look.collection_browser:
            self.collections.show_collection(record["uid"])

    def _retry_pending(self) -> None:
        if self._pending_select == "current":
            self.show_current()
        if self._wanted_row_id is not None:
            self._select_row_of_id(self._wanted_row_id)

    def select_record(self, registry: str, uid: str) -> None:
        """Show a record (e.g. clicked in the lineage): switch registry, select its row if
        it is in the table, and fill the details."""
        if registry != self.registry:
            self.show_registry(registry)
        self.details.show_record(registry, uid)
        self.runner.submit(
            lambda ctx: gateway.record_id(registry, uid),
            done=self._select_row_of_id,
            name="locate row",
        )

    def _select_row_of_id(self, row_id: int | None) -> None:
        # The table may still be loading the registry: retried when rows arrive.
        self._wanted_row_id = row_id
        row = self.model.row_of_id(row_id) if row_id is not None else -1
        if row >= 0:
            self._wanted_row_id = None
            self.table.selectionModel().blockSignals(True)
            self.table.selectRow(row)
            self.table.selectionModel().blockSignals(False)
            self.table.scrollTo(self.model.index(row, 0))

    def step_selection(self, step: int) -> None:
        """Move the current row by `step` (arrow keys in the image preview)."""
        row = self.table.currentIndex().row() + step
        if 0 <= row < self.model.rowCount():
            self.table.selectRow(row)
            self.details.preview.image_view.setFocus()

    # -- imports (drag and drop, File → Import, paste) ----------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.drop_zone.cover()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.drop_zone.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.drop_zone.hide()
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_import(paths)

    def open_import(self, paths: list[str]) -> ImportDialog:
        """The import dialog for `paths`; confirming it starts the upload."""
        self.uploads.prestart_worker()  # ready by the time the dialog is confirmed
        dialog = ImportDialog(paths, self.transfer_runner, self)
        dialog.accepted.connect(lambda: self.uploads.start(dialog.options()))
        dialog.finished.connect(dialog.deleteLater)
        self.import_dialog = dialog
        dialog.open()
        return dialog

    def _on_drop_finished(self, drop_id: int) -> None:
        drop = self.uploads.drop(drop_id)
        self.statusBar().showMessage(
            f"Import of {drop.title}: {drop.state} ({drop.message})", 10000
        )
        self._update_title()
        self.refresh()
        if self._close_when_done and not self.uploads.running():
            self.close()

    def _update_title(self) -> None:
        done, total = self.uploads.overall()
        base = self.windowTitle().split(" — uploading")[0]
        self.setWindowTitle(
            f"{base} — uploading {100 * done // total}%" if total and done < total else base
        )

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
            f"{count} import(s) did not finish last time. Resume them? Only what is missing is "
            "uploaded; nothing is duplicated.",
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
            done=self.set_instance,
            error=lambda msg, _d: self.instance_label.setText(f"no instance: {msg}"),
            name="instance",
        )

    def set_instance(self, summary: dict[str, Any]) -> None:
        self.instance_label.setText(
            f"{summary['name']} · {summary['backend']} · {summary['storage']}"
        )
        self.instance_label.setToolTip(summary["db"])
        self.setWindowTitle(f"labshelf — {summary['name']}")

    def _on_busy(self, _count: int) -> None:
        active = self.runner.active + self.thumb_runner.active
        self.busy_bar.setVisible(active > 0)
        self.busy_label.setText(f"{active} task{'s' if active != 1 else ''}" if active else "")

    def open_settings_dialog(self) -> SettingsDialog:
        """The settings dialog (modeless); thumbnail size applies to the next window."""
        dialog = SettingsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 10000)

    def show_status(self, message: str, msecs: int = 5000) -> None:
        self.statusBar().showMessage(message, msecs)

    def after_write(self, message: str) -> None:
        """Records changed: say so (if `message`), re-read the page, forget the details."""
        if message:
            self.show_status(message)
        self.refresh()
        self.details.clear()

    @property
    def table_query(self) -> TableQuery:
        """What the registry table shows (filters, search, order)."""
        return self.model.query

    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def show_transfers(self) -> None:
        self.queue_dock.show()

    def restore_from_trash(self) -> None:
        self.trash_page.restore_selected()

    # -- settings ------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        settings = open_settings()
        if settings.contains("geometry"):
            self.restoreGeometry(settings.value("geometry"))
            self.restoreState(settings.value("state"))
        for splitter in (self.splitter, self.center_split, self.details.splitter):
            value = settings.value(f"splitters/{splitter.objectName()}")
            if value is not None:
                splitter.restoreState(value)
        self.view_toggle.setChecked(settings.value("grid", False, type=bool))
        self.show_registry(str(settings.value("registry", "Artifact")))

    def save_settings(self) -> None:
        settings = open_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("state", self.saveState())
        for splitter in (self.splitter, self.center_split, self.details.splitter):
            settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
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
        if spec is None:
            return
        header = self.table.horizontalHeader()
        for section, column in enumerate(spec.columns):
            header.resizeSection(section, column.default_width)
        state = open_settings().value(f"columns/{registry}")
        if state is not None and header.count() == len(spec.columns):
            header.blockSignals(True)
            header.restoreState(state)
            header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)
            header.blockSignals(False)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
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
        self._stale_timer.stop()
        self.runner.shutdown()
        self.thumb_runner.shutdown()
        self.uploads.close()
        self.transfer_runner.shutdown(30000)  # cancelled uploads roll back before we exit
        super().closeEvent(event)
