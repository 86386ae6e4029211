"""The main window's menus, shortcuts and record actions; the work runs on workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labshelf.app import gateway
from labshelf.app.instances.dialogs import NewInstanceDialog, OpenInstanceDialog
from labshelf.app.uploads.drop_zone import local_paths
from labshelf.app.base.theme import apply_theme, current_theme, set_icon
from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QInputDialog

if TYPE_CHECKING:
    from labshelf.app.shell.main_window import MainWindow


class WindowActions(QObject):
    """Creates the window's QActions and menus and carries them out."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self._file_menu()
        self._edit_menu()
        self._view_menu()
        self._record_menu()

    def _action(
        self,
        text: str,
        slot: Callable[[], Any],
        shortcut: QKeySequence | str | None = None,
        icon_name: str | None = None,
        table_only: bool = False,
    ) -> QAction:
        action = QAction(text, self.w)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon_name:
            set_icon(action, icon_name)
        action.triggered.connect(lambda _checked=False: slot())
        if table_only:
            # Ctrl+C and Del must keep their meaning in text fields.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            for view in (self.w.table, self.w.grid, self.w.trash_page.view):
                view.addAction(action)
        return action

    # -- menus -----------------------------------------------------------------------------
    def _file_menu(self) -> None:
        menu = self.w.menuBar().addMenu("&File")
        menu.addAction(
            self._action("Open instance…", self.open_instance, QKeySequence.StandardKey.Open)
        )
        menu.addAction(
            self._action("New instance…", self.new_instance, QKeySequence.StandardKey.New)
        )
        menu.addSeparator()
        menu.addAction(self._action("Import folder…", self.import_folder, "Ctrl+I", "upload"))
        menu.addAction(self._action("Import files…", self.import_files, "Ctrl+Shift+I"))
        self.paste = self._action(
            "Paste files to import",
            self.paste_files,
            QKeySequence.StandardKey.Paste,
            table_only=True,
        )
        menu.addAction(self.paste)
        menu.addAction(self._action("Show transfers", self.w.queue_dock.show))
        menu.addSeparator()
        menu.addAction(self._action("Export table as CSV…", self.export_csv, "Ctrl+E"))
        menu.addSeparator()
        menu.addAction(self._action("Quit", self.w.close, QKeySequence.StandardKey.Quit))

    def _edit_menu(self) -> None:
        menu = self.w.menuBar().addMenu("&Edit")
        menu.addAction(
            self._action("Find", self.focus_search, QKeySequence.StandardKey.Find, "search")
        )
        self.copy_uid = self._action(
            "Copy uid", self.copy_uids, QKeySequence.StandardKey.Copy, table_only=True
        )
        menu.addAction(self.copy_uid)
        self.copy_path = self._action("Copy path", self.copy_paths, "Ctrl+Shift+C")
        menu.addAction(self.copy_path)
        menu.addSeparator()
        self.trash = self._action(
            "Move to trash",
            self.trash_selected,
            QKeySequence.StandardKey.Delete,
            "trash",
            table_only=True,
        )
        menu.addAction(self.trash)
        self.restore = self._action(
            "Restore from trash", self.w.trash_page.restore_selected, None, "restore"
        )
        menu.addAction(self.restore)

    def _view_menu(self) -> None:
        menu = self.w.menuBar().addMenu("&View")
        menu.addAction(
            self._action("Refresh", self.w.refresh, QKeySequence.StandardKey.Refresh, "refresh")
        )
        grid = self._action("Thumbnails", lambda: None, "Ctrl+G", "grid")
        grid.setCheckable(True)
        grid.toggled.connect(self.w.set_grid_mode)
        self.w.view_toggle.toggled.connect(grid.setChecked)
        menu.addAction(grid)
        dark = self._action("Dark theme", lambda: None)
        dark.setCheckable(True)
        dark.setChecked(current_theme() == "dark")
        dark.toggled.connect(self.set_dark)
        menu.addAction(dark)

    def _record_menu(self) -> None:
        menu = self.w.menuBar().addMenu("&Record")
        self.open = self._action("Open", self.open_external, "Ctrl+Return", "file")
        self.reveal = self._action("Reveal in file manager", self.reveal_in_folder, None, "folder")
        self.cache = self._action("Cache locally", self.cache_selected, None, "storage")
        self.export = self._action("Export to folder…", self.export_to_folder, None, "upload")
        self.new_version = self._action("New version from file…", self.new_version_from_file)
        for action in (self.open, self.reveal, self.cache, self.export, self.new_version):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(
            self._action("New collection from selection…", self.new_collection, None, "collection")
        )
        menu.addAction(self._action("Add selection to collection…", self.add_to_collection))

    def record_actions(self) -> list[QAction]:
        """The actions shown as buttons in the details panel (with short labels)."""
        for action, text in ((self.export, "Export…"), (self.trash, "Trash")):
            action.setIconText(text)
        return [self.open, self.copy_path, self.export, self.trash]

    # -- helpers ---------------------------------------------------------------------------
    def _run(
        self,
        fn: Callable[[], Any],
        done: Callable[[Any], None] | None = None,
        what: str = "The action",
    ) -> None:
        self.w.runner.submit(
            lambda ctx: fn(),
            done=done,
            error=lambda msg, _d: self.w.show_error(f"{what} failed: {msg}"),
            name=what,
        )

    def _uids_or_say(self) -> list[str]:
        uids = self.w.selected_uids()
        if not uids:
            self.w.show_error("Select one or more records first.")
        return uids

    def _artifact_uid(self) -> str | None:
        uids = self.w.selected_uids()
        if self.w.registry != "Artifact" or not uids:
            self.w.show_error("Select an artifact first.")
            return None
        return uids[0]

    # -- handlers --------------------------------------------------------------------------
    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, "Import folder")
        if folder:
            self.w.open_import([folder])

    def import_files(self) -> None:
        files = QFileDialog.getOpenFileNames(self.w, "Import files")[0]
        if files:
            self.w.open_import(files)

    def paste_files(self) -> None:
        paths = local_paths(QApplication.clipboard().mimeData())
        if paths:
            self.w.open_import(paths)
        else:
            self.w.show_error("The clipboard holds no files to import.")

    def focus_search(self) -> None:
        self.w.search_box.setFocus()
        self.w.search_box.selectAll()

    def copy_uids(self) -> None:
        uids = self._uids_or_say()
        if uids:
            QApplication.clipboard().setText("\n".join(uids))
            self.w.statusBar().showMessage(f"Copied {len(uids)} uid(s)", 3000)

    def copy_paths(self) -> None:
        uid = self._artifact_uid()
        if uid:
            self._run(
                lambda: str(gateway.artifact_path(uid)),
                QApplication.clipboard().setText,
                "Copy path",
            )

    def trash_selected(self) -> None:
        uids, registry = self._uids_or_say(), self.w.registry
        if uids and registry in ("Artifact", "Collection"):
            self._run(
                lambda: gateway.trash(registry, uids),
                lambda _r: self._after_write(
                    f"Moved {len(uids)} to the trash (Trash → Restore brings them back)"
                ),
                "Moving to the trash",
            )

    def _after_write(self, message: str) -> None:
        self.w.statusBar().showMessage(message, 5000)
        self.w.refresh()
        self.w.details.clear()

    def open_external(self) -> None:
        uid = self._artifact_uid()
        if uid:
            self._run(
                lambda: gateway.local_path(uid),
                lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))),
                "Opening",
            )

    def reveal_in_folder(self) -> None:
        uid = self._artifact_uid()
        if uid:
            self._run(
                lambda: gateway.local_path(uid),
                lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(p).parent))),
                "Revealing",
            )

    def cache_selected(self) -> None:
        uid = self._artifact_uid()
        if uid:
            self._run(
                lambda: gateway.local_path(uid),
                lambda p: self.w.statusBar().showMessage(f"Cached at {p}", 5000),
                "Caching",
            )

    def export_to_folder(self) -> None:
        uid = self._artifact_uid()
        folder = QFileDialog.getExistingDirectory(self.w, "Export to folder") if uid else ""
        if uid and folder:
            self._run(
                lambda: gateway.export_to(uid, folder),
                lambda p: self.w.statusBar().showMessage(f"Exported to {p}", 5000),
                "Export",
            )

    def new_version_from_file(self) -> None:
        uid = self._artifact_uid()
        path = QFileDialog.getOpenFileName(self.w, "New version from file")[0] if uid else ""
        if uid and path:
            self._run(
                lambda: gateway.new_version(uid, path),
                lambda new: self._after_version(new),
                "Saving the new version",
            )

    def _after_version(self, uid: str) -> None:
        self.w.model.refresh()
        self.w.select_record("Artifact", uid)

    def make_latest(self, uid: str) -> None:
        self._run(
            lambda: gateway.make_latest(uid), self._after_version, "Making this version the latest"
        )

    def export_csv(self) -> None:
        path = QFileDialog.getSaveFileName(
            self.w, "Export table", f"{self.w.registry.lower()}s.csv", "CSV (*.csv)"
        )[0]
        if path and self.w.registry != "Trash":
            query = self.w.model.query
            self._run(
                lambda: gateway.export_csv(query, path),
                lambda n: self.w.statusBar().showMessage(f"Wrote {n} rows to {path}", 5000),
                "Export",
            )

    def new_collection(self) -> None:
        uids = self._uids_or_say() if self.w.registry == "Artifact" else []
        name, ok = QInputDialog.getText(self.w, "New collection", "Name:") if uids else ("", False)
        if ok and name.strip():
            self._run(
                lambda: gateway.create_collection(uids, name.strip()),
                lambda uid: self.w.select_record("Collection", uid),
                "Creating the collection",
            )

    def add_to_collection(self) -> None:
        uids = self._uids_or_say() if self.w.registry == "Artifact" else []
        if uids:
            self._run(
                gateway.collection_names,
                lambda names: self._choose_collection(names, uids),
                "Listing collections",
            )

    def _choose_collection(self, names: list[tuple[str, str]], uids: list[str]) -> None:
        if not names:
            self.w.show_error("There is no collection yet; create one from the selection.")
            return
        labels = [f"{name} ({uid})" for name, uid in names]
        label, ok = QInputDialog.getItem(
            self.w, "Add to collection", "Collection:", labels, 0, False
        )
        if ok:
            target = names[labels.index(label)][1]
            self._run(
                lambda: gateway.add_to_collection(target, uids),
                lambda uid: self.w.select_record("Collection", uid),
                "Adding to the collection",
            )

    def open_instance(self) -> None:
        dialog = OpenInstanceDialog(self.w)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.target.text().strip():
            target = dialog.target.text().strip()
            self._run(
                lambda: gateway.open_instance(target), self._switched, "Opening the instance"
            )

    def new_instance(self) -> None:
        dialog = NewInstanceDialog(self.w)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.storage.text().strip():
            storage, db, name = (
                dialog.storage.text().strip(),
                dialog.db.text().strip(),
                dialog.name.text().strip(),
            )
            self._run(
                lambda: gateway.create_instance(storage, db, name),
                self._switched,
                "Creating the instance",
            )

    def _switched(self, summary: dict[str, str]) -> None:
        self.w.set_instance(summary)
        self.w.details.clear()
        self.w.refresh()

    def set_dark(self, dark: bool) -> None:
        from labshelf.app.shell.main_window import open_settings

        theme = "dark" if dark else "light"
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        open_settings().setValue("theme", theme)
