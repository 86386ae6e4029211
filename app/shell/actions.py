"""The main window's actions, declared as data: one `ActionSpec` per action in `ACTIONS`, from
which `Actions` builds the QActions, the menus (in `MENUS` order, groups between separators),
the right-click menu of rows (`context`) and the record buttons of the details panel, and
keeps them enabled where they apply (`Page`: the page shown and how many records are
selected).

To add an action: a line in `ACTIONS` and its handler in `labshelf.app.shell.commands`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby

from labshelf.app.base.theme import set_icon
from labshelf.app.data import registries
from labshelf.app.shell.commands import Commands
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

Key = QKeySequence.StandardKey
MENUS = ("&File", "&Edit", "&View", "&Record", "&Help")


@dataclass(frozen=True)
class ActionSpec:
    """One action: where it sits, what it does, when it applies.

    `handler` names a `Commands` method (called with the checked state if `checkable`);
    `enabled_when` names a predicate of `ENABLED_WHEN` (None: always); `takes` says how many
    selected records it works on — "any" (none needed), "one" (it says so when several are
    selected) or "many" (the whole selection); `table_only` keeps the shortcut to the table,
    grid and trash views (Ctrl+C, Del and Ctrl+V keep their meaning in text fields);
    `context` puts it in the right-click menu of rows (in that group); `button` places it among the details
    panel's record buttons, labelled `short` if given; `submenu` lists the actions of its
    own menu (a button with a drop-down, a submenu in the menus); `menu` None keeps it out
    of the menu bar (it lives in another action's submenu)."""

    id: str
    text: str
    menu: str | None
    group: int
    handler: str
    shortcut: Key | str | None = None
    icon: str | None = None
    enabled_when: str | None = None
    takes: str = "any"
    table_only: bool = False
    context: int | None = None  # its group in the right-click menu of rows
    checkable: bool = False
    checked: str | None = None  # a Commands method giving the initial checked state
    button: int | None = None
    short: str | None = None
    submenu: tuple[str, ...] = ()
    object_name: str | None = None
    tip: str = ""


File, Edit, View, Record, Help = MENUS

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_instance", "Open instance…", File, 0, "open_instance", Key.Open),
    ActionSpec(
        "open_recent",
        "Open recent",
        File,
        0,
        "fill_recent",
        object_name="openRecentMenu",
        submenu=("recent",),
    ),
    ActionSpec("new_instance", "New instance…", File, 0, "new_instance", Key.New),
    ActionSpec("import_folder", "Import folder…", File, 1, "import_folder", "Ctrl+I", "upload"),
    ActionSpec("import_files", "Import files…", File, 1, "import_files", "Ctrl+Shift+I"),
    ActionSpec(
        "paste", "Paste files to import", File, 1, "paste_files", Key.Paste, table_only=True
    ),
    ActionSpec("show_transfers", "Show transfers", File, 1, "show_transfers", "Ctrl+T"),
    ActionSpec(
        "watch_folder",
        "Watch a folder…",
        File,
        1,
        "watch_folder",
        icon="folder",
        tip="Register what an instrument writes into a folder, as it lands",
    ),
    ActionSpec(
        "export_csv", "Export table as CSV…", File, 2, "export_csv", "Ctrl+E", enabled_when="table"
    ),
    ActionSpec(
        "settings",
        "Settings…",
        File,
        3,
        "open_settings",
        Key.Preferences,
        object_name="settingsAction",
    ),
    ActionSpec("quit", "Quit", File, 3, "quit", Key.Quit),
    ActionSpec("undo", "Undo", Edit, 0, "undo", Key.Undo, enabled_when="can_undo"),
    ActionSpec("find", "Find", Edit, 1, "focus_search", Key.Find, "search"),
    ActionSpec(
        "copy_uid",
        "Copy uid",
        Edit,
        1,
        "copy_uids",
        Key.Copy,
        enabled_when="records",
        takes="many",
        table_only=True,
        context=2,
    ),
    ActionSpec(
        "copy_path",
        "Copy path",
        Edit,
        1,
        "copy_keys",
        icon="file",
        enabled_when="content",
        takes="many",
        context=2,
        button=1,
        submenu=("copy_key", "copy_url"),
        object_name="copyPath",
        tip="Copy the key (the path people know) or the storage URL",
    ),
    ActionSpec(
        "copy_key",
        "Copy key",
        None,
        1,
        "copy_keys",
        "Ctrl+Shift+C",
        enabled_when="content",
        takes="many",
        table_only=True,
        tip="plate/analysis/cell_counts.csv: the path within the catalog",
    ),
    ActionSpec(
        "copy_url",
        "Copy storage URL",
        None,
        1,
        "copy_urls",
        enabled_when="content",
        takes="many",
        tip="Where the bytes are stored (a local path, s3://… or gs://…)",
    ),
    ActionSpec(
        "trash",
        "Move to trash",
        Edit,
        2,
        "trash_selected",
        Key.Delete,
        "trash",
        enabled_when="has_trash",
        takes="many",
        table_only=True,
        context=4,
        button=3,
        short="Trash",
    ),
    ActionSpec(
        "restore",
        "Restore from trash",
        Edit,
        2,
        "restore_from_trash",
        icon="restore",
        enabled_when="trash_page",
        takes="many",
        context=4,
        button=4,
        short="Restore",
    ),
    ActionSpec(
        "purge",
        "Delete permanently…",
        Edit,
        2,
        "delete_permanently",
        "Shift+Del",
        enabled_when="trash_page",
        takes="many",
        table_only=True,
        context=4,
    ),
    ActionSpec("refresh", "Refresh", View, 0, "refresh", Key.Refresh, "refresh"),
    ActionSpec(
        "thumbnails", "Thumbnails", View, 0, "set_grid_mode", "Ctrl+G", "grid", checkable=True
    ),
    ActionSpec(
        "all_versions",
        "Show all versions",
        View,
        0,
        "set_all_versions",
        "Ctrl+Shift+V",
        enabled_when="versioned",
        checkable=True,
        object_name="allVersionsAction",
        tip="Every version as its own row (otherwise one row per family, its latest)",
    ),
    ActionSpec("columns", "Columns…", View, 0, "choose_columns", enabled_when="table"),
    ActionSpec(
        "sidebar", "Sidebar", View, 1, "set_sidebar", "Ctrl+Shift+B", checkable=True, checked="on"
    ),
    ActionSpec(
        "details", "Details", View, 1, "set_details", "Ctrl+Shift+D", checkable=True, checked="on"
    ),
    ActionSpec("watched_folders", "Watched folders", View, 1, "show_watches"),
    ActionSpec("dark_theme", "Dark theme", View, 2, "set_dark", checkable=True, checked="is_dark"),
    ActionSpec(
        "open",
        "Open",
        Record,
        0,
        "open_external",
        "Ctrl+Return",
        "file",
        enabled_when="content",
        takes="many",
        context=1,
        button=0,
        tip="Open a read-only copy named after the key with its application",
    ),
    ActionSpec(
        "reveal",
        "Reveal in file manager",
        Record,
        0,
        "reveal_in_folder",
        icon="folder",
        enabled_when="content",
        takes="one",
        context=1,
    ),
    ActionSpec(
        "cache",
        "Cache locally",
        Record,
        0,
        "cache_selected",
        icon="storage",
        enabled_when="content",
        takes="many",
    ),
    ActionSpec(
        "export",
        "Export to folder…",
        Record,
        0,
        "export_to_folder",
        icon="upload",
        enabled_when="content",
        takes="many",
        context=1,
        button=2,
        short="Export…",
        tip="Copy the selection into a folder, keeping the key structure",
    ),
    ActionSpec(
        "new_version",
        "New version from file…",
        Record,
        1,
        "new_version_from_file",
        enabled_when="content_table",
        takes="one",
    ),
    ActionSpec(
        "make_latest",
        "Make this version the latest…",
        Record,
        1,
        "make_selected_latest",
        enabled_when="republishable",
        takes="one",
        context=3,
    ),
    ActionSpec(
        "new_collection",
        "New collection from selection…",
        Record,
        2,
        "new_collection",
        icon="collection",
        enabled_when="content_table",
        takes="many",
        context=3,
    ),
    ActionSpec(
        "add_to_collection",
        "Add selection to collection…",
        Record,
        2,
        "add_to_collection",
        enabled_when="content_table",
        takes="many",
        context=3,
    ),
    ActionSpec(
        "label_selected",
        "Label selected…",
        Record,
        3,
        "label_selected",
        "Ctrl+L",
        enabled_when="annotated",
        takes="many",
        context=3,
        tip="Put one label on every selected record (Ctrl+Z takes it off again)",
    ),
    ActionSpec(
        "set_feature",
        "Set feature…",
        Record,
        3,
        "set_feature_selected",
        enabled_when="annotated",
        takes="many",
        context=3,
        tip="Give every selected record the same value of a feature (Ctrl+Z restores theirs)",
    ),
    ActionSpec("shortcuts", "Keyboard shortcuts", Help, 0, "show_shortcuts", "F1"),
    ActionSpec("docs", "labshelf documentation", Help, 0, "show_docs"),
    ActionSpec("about", "About labshelf", Help, 1, "show_about"),
)


@dataclass(frozen=True)
class Page:
    """What the actions depend on: the page shown (a registry, or `registries.TRASH_PAGE`),
    the registry of its records (the trash's: Artifact or Collection), how many records are
    selected, and whether there is something to undo."""

    page: str = "Artifact"
    registry: str = "Artifact"
    selected: int = 0
    can_undo: bool = False


def _content(page: Page) -> bool:
    look = registries.look(page.registry)
    return look is not None and look.content


def _has_trash(page: Page) -> bool:
    spec = registries.loaded(page.registry)  # core's fact; known once the table has loaded
    return spec is not None and spec.has_trash and page.page != registries.TRASH_PAGE


def _versioned(page: Page) -> bool:
    spec = registries.loaded(page.registry)
    return spec is not None and spec.versioned and page.page != registries.TRASH_PAGE


def _on_table(page: Page) -> bool:
    return page.page != registries.TRASH_PAGE


# When an action applies, by the page shown (a registry's name or registries.TRASH_PAGE).
ENABLED_WHEN: dict[str, Callable[[Page], bool]] = {
    "content": _content,
    "content_table": lambda page: _content(page) and _on_table(page),
    "has_trash": _has_trash,
    "versioned": _versioned,
    "republishable": lambda page: page.registry in ("Artifact", "Collection") and _on_table(page),
    "annotated": lambda page: page.registry in ("Artifact", "Collection") and _on_table(page),
    "records": lambda page: True,
    "table": _on_table,
    "trash_page": lambda page: page.page == registries.TRASH_PAGE,
    "can_undo": lambda page: page.can_undo,
}


class Actions(QObject):
    """The window's QActions, built from `ACTIONS`; `actions[id]` is one of them."""

    def __init__(
        self,
        specs: Iterable[ActionSpec],
        commands: Commands,
        parent: QWidget,
        shortcut_views: Iterable[QWidget],
    ) -> None:
        super().__init__(parent)
        self.specs = tuple(specs)
        self.by_id = {spec.id: spec for spec in self.specs}
        self._views = tuple(shortcut_views)
        self._parent = parent
        self._commands = commands
        self._actions = {spec.id: self._build(spec, commands, parent) for spec in self.specs}
        for spec in self.specs:
            if spec.submenu:
                self._attach_menu(spec)
        self.page = Page()

    def __getitem__(self, action_id: str) -> QAction:
        return self._actions[action_id]

    def _build(self, spec: ActionSpec, commands: Commands, parent: QWidget) -> QAction:
        action = QAction(spec.text, parent)
        action.setObjectName(spec.object_name or f"action_{spec.id}")
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        if spec.icon:
            set_icon(action, spec.icon)
        if spec.short:
            action.setIconText(spec.short)
        if spec.tip:
            action.setToolTip(spec.tip)
            action.setStatusTip(spec.tip)
        handler = getattr(commands, spec.handler)
        if spec.checkable:
            action.setCheckable(True)
            action.setChecked(bool(spec.checked and getattr(commands, spec.checked)()))
            action.toggled.connect(handler)
        elif not (spec.submenu and spec.submenu[0] not in self.by_id):
            action.triggered.connect(lambda _checked=False: handler())
        if spec.table_only:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            for view in self._views:
                view.addAction(action)
        return action

    def _attach_menu(self, spec: ActionSpec) -> None:
        """A menu of the spec's `submenu` actions; a name that is no action names a
        `Commands` method that fills the menu each time it opens (recent instances)."""
        menu = QMenu(self._parent)
        menu.setObjectName(f"{spec.id}Menu")
        for item in spec.submenu:
            if item in self._actions:
                menu.addAction(self._actions[item])
        if spec.submenu[0] not in self._actions:
            fill = getattr(self._commands, spec.handler)
            menu.aboutToShow.connect(lambda m=menu, f=fill: f(m))
        self._actions[spec.id].setMenu(menu)

    def fill_menus(self, bar: QMenuBar) -> None:
        """The menus, in `MENUS` order; a separator between an action's group and the next."""
        for title in MENUS:
            menu = bar.addMenu(title)
            in_menu = [s for s in self.specs if s.menu == title]
            for i, (_group, specs) in enumerate(groupby(in_menu, key=lambda s: s.group)):
                if i:
                    menu.addSeparator()
                for spec in specs:
                    menu.addAction(self._actions[spec.id])

    def buttons(self) -> list[QAction]:
        """The actions shown as buttons in the details panel, in their order."""
        placed = sorted(
            (s for s in self.specs if s.button is not None), key=lambda s: s.button or 0
        )
        return [self._actions[s.id] for s in placed]

    def context_menu(self, parent: QWidget) -> QMenu:
        """The right-click menu of rows: the actions that apply to the selection."""
        menu = QMenu(parent)
        menu.setObjectName("rowMenu")
        in_context = sorted(
            (s for s in self.specs if s.context is not None and self._actions[s.id].isEnabled()),
            key=lambda s: s.context or 0,
        )
        for i, (_group, specs) in enumerate(groupby(in_context, key=lambda s: s.context)):
            if i:
                menu.addSeparator()
            for spec in specs:
                menu.addAction(self._actions[spec.id])
        return menu

    def applies(self, spec: ActionSpec, page: Page) -> bool:
        if spec.enabled_when is not None and not ENABLED_WHEN[spec.enabled_when](page):
            return False
        return spec.takes == "any" or page.selected > 0

    def update(self, page: Page) -> None:
        """Enable the actions that apply to the page shown and its selection."""
        self.page = page
        for spec in self.specs:
            if spec.enabled_when is not None or spec.takes != "any":
                self._actions[spec.id].setEnabled(self.applies(spec, page))
