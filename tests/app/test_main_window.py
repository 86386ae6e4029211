"""The window on a seeded local instance: registries, search, details, preview, versions,
collections, lineage, trash, settings."""

from __future__ import annotations

from typing import Any

import pytest
from labshelf.app.browser.table_model import UID_ROLE
from labshelf.app.main_window import MainWindow
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QTableView, QWidget

from tests.app.conftest import select_only

OBJECT_NAMES = (
    "mainWindow",
    "registryList",
    "registryTable",
    "searchBox",
    "detailsPanel",
    "previewPane",
    "thumbnailGrid",
    "versionList",
    "lineageView",
    "collectionBrowser",
    "instanceLabel",
    "trashView",
)


@pytest.fixture
def window(qtbot, seeded) -> Any:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model.rowCount() > 0, timeout=10000)
    yield win
    win.close()


def _select_row(qtbot, win: MainWindow, row: int) -> str:
    qtbot.waitUntil(lambda: win.model.record(row) is not None, timeout=5000)
    select_only(win.table, row)
    uid = win.model.index(row, 0).data(UID_ROLE)
    qtbot.waitUntil(lambda: win.details.current == (win.registry, uid), timeout=10000)
    return uid


def _row_of_key(qtbot, win: MainWindow, key: str) -> int:
    col = win.model.spec.column_index("key")
    for row in range(win.model.rowCount()):
        qtbot.waitUntil(lambda r=row: win.model.record(r) is not None, timeout=5000)
        if win.model.index(row, col).data() == key:
            return row
    raise AssertionError(f"{key} not in the table")


def test_object_names_and_artifacts_first(window: MainWindow) -> None:
    for name in OBJECT_NAMES:
        assert window.findChild(QWidget, name) is not None or window.objectName() == name, name
    assert window.registry == "Artifact"
    assert window.model.rowCount() == 6  # 4 images, csv, txt; one row per version family
    assert isinstance(window.findChild(QListWidget, "registryList"), QListWidget)
    assert window.findChild(QListWidget, "registryList").count() == 7


def test_instance_label(qtbot, window: MainWindow) -> None:
    label = window.findChild(QLabel, "instanceLabel")
    qtbot.waitUntil(lambda: "apptest" in label.text(), timeout=5000)
    assert "SQLite" in label.text()


def test_registry_switching(qtbot, window: MainWindow) -> None:
    for name, expected in (("Collection", 1), ("User", 1), ("Storage", 1), ("Artifact", 6)):
        with qtbot.waitSignal(window.model.loaded, timeout=5000):
            window.show_registry(name)
        assert window.model.rowCount() == expected, name
    assert window.findChild(QTableView, "registryTable").model().columnCount() > 5


def test_search_narrows_rows(qtbot, window: MainWindow) -> None:
    box = window.findChild(QLineEdit, "searchBox")
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        box.setText("iris")
    assert window.model.rowCount() == 1
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        box.clear()
    assert window.model.rowCount() == 6


def test_selection_fills_details_and_image_preview(qtbot, window: MainWindow) -> None:
    row = _row_of_key(qtbot, window, "study0/cells_1.jpg")
    _select_row(qtbot, window, row)
    assert "cells_1" in window.details.title.text()
    qtbot.waitUntil(lambda: window.details.preview.kind == "image", timeout=10000)
    assert window.details.description.toPlainText() == "cells plate 1"


def test_csv_preview_is_a_table(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, _row_of_key(qtbot, window, "study0/iris.csv"))
    qtbot.waitUntil(lambda: window.details.preview.kind == "table", timeout=10000)
    assert window.details.preview.table_model.rowCount() == 2


def test_version_switching(qtbot, window: MainWindow, seeded) -> None:
    uid = _select_row(qtbot, window, _row_of_key(qtbot, window, "study0/cells_0.jpg"))
    versions = window.findChild(QListWidget, "versionList")
    qtbot.waitUntil(lambda: versions.count() == 2, timeout=5000)
    other = next(
        versions.item(i) for i in range(2) if versions.item(i).data(Qt.ItemDataRole.UserRole) != uid
    )
    versions.itemClicked.emit(other)
    target = other.data(Qt.ItemDataRole.UserRole)
    qtbot.waitUntil(lambda: window.details.current == ("Artifact", target), timeout=5000)


def test_description_edit_is_saved(qtbot, window: MainWindow, seeded) -> None:
    uid = _select_row(qtbot, window, _row_of_key(qtbot, window, "study0/notes.txt"))
    window.details.description.setPlainText("plate layout")
    with qtbot.waitSignal(window.details.description_saved, timeout=5000):
        window.details.save_description.click()
    import labshelf as ls

    assert ls.Artifact.get(uid).description == "plate layout"


def test_trash_and_restore(qtbot, window: MainWindow) -> None:
    _select_row(qtbot, window, _row_of_key(qtbot, window, "study0/notes.txt"))
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.actions_["trash"].trigger()
    assert window.model.rowCount() == 5
    assert window.details.current is None  # the record left the page: nothing selected
    window.show_registry("Trash")
    trash = window.trash_page
    qtbot.waitUntil(lambda: trash.model.rowCount() == 1, timeout=5000)
    qtbot.waitUntil(
        lambda: trash.model.record(0) is not None and "uid" in trash.model.record(0), timeout=5000
    )
    assert window.count_label.text() == "1 artifact in the trash"
    select_only(trash.view, 0)
    qtbot.waitUntil(lambda: window.details.current is not None, timeout=5000)
    assert "in the trash" in window.details.subtitle.text()
    window.actions_["restore"].trigger()
    qtbot.waitUntil(lambda: trash.model.rowCount() == 0, timeout=5000)
    assert "Restored 1 artifact" in trash.status.text()
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.show_registry("Artifact")
    assert window.model.rowCount() == 6


def test_settings_round_trip(qtbot, seeded) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.show_registry("Collection")
    first.resize(700, 500)
    first.splitter.setSizes([150, 300, 250])
    sizes, size = first.splitter.sizes(), first.size()
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    assert second.registry == "Collection"
    assert second.size() == size
    assert second.splitter.sizes() == sizes
    second.close()


def test_collection_browser_versions_members_and_diff(qtbot, window: MainWindow, seeded) -> None:
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.show_registry("Collection")
    browser = window.collections
    assert browser.isVisible()
    latest = seeded["collections"][1].uid
    assert window.model.rowCount() == 1  # one row per family: the latest version
    row = next(r for r in range(1) if _wait_uid(qtbot, window, r) == latest)
    with qtbot.waitSignal(browser.loaded, timeout=10000):
        select_only(window.table, row)
    assert browser.timeline.count() == 2
    assert [m["key"] for m in browser.members.members] == [
        "study0/cells_0.jpg",
        "study0/cells_2.jpg",
        "study0/iris.csv",
    ]
    with qtbot.waitSignal(browser.diffed, timeout=10000):
        browser.compare()
    changes = {
        (browser.diff.topLevelItem(i).text(0), browser.diff.topLevelItem(i).text(1))
        for i in range(browser.diff.topLevelItemCount())
    }
    assert changes == {
        ("added", "study0/cells_2.jpg"),
        ("added", "study0/iris.csv"),
        ("removed", "study0/cells_1.jpg"),
    }


def _wait_uid(qtbot, win: MainWindow, row: int) -> str:
    qtbot.waitUntil(lambda: win.model.record(row) is not None, timeout=5000)
    return win.model.index(row, 0).data(UID_ROLE)


def test_thumbnail_grid_loads_visible_images(qtbot, window: MainWindow, seeded) -> None:
    window.view_toggle.setChecked(True)
    assert window.view_stack.currentWidget() is window.grid
    hashes = [a.hash for a in seeded["images"][1:]]
    qtbot.waitUntil(lambda: all(window.thumbs.pixmap(h) is not None for h in hashes), timeout=10000)


def test_filter_chip_narrows_rows(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.filter_bar.add_filter("suffix", ".csv")
    assert window.model.rowCount() == 1
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.filter_bar.add_filter("key_prefix", "study0/cells")
    assert window.model.rowCount() == 0  # both chips apply
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.filter_bar.findChild(QWidget, "chip_suffix").click()
    assert window.model.rowCount() == 4  # cells_0 to cells_3, one row per family


def test_stale_rows_refresh_after_another_process_writes(
    qtbot, window: MainWindow, tmp_path
) -> None:
    import subprocess
    import sys

    new = tmp_path / "other.txt"
    new.write_text("written by another process")
    code = f"import labshelf as ls; ls.connect('apptest'); ls.Artifact({str(new)!r}, key='other.txt').save()"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    with qtbot.waitSignal(window.model.loaded, timeout=5000):
        window.model.check_stale()
    assert window.model.rowCount() == 7


def test_lineage_click_selects_the_record(qtbot, window: MainWindow, seeded, monkeypatch) -> None:
    from labshelf.app import gateway

    image, collection = seeded["images"][0], seeded["collections"][1]  # the latest version
    dot = (
        f'digraph {{ "{image.uid}" [label="cells_0", registry="Artifact", uid="{image.uid}"]; '
        f'"{collection.uid}" [label="plates", registry="Collection", uid="{collection.uid}"]; '
        f'"{image.uid}" -> "{collection.uid}"; }}'
    )
    monkeypatch.setattr(gateway, "lineage_dot", lambda registry, uid: (dot, image.uid))
    _select_row(qtbot, window, _row_of_key(qtbot, window, "study0/cells_1.jpg"))
    lineage = window.details.lineage
    qtbot.waitUntil(lambda: collection.uid in lineage.view.nodes, timeout=10000)
    lineage.view.node_activated.emit("Collection", collection.uid)
    qtbot.waitUntil(lambda: window.details.current == ("Collection", collection.uid), timeout=5000)
    assert window.registry == "Collection"
    qtbot.waitUntil(lambda: window.current_uid() == collection.uid, timeout=5000)


def test_new_collection_from_selection(qtbot, window: MainWindow, seeded, monkeypatch) -> None:
    from PySide6.QtWidgets import QInputDialog

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("picked", True))
    rows = [_row_of_key(qtbot, window, k) for k in ("study0/cells_1.jpg", "study0/notes.txt")]
    for row in rows:
        window.table.selectionModel().select(
            window.model.index(row, 0),
            window.table.selectionModel().SelectionFlag.Select
            | window.table.selectionModel().SelectionFlag.Rows,
        )
    window.commands.new_collection()
    qtbot.waitUntil(
        lambda: (
            window.registry == "Collection"
            and window.details.current is not None
            and window.details.current[0] == "Collection"
        ),
        timeout=10000,
    )
    import labshelf as ls

    assert ls.Collection.filter(name="picked").one().artifacts.count() == 2


def test_lineage_from_core_and_click_through(qtbot, tracked) -> None:
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model.rowCount() == 7, timeout=10000)
    _select_row(qtbot, win, _row_of_key(qtbot, win, "study0/counts.csv"))
    view = win.details.lineage.view
    image = tracked["images"][1]
    qtbot.waitUntil(lambda: image.uid in view.nodes, timeout=10000)
    kinds = {item.node.kind for item in view.nodes.values()}
    assert kinds == {"artifact", "run"}
    item = view.nodes[image.uid]
    win.details.tabs.setCurrentWidget(win.details.lineage)
    view.fitInView(view.scene().sceneRect())
    qtbot.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=view.mapFromScene(item.sceneBoundingRect().center()),
    )
    qtbot.waitUntil(lambda: win.details.current == ("Artifact", image.uid), timeout=5000)
    qtbot.waitUntil(lambda: win.current_uid() == image.uid, timeout=5000)
    run = next(i for i in view.nodes.values() if i.node.kind == "run")
    view.node_activated.emit(run.node.registry, run.node.uid)
    qtbot.waitUntil(
        lambda: win.registry == "Run" and win.details.current == ("Run", run.node.uid), timeout=5000
    )
    win.close()


def test_make_an_old_version_the_latest(qtbot, window: MainWindow, seeded, monkeypatch) -> None:
    import labshelf as ls

    monkeypatch.setattr(window.commands, "confirm", lambda title, text: True)
    old = seeded["images"][0]
    uid = _select_row(qtbot, window, _row_of_key(qtbot, window, "study0/cells_0.jpg"))
    versions = window.findChild(QListWidget, "versionList")
    qtbot.waitUntil(lambda: versions.count() == 2, timeout=5000)
    versions.setCurrentRow(0)  # the oldest
    assert versions.currentItem().data(Qt.ItemDataRole.UserRole) == old.uid != uid
    window.details.make_latest.click()
    qtbot.waitUntil(lambda: versions.count() == 3, timeout=10000)
    latest = ls.Artifact.filter(key="study0/cells_0.jpg", is_latest=True).one()
    assert latest.hash == old.hash and latest.uid not in (old.uid, uid)
