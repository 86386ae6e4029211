"""What the menus, shortcuts, record buttons and right-click menus do (`Commands`). Each
action of `labshelf.app.shell.actions.ACTIONS` names one of these methods; the work itself
runs on the window's workers, through the gateway.

Every command acts on the window's *subject* — the selected records, or the record the
details show when no row is selected (a version picked in the details, a node clicked in the
lineage) — and either handles all of it or says, in the status bar, that it takes one.
What can be reversed (trash, restore, make-latest, new versions, descriptions) goes onto the
window's undo history; what makes versions asks first.

Commands reach the main window only through `CommandWindow`, the few things an action may ask
of it, so that neither module imports the other's class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.base.theme import apply_theme, current_theme
from labshelf.app.data import registries
from labshelf.app.data.formatting import count_of
from labshelf.app.data.rows import TableQuery, export_csv
from labshelf.app.instances.dialogs import NewInstanceDialog, OpenInstanceDialog
from labshelf.app.shell import help as help_dialogs
from labshelf.app.shell.app_settings import open_settings
from labshelf.app.shell.recent import RecentInstances
from labshelf.app.shell.undo import UndoHistory
from labshelf.app.uploads.drop_zone import local_paths
from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QMenu,
    QMessageBox,
    QWidget,
)

MAX_OPEN = 20  # files opened at once with their applications


def label_names(tree: list[dict[str, Any]]) -> list[str]:
    """The names of the labels (not types) in a `gateway.label_tree`."""
    out: list[str] = []
    for node in tree:
        if not node["is_type"]:
            out.append(node["name"])
        out += label_names(node.get("children") or [])
    return out


def feature_item(feature: dict[str, Any]) -> str:
    """How a feature reads in a pick list: "temperature (float, °C)"."""
    unit = f", {feature['unit']}" if feature.get("unit") else ""
    return f"{feature['name']} ({feature['dtype']}{unit})"


class CommandWindow(Protocol):
    """What a command may ask of the main window."""

    runner: TaskRunner
    undo_history: UndoHistory
    recent: RecentInstances

    @property
    def registry(self) -> str: ...  # the page shown: a registry, or registries.TRASH_PAGE

    @property
    def record_registry(self) -> str: ...  # the registry of the records shown (trash: its)

    @property
    def table_query(self) -> TableQuery: ...

    def selected_uids(self) -> list[str]: ...

    def unloaded_selection(self) -> int: ...

    def show_error(self, message: str) -> None: ...

    def show_status(self, message: str, msecs: int = 5000) -> None: ...

    def refresh(self) -> None: ...

    def after_write(self, message: str, clear: bool = False) -> None: ...

    def select_record(self, registry: str, uid: str) -> None: ...

    def set_instance(self, summary: dict[str, Any]) -> None: ...

    def set_grid_mode(self, on: bool) -> None: ...

    def set_all_versions(self, on: bool) -> None: ...

    def set_pane_visible(self, pane: str, on: bool) -> None: ...

    def choose_columns(self) -> None: ...

    def open_import(self, paths: list[str]) -> object: ...

    def open_settings_dialog(self) -> object: ...

    def focus_search(self) -> None: ...

    def show_transfers(self) -> None: ...

    def open_watch_dialog(self) -> object: ...

    def show_watches(self) -> None: ...

    def instance_switched(self) -> None: ...

    def shortcut_rows(self) -> list[tuple[str, str]]: ...

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

    def _noun(self, n: int, registry: str | None = None) -> str:
        look = registries.look(registry or self.w.record_registry)
        return count_of(n, *(look.noun if look is not None else ("record", "records")))

    def subject(self, what: str, takes: str = "many") -> list[str]:
        """The uids the action `what` works on, or [] after saying why not: nothing
        selected, rows still loading, or several selected for an action that takes one."""
        uids = self.w.selected_uids()
        if not uids:
            self.w.show_error(f"{what}: select a row first.")
            return []
        missing = self.w.unloaded_selection()
        if missing:
            self.w.show_error(
                f"{what}: {missing:,} of the selected rows have not been read yet; scroll "
                "through them or narrow the selection with the search."
            )
            return []
        if takes == "one" and len(uids) > 1:
            one = self._noun(1).removeprefix("1 ")
            self.w.show_error(
                f"{what} takes one {one} at a time; {self._noun(len(uids))} are selected."
            )
            return []
        return uids

    def _content_subject(self, what: str, takes: str = "many") -> list[str]:
        look = registries.look(self.w.record_registry)
        if look is None or not look.content:
            self.w.show_error(f"{what} works on artifacts (files and folders).")
            return []
        return self.subject(what, takes)

    # -- File ------------------------------------------------------------------------------
    def open_instance(self) -> None:
        dialog = OpenInstanceDialog(self._parent)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.target.text().strip():
            self.open_instance_named(dialog.target.text().strip())

    def open_instance_named(self, target: str) -> None:
        """Make the instance `target` (name, storage or URL) current and show it."""
        self._run(
            lambda: gateway.open_instance(target),
            lambda summary: self._switched(summary, target),
            "Opening the instance",
        )

    def fill_recent(self, menu: QMenu) -> None:
        """File → Open recent: the instances opened lately, then the others configured."""
        menu.clear()
        entries = self.w.recent.entries()
        if not entries:
            none = menu.addAction("No other instance yet")
            none.setEnabled(False)
        for target, label in entries:

            def open_target(t: str = target) -> None:
                self.open_instance_named(t)

            menu.addAction(label, open_target)

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
                lambda summary: self._switched(summary, summary["name"]),
                "Creating the instance",
            )

    def _switched(self, summary: dict[str, str], target: str) -> None:
        self.w.recent.opened(summary["name"], summary.get("storage", ""))
        self.w.set_instance(summary)
        self.w.instance_switched()

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

    def watch_folder(self) -> None:
        self.w.open_watch_dialog()

    def show_watches(self) -> None:
        self.w.show_watches()

    def export_csv(self) -> None:
        registry = self.w.registry
        path = QFileDialog.getSaveFileName(
            self._parent, "Export table", f"{registry.lower()}s.csv", "CSV (*.csv)"
        )[0]
        if path and registry != registries.TRASH_PAGE:
            query = self.w.table_query
            self._run(
                lambda: export_csv(query, path),
                lambda n: self.w.show_status(f"Wrote {count_of(n, 'row')} to {path}"),
                "Export",
            )

    def open_settings(self) -> None:
        self.w.open_settings_dialog()

    def quit(self) -> None:
        self.w.close()

    # -- Edit ------------------------------------------------------------------------------
    def undo(self) -> None:
        entry = self.w.undo_history.pop()
        if entry is None:
            self.w.show_status("Nothing to undo.")
            return
        self._run(
            entry.undo, lambda _r: self.w.after_write(f"Undone: {entry.what}", clear=True), "Undo"
        )

    def focus_search(self) -> None:
        self.w.focus_search()

    def copy_uids(self) -> None:
        uids = self.subject("Copy uid")
        if uids:
            QApplication.clipboard().setText("\n".join(uids))
            self.w.show_status(f"Copied {count_of(len(uids), 'uid')}", 3000)

    def copy_keys(self) -> None:
        self._copy_paths("key", "Copy key")

    def copy_urls(self) -> None:
        self._copy_paths("url", "Copy storage URL")

    def _copy_paths(self, part: str, what: str) -> None:
        uids = self._content_subject(what)
        if uids:
            self._run(
                lambda: gateway.artifact_paths(uids),
                lambda rows: self._copied([r[part] for r in rows], part),
                what,
            )

    def _copied(self, texts: list[str], part: str) -> None:
        QApplication.clipboard().setText("\n".join(texts))
        words = {"key": ("key", "keys"), "url": ("storage URL", "storage URLs")}[part]
        self.w.show_status(f"Copied {count_of(len(texts), *words)}", 3000)

    def trash_selected(self) -> None:
        registry = self.w.record_registry
        uids = self.subject("Move to trash")
        spec = registries.loaded(registry)
        if not uids or spec is None or not spec.has_trash:
            return
        noun = self._noun(len(uids), registry)

        def done(_r: object) -> None:
            self.w.undo_history.push(
                f"move {noun} to the trash", lambda: gateway.undo_after(registry, uids, "trash")
            )
            self.w.after_write(f"Moved {noun} to the trash (Ctrl+Z brings them back)", clear=True)

        self._run(lambda: gateway.trash(registry, uids), done, "Moving to the trash")

    def restore_from_trash(self) -> None:
        registry = self.w.record_registry
        uids = self.subject("Restore")
        if not uids:
            return
        noun = self._noun(len(uids), registry)

        def done(_r: object) -> None:
            self.w.undo_history.push(
                f"restore {noun}", lambda: gateway.undo_after(registry, uids, "restore")
            )
            self.w.after_write(
                f"Restored {noun}; back in {registries.LOOKS[registry].label} "
                "(Ctrl+Z moves them back to the trash)",
                clear=True,
            )

        self._run(lambda: gateway.restore(registry, uids), done, "Restoring")

    def delete_permanently(self) -> None:
        registry = self.w.record_registry
        uids = self.subject("Delete permanently")
        if not uids:
            return
        noun = self._noun(len(uids), registry)
        answer = QMessageBox.question(
            self._parent,
            "Delete permanently",
            f"Delete {noun} permanently? This cannot be undone. Copied objects are removed "
            "from storage; files registered in place stay where they are.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._run(
                lambda: gateway.delete_permanently(registry, uids),
                lambda _r: self.w.after_write(f"Deleted {noun} permanently", clear=True),
                "Deleting",
            )

    # -- View ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.w.refresh()

    def set_grid_mode(self, on: bool) -> None:
        self.w.set_grid_mode(on)

    def set_all_versions(self, on: bool) -> None:
        self.w.set_all_versions(on)

    def choose_columns(self) -> None:
        self.w.choose_columns()

    def on(self) -> bool:
        return True

    def set_sidebar(self, on: bool) -> None:
        self.w.set_pane_visible("sidebar", on)

    def set_details(self, on: bool) -> None:
        self.w.set_pane_visible("details", on)

    def is_dark(self) -> bool:
        return current_theme() == "dark"

    def set_dark(self, dark: bool) -> None:
        theme = "dark" if dark else "light"
        app = QApplication.instance()
        if isinstance(app, QApplication) and theme != current_theme():
            apply_theme(app, theme)
        open_settings().setValue("theme", theme)

    # -- Record ----------------------------------------------------------------------------
    def open_external(self) -> None:
        uids = self._content_subject("Open")
        if len(uids) > MAX_OPEN:
            self.w.show_error(
                f"Open takes at most {MAX_OPEN} artifacts at once; {len(uids)} are selected. "
                "Export them to a folder instead."
            )
            return
        if uids:
            self.open_uids(uids)

    def open_uids(self, uids: list[str]) -> None:
        """Open read-only copies named after the keys with their applications."""
        self.w.show_status(f"Opening {self._noun(len(uids), 'Artifact')}…")
        self.w.runner.submit(
            lambda ctx: gateway.read_only_copies(uids, lambda: ctx.cancelled),
            done=self._opened,
            error=lambda msg, _d: self.w.show_error(f"Opening failed: {msg}"),
            name="Opening",
        )

    def _opened(self, paths: list[Path]) -> None:
        for path in paths:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        if paths:
            self.w.show_status(f"Opened read-only {count_of(len(paths), 'copy', 'copies')}")

    def reveal_in_folder(self) -> None:
        uids = self._content_subject("Reveal in file manager", takes="one")
        if uids:
            self._run(
                lambda: gateway.read_only_copies(uids),
                lambda paths: QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths[0].parent))),
                "Revealing",
            )

    def cache_selected(self) -> None:
        uids = self._content_subject("Cache locally")
        if uids:
            self._run(
                lambda: [gateway.local_path(uid) for uid in uids],
                lambda paths: self.w.show_status(
                    f"Cached {self._noun(len(paths), 'Artifact')} locally"
                ),
                "Caching",
            )

    def export_to_folder(self) -> None:
        uids = self._content_subject("Export")
        folder = QFileDialog.getExistingDirectory(self._parent, "Export to folder") if uids else ""
        if uids and folder:
            self.export_uids(uids, folder)

    def export_uids(self, uids: list[str], folder: str) -> None:
        """Copy the artifacts into `folder`, keeping their key structure (on a worker)."""
        noun = self._noun(len(uids), "Artifact")

        def work(ctx: TaskContext) -> dict[str, Any]:
            return gateway.export_many(
                uids, folder, lambda done, total: ctx.progress((done, total)), lambda: ctx.cancelled
            )

        self.w.runner.submit(
            work,
            done=lambda report: self._exported(report, folder),
            error=lambda msg, _d: self.w.show_error(f"Export failed: {msg}"),
            progress=lambda p: self.w.show_status(f"Exporting {noun}: {p[0]} of {p[1]}…"),
            name="Export",
        )

    def _exported(self, report: dict[str, Any], folder: str) -> None:
        written, failed = report["written"], report["failed"]
        text = f"Exported {self._noun(len(written), 'Artifact')} to {folder}, keys as folders"
        if failed:
            self.w.show_error(f"{text}; {len(failed)} failed: {failed[0]}")
        else:
            self.w.show_status(text, 10000)

    def new_version_from_file(self) -> None:
        uids = self._content_subject("New version from file", takes="one")
        path = QFileDialog.getOpenFileName(self._parent, "New version from file")[0] if uids else ""
        if not (uids and path):
            return
        uid = uids[0]
        if not self.confirm(
            "New version",
            f"Save {Path(path).name} as the new latest version of this artifact? The "
            "current version stays in its history (Ctrl+Z removes the new one).",
        ):
            return
        self._run(
            lambda: gateway.new_version(uid, path),
            lambda new: self._made_version("Artifact", new, "a new version"),
            "Saving the new version",
        )

    def make_selected_latest(self) -> None:
        uids = self.subject("Make this version the latest", takes="one")
        if uids:
            self.make_latest(self.w.record_registry, uids[0])

    def make_latest(self, registry: str, uid: str) -> None:
        """Publish version `uid` again as the latest, after the user confirms."""
        self._run(
            lambda: gateway.version_facts(registry, uid),
            lambda facts: self._confirm_make_latest(registry, uid, facts),
            "Reading the version",
        )

    def _confirm_make_latest(self, registry: str, uid: str, facts: dict[str, Any]) -> None:
        if facts["version"] == facts["latest"]:
            self.w.show_status("This version is the latest already.")
            return
        if not self.confirm(
            "Make this the latest",
            f"Publish version {facts['version']} of “{facts['title']}” again as a new latest "
            f"version (after version {facts['latest']})? Nothing is deleted; Ctrl+Z undoes it.",
        ):
            return
        self._run(
            lambda: gateway.make_latest(registry, uid),
            lambda new: self._made_version(registry, new, "the new latest version"),
            "Making this version the latest",
        )

    def confirm(self, title: str, text: str) -> bool:
        """Ask before an action that makes a version (tests answer for the user)."""
        answer = QMessageBox.question(self._parent, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _made_version(self, registry: str, uid: str, what: str) -> None:
        self.w.undo_history.push(f"make {what}", lambda: gateway.discard_new_version(registry, uid))
        self.w.after_write(f"Saved {what} (Ctrl+Z undoes it)")
        self.w.select_record(registry, uid)

    def new_collection(self) -> None:
        uids = self._content_subject("New collection")
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
        uids = self._content_subject("Add to collection")
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

    def description_saved(self, registry: str, uid: str, before: str) -> None:
        """A description was edited in the details: undoable."""
        self.w.undo_history.push(
            "edit the description", lambda: gateway.set_description(registry, uid, before)
        )
        self.w.show_status("Description saved (Ctrl+Z restores the previous one)")
        self.w.refresh()

    def label_selected(self) -> None:
        """Record → Label selected…: one label on every selected record (one transaction)."""
        registry = self.w.record_registry
        uids = self.subject("Label selected")
        if uids:
            self._run(
                gateway.label_tree,
                lambda tree: self._choose_label(registry, uids, tree),
                "Listing labels",
            )

    def _choose_label(self, registry: str, uids: list[str], tree: list[dict[str, Any]]) -> None:
        names = sorted(set(label_names(tree)), key=str.lower)
        noun = self._noun(len(uids), registry)
        name, ok = QInputDialog.getItem(
            self._parent,
            "Label selected",
            f"Label for {noun} (a new name makes a new label):",
            names,
            0,
            True,
        )
        name = name.strip()
        if not ok or not name:
            return

        def done(links: list[tuple[str, str]]) -> None:
            if links:
                self.w.undo_history.push(
                    f"label {noun} {name}", lambda: gateway.remove_label_links(registry, links)
                )
            self.w.after_write(
                f"Labelled {count_of(len({r for r, _ in links}), 'record')} {name} "
                f"({len(uids) - len({r for r, _ in links})} had it already; Ctrl+Z undoes it)"
            )

        self._run(lambda: gateway.add_labels(registry, uids, [name]), done, "Labelling")

    def set_feature_selected(self) -> None:
        """Record → Set feature…: one feature value on every selected record."""
        registry = self.w.record_registry
        uids = self.subject("Set feature")
        if uids:
            self._run(
                lambda: gateway.feature_list(registry),
                lambda features: self._choose_feature(registry, uids, features),
                "Listing features",
            )

    def _choose_feature(
        self, registry: str, uids: list[str], features: list[dict[str, Any]]
    ) -> None:
        if not features:
            self.w.show_error(
                "There is no feature yet; define one first (ls.Feature(name, dtype).save() or "
                "labshelf annotate with a table)."
            )
            return
        items = [feature_item(f) for f in features]
        item, ok = QInputDialog.getItem(self._parent, "Set feature", "Feature:", items, 0, False)
        if not ok:
            return
        feature = features[items.index(item)]
        name = feature["name"]
        noun = self._noun(len(uids), registry)
        unit = f" in {feature['unit']}" if feature.get("unit") else ""
        text, ok = QInputDialog.getText(
            self._parent, "Set feature", f"{name}{unit} ({feature['dtype']}) for {noun}:"
        )
        if not ok or not text.strip():
            return
        value = text.strip()

        def done(previous: dict[str, Any]) -> None:
            self.w.undo_history.push(
                f"set {name} of {noun}", lambda: gateway.restore_feature(registry, name, previous)
            )
            self.w.after_write(f"Set {name} = {value} on {noun} (Ctrl+Z restores theirs)")

        self._run(lambda: gateway.set_feature(registry, uids, name, value), done, "Setting " + name)

    def annotations_changed(self, what: str, undo: Callable[[], Any]) -> None:
        """A label was added to or taken off a record in the details: undoable."""
        self.w.undo_history.push(what, undo)
        self.w.show_status(f"{what[:1].upper()}{what[1:]}: done (Ctrl+Z undoes it)")
        self.w.refresh()

    # -- Help ------------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        help_dialogs.ShortcutsDialog(self._parent, self.w.shortcut_rows()).open()

    def show_docs(self) -> None:
        help_dialogs.DocsDialog(self._parent).open()

    def show_about(self) -> None:
        self._run(
            lambda: {"version": gateway.app_version(), **gateway.instance_summary()},
            lambda info: help_dialogs.show_about(self._parent, info),
            "Reading the instance",
        )
