"""The window's commands as a scientist uses them (issue 16): whole selections or "takes one",
read-only copies named after the key, one theme setting, confirmations and undo, a layout
that holds at 1024x700, readable lineage, right-click menus, dragging out, recent instances,
bulk export with the key structure, and the Help menu."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from labshelf.app.lineage.layout import LayoutNode, LineageLayout
from labshelf.app.lineage.view import MIN_LABEL_POINTS, MIN_SCALE, LineageView
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QPlainTextEdit

KEYS = ["study0/cells_1.jpg", "study0/cells_2.jpg", "study0/iris.csv"]


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """What the app asked the desktop to open (local paths)."""
    urls: list[str] = []

    def record(url: QUrl) -> bool:
        urls.append(url.toLocalFile())
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(record))
    return urls


def _status(win: Any) -> str:
    return win.statusBar().currentMessage()


def test_4_actions_take_the_whole_selection_or_say_they_take_one(
    qtbot, gui, seeded, tmp_path, monkeypatch, opened
) -> None:
    win = gui.window()
    uids = gui.select_keys(win, KEYS)
    clipboard = QGuiApplication.clipboard()
    win.actions_["copy_uid"].trigger()
    assert sorted(clipboard.text().splitlines()) == sorted(uids)
    win.actions_["copy_key"].trigger()
    qtbot.waitUntil(lambda: sorted(clipboard.text().splitlines()) == sorted(KEYS), timeout=5000)
    assert _status(win) == "Copied 3 keys"
    win.actions_["copy_url"].trigger()
    qtbot.waitUntil(lambda: "/.labshelf/" in clipboard.text(), timeout=5000)
    assert len(clipboard.text().splitlines()) == 3
    win.actions_["reveal"].trigger()
    assert (
        _status(win)
        == "Reveal in file manager takes one artifact at a time; 3 artifacts are selected."
    )
    assert opened == []
    folder = tmp_path / "export"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    win.actions_["export"].trigger()
    qtbot.waitUntil(lambda: _status(win).startswith("Exported 3 artifacts"), timeout=10000)
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == sorted(KEYS)  # the key structure, kept
    assert (folder / "study0" / "iris.csv").stat().st_mode & stat.S_IWUSR  # the user's to edit
    win.actions_["export"].trigger()  # again: nothing is overwritten
    qtbot.waitUntil(lambda: (folder / "study0" / "iris (2).csv").exists(), timeout=10000)


def test_12_open_reveal_and_copy_use_a_read_only_copy_named_after_the_key(
    qtbot, gui, seeded, opened
) -> None:
    win = gui.window()
    uid = gui.select_key(win, "study0/iris.csv")
    win.actions_["open"].trigger()
    qtbot.waitUntil(lambda: len(opened) == 1, timeout=10000)
    path = Path(opened[0])
    assert path.as_posix().endswith(f"/read-only/{uid}/study0/iris.csv")
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o555
    win.actions_["reveal"].trigger()
    qtbot.waitUntil(lambda: len(opened) == 2, timeout=10000)
    assert opened[1] == str(path.parent)  # a folder with this one file, not 20,000 uids
    row = gui.row_of_key(win, "study0/notes.txt")
    gui.select(win, row)
    win.table.activated.emit(win.model.index(row, 0))  # double-click or Enter
    qtbot.waitUntil(lambda: len(opened) == 3, timeout=10000)
    assert opened[2].endswith("/study0/notes.txt")


def test_13_one_theme_setting_every_control_in_sync(qtbot, gui, seeded) -> None:
    from labshelf.app.base.theme import current_theme

    win = gui.window()
    dark = win.actions_["dark_theme"]
    dialog = win.open_settings_dialog()
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    qtbot.waitUntil(lambda: dialog.has_instance, timeout=5000)
    dialog.save()
    assert current_theme() == "dark" and dark.isChecked()
    dark.setChecked(False)
    assert current_theme() == "light"
    again = win.open_settings_dialog()
    assert again.theme.currentData() == "light"
    again.reject()


def test_18_version_making_asks_first_and_changes_can_be_undone(qtbot, gui, seeded) -> None:
    import labshelf as ls

    win = gui.window()
    asked: list[str] = []
    answer = [False]

    def confirm(title: str, text: str) -> bool:
        asked.append(text)
        return answer[0]

    win.commands.confirm = confirm  # type: ignore[method-assign]
    old = seeded["images"][0]
    win.commands.make_latest("Artifact", old.uid)
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=5000)
    assert "Publish version 1" in asked[0] and "Ctrl+Z" in asked[0]
    assert ls.Artifact.filter(key="study0/cells_0.jpg", visibility__in=[0, 1]).count() == 2
    answer[0] = True
    win.commands.make_latest("Artifact", old.uid)
    qtbot.waitUntil(lambda: win.undo_history.can_undo, timeout=10000)
    assert ls.Artifact.filter(key="study0/cells_0.jpg").count() == 3
    assert win.actions_["undo"].text() == "Undo make the new latest version"
    win.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: _status(win).startswith("Undone: make the new"), timeout=10000)
    assert ls.Artifact.filter(key="study0/cells_0.jpg", visibility__in=[0, 1]).count() == 2
    assert not win.undo_history.can_undo
    gui.select_key(win, "study0/notes.txt")
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.actions_["trash"].trigger()
    assert ls.Artifact.filter(key="study0/notes.txt").count() == 0
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.actions_["undo"].trigger()
    assert ls.Artifact.filter(key="study0/notes.txt").count() == 1
    gui.select_key(win, "study0/iris.csv")
    win.details.description.setPlainText("edited")
    with qtbot.waitSignal(win.details.description_saved, timeout=5000):
        win.details.save_description.click()
    win.actions_["undo"].trigger()
    qtbot.waitUntil(
        lambda: ls.Artifact.get(key="study0/iris.csv").description == "iris measurements",
        timeout=5000,
    )


def test_19_the_layout_holds_at_1024x700(qtbot, gui, seeded) -> None:
    win = gui.window()
    win.resize(1024, 700)
    win._fit_panes()
    win.show_transfers()
    qtbot.waitUntil(lambda: win.queue_dock.isVisible(), timeout=5000)
    gui.select_key(win, "study0/iris.csv")
    listing = win.registry_list
    widest = max(
        listing.fontMetrics().horizontalAdvance(listing.item(i).text())
        for i in range(listing.count())
    )
    assert listing.width() >= widest + 40  # "Collections", not "Colle"
    assert win.table.viewport().height() >= 250 and win.table.viewport().width() >= 340
    buttons = [
        b for b in win.details.actions_box.findChildren(object) if hasattr(b, "defaultAction")
    ]
    for button in buttons:
        if button.isVisible():
            assert button.geometry().right() <= win.details.actions_box.width()
    win.actions_["sidebar"].setChecked(False)
    assert not listing.isVisible()
    win.actions_["details"].setChecked(False)
    assert not win.details.isVisible()


def test_22_lineage_labels_stay_readable_at_fit(qtbot) -> None:
    view = LineageView()
    qtbot.addWidget(view)
    view.resize(300, 200)
    view.show()
    nodes = [
        LayoutNode(
            id=f"n{i}",
            label=f"a_rather_long_folder_name/with_a_long_file_name_{i}.tif\nfile · v1",
            kind="artifact",
            x=200.0 * i,
            y=100.0 * (i % 3),
            w=120.0,
            h=40.0,
            uid=f"u{i}",
            registry="Artifact",
            focal=i == 7,
        )
        for i in range(12)
    ]
    view.set_layout(LineageLayout(nodes=nodes, width=2400, height=300))
    view.fit()
    assert view.zoom >= MIN_SCALE  # never shrunk to a blur
    focal = view.nodes["n7"].sceneBoundingRect().center()
    assert view.viewport().rect().contains(view.mapFromScene(focal))  # centred on the record
    for item in view.nodes.values():
        for text in item.childItems():
            if hasattr(text, "font"):
                assert text.font().pointSizeF() >= MIN_LABEL_POINTS


def test_22_describe_and_table_previews_do_not_wrap(qtbot, gui, seeded) -> None:
    win = gui.window()
    assert win.details.describe_text.lineWrapMode() == QPlainTextEdit.LineWrapMode.NoWrap
    assert not win.details.preview.table_view.wordWrap()


@pytest.mark.qt_log_ignore("This plugin does not support")
def test_24_right_click_menus_on_rows_and_nodes(qtbot, gui, tracked) -> None:
    win = gui.window()
    row = gui.row_of_key(win, "study0/counts.csv")
    rect = win.table.visualRect(win.model.index(row, 0))
    menu = win.show_row_menu(win.table.viewport().mapToGlobal(rect.center()), win.table)
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[0] == "Open" and "Move to trash" in texts
    qtbot.waitUntil(lambda: win.details.current is not None, timeout=10000)
    assert win.details.current[1] == win.model.record(row)["uid"]  # the clicked row, selected
    menu.close()
    view = win.details.lineage.view
    qtbot.waitUntil(lambda: len(view.nodes) > 1, timeout=10000)
    node = next(i for i in view.nodes.values() if i.node.kind == "run")
    node_menu = win.show_node_menu(node.node.id, QPoint(10, 10))
    assert [a.text() for a in node_menu.actions()][:2] == ["Show this record", "Copy uid"]
    node_menu.close()


def test_24_artifacts_drag_out_as_their_read_only_copies(qtbot, gui, seeded) -> None:
    from labshelf.app.browser.drag_out import OWN_FORMAT

    win = gui.window()
    uids = gui.select_keys(win, ["study0/iris.csv", "study0/notes.txt"])
    dragged: list[Any] = []
    win.drag_out.exec_drag = lambda drag: dragged.append(drag.mimeData())
    win.table.drag_requested.emit()  # the button is up by the time the copies are ready
    qtbot.waitUntil(lambda: "drag the selection again" in _status(win), timeout=10000)
    assert dragged == []
    win.table.drag_requested.emit()  # ready now: the drag starts at once
    assert len(dragged) == 1
    files = [Path(u.toLocalFile()).as_posix() for u in dragged[0].urls()]
    assert sorted(f.split("/read-only/", 1)[1].split("/", 1)[1] for f in files) == [
        "study0/iris.csv",
        "study0/notes.txt",
    ]  # <cache>/read-only/<uid>/<key>
    assert sorted(bytes(dragged[0].data(OWN_FORMAT)).decode().splitlines()) == sorted(uids)


def test_24_file_open_recent_switches_instances(qtbot, gui, seeded, tmp_path) -> None:
    import labshelf as ls
    from labshelf.app.gateway import current_instance_name

    ls.init(str(tmp_path / "other"), name="other-lab")
    ls.connect("apptest")
    win = gui.window()
    menu = win.actions_["open_recent"].menu()
    qtbot.waitUntil(lambda: bool(win.recent.entries()), timeout=5000)
    menu.aboutToShow.emit()
    labels = [a.text() for a in menu.actions()]
    assert any(label.startswith("other-lab") for label in labels)
    assert not any(label.startswith("apptest") for label in labels)  # the current one
    target = next(a for a in menu.actions() if a.text().startswith("other-lab"))
    target.trigger()
    qtbot.waitUntil(lambda: "other-lab" in win.instance_label.text(), timeout=10000)
    assert current_instance_name() == "other-lab"
    qtbot.waitUntil(lambda: win.model.rowCount() == 0, timeout=10000)
    menu.aboutToShow.emit()
    assert menu.actions()[0].text().startswith("apptest")


def test_24_help_menu(qtbot, gui, seeded) -> None:
    from labshelf.app.shell.help import guide_text

    win = gui.window()
    rows = dict(win.shortcut_rows())
    assert rows["Undo"] == "Ctrl+Z" and rows["Open"] == "Ctrl+Return"
    win.actions_["shortcuts"].trigger()
    table = win.findChild(object, "shortcutTable")
    assert table is not None and table.rowCount() > 15
    assert "read-only copy named after the key" in guide_text()
    win.actions_["about"].trigger()
    qtbot.waitUntil(lambda: win.findChild(object, "aboutBox") is not None, timeout=5000)
    assert "apptest" in win.findChild(object, "aboutBox").text()


@pytest.mark.parametrize("registry", ["User", "Run"])
def test_4_actions_on_records_without_files_are_disabled(
    qtbot, gui, tracked, registry: str
) -> None:
    win = gui.window()
    gui.show(win, registry)
    gui.select(win, 0)
    assert not win.actions_["open"].isEnabled() and not win.actions_["export"].isEnabled()
    assert win.actions_["copy_uid"].isEnabled()
    assert Qt.Key.Key_Delete  # the Del key is bound to trash, which these registries lack
    assert not win.actions_["trash"].isEnabled()
