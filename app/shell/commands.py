"""What the menus, shortcuts and record buttons do (`Commands`). Each action of
`labshelf.app.shell.actions.ACTIONS` names one of these methods; the work itself runs on the
window's workers, through the gateway.

Commands reach the main window only through `CommandWindow`, the few things an action may ask
of it, so that neither module imports the other's class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.base.theme import apply_theme, current_theme
from labshelf.app.data import registries
from labshelf.app.data.rows import TableQuery, export_csv
from labshelf.app.instances.dialogs import NewInstanceDialog, OpenInstanceDialog
from labshelf.app.shell.app_settings import open_settings
from labshelf.app.uploads.drop_zone import local_paths
from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QInputDialog, QWidget


class CommandWindow(Protocol):
    """What a command may ask of the main window."""

    runner: TaskRunner

    @property
    def registry(self) -> str: ...  # the registry shown, or registries.TRASH_PAGE

    @property
    def table_query(self) -> TableQuery: ...

    def selected_uids(self) -> list[str]: ...

    def show_error(self, message: str) -> None: ...

    def show_status(self, message: str, msecs: int = 5000) -> None: ...

    def refresh(self) -> None: ...

    def after_write(self, message: str) -> None: ...

    def select_record(self, registry: str, uid: str) -> None: ...

    def set_instance(self, summary: dict[str, Any]) -> None: ...

    def set_grid_mode(self, on: bool) -> None: ...

    def open_import(self, paths: list[str]) -> object: ...

    def open_settings_dialog(self) -> object: ...

    def focus_search(self) -> None: ...

    def show_transfers(self) -> None: ...

    def restore_from_trash(self) -> None: ...

    def close(self) -> bool: ...


class Commands(QObject):
    """The handlers of the window's actions."""

    def __init__(self, window: CommandWindow, parent: QWidget) -> None:
        super().__init__(parent)
        self.w = window
        self._parent = parent  # for dialogs

    # -- helpers ---------------------------------------------------------------------------
    def _run(
        self,
        fn: Callable[[], Any],
        done: Callable[[Any], object] | None = None,
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

    def _has_content(self) -> bool:
        look = registries.look(self.w.registry)
        return look is not None and look.content

    def _content_uid(self) -> str | None:
        """The first selected record with content (an artifact), or None and a message."""
        uids = self.w.selected_uids()
        if not self._has_content() or not uids:
            self.w.show_error("Select an artifact first.")
            return None
        return uids[0]

    # -- File ------------------------------------------------------------------------------
    def open_instance(self) -> None:
        dialog = OpenInstanceDialog(self._parent)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.target.text().strip():
            target = dialog.target.text().strip()
            self._run(lambda: gateway.open_instance(target), self._switched, "Opening the instance")

    def new_instance(self) -> None:
        dialog = NewInstanceDialog(self._parent)
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
        self.w.after_write("")

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._parent, "Import folder")
        if folder:
            self.w.open_import([folder])

    def import_files(self) -> None:
        files = QFileDialog.getOpenFileNames(self._parent, "Import files")[0]
        if files:
            self.w.open_import(files)

    def paste_files(self) -> None:
        paths = local_paths(QApplication.clipboard().mimeData())
        if paths:
            self.w.open_import(paths)
        else:
            self.w.show_error("The clipboard holds no files to import.")

    def show_transfers(self) -> None:
        self.w.show_transfers()

    def export_csv(self) -> None:
        registry = self.w.registry
        path = QFileDialog.getSaveFileName(
            self._parent, "Export table", f"{registry.lower()}s.csv", "CSV (*.csv)"
        )[0]
        if path and registry != registries.TRASH_PAGE:
            query = self.w.table_query
            self._run(
                lambda: export_csv(query, path),
                lambda n: self.w.show_status(f"Wrote {n} rows to {path}"),
                "Export",
            )

    def open_settings(self) -> None:
        self.w.open_settings_dialog()

    def quit(self) -> None:
        self.w.close()

    # -- Edit ------------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.w.focus_search()

    def copy_uids(self) -> None:
        uids = self._uids_or_say()
        if uids:
            QApplication.clipboard().setText("\n".join(uids))
            self.w.show_status(f"Copied {len(uids)} uid(s)", 3000)

    def copy_paths(self) -> None:
        uid = self._content_uid()
        if uid:
            self._run(
                lambda: gateway.artifact_path(uid),
                QApplication.clipboard().setText,
                "Copy path",
            )

    def trash_selected(self) -> None:
        uids, registry = self._uids_or_say(), self.w.registry
        spec = registries.loaded(registry)
        if uids and spec is not None and spec.has_trash:
            self._run(
                lambda: gateway.trash(registry, uids),
                lambda _r: self.w.after_write(
                    f"Moved {len(uids)} to the trash (Trash → Restore brings them back)"
                ),
                "Moving to the trash",
            )

    def restore_from_trash(self) -> None:
        self.w.restore_from_trash()

    # -- View ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.w.refresh()

    def set_grid_mode(self, on: bool) -> None:
        self.w.set_grid_mode(on)

    def is_dark(self) -> bool:
        return current_theme() == "dark"

    def set_dark(self, dark: bool) -> None:
        theme = "dark" if dark else "light"
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        open_settings().setValue("theme", theme)

    # -- Record ----------------------------------------------------------------------------
    def open_external(self) -> None:
        uid = self._content_uid()
        if uid:
            self._run(
                lambda: gateway.local_path(uid),
                lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))),
                "Opening",
            )

    def reveal_in_folder(self) -> None:
        uid = self._content_uid()
        if uid:
            self._run(
                lambda: gateway.local_path(uid),
                lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(p).parent))),
                "Revealing",
            )

    def cache_selected(self) -> None:
        uid = self._content_uid()
        if uid:
            self._run(
                lambda: gateway.local_path(uid),
                lambda p: self.w.show_status(f"Cached at {p}"),
                "Caching",
            )

    def export_to_folder(self) -> None:
        uid = self._content_uid()
        folder = QFileDialog.getExistingDirectory(self._parent, "Export to folder") if uid else ""
        if uid and folder:
            self._run(
                lambda: gateway.export_to(uid, folder),
                lambda p: self.w.show_status(f"Exported to {p}"),
                "Export",
            )

    def new_version_from_file(self) -> None:
        uid = self._content_uid()
        path = QFileDialog.getOpenFileName(self._parent, "New version from file")[0] if uid else ""
        if uid and path:
            self._run(
                lambda: gateway.new_version(uid, path),
                self._show_new_version,
                "Saving the new version",
            )

    def make_latest(self, uid: str) -> None:
        """Publish version `uid` again as the latest (the details panel's button)."""
        self._run(
            lambda: gateway.make_latest(uid),
            self._show_new_version,
            "Making this version the latest",
        )

    def _show_new_version(self, uid: str) -> None:
        self.w.refresh()
        self.w.select_record(self.w.registry, uid)

    def new_collection(self) -> None:
        uids = self._uids_or_say() if self._has_content() else []
        name, ok = (
            QInputDialog.getText(self._parent, "New collection", "Name:") if uids else ("", False)
        )
        if ok and name.strip():
            self._run(
                lambda: gateway.create_collection(uids, name.strip()),
                lambda uid: self.w.select_record("Collection", uid),
                "Creating the collection",
            )

    def add_to_collection(self) -> None:
        uids = self._uids_or_say() if self._has_content() else []
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
            self._parent, "Add to collection", "Collection:", labels, 0, False
        )
        if ok:
            target = names[labels.index(label)][1]
            self._run(
                lambda: gateway.add_to_collection(target, uids),
                lambda uid: self.w.select_record("Collection", uid),
                "Adding to the collection",
            )
