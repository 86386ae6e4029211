"""Fixtures for the desktop app tests: a fake row source and seeded local instances.
(Config/data/cache dirs, and with them the app's desktop.ini, are isolated per test by
tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.data.rows import TableQuery

# The offscreen platform says this for every top-level window shown; it is not our warning.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/app" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    task_runner = TaskRunner()
    yield task_runner
    task_runner.shutdown()


class FakeSource:
    """An in-memory registry of `n` artifacts; queries mimic core's QuerySet."""

    def __init__(self, n: int) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        self.rows = {
            i: {
                "id": i,
                "uid": f"uid{i:017d}",
                "key": f"file{i:05d}.jpg",
                "suffix": ".jpg",
                "size": 1000 + i,
                "hash": f"h{i}",
                "created_at": start + timedelta(minutes=i),
            }
            for i in range(1, n + 1)
        }
        self.page_fetches: list[int] = []

    def _matching(self, query: TableQuery) -> list[dict]:
        rows = [r for r in self.rows.values() if query.search in r["key"]]
        for field in reversed(query.order):
            name = field.lstrip("-")
            rows.sort(key=lambda r: r[name], reverse=field.startswith("-"))
        return rows

    def count(self, query: TableQuery) -> int:
        return len(self._matching(query))

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[dict]:
        self.page_fetches.append(offset)
        return [dict(r) for r in self._matching(query)[offset : offset + limit]]

    def fingerprint(self, query: TableQuery) -> object:
        return len(self.rows), max(self.rows, default=0)


@pytest.fixture
def fake_source() -> Callable[[int], FakeSource]:
    return FakeSource


def write_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "JPEG")
    return path


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Any]:
    """A fresh local instance (current for this test), disconnected afterwards."""
    import labshelf as ls
    from labshelf.instance import disconnect

    ls.init(str(tmp_path / "store"), name="apptest")
    yield ls
    disconnect()


@pytest.fixture
def never_ask_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window closed by the test teardown while imports run stops them instead of asking
    (a modal question would wait forever offscreen); tests that answer it patch it again."""
    from labshelf.app.shell.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "ask_close_choice", lambda self: "cancel")


@pytest.fixture
def upload_window(qtbot: Any, instance: Any, never_ask_on_close: None) -> Iterator[Any]:
    """The main window on ``instance``; its imports are cancelled and waited for at the end
    (no "transfers running?" question)."""
    from labshelf.app.shell.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "apptest" in win.instance_label.text(), timeout=10000)
    yield win
    win.uploads.cancel_all()
    qtbot.waitUntil(lambda: not win.uploads.running(), timeout=30000)
    win.close()


@pytest.fixture
def seeded(instance: Any, tmp_path: Path) -> dict[str, Any]:
    """Images, a CSV, a text file, two versions of one image and a collection in two versions."""
    ls = instance
    src = tmp_path / "src"
    images = [
        ls.Artifact(
            str(write_jpeg(src / f"cells_{i}.jpg", (40 * i, 90, 200 - 30 * i))),
            key=f"study0/cells_{i}.jpg",
            description=f"cells plate {i}",
        ).save()
        for i in range(4)
    ]
    csv = src / "iris.csv"
    csv.write_text("sepal_length,sepal_width,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n")
    table = ls.Artifact(str(csv), key="study0/iris.csv", description="iris measurements").save()
    notes = src / "notes.txt"
    notes.write_text("plate map\nA1 control\n")
    text = ls.Artifact(str(notes), key="study0/notes.txt").save()
    revised = ls.Artifact(
        str(write_jpeg(src / "cells_0_v2.jpg", (10, 250, 10))), key="study0/cells_0.jpg"
    ).save()
    first = ls.Collection(images[:2], name="plates").save()
    second = ls.Collection([*images[:1], images[2], table], name="plates", revises=first).save()
    return {
        "images": images,
        "table": table,
        "text": text,
        "revised": revised,
        "collections": [first, second],
    }


@pytest.fixture
def tracked(seeded: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """`seeded` plus a script run that read two images and wrote counts.csv."""
    import labshelf as ls

    track_script(tmp_path / "count_cells.py")
    for image in seeded["images"][:2]:
        image.cache()
    counts = tmp_path / "src" / "counts.csv"
    counts.write_text("well,cells\n0,31\n1,27\n")
    output = ls.Artifact(str(counts), key="study0/counts.csv").save()
    ls.finish()
    return dict(seeded, counts=output)


def track_script(path: Path) -> None:
    """``ls.track()`` as the script at ``path`` calls it (written first; ``__main__`` pretends
    to be it while ``track()`` reads it)."""
    import sys

    import labshelf as ls

    path.write_text('"""Count the cells in each well."""\nimport labshelf as ls\n')
    main = sys.modules["__main__"]
    had = getattr(main, "__file__", None)
    main.__file__ = str(path)
    try:
        ls.track()
    finally:
        if had is None:
            del main.__file__
        else:
            main.__file__ = had


class Gui:
    """Driving the main window as a user does, waiting on its signals (never sleeping)."""

    def __init__(self, qtbot: Any) -> None:
        self.qtbot = qtbot
        self.windows: list[Any] = []

    def window(self, rows: int = 1) -> Any:
        """A main window on the current instance, shown, with at least `rows` rows."""
        from labshelf.app.main_window import MainWindow

        win = MainWindow()
        self.qtbot.addWidget(win)
        win.show()
        self.qtbot.waitUntil(lambda: win.model.rowCount() >= rows, timeout=10000)
        self.windows.append(win)
        return win

    def row_of_key(self, win: Any, key: str) -> int:
        col = win.model.spec.column_index("key")
        for row in range(win.model.rowCount()):
            self.qtbot.waitUntil(lambda r=row: win.model.record(r) is not None, timeout=5000)
            if win.model.index(row, col).data() == key:
                return row
        raise AssertionError(f"{key} not in the table")

    def select(self, win: Any, row: int) -> str:
        """Click row `row` of the registry table; its uid once the details show it."""
        self.qtbot.waitUntil(lambda: win.model.record(row) is not None, timeout=5000)
        select_only(win.table, row)
        uid = win.model.record(row)["uid"]
        self.qtbot.waitUntil(lambda: win.details.current == (win.registry, uid), timeout=10000)
        return uid

    def select_key(self, win: Any, key: str) -> str:
        return self.select(win, self.row_of_key(win, key))

    def select_keys(self, win: Any, keys: list[str]) -> list[str]:
        """Ctrl+click several rows; their uids."""
        model = win.table.selectionModel()
        flags = model.SelectionFlag.Select | model.SelectionFlag.Rows
        uids = []
        for key in keys:
            row = self.row_of_key(win, key)
            model.select(win.model.index(row, 0), flags)
            uids.append(win.model.record(row)["uid"])
        self.qtbot.waitUntil(lambda: sorted(win.selected_uids()) == sorted(uids), timeout=5000)
        return uids

    def show(self, win: Any, registry: str) -> None:
        """Switch the window to `registry` and wait for its rows."""
        if win.registry == registry:
            return
        with self.qtbot.waitSignal(win.model.loaded, timeout=10000):
            win.show_registry(registry)

    def close(self) -> None:
        for win in self.windows:
            win.close()


def select_only(view: Any, row: int) -> None:
    """Select row ``row`` of a table view alone, as a plain click does. (``selectRow`` would
    follow the keyboard modifiers Qt last saw: a Ctrl an earlier test sent in this process
    adds the row to the selection instead.)"""
    model = view.selectionModel()
    flags = model.SelectionFlag.ClearAndSelect | model.SelectionFlag.Rows
    model.setCurrentIndex(view.model().index(row, 0), flags)


@pytest.fixture
def gui(qtbot: Any) -> Iterator[Gui]:
    helper = Gui(qtbot)
    yield helper
    helper.close()
