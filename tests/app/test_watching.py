"""Watch folders in the app (labshelf.app.watching): the dialog starts a real watcher on a temp
folder, files written in chunks show up in the panel and the catalog, pause/resume/stop from
the panel, bad input refused with one sentence and nothing started, watches stored in the
settings come back paused after a restart, closing stops the watcher threads.

Settle times are 0.3 s; waits are on conditions (qtbot.waitUntil), never blind sleeps. The
only fixed waits pace the writer (chunks 80 ms apart) and, once, give a paused watch time
in which it must *not* register."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labshelf.app import gateway
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.shell.app_settings import open_settings
from labshelf.app.watching.dialog import WatchFolderDialog
from labshelf.app.watching.manager import SETTINGS_KEY, WatchManager
from labshelf.app.watching.panel import WatchPanel
from labshelf.app.watching.watches import (
    ERROR,
    FOLDER_MISSING,
    PAUSED,
    RESTORED_REASON,
    STOPPED,
    WATCHING,
    WatchRow,
    WatchSpec,
    default_instrument,
    glob_problem,
    spec_problem,
    split_globs,
)

SETTLE = 0.3
WAIT_MS = 15000


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ls-watch" and t.is_alive()]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "confocal-out"
    folder.mkdir()
    return folder


class Rig:
    """A manager, its panel and runner, as the main window builds them."""

    def __init__(self, qtbot: Any) -> None:
        self.qtbot = qtbot
        self.runner = TaskRunner(max_threads=2)
        self.manager = WatchManager(self.runner, open_settings)
        self.panel = WatchPanel(self.manager)
        qtbot.addWidget(self.panel)
        self.panel.show()

    def dialog(self, folder: Path | str, **fields: str) -> WatchFolderDialog:
        dialog = WatchFolderDialog(self.manager.start, self.panel, str(folder))
        self.qtbot.addWidget(dialog)
        dialog.settle.setValue(SETTLE)
        for name, value in fields.items():
            getattr(dialog, name).setText(value)
        dialog.open()
        return dialog

    def start(self, folder: Path, **fields: str) -> WatchRow:
        """Start a watch through the dialog, as a user does; its row once it watches."""
        before = len(self.manager.rows)
        dialog = self.dialog(folder, **fields)
        dialog.ok.click()
        cancel = dialog.buttons.button(dialog.buttons.StandardButton.Cancel)
        assert not dialog.ok.isEnabled() and not cancel.isEnabled()  # starting
        dialog.reject()  # Esc: not while starting
        assert dialog.isVisible()
        self.qtbot.waitUntil(lambda: dialog.result() == dialog.DialogCode.Accepted, timeout=WAIT_MS)
        assert len(self.manager.rows) == before + 1
        row = self.manager.rows[-1]
        self.qtbot.waitUntil(lambda: row.state == WATCHING, timeout=WAIT_MS)
        return row

    def close(self) -> None:
        self.manager.close(10)


@pytest.fixture
def rig(qtbot: Any, instance: Any) -> Iterator[Rig]:
    made = Rig(qtbot)
    yield made
    made.close()
    assert not watch_threads()


def write_in_chunks(qtbot: Any, path: Path, chunks: int = 4, size: int = 64 * 1024) -> int:
    """Write `path` as an instrument does: open, a chunk every 80 ms, close (the content
    differs from file to file: the same content twice is registered once)."""
    with open(path, "wb") as out:
        for i in range(chunks):
            out.write(f"{path.name}:{i}:".encode().ljust(size, b"."))
            out.flush()
            qtbot.wait(80)
    return chunks * size


def catalog(ls: Any, prefix: str) -> dict[str, int]:
    return {a.key: a.size for a in ls.Artifact.filter(key__startswith=f"{prefix}/")}


# -- the plain-data side ---------------------------------------------------------------------


def test_spec_checks_say_one_sentence() -> None:
    ok = WatchSpec(folder="/data/in", instrument="Confocal 2")
    assert spec_problem(ok) is None
    assert "instrument" in (spec_problem(WatchSpec(folder="/x", instrument=" ")) or "")
    assert "folder" in (spec_problem(WatchSpec(folder="", instrument="C")) or "")
    marker_on_files = WatchSpec(folder="/x", instrument="C", marker="DONE")
    assert "unit" in (spec_problem(marker_on_files) or "")
    assert glob_problem("[0-9") is not None and glob_problem("[0-9]*.tif") is None
    assert glob_problem("/abs/*.tif") is not None and glob_problem("../*.tif") is not None
    bad = WatchSpec(folder="/x", instrument="C", include=("*.tif", "img[0-9"))
    assert "img[0-9" in (spec_problem(bad) or "")
    assert split_globs(" *.tif, *.czi ,,\n~*") == ("*.tif", "*.czi", "~*")
    assert default_instrument("/data/confocal-out/", "scope-pc") == "confocal-out on scope-pc"


def test_spec_round_trips_through_the_settings_text() -> None:
    spec = WatchSpec(
        folder="/data/in",
        instrument="Confocal 2",
        key_prefix="confocal",
        unit="folder",
        settle=2.5,
        marker="DONE",
        include=("*.tif",),
        exclude=("*.tmp",),
        collection="runs",
        auto_resume=True,
        instance="lab",
    )
    assert WatchSpec.from_json(spec.to_json()) == spec
    assert WatchSpec.from_json("{not json") is None
    assert WatchSpec.from_json('{"folder": "/x", "instrument": "C", "unit": "disk"}') is None


def test_row_state_follows_the_events() -> None:
    row = WatchRow(WatchSpec(folder="/x", instrument="C"))
    row.starting()
    for event in (
        {"event": "started"},
        {"event": "catchup", "count": 2},
    ):
        row.apply(event)
    assert row.state == "starting"  # until the start has returned
    row.started(7)
    assert (row.state, row.watch_id) == ("catching up", 7)
    row.apply({"event": "registered", "path": "a.tif"})
    row.apply({"event": "skipped", "path": "b.tif"})
    row.apply({"event": "catchup_done"})
    assert (row.state, row.registered, row.skipped, row.last_file) == (WATCHING, 1, 1, "a.tif")
    row.apply({"event": "paused", "message": "the database is unreachable: gone"})
    assert row.state == PAUSED and "database" in row.state_text()
    row.apply({"event": "paused", "message": "paused by the user"})
    row.apply({"event": "resumed", "message": "the catalog is reachable again"})
    assert row.state_text() == "paused — paused by the user"
    row.apply({"event": "resumed", "message": "resumed by the user"})
    row.apply({"event": "failed", "path": "c.tif", "message": "unreadable"})
    assert (row.state, row.failed, row.last_error) == (WATCHING, 1, "c.tif: unreadable")
    row.apply({"event": "folder_missing", "message": "gone"})
    assert row.state == "folder missing"
    row.apply({"event": "folder_back"})
    row.apply({"event": "stopped", "message": "1 registered"})
    assert row.state == STOPPED and row.watch_id is None and not row.active


# -- the dialog, the panel and real watchers -------------------------------------------------


def test_dialog_starts_a_watch_and_chunked_files_are_registered(
    qtbot: Any, rig: Rig, inbox: Path
) -> None:
    ls = gateway.ls
    row = rig.start(inbox, key_prefix="confocal", instrument="Confocal 2")
    assert row.spec.instance == "apptest" and row.watch_id is not None
    sizes = {f"img_{i}.tif": write_in_chunks(qtbot, inbox / f"img_{i}.tif") for i in range(3)}
    qtbot.waitUntil(lambda: row.registered == 3, timeout=WAIT_MS)
    assert catalog(ls, "confocal") == {f"confocal/{n}": s for n, s in sizes.items()}
    run = ls.Run.filter(transform__name="Confocal 2").one()
    assert run.params["folder"] == str(inbox.resolve())
    model = rig.panel.model
    qtbot.waitUntil(lambda: model.index(0, 3).data() == "3", timeout=WAIT_MS)
    assert model.index(0, 2).data() == WATCHING
    assert model.index(0, 4).data() in sizes
    (stored,) = rig.manager.stored()
    assert (stored.folder, stored.key_prefix, stored.instance) == (
        str(inbox),
        "confocal",
        "apptest",
    )


def test_pause_resume_and_stop_from_the_panel(qtbot: Any, rig: Rig, inbox: Path) -> None:
    ls = gateway.ls
    row = rig.start(inbox, key_prefix="scope")
    buttons = rig.panel.buttons
    assert buttons["watchPause"].isEnabled() and not buttons["watchResume"].isEnabled()
    buttons["watchPause"].click()
    qtbot.waitUntil(lambda: row.state == PAUSED, timeout=WAIT_MS)
    assert row.reason == "paused by the user"
    write_in_chunks(qtbot, inbox / "while_paused.tif", chunks=2)
    qtbot.wait(int(SETTLE * 4 * 1000))  # time enough to register, were it not paused
    assert row.registered == 0 and catalog(ls, "scope") == {}
    qtbot.waitUntil(lambda: buttons["watchResume"].isEnabled(), timeout=WAIT_MS)
    buttons["watchResume"].click()
    qtbot.waitUntil(lambda: row.registered == 1, timeout=WAIT_MS)
    assert set(catalog(ls, "scope")) == {"scope/while_paused.tif"}
    assert row.state == WATCHING
    buttons["watchStop"].click()
    qtbot.waitUntil(lambda: row.state == STOPPED, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not watch_threads(), timeout=WAIT_MS)
    assert "1 registered" in row.reason
    assert open_settings().value(SETTINGS_KEY) == "[]"  # a stopped watch does not come back
    qtbot.waitUntil(lambda: buttons["watchRemove"].isEnabled(), timeout=WAIT_MS)
    assert not buttons["watchStop"].isEnabled() and buttons["watchResume"].text() == "Start"
    buttons["watchRemove"].click()
    assert rig.manager.rows == [] and rig.panel.model.rowCount() == 0


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"folder": "missing"}, "does not exist"),
        ({"include": "*.tif, plate[0-9"}, "never closes"),
        ({"exclude": "/tmp/*.tmp"}, "absolute path"),
        ({"key_prefix": "a\\b"}, "backslash"),
    ],
)
def test_bad_input_is_refused_and_nothing_starts(
    qtbot: Any, rig: Rig, inbox: Path, fields: dict[str, str], words: str
) -> None:
    folder = inbox / fields.pop("folder") if "folder" in fields else inbox
    dialog = rig.dialog(folder, **fields)
    dialog.ok.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=WAIT_MS)
    assert words in dialog.error.text()
    assert dialog.isVisible() and dialog.ok.isEnabled()
    assert rig.manager.rows == [] and not watch_threads()
    assert gateway.ls.Transform.filter(type="instrument").count() == 0
    assert not open_settings().value(SETTINGS_KEY)


def test_the_same_folder_twice_is_refused(qtbot: Any, rig: Rig, inbox: Path) -> None:
    rig.start(inbox, key_prefix="twice")
    dialog = rig.dialog(inbox, key_prefix="twice")
    dialog.ok.click()
    assert "watched already" in dialog.error.text()
    assert len(rig.manager.rows) == 1 and len(watch_threads()) == 1


def test_watches_come_back_paused_and_catch_up_on_resume(
    qtbot: Any, instance: Any, inbox: Path
) -> None:
    first = Rig(qtbot)
    row = first.start(inbox, key_prefix="restart")
    write_in_chunks(qtbot, inbox / "before.tif", chunks=2)
    qtbot.waitUntil(lambda: row.registered == 1, timeout=WAIT_MS)
    assert first.manager.close(10) and not watch_threads()  # as the window closes
    (inbox / "while_closed.tif").write_bytes(b"x" * 5000)

    second = Rig(qtbot)  # the app started again
    with qtbot.waitSignal(second.manager.restored, timeout=WAIT_MS):
        second.manager.restore()
    (back,) = second.manager.rows
    assert (back.state, back.reason, back.watch_id) == (PAUSED, RESTORED_REASON, None)
    assert back.spec.folder == str(inbox) and not watch_threads()  # no run, no lock
    assert second.panel.isVisible()
    second.panel.select(back)
    assert second.panel.buttons["watchResume"].text() == "Resume"
    second.panel.buttons["watchResume"].click()
    qtbot.waitUntil(lambda: back.registered == 1, timeout=WAIT_MS)
    assert back.last_file == "while_closed.tif"
    assert set(catalog(gateway.ls, "restart")) == {"restart/before.tif", "restart/while_closed.tif"}
    second.close()
    assert not watch_threads()


def test_auto_resume_starts_the_watch_when_labshelf_starts(
    qtbot: Any, instance: Any, inbox: Path
) -> None:
    first = Rig(qtbot)
    dialog = first.dialog(inbox, key_prefix="auto")
    dialog.auto_resume.setChecked(True)
    dialog.ok.click()
    qtbot.waitUntil(lambda: bool(first.manager.rows), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: first.manager.rows[0].state == WATCHING, timeout=WAIT_MS)
    first.close()
    second = Rig(qtbot)
    second.manager.restore()
    qtbot.waitUntil(lambda: bool(second.manager.rows), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: second.manager.rows[0].state == WATCHING, timeout=WAIT_MS)
    assert len(watch_threads()) == 1
    second.close()


def test_a_watch_that_cannot_start_shows_an_error_row(
    qtbot: Any, rig: Rig, instance: Any, tmp_path: Path
) -> None:
    gone = tmp_path / "unmounted-share"
    open_settings().setValue(
        SETTINGS_KEY,
        "["
        + WatchSpec(folder=str(gone), instrument="Plate reader", auto_resume=True).to_json()
        + "]",
    )
    rig.manager.restore()
    qtbot.waitUntil(lambda: bool(rig.manager.rows), timeout=WAIT_MS)
    row = rig.manager.rows[0]
    qtbot.waitUntil(lambda: row.state == ERROR, timeout=WAIT_MS)
    assert "does not exist" in row.reason and not watch_threads()
    qtbot.waitUntil(lambda: "does not exist" in rig.panel.message.text(), timeout=WAIT_MS)


def test_main_window_menu_opens_the_dialog_and_close_stops_the_watchers(
    qtbot: Any, gui: Any, seeded: dict[str, Any], inbox: Path
) -> None:
    win = gui.window()
    assert not win.watch_panel.isVisible()
    win.actions_["watched_folders"].trigger()
    assert win.watch_panel.isVisible()
    win.actions_["watch_folder"].trigger()
    dialog = win.watch_dialog
    assert dialog.isVisible()
    dialog.folder.setText(str(inbox))
    dialog.settle.setValue(SETTLE)
    dialog.ok.click()
    qtbot.waitUntil(lambda: bool(win.watches.rows), timeout=WAIT_MS)
    row = win.watches.rows[0]
    qtbot.waitUntil(lambda: row.state == WATCHING, timeout=WAIT_MS)
    assert row.spec.instrument == f"{inbox.name} on {gateway.host_name()}"
    assert len(watch_threads()) == 1
    write_in_chunks(qtbot, inbox / "last.tif", chunks=2)
    qtbot.waitUntil(lambda: row.registered == 1, timeout=WAIT_MS)
    key_column = win.model.spec.column_index("key")
    qtbot.waitUntil(  # the live catalog brings it into the table
        lambda: any(
            win.model.index(r, key_column).data() == "last.tif" for r in range(win.model.rowCount())
        ),
        timeout=WAIT_MS,
    )
    win.close()
    assert not watch_threads()
    (state,) = (gateway.data_dir() / "watches").glob("*.json")
    assert "last.tif" in state.read_text()
    run = gateway.ls.Run.filter(transform__type="instrument").one()
    assert run.finished_at is not None


def test_switching_instance_stops_the_watches_and_brings_the_other_ones(
    qtbot: Any, rig: Rig, tmp_path: Path, inbox: Path
) -> None:
    ls = gateway.ls
    row = rig.start(inbox, key_prefix="a")
    ls.init(str(tmp_path / "other-store"), name="other")
    with qtbot.waitSignal(rig.manager.restored, timeout=WAIT_MS):
        rig.manager.instance_switched()
    assert rig.manager.rows == []
    qtbot.waitUntil(lambda: row.state == STOPPED and not watch_threads(), timeout=WAIT_MS)
    assert [s.instance for s in rig.manager.stored()] == ["apptest"]  # kept for its instance
    ls.connect("apptest")
    rig.manager.instance_switched()
    qtbot.waitUntil(lambda: len(rig.manager.rows) == 1, timeout=WAIT_MS)
    back = rig.manager.rows[0]
    assert (back.state, back.reason, back.spec.key_prefix) == (PAUSED, RESTORED_REASON, "a")


def test_a_missing_folder_shows_in_the_panel_and_the_watch_goes_on(
    qtbot: Any, rig: Rig, inbox: Path, tmp_path: Path
) -> None:
    row = rig.start(inbox, key_prefix="share")
    inbox.rename(tmp_path / "unmounted")
    qtbot.waitUntil(lambda: row.state == FOLDER_MISSING, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "folder missing" in rig.panel.model.index(0, 2).data(), timeout=WAIT_MS)
    assert "stay in the catalog" in rig.panel.model.index(0, 5).data()
    (tmp_path / "unmounted").rename(inbox)
    qtbot.waitUntil(lambda: row.state == WATCHING, timeout=WAIT_MS)
    write_in_chunks(qtbot, inbox / "after.tif", chunks=2)
    qtbot.waitUntil(lambda: row.registered == 1, timeout=WAIT_MS)


def test_an_unreachable_storage_pauses_the_watch_with_its_reason(
    qtbot: Any, tmp_path: Path, inbox: Path
) -> None:
    ls = gateway.ls
    from labshelf.instance import disconnect

    root = tmp_path / "store"
    ls.init(str(root), db=f"sqlite:///{tmp_path / 'catalog.db'}", name="faulty")
    made = Rig(qtbot)
    try:
        row = made.start(inbox, key_prefix="fault")
        root.rename(tmp_path / "away")
        root.write_text("not a folder")  # the storage cannot be written now
        (inbox / "plate.csv").write_text("A1,1\n")
        qtbot.waitUntil(lambda: row.state == PAUSED, timeout=WAIT_MS)
        assert "storage" in row.reason and "unreachable" in row.reason
        qtbot.waitUntil(
            lambda: "unreachable" in made.panel.model.index(0, 2).data(), timeout=WAIT_MS
        )
        root.unlink()
        (tmp_path / "away").rename(root)
        qtbot.waitUntil(lambda: row.registered == 1, timeout=20000)
        assert row.state == WATCHING and row.failed == 0
    finally:
        made.close()
        disconnect()


def test_a_watch_comes_back_paused_in_a_new_window(
    qtbot: Any, gui: Any, instance: Any, inbox: Path
) -> None:
    win = gui.window(rows=0)
    started: list[WatchRow] = []
    win.watches.start(
        WatchSpec(folder=str(inbox), instrument="Confocal 2", settle=SETTLE), started.append
    )
    qtbot.waitUntil(lambda: bool(started) and started[0].state == WATCHING, timeout=WAIT_MS)
    win.close()
    assert not watch_threads()
    again = gui.window(rows=0)  # labshelf started again
    qtbot.waitUntil(lambda: len(again.watches.rows) == 1, timeout=WAIT_MS)
    row = again.watches.rows[0]
    assert (row.state, row.reason, row.spec.instrument) == (PAUSED, RESTORED_REASON, "Confocal 2")
    assert again.watch_panel.isVisible() and not watch_threads()
    assert "not resumed" in again.watch_panel.model.index(0, 2).data()
