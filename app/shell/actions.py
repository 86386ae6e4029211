"""The main window's actions, declared as data: one `ActionSpec` per action in `ACTIONS`, from
which `Actions` builds the QActions, the menus (in `MENUS` order, groups between separators)
and the record buttons of the details panel, and keeps them enabled where they apply.

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
from PySide6.QtWidgets import QMenuBar, QWidget

Key = QKeySequence.StandardKey
MENUS = ("&File", "&Edit", "&View", "&Record")


@dataclass(frozen=True)
class ActionSpec:
    """One action: where it sits, what it does, when it applies.

    `handler` names a `Commands` method (called with the checked state if `checkable`);
    `enabled_when` names a predicate of `ENABLED_WHEN` (None: always); `table_only` keeps
    the shortcut to the table, grid and trash views (Ctrl+C, Del and Ctrl+V keep their meaning
    in text fields); `button` places it among the details panel's record buttons, labelled
    `short` if given."""

    id: str
    text: str
    menu: str
    group: int
    handler: str
    shortcut: Key | str | None = None
    icon: str | None = None
    enabled_when: str | None = None
    table_only: bool = False
    checkable: bool = False
    checked: str | None = None  # a Commands method giving the initial checked state
    button: int | None = None
    short: str | None = None
    object_name: str | None = None


File, Edit, View, Record = MENUS

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_instance", "Open instance…", File, 0, "open_instance", Key.Open),
    ActionSpec("new_instance", "New instance…", File, 0, "new_instance", Key.New),
    ActionSpec("import_folder", "Import folder…", File, 1, "import_folder", "Ctrl+I", "upload"),
    ActionSpec("import_files", "Import files…", File, 1, "import_files", "Ctrl+Shift+I"),
    ActionSpec(
        "paste", "Paste files to import", File, 1, "paste_files", Key.Paste, table_only=True
    ),
    ActionSpec("show_transfers", "Show transfers", File, 1, "show_transfers"),
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
    ActionSpec("find", "Find", Edit, 0, "focus_search", Key.Find, "search"),
    ActionSpec("copy_uid", "Copy uid", Edit, 0, "copy_uids", Key.Copy, table_only=True),
    ActionSpec(
        "copy_path",
        "Copy path",
        Edit,
        0,
        "copy_paths",
        "Ctrl+Shift+C",
        enabled_when="content",
        button=1,
    ),
    ActionSpec(
        "trash",
        "Move to trash",
        Edit,
        1,
        "trash_selected",
        Key.Delete,
        "trash",
        enabled_when="has_trash",
        table_only=True,
        button=3,
        short="Trash",
    ),
    ActionSpec(
        "restore",
        "Restore from trash",
        Edit,
        1,
        "restore_from_trash",
        icon="restore",
        enabled_when="trash_page",
    ),
    ActionSpec("refresh", "Refresh", View, 0, "refresh", Key.Refresh, "refresh"),
    ActionSpec(
        "thumbnails", "Thumbnails", View, 0, "set_grid_mode", "Ctrl+G", "grid", checkable=True
    ),
    ActionSpec("dark_theme", "Dark theme", View, 0, "set_dark", checkable=True, checked="is_dark"),
    ActionSpec(
        "open",
        "Open",
        Record,
        0,
        "open_external",
        "Ctrl+Return",
        "file",
        enabled_when="content",
        button=0,
    ),
    ActionSpec(
        "reveal",
        "Reveal in file manager",
        Record,
        0,
        "reveal_in_folder",
        icon="folder",
        enabled_when="content",
    ),
    ActionSpec(
        "cache",
        "Cache locally",
        Record,
        0,
        "cache_selected",
        icon="storage",
        enabled_when="content",
    ),
    ActionSpec(
        "export",
        "Export to folder…",
        Record,
        0,
        "export_to_folder",
        icon="upload",
        enabled_when="content",
        button=2,
        short="Export…",
    ),
    ActionSpec(
        "new_version",
        "New version from file…",
        Record,
        0,
        "new_version_from_file",
        enabled_when="content",
    ),
    ActionSpec(
        "new_collection",
        "New collection from selection…",
        Record,
        1,
        "new_collection",
        icon="collection",
        enabled_when="content",
    ),
    ActionSpec(
        "add_to_collection",
        "Add selection to collection…",
        Record,
        1,
        "add_to_collection",
        enabled_when="content",
    ),
)


def _content(registry: str) -> bool:
    look = registries.look(registry)
    return look is not None and look.content


def _has_trash(registry: str) -> bool:
    spec = registries.loaded(registry)  # core's fact; known once the table has loaded
    return spec is not None and spec.has_trash


# When an action applies, by the page shown (a registry's name or registries.TRASH_PAGE).
ENABLED_WHEN: dict[str, Callable[[str], bool]] = {
    "content": _content,
    "has_trash": _has_trash,
    "table": lambda registry: registry != registries.TRASH_PAGE,
    "trash_page": lambda registry: registry == registries.TRASH_PAGE,
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
        self._views = tuple(shortcut_views)
        self._actions = {spec.id: self._build(spec, commands, parent) for spec in self.specs}

    def __getitem__(self, action_id: str) -> QAction:
        return self._actions[action_id]

    def _build(self, spec: ActionSpec, commands: Commands, parent: QWidget) -> QAction:
        action = QAction(spec.text, parent)
        if spec.object_name:
            action.setObjectName(spec.object_name)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        if spec.icon:
            set_icon(action, spec.icon)
        if spec.short:
            action.setIconText(spec.short)
        handler = getattr(commands, spec.handler)
        if spec.checkable:
            action.setCheckable(True)
            action.setChecked(bool(spec.checked and getattr(commands, spec.checked)()))
            action.toggled.connect(handler)
        else:
            action.triggered.connect(lambda _checked=False: handler())
        if spec.table_only:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            for view in self._views:
                view.addAction(action)
        return action

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

    def update(self, registry: str) -> None:
        """Enable the actions that apply to the page shown."""
        for spec in self.specs:
            if spec.enabled_when is not None:
                self._actions[spec.id].setEnabled(ENABLED_WHEN[spec.enabled_when](registry))
