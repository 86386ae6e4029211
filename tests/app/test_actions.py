"""Menus and record buttons are built from the table of action specs; actions apply where they
make sense."""

from __future__ import annotations

from typing import Any

from labshelf.app.data import registries
from labshelf.app.shell.actions import ACTIONS, ENABLED_WHEN, Actions, Page
from labshelf.app.shell.commands import Commands
from PySide6.QtWidgets import QMainWindow, QTableView


def _actions(qtbot: Any) -> tuple[QMainWindow, Actions]:
    window = QMainWindow()
    qtbot.addWidget(window)
    table = QTableView()
    commands = Commands(window, window)  # type: ignore[arg-type] - nothing is triggered here
    actions = Actions(ACTIONS, commands, window, (table,))
    actions.fill_menus(window.menuBar())
    return window, actions


def _menu_texts(window: QMainWindow) -> dict[str, list[str]]:
    return {
        menu_action.text(): [a.text() or "---" for a in menu_action.menu().actions()]
        for menu_action in window.menuBar().actions()
    }


def test_the_spec_table_is_consistent() -> None:
    ids = [spec.id for spec in ACTIONS]
    assert len(ids) == len(set(ids))
    for spec in ACTIONS:
        assert callable(getattr(Commands, spec.handler)), spec.id
        assert spec.enabled_when is None or spec.enabled_when in ENABLED_WHEN, spec.id


def test_menus_are_built_from_the_table(qtbot: Any) -> None:
    window, actions = _actions(qtbot)
    assert _menu_texts(window) == {
        "&File": [
            "Open instance…",
            "Open recent",
            "New instance…",
            "---",
            "Import folder…",
            "Import files…",
            "Paste files to import",
            "Show transfers",
            "Watch a folder…",
            "---",
            "Export table as CSV…",
            "---",
            "Settings…",
            "Quit",
        ],
        "&Edit": [
            "Undo",
            "---",
            "Find",
            "Copy uid",
            "Copy path",
            "---",
            "Move to trash",
            "Restore from trash",
            "Delete permanently…",
        ],
        "&View": [
            "Refresh",
            "Thumbnails",
            "Show all versions",
            "Columns…",
            "---",
            "Sidebar",
            "Details",
            "Watched folders",
            "---",
            "Dark theme",
        ],
        "&Record": [
            "Open",
            "Reveal in file manager",
            "Cache locally",
            "Export to folder…",
            "---",
            "New version from file…",
            "Make this version the latest…",
            "---",
            "New collection from selection…",
            "Add selection to collection…",
            "---",
            "Label selected…",
            "Set feature…",
        ],
        "&Help": ["Keyboard shortcuts", "labshelf documentation", "---", "About labshelf"],
    }
    assert actions["settings"].objectName() == "settingsAction"
    assert [a.iconText() for a in actions.buttons()] == [
        "Open",
        "Copy path",
        "Export…",
        "Trash",
        "Restore",
    ]
    copy_menu = actions["copy_path"].menu()
    assert [a.text() for a in copy_menu.actions()] == ["Copy key", "Copy storage URL"]
    assert actions["thumbnails"].isCheckable() and actions["dark_theme"].isCheckable()


def test_actions_apply_where_they_make_sense(qtbot: Any) -> None:
    _window, actions = _actions(qtbot)
    registries.view("Artifact")  # core's spec loaded (the table's first page does this)
    actions.update(Page("Artifact", "Artifact", selected=1))
    assert actions["open"].isEnabled() and actions["trash"].isEnabled()
    assert not actions["restore"].isEnabled() and not actions["undo"].isEnabled()
    actions.update(Page("Artifact", "Artifact", selected=0))
    assert not actions["open"].isEnabled() and not actions["trash"].isEnabled()
    assert actions["all_versions"].isEnabled()  # needs no selection
    actions.update(Page("User", "User", selected=1))
    assert not actions["open"].isEnabled() and not actions["trash"].isEnabled()
    assert not actions["make_latest"].isEnabled() and not actions["all_versions"].isEnabled()
    assert actions["copy_uid"].isEnabled()
    actions.update(Page(registries.TRASH_PAGE, "Artifact", selected=2, can_undo=True))
    assert actions["restore"].isEnabled() and actions["purge"].isEnabled()
    assert not actions["export_csv"].isEnabled() and not actions["trash"].isEnabled()
    assert actions["open"].isEnabled() and actions["undo"].isEnabled()  # a trashed file opens


def test_the_row_menu_holds_what_applies(qtbot: Any) -> None:
    window, actions = _actions(qtbot)
    registries.view("Artifact")
    actions.update(Page("Artifact", "Artifact", selected=2))
    texts = [a.text() for a in actions.context_menu(window).actions() if a.text()]
    assert texts == [
        "Open",
        "Reveal in file manager",
        "Export to folder…",
        "Copy uid",
        "Copy path",
        "Make this version the latest…",
        "New collection from selection…",
        "Add selection to collection…",
        "Label selected…",
        "Set feature…",
        "Move to trash",
    ]
    actions.update(Page("Run", "Run", selected=1))
    assert [a.text() for a in actions.context_menu(window).actions() if a.text()] == ["Copy uid"]
