"""Menus and record buttons are built from the table of action specs; actions apply where they
make sense."""

from __future__ import annotations

from typing import Any

from labshelf.app.data import registries
from labshelf.app.shell.actions import ACTIONS, ENABLED_WHEN, Actions
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
            "New instance…",
            "---",
            "Import folder…",
            "Import files…",
            "Paste files to import",
            "Show transfers",
            "---",
            "Export table as CSV…",
            "---",
            "Settings…",
            "Quit",
        ],
        "&Edit": ["Find", "Copy uid", "Copy path", "---", "Move to trash", "Restore from trash"],
        "&View": ["Refresh", "Thumbnails", "Dark theme"],
        "&Record": [
            "Open",
            "Reveal in file manager",
            "Cache locally",
            "Export to folder…",
            "New version from file…",
            "---",
            "New collection from selection…",
            "Add selection to collection…",
        ],
    }
    assert actions["settings"].objectName() == "settingsAction"
    assert [a.iconText() for a in actions.buttons()] == ["Open", "Copy path", "Export…", "Trash"]
    assert actions["thumbnails"].isCheckable() and actions["dark_theme"].isCheckable()


def test_actions_apply_where_they_make_sense(qtbot: Any) -> None:
    _window, actions = _actions(qtbot)
    registries.view("Artifact")  # core's spec loaded (the table's first page does this)
    actions.update("Artifact")
    assert actions["open"].isEnabled() and actions["trash"].isEnabled()
    assert not actions["restore"].isEnabled()
    actions.update("User")
    assert not actions["open"].isEnabled() and not actions["trash"].isEnabled()
    assert actions["copy_uid"].isEnabled()  # always
    actions.update(registries.TRASH_PAGE)
    assert actions["restore"].isEnabled() and not actions["export_csv"].isEnabled()
