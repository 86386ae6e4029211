"""Browsing as a scientist (issue 16): every record shows; selection, details and actions
agree; versions are families; each page keeps its search; empty tables say why; filters
read what people type; the details read as words; the trash answers back; columns for
people, remembered."""

from __future__ import annotations

from typing import Any

import pytest
from labshelf.app.browser.details_panel import NOTHING
from labshelf.app.data.registries import LOOKS
from PySide6.QtCore import Qt

from tests.app.conftest import select_only


def test_1_every_record_of_every_registry_shows(qtbot, gui, tracked) -> None:
    win = gui.window()
    for registry in LOOKS:
        gui.show(win, registry)
        assert win.model.rowCount() > 0, registry
        for row in range(win.model.rowCount()):
            uid = gui.select(win, row)
            qtbot.waitUntil(lambda: win.details.view is not None, timeout=10000)
            assert win.details.title.text() != "Cannot show this record", (registry, uid)
            assert win.details.view.uid == uid


def test_2_selection_details_and_actions_never_disagree(qtbot, gui, seeded) -> None:
    win = gui.window()
    gui.select_key(win, "study0/notes.txt")
    assert win.actions_["trash"].isEnabled()
    win.show_registry("Trash")
    qtbot.waitUntil(lambda: win.trash_page.model.spec is not None, timeout=5000)
    assert win.details.title.text() == NOTHING and not win.actions_["trash"].isEnabled()
    gui.show(win, "Artifact")
    # nothing highlighted, nothing in the details, nothing to act on: they agree
    assert win.table.selectionModel().selectedRows() == []
    assert win.details.title.text() == NOTHING and win.selected_uids() == []
    assert not win.actions_["trash"].isEnabled() and not win.actions_["open"].isEnabled()
    uid = gui.select_key(win, "study0/notes.txt")  # clicking the row works again
    assert win.selected_uids() == [uid] and win.actions_["trash"].isEnabled()
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.actions_["trash"].trigger()
    assert win.details.current is None and win.selected_uids() == []


def test_2_a_record_that_cannot_be_read_shows_no_actions(qtbot, gui, seeded) -> None:
    win = gui.window()
    gui.select_key(win, "study0/notes.txt")
    assert win.details.actions_box.isVisibleTo(win.details)
    win.details.show_record("Artifact", "nosuchuid00000000000")  # e.g. deleted elsewhere
    qtbot.waitUntil(lambda: win.details.title.text() == "Cannot show this record", timeout=10000)
    assert "nosuchuid00000000000" in win.details.subtitle.text()
    assert not win.details.actions_box.isVisibleTo(win.details)


def test_2_a_search_that_drops_the_selected_row_drops_the_selection(qtbot, gui, seeded) -> None:
    win = gui.window()
    gui.select_key(win, "study0/notes.txt")
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.search_box.setText("iris")
    qtbot.waitUntil(lambda: win.details.title.text() == NOTHING, timeout=5000)
    assert win.selected_uids() == []


def test_3_a_collection_clicked_in_the_lineage_fills_the_collection_browser(
    qtbot, gui, seeded, monkeypatch
) -> None:
    from labshelf.app import gateway

    image, old = seeded["images"][0], seeded["collections"][0]  # v1: not a row (v2 is)
    dot = (
        f'digraph {{ "{image.uid}" [label="cells_0", registry="Artifact", uid="{image.uid}"]; '
        f'"{old.uid}" [label="plates", registry="Collection", uid="{old.uid}"]; '
        f'"{image.uid}" -> "{old.uid}"; }}'
    )
    monkeypatch.setattr(gateway, "lineage_dot", lambda registry, uid: (dot, image.uid))
    win = gui.window()
    gui.select_key(win, "study0/cells_1.jpg")
    qtbot.waitUntil(lambda: old.uid in win.details.lineage.view.nodes, timeout=10000)
    with qtbot.waitSignal(win.collections.loaded, timeout=10000):
        win.details.lineage.view.node_activated.emit("Collection", old.uid)
    assert win.registry == "Collection" and win.collections.isVisible()
    assert win.collections.header.text() == "plates · v1 · 2 members"
    qtbot.waitUntil(lambda: win.details.current == ("Collection", old.uid), timeout=10000)
    assert win.selected_uids() == [old.uid]  # no row for v1: the details are the subject


def test_7_one_row_per_family_with_its_size_and_all_versions_on_demand(qtbot, gui, seeded) -> None:
    win = gui.window()
    assert win.model.rowCount() == 6
    row = gui.row_of_key(win, "study0/cells_0.jpg")
    version = win.model.spec.column_index("version")
    assert win.model.index(row, version).data() == "v2 of 2"
    assert win.count_label.text() == "6 artifacts (latest versions)"
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.actions_["all_versions"].setChecked(True)
    assert win.model.rowCount() == 7
    texts = sorted(
        win.model.index(r, version).data()
        for r in range(7)
        if win.model.record(r)["key"] == "study0/cells_0.jpg"
    )
    assert texts == ["v1 of 2", "v2 of 2"]
    uid_col = win.model.spec.column_index("uid")
    assert win.table.itemDelegateForColumn(uid_col) is not None  # elided in the middle: …0001


def test_10_each_page_keeps_its_search_and_empty_pages_say_so(qtbot, gui, seeded) -> None:
    win = gui.window()
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.search_box.setText("iris")
    assert win.model.rowCount() == 1
    gui.show(win, "Collection")
    assert win.search_box.text() == "" and win.model.rowCount() == 1
    gui.show(win, "Artifact")
    assert win.search_box.text() == "iris" and win.model.rowCount() == 1
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.search_box.setText("zzzqqq")
    assert win.model.rowCount() == 0 and win.table_empty.isVisible()
    assert win.table_empty.message.startswith("No artifacts match “zzzqqq”.")
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.search_box.clear()
    assert not win.table_empty.isVisible()
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        win.filter_bar.add_filter("suffix", "parquet")
    assert win.table_empty.message.startswith("No artifacts match these filters.")
    win.show_registry("Trash")
    trash = win.trash_page
    qtbot.waitUntil(lambda: trash.empty.isVisible(), timeout=5000)
    assert trash.empty.message.startswith("The trash holds no artifacts.")
    assert win.count_label.text() == "0 artifacts in the trash"


def test_11_filters_offer_the_data_s_values_and_read_obvious_forms(qtbot, gui, seeded) -> None:
    import labshelf as ls

    me = ls.User.get(handle="testuser")
    me.name = "Ada Lovelace"
    me.save()
    win = gui.window()
    dialog = win.filter_bar.ask("created_by")
    qtbot.waitUntil(lambda: dialog.combo.count() == 1, timeout=5000)
    assert dialog.combo.itemText(0) == "Ada Lovelace (testuser)"
    dialog.combo.setEditText("ada lovelace")  # the name, not the handle, in any case
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        dialog.accept()
    assert win.model.rowCount() == 6
    assert win.filter_bar.lookups == (("created_by__handle", "testuser"),)
    suffixes = win.filter_bar.ask("suffix")
    qtbot.waitUntil(lambda: suffixes.combo.count() == 3, timeout=5000)
    assert suffixes.combo.itemText(0) == ".jpg  (5)"  # most used first, all versions counted
    suffixes.combo.setEditText("csv")  # no dot
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        suffixes.accept()
    assert win.model.rowCount() == 1


def test_5_the_date_filter_takes_pickers_or_common_forms_and_says_what_is_wrong(
    qtbot, gui, seeded
) -> None:
    win = gui.window()
    dialog = win.filter_bar.ask("date")
    dialog.typed.setText("2024-03-01 to 2024-03-31")
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        dialog.accept()
    assert win.model.rowCount() == 0  # seeded today
    assert "2024-03-01 to 2024-03-31" in win.filter_bar.findChild(object, "chip_date").text()
    bad = win.filter_bar.ask("date")
    bad.typed.setText("the week before Easter")
    bad.accept()  # no exception escapes; the dialog stays open and says why
    assert bad.isVisible() and "is not a date" in bad.error.text()
    bad.typed.clear()
    bad.first.setDate(bad.last.date().addDays(-1))
    with qtbot.waitSignal(win.model.loaded, timeout=5000):
        bad.accept()
    assert win.model.rowCount() == 6  # picked: yesterday to today


def test_14_the_details_show_what_applies_and_tuck_internals_away(qtbot, gui, tracked) -> None:
    win = gui.window()
    gui.select_key(win, "study0/counts.csv")
    details = win.details
    qtbot.waitUntil(lambda: details.view is not None, timeout=10000)
    shown = {name for name, section in details.sections.items() if section.isVisible()}
    assert {"about", "description", "versions", "provenance", "technical"} <= shown
    assert not details.sections["technical"].is_open  # collapsed
    assert "uid" not in [label for label, _ in details.overview_form.lines]
    made = dict(details.provenance_form.lines)["Made by"]
    assert made.startswith("script “Count the cells in each well.”")
    open_button = details.findChild(object, "button_action_open")
    assert open_button.isVisible()
    details.scroll.verticalScrollBar().setValue(details.scroll.verticalScrollBar().maximum())
    gui.show(win, "User")
    gui.select(win, 0)
    qtbot.waitUntil(
        lambda: details.view is not None and details.view.registry == "User", timeout=10000
    )
    assert details.scroll.verticalScrollBar().value() == 0  # a new record starts at the top
    for name in ("description", "versions", "collections"):
        assert not details.sections[name].isVisible(), name
    assert not open_button.isVisible() and not details.make_latest.isVisible()
    win.keeper.clear()
    qtbot.waitUntil(lambda: details.title.text() == NOTHING, timeout=5000)
    assert not any(s.isVisible() for s in details.sections.values())
    assert not details.actions_box.isVisible()


def test_14_the_details_list_the_collections_an_artifact_is_in(qtbot, gui, seeded) -> None:
    win = gui.window()
    gui.select_key(win, "study0/iris.csv")
    qtbot.waitUntil(lambda: win.details.collection_list.count() == 1, timeout=10000)
    assert win.details.collection_list.item(0).text() == "plates v2"
    with qtbot.waitSignal(win.collections.loaded, timeout=10000):
        win.details.collection_list.itemClicked.emit(win.details.collection_list.item(0))
    assert win.registry == "Collection"


def test_15_the_trash_is_searched_previewed_and_counted(qtbot, gui, seeded) -> None:
    import labshelf as ls

    for key in ("study0/notes.txt", "study0/iris.csv"):
        ls.Artifact.get(key=key).delete()
    win = gui.window()
    win.show_registry("Trash")
    trash = win.trash_page
    qtbot.waitUntil(lambda: trash.model.rowCount() == 2, timeout=5000)
    assert win.count_label.text() == "2 artifacts in the trash"
    win.search_box.setText("iris")
    qtbot.waitUntil(lambda: trash.model.rowCount() == 1, timeout=5000)
    assert win.count_label.text() == "1 artifact in the trash"
    qtbot.waitUntil(lambda: trash.model.record(0) is not None, timeout=5000)
    select_only(trash.view, 0)
    qtbot.waitUntil(lambda: win.details.preview.kind == "table", timeout=10000)
    qtbot.waitUntil(lambda: win.details.view is not None, timeout=10000)
    assert win.details.subtitle.text().endswith("in the trash")
    assert win.actions_["restore"].isEnabled() and win.actions_["open"].isEnabled()


def test_20_columns_for_people_chosen_and_remembered(qtbot, gui, seeded) -> None:
    win = gui.window()
    header = win.table.horizontalHeader()
    spec = win.model.spec
    visible = [spec.columns[header.logicalIndex(v)].field for v in range(header.count())]
    shown = [f for f in visible if not header.isSectionHidden(spec.column_index(f))]
    assert shown[0] == "key" and "uid" not in shown and "hash" not in shown
    assert win.table.textElideMode() == Qt.TextElideMode.ElideRight
    assert win.table.itemDelegateForColumn(spec.column_index("key")) is not None  # middle
    size = spec.column_index("size")
    text = win.model.index(0, size).data()
    width = win.table.fontMetrics().horizontalAdvance(text)
    assert header.sectionSize(size) > width + 8  # the unit shows ("3.3 KB", not "3.3")
    menu = win.table.column_menu(win)
    uid_action = next(a for a in menu.actions() if a.text() == "uid")
    uid_action.setChecked(True)
    assert not header.isSectionHidden(spec.column_index("uid"))
    header.moveSection(header.visualIndex(spec.column_index("uid")), 0)
    header.resizeSection(spec.column_index("key"), 333)
    win.close()
    again = gui.window()
    header = again.table.horizontalHeader()
    assert header.visualIndex(spec.column_index("uid")) == 0
    assert header.sectionSize(spec.column_index("key")) == 333


@pytest.mark.parametrize("registry", ["Artifact", "Run"])
def test_20_every_registry_opens_on_its_name_column(qtbot, gui, tracked, registry: Any) -> None:
    win = gui.window()
    gui.show(win, registry)
    header = win.table.horizontalHeader()
    first = header.logicalIndex(0)
    assert win.model.spec.columns[first].field == LOOKS[registry].columns[0]


def test_14_only_the_tabs_that_apply_and_the_reader_s_choice_kept(qtbot, gui, seeded) -> None:
    win = gui.window()
    details = win.details
    tabs = details.tabs
    gui.select_key(win, "study0/iris.csv")
    assert tabs.currentWidget() is details.preview
    gui.show(win, "User")
    gui.select(win, 0)
    assert not tabs.isTabEnabled(tabs.indexOf(details.preview))
    assert not tabs.isTabEnabled(tabs.indexOf(details.lineage))
    assert tabs.currentWidget() is details.describe_text
    gui.show(win, "Collection")
    gui.select(win, 0)
    assert tabs.currentWidget() is details.lineage  # no preview: its lineage
    gui.show(win, "Artifact")
    gui.select_key(win, "study0/iris.csv")
    assert tabs.currentWidget() is details.preview  # the reader's choice again
    tabs.setCurrentWidget(details.describe_text)  # chosen by the reader: kept
    gui.select_key(win, "study0/notes.txt")
    assert tabs.currentWidget() is details.describe_text


def test_9_a_near_miss_count_says_it_is_a_lower_bound(qtbot, gui, seeded, monkeypatch) -> None:
    """A search for a mistyped word looks for near misses among its best candidates only:
    when there were that many, the count reads "N+ … — refine the search"."""
    import re

    from labshelf import query

    monkeypatch.setattr(query, "FUZZY_CANDIDATES", 2)  # as if the catalog were large
    win = gui.window()
    with qtbot.waitSignal(win.model.loaded, timeout=10000):
        win.search_box.setText("cels")  # a typo of "cells"
    assert re.fullmatch(r"\d+\+ artifacts — refine the search", win.count_label.text())
    with qtbot.waitSignal(win.model.loaded, timeout=10000):
        win.search_box.setText("cells")  # substring hits: an exact count
    assert "+" not in win.count_label.text() and "refine" not in win.count_label.text()
