"""The transfer queue tells the truth: a cancel stops new work within a second (measured on
a drop whose worker process stores slowly), the queue says what is done, cancelled and not
started, "Resume the rest" imports only that; rows are readable (name, time, source) and a
drop of files registered already claims no uploaded bytes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from labshelf.app.data.transfers import DropState, ItemState
from labshelf.app.main_window import MainWindow
from labshelf.app.uploads import manager as manager_module
from labshelf.app.uploads.queue_model import PROGRESS, SOURCE, STARTED, STATE
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QWidget
from slow_worker import slow_worker_command

# The upload worker process with a slow disk: every object takes STORE_S longer to store.
STORE_S = 0.01


@pytest.fixture(autouse=True)
def _never_ask_on_close(never_ask_on_close: None) -> None:
    """Every test here: closing never asks (see conftest)."""


@pytest.fixture
def window(upload_window: Any) -> Any:
    return upload_window


def _files(folder: Path, n: int, size: int = 4096) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"part{i:04d}.bin").write_bytes(i.to_bytes(4, "big") * (size // 4))
    return folder


def _select_drop(window: MainWindow, row: int) -> None:
    dock = window.queue_dock
    dock.view.selectionModel().select(
        dock.model.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    dock.view.setCurrentIndex(dock.model.index(row, 0))


def test_cancel_stops_new_work_within_a_second_and_the_rest_resumes(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    import labshelf as ls

    monkeypatch.setattr(
        manager_module,
        "worker_command",
        lambda: slow_worker_command(STORE_S),
    )
    folder = _files(tmp_path / "bigrun", 2000)
    drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    done_at: dict[int, float] = {}

    def note_done(drop_id: int, rows: list[int]) -> None:
        for row in rows:
            if drop.items[row].state == ItemState.DONE and row not in done_at:
                done_at[row] = time.monotonic()

    window.uploads.items_changed.connect(note_done)
    qtbot.waitUntil(lambda: drop.files_done >= 300, timeout=60000)
    _select_drop(window, 0)
    cancel = window.queue_dock.findChild(QWidget, "cancelDrop")
    clicked = time.monotonic()
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert window.queue_dock.model.index(0, STATE).data() == "cancelling…"
    qtbot.waitUntil(lambda: drop.finished, timeout=10000)
    ended = time.monotonic() - clicked
    late = sorted(t - clicked for t in done_at.values() if t > clicked)
    print(f"cancel: drop ended {ended:.2f} s after the click; {len(late)} items done after it")
    assert not [t for t in late if t > 1.0], late  # nothing new finishes a second after
    assert drop.state == DropState.CANCELLED
    outcome = drop.outcome()
    assert sum(outcome.values()) == 2000 and outcome["not started"] > 1000, outcome
    registered = ls.Artifact.filter().count()
    assert registered == outcome["done"]  # the queue tells the truth
    text = window.queue_dock.model.index(0, PROGRESS).data()
    assert f"{outcome['done']:,} done" in text and f"{outcome['not started']:,} not started" in text

    resume = window.queue_dock.findChild(QWidget, "resumeDrop")
    assert resume.isEnabled()
    monkeypatch.setattr(manager_module, "worker_command", manager_module.worker_command)
    with qtbot.waitSignal(window.uploads.drop_finished, timeout=60000):
        qtbot.mouseClick(resume, Qt.MouseButton.LeftButton)
    rest = window.uploads.drops[-1]
    assert rest.title == "bigrun (the rest)" and rest.state == DropState.DONE, rest.message
    assert len(rest.items) == 2000 - outcome["done"]  # only the rest, under the same keys
    assert rest.outcome() == {"done": len(rest.items)}
    assert sorted(a.key for a in ls.Artifact.filter()) == [
        f"bigrun/part{i:04d}.bin" for i in range(2000)
    ]


def test_queue_rows_are_readable_and_name_time_and_source(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    from labshelf.app.uploads.queue_dock import ROW_PADDING

    window.uploads.in_process = True  # quicker: no worker process to start three times
    for parent in ("monday", "tuesday"):  # two drops both named "plate"
        folder = _files(tmp_path / parent / "plate", 5)
        drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
        qtbot.waitUntil(lambda d=drop: d.finished, timeout=60000)
    again = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: again.finished, timeout=60000)
    model, view = window.queue_dock.model, window.queue_dock.view
    rows = [[model.index(r, c).data() for c in (0, SOURCE, STATE)] for r in range(3)]
    assert rows == [
        ["plate", str(tmp_path / "monday"), "done"],
        ["plate", str(tmp_path / "tuesday"), "done"],
        ["plate", str(tmp_path / "tuesday"), "done"],
    ]
    started = model.index(0, STARTED).data()
    assert started == window.uploads.drops[0].created.strftime("%H:%M:%S")
    assert model.index(0, PROGRESS).data() == "5 done · 20.0 KB uploaded"
    # the same files again: nothing was uploaded, and the queue does not claim 20.0 KB
    assert model.index(2, PROGRESS).data() == (
        "5 already registered · nothing uploaded · 20.0 KB were there already"
    )
    item = model.index(0, STATE, model.index(2, 0))  # its items say it in the same words
    assert item.data() == "already registered"
    height = view.visualRect(model.index(0, 0)).height()
    assert height >= view.fontMetrics().height() + ROW_PADDING  # not 14 px rows


def test_the_quit_question_has_one_cancel(qtbot, window: MainWindow, tmp_path: Path) -> None:
    from labshelf.app.uploads.quit_prompt import close_box

    box, buttons = close_box(window, window.uploads)
    texts = [b.text().replace("&", "") for b in buttons]
    assert [t for t in texts if "Cancel" in t] == ["Cancel"]
    assert sorted(buttons.values()) == ["cancel", "continue", "stay", "wait"]
    stay = next(b for b, answer in buttons.items() if answer == "stay")
    assert box.escapeButton() is stay and box.defaultButton() is stay
    assert "Stop imports and quit" in texts
