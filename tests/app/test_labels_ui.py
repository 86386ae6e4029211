"""The app's labels and features (issue 17): the details panel's "Labels & features" section
(chips removable with undo, the feature table, "+ label" with autocomplete)."""

from __future__ import annotations

from typing import Any

import labshelf as ls
import pytest
from labshelf.app import gateway
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolButton

from tests.app.conftest import OFFSCREEN_NOISE


def _chips(win: Any) -> list[str]:
    box = win.details.annotations.chips_box
    return sorted(
        c.objectName().removeprefix("labelChip_")
        for c in box.findChildren(QToolButton)
        if c.objectName().startswith("labelChip_") and not c.isHidden()
    )


def _labels_of(uid: str) -> list[str]:
    return sorted(x.name for x in ls.Artifact.get(uid).ulabels.all())


# the completer's popup on the offscreen platform (not our warnings)
POPUP_NOISE = (
    OFFSCREEN_NOISE,
    r"does not support raise\(\)",
    r"does not support grabbing the keyboard",
)


@pytest.mark.qt_log_ignore(*POPUP_NOISE)
def test_details_chips_features_autocomplete_and_undo(
    qtbot: Any, gui: Any, seeded: dict[str, Any]
) -> None:
    images = seeded["images"]
    target, other = images[1].uid, images[2].uid
    ls.Feature("temperature", float, unit="°C").save()
    gateway.add_labels("Artifact", [target], ["DAPI"])
    gateway.add_labels("Artifact", [other], ["plate3"])
    gateway.set_feature("Artifact", [target], "temperature", "37.5")
    win = gui.window(rows=4)
    gui.select_key(win, "study0/cells_1.jpg")
    box = win.details.annotations
    qtbot.waitUntil(lambda: _chips(win) == ["DAPI"], timeout=10000)
    assert win.details.sections["labels"].isVisibleTo(win.details)
    assert box.features.rowCount() == 1
    cells = [box.features.item(0, c).text() for c in range(3)]
    assert cells == ["temperature", "37.5 °C", "float"]

    # "+ label": typing offers the labels that exist; Enter adds one
    box.label_edit.setFocus()
    qtbot.keyClicks(box.label_edit, "pla")
    qtbot.waitUntil(lambda: box.suggestions == ["plate3"], timeout=10000)
    box.label_edit.setText("plate3")
    qtbot.keyClick(box.label_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: _chips(win) == ["DAPI", "plate3"], timeout=10000)
    assert _labels_of(target) == ["DAPI", "plate3"]
    assert win.undo_history.next_text == "Undo add the label plate3"

    # ✕ on a chip takes the label off; Ctrl+Z puts it back
    chip = box.chips_box.findChild(QToolButton, "labelChip_DAPI")
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _chips(win) == ["plate3"], timeout=10000)
    assert _labels_of(target) == ["plate3"]
    assert win.undo_history.next_text == "Undo remove the label DAPI"
    status = win.statusBar()
    win.actions_["undo"].trigger()
    qtbot.waitUntil(
        lambda: "Undone: remove the label DAPI" in status.currentMessage(), timeout=10000
    )
    assert _labels_of(target) == ["DAPI", "plate3"]
    win.actions_["undo"].trigger()  # the added plate3 goes again
    qtbot.waitUntil(
        lambda: "Undone: add the label plate3" in status.currentMessage(), timeout=10000
    )
    assert _labels_of(target) == ["DAPI"]
    assert _labels_of(other) == ["plate3"]  # the other record keeps its label
    win.table.clearSelection()  # an undo selects nothing; the user clicks the row again
    gui.select_key(win, "study0/cells_1.jpg")
    qtbot.waitUntil(lambda: _chips(win) == ["DAPI"], timeout=10000)


def test_details_without_annotations_says_so(qtbot: Any, gui: Any, seeded: dict[str, Any]) -> None:
    win = gui.window(rows=4)
    gui.select_key(win, "study0/notes.txt")
    box = win.details.annotations
    qtbot.waitUntil(lambda: box.annotations == {"labels": [], "features": []}, timeout=10000)
    assert not box.empty.isHidden() and box.features.isHidden()
    # a label name that is refused (several labels of that name) says so in one sentence
    ls.ULabel("Stain", is_type=True).save()
    ls.ULabel("Strain", is_type=True).save()
    gateway.add_labels("Artifact", [seeded["images"][0].uid], ["GFP"], type_name="Stain")
    gateway.add_labels("Artifact", [seeded["images"][1].uid], ["GFP"], type_name="Strain")
    with qtbot.waitSignal(box.failed, timeout=10000) as failed:
        box.add_label("GFP")
    assert "GFP" in failed.args[0]
    assert _labels_of(seeded["text"].uid) == []


def test_bulk_label_and_set_feature_are_one_undoable_step(
    qtbot: Any, gui: Any, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QInputDialog

    ls.Feature("temperature", float, unit="°C").save()
    images = seeded["images"]
    gateway.set_feature("Artifact", [images[0].uid], "temperature", "30")
    win = gui.window(rows=4)
    keys = ["study0/cells_1.jpg", "study0/cells_2.jpg", "study0/cells_3.jpg"]
    uids = gui.select_keys(win, keys)
    status = win.statusBar()
    asked: list[str] = []

    def pick(_parent: Any, _title: str, label: str, items: list[str], *_a: Any) -> Any:
        asked.append(label)
        return ("DAPI", True)

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    assert win.actions_["label_selected"].isEnabled()
    win.actions_["label_selected"].trigger()
    qtbot.waitUntil(lambda: "Labelled 3 records DAPI" in status.currentMessage(), timeout=10000)
    assert asked == ["Label for 3 artifacts (a new name makes a new label):"]
    assert [_labels_of(u) for u in uids] == [["DAPI"]] * 3
    assert _labels_of(images[0].uid) == []
    assert win.undo_history.next_text == "Undo label 3 artifacts DAPI"

    # Set feature…: the feature is picked from the list, the value typed (as text)
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a: ("temperature (float, °C)", True))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a: ("37.5", True))
    uids = gui.select_keys(win, keys)
    win.actions_["set_feature"].trigger()
    qtbot.waitUntil(lambda: "Set temperature = 37.5" in status.currentMessage(), timeout=10000)
    values = gateway.feature_values(
        "Artifact", [ls.Artifact.get(u).id for u in uids], ["temperature"]
    )
    assert sorted(v["temperature"] for v in values.values()) == ["37.5 °C"] * 3

    # a value that does not fit the dtype is refused as a whole, in one sentence
    monkeypatch.setattr(QInputDialog, "getText", lambda *a: ("warm", True))
    uids = gui.select_keys(win, keys)
    shown: list[str] = []
    monkeypatch.setattr(win, "show_error", shown.append)
    win.actions_["set_feature"].trigger()
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert "temperature" in shown[0] and "warm" in shown[0]
    assert win.undo_history.next_text == "Undo set temperature of 3 artifacts"

    # Ctrl+Z: the values go (they had none), then the labels
    win.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: "Undone: set temperature" in status.currentMessage(), timeout=10000)
    after = gateway.feature_values(
        "Artifact", [ls.Artifact.get(u).id for u in uids], ["temperature"]
    )
    assert all("temperature" not in v for v in after.values())
    first = gateway.feature_values("Artifact", [images[0].id], ["temperature"])
    assert first[images[0].id]["temperature"] == "30.0 °C"  # not selected: untouched
    win.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: "Undone: label 3 artifacts" in status.currentMessage(), timeout=10000)
    assert [_labels_of(u) for u in uids] == [[]] * 3


def test_sidebar_label_tree_filters_the_table(qtbot: Any, gui: Any, seeded: dict[str, Any]) -> None:
    images = seeded["images"]
    ls.ULabel("Stain", is_type=True).save()
    gateway.add_labels("Artifact", [i.uid for i in images[1:]], ["DAPI"], type_name="Stain")
    # cells_0 shows as its newer version (the table lists the latest of each family)
    gateway.add_labels("Artifact", [seeded["revised"].uid], ["GFP"], type_name="Stain")
    gateway.add_labels("Artifact", [images[1].uid], ["plate3"])
    win = gui.window(rows=4)
    total = win.model.rowCount()
    tree = win.label_tree
    qtbot.waitUntil(lambda: tree.find_label("DAPI") is not None, timeout=10000)
    assert [(i.text(0), i.text(1)) for i in tree.items()] == [
        ("Stain", "4"),
        ("DAPI", "3"),
        ("GFP", "1"),
        ("plate3", "1"),
    ]
    assert tree.find_label("Stain").isExpanded()

    # a click on a label: only its artifacts, and a chip that says so
    with qtbot.waitSignal(win.model.loaded, timeout=10000):
        tree.tree.itemClicked.emit(tree.find_label("DAPI"), 0)
    qtbot.waitUntil(lambda: win.model.rowCount() == 3, timeout=10000)
    chip = win.filter_bar.findChild(QToolButton, "chip_label")
    assert chip is not None and chip.text().startswith("Label: DAPI")
    keys = sorted(win.model.record(r)["key"] for r in range(3))
    assert keys == ["study0/cells_1.jpg", "study0/cells_2.jpg", "study0/cells_3.jpg"]

    # with the search: both apply
    win.search_box.setText("cells_1")
    qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=10000)
    win.search_box.clear()
    qtbot.waitUntil(lambda: win.model.rowCount() == 3, timeout=10000)

    # a type: any of its labels; it replaces the label chip
    tree.tree.itemClicked.emit(tree.find_label("Stain"), 0)
    qtbot.waitUntil(lambda: win.model.rowCount() == 4, timeout=10000)
    chip = win.filter_bar.findChild(QToolButton, "chip_label")
    qtbot.waitUntil(lambda: chip.isVisible() and "Stain (any)" in chip.text(), timeout=5000)

    # ✕ on the chip: every row again; a label added in the app shows in the tree's counts
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.model.rowCount() == total, timeout=10000)
    gui.select_key(win, "study0/notes.txt")
    win.details.annotations.add_label("plate3")
    qtbot.waitUntil(lambda: tree.find_label("plate3").text(1) == "2", timeout=10000)


def test_feature_columns_from_the_column_chooser(
    qtbot: Any, gui: Any, seeded: dict[str, Any]
) -> None:
    images = seeded["images"]
    ls.Feature("temperature", float, unit="°C").save()
    ls.Feature("stain", "cat").save()
    gateway.set_feature("Artifact", [images[1].uid], "temperature", "37")
    gateway.set_feature("Artifact", [images[1].uid, images[2].uid], "stain", "DAPI")
    win = gui.window(rows=4)
    qtbot.waitUntil(lambda: len(win.table.features) == 2, timeout=10000)
    own = win.model.columnCount()
    menu = win.table.column_menu(win)
    action = menu.findChild(QAction, "featureColumn_temperature")
    assert action is not None and action.text() == "temperature (float, °C)"
    with qtbot.waitSignal(win.model.loaded, timeout=10000):
        action.trigger()
    assert win.model.columnCount() == own + 1
    assert win.model.headerData(own, Qt.Orientation.Horizontal) == "temperature"
    row = gui.row_of_key(win, "study0/cells_1.jpg")
    assert win.model.index(row, own).data() == "37.0 °C"
    assert win.model.index(gui.row_of_key(win, "study0/cells_2.jpg"), own).data() == ""
    menu = win.table.column_menu(win)
    with qtbot.waitSignal(win.model.loaded, timeout=10000):
        menu.findChild(QAction, "featureColumn_stain").trigger()
    assert win.model.index(row, own + 1).data() == "DAPI"
    menu = win.table.column_menu(win)
    assert menu.findChild(QAction, "featureColumn_temperature").isChecked()
    with qtbot.waitSignal(win.model.loaded, timeout=10000):
        menu.findChild(QAction, "featureColumn_temperature").trigger()  # off again
    assert win.model.feature_columns == ("stain",)
    assert win.model.columnCount() == own + 1


def test_import_dialog_reads_the_metadata_table_of_a_drop(
    qtbot: Any, upload_window: Any, tmp_path: Any
) -> None:
    """A dropped folder with meta.csv naming its files: the dialog offers to read it (with
    the dry run's counts), and the imported files get its labels and values."""
    from tests.app.conftest import write_jpeg

    folder = tmp_path / "plate7"
    for i in range(3):
        write_jpeg(folder / f"img{i}.jpg", (30 * i, 80, 120))
    (folder / "meta.csv").write_text(
        "file,stain,temperature\nimg0.jpg,DAPI,37\nimg1.jpg,GFP,30\nimg2.jpg,DAPI,warm\n"
        "img9.jpg,DAPI,37\n"
    )
    win = upload_window
    dialog = win.open_import([str(folder)])
    qtbot.waitUntil(lambda: dialog.metadata_preview is not None, timeout=30000)
    assert not dialog.read_metadata.isHidden() and dialog.read_metadata.isChecked()
    assert dialog.read_metadata.text() == "Read metadata from meta.csv"
    note = dialog.metadata_note.text()
    assert note.startswith("3 of 4 rows match a file · features stain, temperature"), note
    assert "1 unmatched" in note and "1 value refused (row 3, temperature: warm)" in note
    assert ls.Feature.filter().count() == 0  # the preview wrote nothing
    dialog.per_file.setChecked(True)
    qtbot.waitUntil(
        lambda: bool(dialog.summary) and dialog.summary["hashed"] == dialog.summary["items"],
        timeout=30000,
    )
    with qtbot.waitSignal(win.uploads.drop_finished, timeout=60000):
        dialog.accept()
    assert win.uploads.drops[-1].state == "done"
    qtbot.waitUntil(lambda: win.metadata_report is not None, timeout=30000)
    assert "Read meta.csv: 3 of 4 rows matched" in win.statusBar().currentMessage()
    img0 = ls.Artifact.get(key="plate7/img0.jpg", is_latest=True)
    annotations = gateway.record_annotations("Artifact", img0.uid)
    values = {f["feature"]: f["text"] for f in annotations["features"]}
    assert values["stain"] == "DAPI" and values["temperature"].startswith("37")
    img2 = ls.Artifact.get(key="plate7/img2.jpg", is_latest=True)
    values = {
        f["feature"]: f["text"]
        for f in gateway.record_annotations("Artifact", img2.uid)["features"]
    }
    assert "temperature" not in values  # the refused value was not written


def test_import_dialog_without_a_table_offers_nothing(
    qtbot: Any, upload_window: Any, tmp_path: Any
) -> None:
    from tests.app.conftest import write_jpeg

    folder = tmp_path / "plain"
    write_jpeg(folder / "a.jpg", (1, 2, 3))
    (folder / "notes.csv").write_text("x,y\n1,2\n")  # a table that names no dropped file
    dialog = upload_window.open_import([str(folder)])
    qtbot.waitUntil(
        lambda: bool(dialog.summary) and dialog.summary["hashed"] == dialog.summary["items"],
        timeout=30000,
    )
    # the offer's search ends before the dry run's hashing (both queued on the same runner)
    qtbot.waitUntil(lambda: upload_window.transfer_runner.active == 0, timeout=30000)
    assert dialog.read_metadata.isHidden() and dialog.metadata_table is None
    dialog.reject()


def test_a_feature_value_chip_comes_off_and_back(
    qtbot: Any, gui: Any, seeded: dict[str, Any]
) -> None:
    target = seeded["images"][1].uid
    ls.Feature("stain", "cat").save()
    gateway.set_feature("Artifact", [target], "stain", ["DAPI", "GFP"])
    win = gui.window(rows=4)
    gui.select_key(win, "study0/cells_1.jpg")
    qtbot.waitUntil(lambda: _chips(win) == ["DAPI", "GFP"], timeout=10000)
    box = win.details.annotations
    chip = box.chips_box.findChild(QToolButton, "labelChip_GFP")
    assert chip.text() == "stain: GFP  ✕"
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _chips(win) == ["DAPI"], timeout=10000)
    assert [f["text"] for f in gateway.record_annotations("Artifact", target)["features"]] == [
        "DAPI"
    ]
    win.actions_["undo"].trigger()
    status = win.statusBar()
    qtbot.waitUntil(
        lambda: "Undone: remove the label GFP" in status.currentMessage(), timeout=10000
    )
    features = gateway.record_annotations("Artifact", target)["features"]
    assert [(f["feature"], f["value"]) for f in features] == [("stain", ["DAPI", "GFP"])]
