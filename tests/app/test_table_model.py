"""The paged registry model, without widgets, over a fake row source."""

from __future__ import annotations

from labshelf.app.browser.table_model import PAGE_SIZE, RegistryTableModel
from labshelf.app.data.rows import TableQuery
from PySide6.QtCore import Qt


def _loaded_model(qtbot, runner, fake_source, n=1000, query=None):
    source = fake_source(n)
    model = RegistryTableModel(source, runner)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_query(query or TableQuery(order=("-created_at",)))
    return model, source


def _wait_row(qtbot, model, row):
    model.record(row)
    qtbot.waitUntil(lambda: model.record(row) is not None, timeout=5000)
    return model.record(row)


def test_count_comes_with_the_first_page_only(qtbot, runner, fake_source) -> None:
    model, source = _loaded_model(qtbot, runner, fake_source)
    assert model.rowCount() == 1000
    assert source.page_fetches == [0]  # the first page arrives with the count
    assert model.record(0)["key"] == "file01000.jpg"  # newest first
    assert model.index(0, model.spec.column_index("size")).data() == "2.0 KB"
    assert model.index(PAGE_SIZE, 0).data() == "…"  # not loaded yet: requested now
    assert _wait_row(qtbot, model, PAGE_SIZE)["key"] == f"file{1000 - PAGE_SIZE:05d}.jpg"
    assert source.page_fetches == [0, PAGE_SIZE]


def test_far_rows_fetch_only_their_page(qtbot, runner, fake_source) -> None:
    model, source = _loaded_model(qtbot, runner, fake_source)
    record = _wait_row(qtbot, model, 999)
    assert record["key"] == "file00001.jpg"
    assert source.page_fetches == [0, 4 * PAGE_SIZE]


def test_sort_runs_a_new_query(qtbot, runner, fake_source) -> None:
    model, _ = _loaded_model(qtbot, runner, fake_source)
    with qtbot.waitSignal(model.loaded):
        model.sort(model.spec.column_index("key"), Qt.SortOrder.AscendingOrder)
    assert model.query.order == ("key", "id")
    assert _wait_row(qtbot, model, 0)["key"] == "file00001.jpg"


def test_search_narrows_rows(qtbot, runner, fake_source) -> None:
    model, _ = _loaded_model(qtbot, runner, fake_source)
    with qtbot.waitSignal(model.loaded):
        model.update_query(search="file0099")
    assert model.rowCount() == 10
    assert _wait_row(qtbot, model, 9)["key"] == "file00990.jpg"


def test_stale_check_reloads_after_an_outside_write(qtbot, runner, fake_source) -> None:
    model, source = _loaded_model(qtbot, runner, fake_source, n=10)
    source.rows[11] = dict(source.rows[10], id=11, key="new.jpg", uid="uid11")
    with qtbot.waitSignal(model.loaded):
        model.check_stale()
    assert model.rowCount() == 11


def test_memory_stays_bounded_while_scrolling(qtbot, runner, fake_source) -> None:
    from labshelf.app.browser.table_model import MAX_PAGES

    model, _ = _loaded_model(qtbot, runner, fake_source, n=PAGE_SIZE * (MAX_PAGES + 10))
    for page in range(MAX_PAGES + 10):
        _wait_row(qtbot, model, page * PAGE_SIZE)
    assert len(model._pages) == MAX_PAGES


def test_results_of_an_old_query_are_ignored(qtbot, runner, fake_source) -> None:
    model, _ = _loaded_model(qtbot, runner, fake_source)
    model.update_query(search="file00")
    with qtbot.waitSignal(model.loaded) as blocker:
        model.update_query(search="file0001")
    assert blocker.args == [10]
    runner.wait()
    qtbot.wait(1)  # deliver queued results of the first query (they must be dropped)
    assert model.rowCount() == 10
