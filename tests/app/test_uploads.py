"""Drag-and-drop imports: dialog, transfer queue, one upload run per drop, duplicates,
cancel, and resuming after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from labshelf.app.main_window import MainWindow
from labshelf.app.uploads.drop_zone import mime_for
from labshelf.app.uploads.queue_model import STATE
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget
from slow_worker import slow_worker_command


def _images(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (16, 16), (i % 256, (i * 7) % 256, (i * 13) % 256)).save(
            folder / f"img{i:03d}.png"
        )
    return folder


@pytest.fixture(autouse=True)
def _never_ask_on_close(never_ask_on_close: None) -> None:
    """Every test here: closing never asks (see conftest)."""


@pytest.fixture
def window(upload_window: Any) -> Any:
    return upload_window


def _restart_and_resume(qtbot, monkeypatch, offered: list[int]) -> tuple[MainWindow, Any]:
    """A new main window (the app restarted) that accepts resuming what it is offered (the
    counts go to `offered`); it and its first drop, once that finished."""
    monkeypatch.setattr(MainWindow, "ask_resume", lambda self, count: offered.append(count) or True)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(
        lambda: bool(window.uploads.drops) and window.uploads.drops[0].finished, timeout=60000
    )
    return window, window.uploads.drops[0]


def _drop(window: MainWindow, paths: list[str]) -> None:
    mime = mime_for(paths)
    point = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(
        point,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert window.findChild(QWidget, "dropZone").isVisible()
    drop = QDropEvent(
        point,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    assert not window.findChild(QWidget, "dropZone").isVisible()


def _import(qtbot, window: MainWindow, paths: list[str], per_file: bool = True) -> Any:
    _drop(window, paths)
    dialog = window.import_dialog
    dialog.per_file.setChecked(per_file)
    qtbot.waitUntil(
        lambda: (
            bool(dialog.summary)
            and dialog.summary["hashed"] == dialog.summary["items"]
            and dialog.storage.count() > 0
        ),
        timeout=20000,
    )
    summary = dict(dialog.summary)
    with qtbot.waitSignal(window.uploads.drop_added, timeout=5000):
        dialog.accept()
    drop = window.uploads.drops[-1]
    qtbot.waitUntil(lambda: drop.finished, timeout=60000)
    return drop, summary


def test_drop_folder_imports_every_file_as_one_upload_run(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    import labshelf as ls

    folder = _images(tmp_path / "plate7", 200)
    drop, summary = _import(qtbot, window, [str(folder)])
    assert summary == {
        "items": 200,
        "files": 200,
        "bytes": summary["bytes"],
        "hashed": 200,
        "registered": 0,
        "in_trash": 0,
        "new": 200,
        "versions": 0,
        "unreadable": 0,
        "skipped": 0,
    }
    assert window.findChild(QWidget, "uploadQueue").isVisible()
    assert drop.state == "done" and drop.counts() == {"done": 200}
    qtbot.waitUntil(lambda: window.model.rowCount() == 200, timeout=10000)
    rows = ls.Artifact.filter().values("key", "transform__type", "run__uid")
    assert {r["transform__type"] for r in rows} == {"upload"}
    assert {r["run__uid"] for r in rows} == {drop.run_uid}
    assert sorted(r["key"] for r in rows)[0] == "plate7/img000.png"
    transform = ls.Transform.get(key="labshelf-desktop-upload")
    assert transform.type == "upload"

    again, summary = _import(qtbot, window, [str(folder)])
    assert summary["registered"] == 200
    assert again.counts() == {"duplicate": 200}
    assert ls.Artifact.filter().count() == 200


def test_the_import_dialog_starts_the_drop_s_worker_ahead(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    folder = _files(tmp_path / "ahead", 3, 1000)
    workers = window.uploads.workers
    _drop(window, [str(folder)])
    qtbot.waitUntil(lambda: workers._spare is not None, timeout=10000)
    spare = workers._spare[0]
    dialog = window.import_dialog
    qtbot.waitUntil(
        lambda: bool(dialog.summary) and dialog.summary["hashed"] == dialog.summary["items"],
        timeout=20000,
    )
    with qtbot.waitSignal(window.uploads.drop_added, timeout=5000):
        dialog.accept()
    drop = window.uploads.drops[-1]
    qtbot.waitUntil(lambda: drop.finished, timeout=30000)
    assert (
        drop.state == "done" and drop.worker_pid == spare.pid
    )  # the drop took the worker started ahead
    assert spare.wait(10) == 0 and workers._spare is None

    _drop(window, [str(folder)])  # another dialog: another worker waits; closing the app lets it go
    qtbot.waitUntil(lambda: workers._spare is not None, timeout=10000)
    second = workers._spare[0]
    window.import_dialog.reject()
    window.close()
    assert second.wait(10) == 0  # it exits by itself once its input ends


def test_a_worker_started_ahead_is_not_used_stale(instance, tmp_path: Path, monkeypatch) -> None:
    from labshelf.app import upload_worker
    from labshelf.app.uploads.manager import WorkerPool

    pool = WorkerPool()
    pool.prestart()
    first = pool._spare[0]
    pool.prestart()  # one waits already
    assert pool._spare[0] is first
    assert pool.take() is first and pool._spare is None
    first.stdin.close()
    assert first.wait(10) == 0  # a worker whose input ends without a drop exits quietly

    pool.prestart()
    old = pool._spare[0]
    monkeypatch.setattr(upload_worker, "IDLE_S", 30)  # it could give up any moment: not handed out
    fresh = pool.take()
    assert fresh is not old and old.wait(10) == 0
    fresh.stdin.close()
    fresh.wait(10)


def test_folder_as_one_artifact_into_a_new_collection(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    import labshelf as ls

    folder = _images(tmp_path / "study", 5)
    _drop(window, [str(folder)])
    dialog = window.import_dialog
    qtbot.waitUntil(
        lambda: (
            bool(dialog.summary) and dialog.summary["hashed"] == 1 and dialog.storage.count() > 0
        ),
        timeout=20000,
    )
    dialog.collection.setCurrentIndex(1)
    dialog.collection_name.setText("studies")
    with qtbot.waitSignal(window.uploads.drop_finished, timeout=60000):
        dialog.accept()
    assert window.uploads.drops[-1].state == "done", window.uploads.drops[-1].message
    artifact = ls.Artifact.get(key="study")
    assert artifact.n_objects == 5
    assert [a.uid for a in ls.Collection.get(name="studies").artifacts] == [artifact.uid]


def test_cancel_leaves_no_record_for_unfinished_items(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    import labshelf as ls

    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(40):
        (folder / f"part{i:02d}.bin").write_bytes(bytes([i]) * 2_000_000)
    drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: drop.state == "running", timeout=10000)
    window.uploads.cancel(drop.id)
    qtbot.waitUntil(lambda: drop.finished, timeout=30000)
    assert drop.state in ("cancelled", "done")
    done = {item.key for item in drop.items if item.state == "done"}
    assert {a.key for a in ls.Artifact.filter()} == done


def test_quit_with_running_transfer_then_resume(
    qtbot, instance, tmp_path: Path, monkeypatch
) -> None:
    import labshelf as ls

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"f{i:02d}.bin").write_bytes(bytes([i]) * 1_000_000)
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    drop = first.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: drop.state == "running", timeout=10000)
    asked = []
    monkeypatch.setattr(MainWindow, "ask_close_choice", lambda self: asked.append(1) or "continue")
    first.close()
    assert asked == [1] and not first.isVisible()

    offered: list[int] = []
    second, resumed = _restart_and_resume(qtbot, monkeypatch, offered)
    assert offered == [1]
    assert resumed.state == "done"
    assert set(resumed.counts()) <= {"done", "duplicate"}
    assert ls.Artifact.filter().count() == 60  # nothing twice, nothing missing
    second.close()


def test_s3_cut_mid_drop_then_retry_failed(qtbot, s3_server, tcp_proxy, tmp_path: Path) -> None:
    import labshelf as ls
    from labshelf.instance import disconnect

    proxy = tcp_proxy(s3_server.port)
    ls.init(
        "s3://" + s3_server.create_bucket(),
        name="apps3",
        storage_options={"endpoint_url": proxy.url},
    )
    try:
        folder = tmp_path / "s3drop"
        folder.mkdir()
        for i in range(200):
            (folder / f"f{i:03d}.txt").write_text(f"sample {i}\n" * 20)
        win = MainWindow()
        qtbot.addWidget(win)
        win.show()
        drop = win.uploads.start({"paths": [str(folder)], "as_folder": False})
        cuts: list[int] = []

        def cut_half_way(drop_id: int) -> None:
            if drop_id == drop.id and drop.files_done >= 50 and not cuts:
                cuts.append(drop.files_done)
                proxy.cut()

        win.uploads.drop_changed.connect(cut_half_way)
        qtbot.waitUntil(lambda: drop.finished, timeout=60000)
        failed = [i for i in drop.items if i.state == "failed"]
        assert failed and all(i.error for i in failed) and drop.state == "failed"
        assert ls.Artifact.filter().count() == drop.counts()["done"]
        proxy.restore()
        dock, first_failed = win.queue_dock, drop.items.index(failed[0])
        top = dock.model.index(win.uploads.drops.index(drop), 0)
        _select(dock, [dock.model.index(first_failed, 0, top)])
        with qtbot.waitSignal(win.uploads.drop_finished, timeout=30000):  # one failed item alone
            qtbot.mouseClick(dock.findChild(QWidget, "retryDrop"), Qt.MouseButton.LeftButton)
        single = win.uploads.drops[-1]
        assert [(i.key, i.state) for i in single.items] == [(failed[0].key, "done")]
        retries = win.uploads.retry_failed(drop.id)  # the rest (the one retried is a duplicate now)
        qtbot.waitUntil(lambda: all(r.finished for r in retries), timeout=60000)
        assert all(r.state == "done" for r in retries), [r.message for r in retries]
        assert ls.Artifact.filter().count() == 200
        assert {a.key for a in ls.Artifact.filter()} == {f"s3drop/f{i:03d}.txt" for i in range(200)}
        win.close()
    finally:
        disconnect()


def _files(folder: Path, n: int, size: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"part{i:03d}.bin").write_bytes(i.to_bytes(2, "big") * (size // 2))
    return folder


def _select(dock: Any, rows: list[Any]) -> None:
    from PySide6.QtCore import QItemSelectionModel

    selection = dock.view.selectionModel()
    selection.clearSelection()
    for index in rows:
        selection.select(
            index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        )


def _slow_until_cancelled(monkeypatch, keys: str = "") -> None:
    """Storing objects whose key contains `keys` waits (up to 10 s) until it is cancelled."""
    import time

    from labshelf import artifact

    store = artifact.store_object

    def slow_store(obj, **progress) -> None:
        deadline = time.monotonic() + 10
        while keys in obj.key and not progress["cancel"]() and time.monotonic() < deadline:
            time.sleep(0.01)
        store(obj, **progress)

    monkeypatch.setattr(artifact, "store_object", slow_store)


def test_cancel_single_items_from_the_queue(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    import labshelf as ls

    folder = _files(tmp_path / "parts", 40, 200_000)
    _slow_until_cancelled(monkeypatch, "/part03")  # items 30-39 cannot finish before the click
    window.uploads.in_process = True  # where the patch applies
    dock = window.queue_dock
    with qtbot.waitSignal(window.uploads.drop_planned, timeout=10000):
        drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    top = dock.model.index(0, 0)
    _select(dock, [dock.model.index(row, 0, top) for row in range(30, 40)])
    qtbot.mouseClick(dock.findChild(QWidget, "cancelDrop"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: drop.finished, timeout=30000)
    states = [item.state for item in drop.items]
    assert states[30:] == ["cancelled"] * 10 and states[:30] == ["done"] * 30
    assert drop.state == "done" and drop.message == "30 done · 10 cancelled"
    assert sorted(a.key for a in ls.Artifact.filter()) == [
        f"parts/part{i:03d}.bin" for i in range(30)
    ]
    assert dock.model.data(dock.model.index(35, STATE, top)) == "cancelled"

    _select(dock, [top])  # the whole drop: nothing to cancel any more, nothing to retry
    qtbot.mouseClick(dock.findChild(QWidget, "cancelDrop"), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dock.findChild(QWidget, "retryDrop"), Qt.MouseButton.LeftButton)
    assert len(window.uploads.drops) == 1


def test_cancel_all_stops_every_drop(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    import labshelf as ls

    _slow_until_cancelled(monkeypatch)  # every item waits for the cancel
    window.uploads.in_process = True  # where the patch applies
    drops = [
        window.uploads.start(
            {"paths": [str(_files(tmp_path / name, 20, 1000))], "as_folder": False}
        )
        for name in ("a", "b")
    ]
    qtbot.waitUntil(
        lambda: all(item.state == "uploading" for d in drops for item in d.items[:2]), timeout=10000
    )
    qtbot.mouseClick(window.queue_dock.findChild(QWidget, "cancelAll"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(d.finished for d in drops), timeout=5000)
    assert [d.state for d in drops] == ["cancelled", "cancelled"]
    assert all(d.counts() == {"cancelled": 20} for d in drops)
    assert ls.Artifact.filter().count() == 0


CRASHING_GUI = """
import sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from labshelf import artifact
store = artifact.store_object
def slow_store(obj, **progress):  # a slow disk: the kill lands mid-transfer
    time.sleep(0.02)
    store(obj, **progress)
artifact.store_object = slow_store
# ... in the upload worker process too (else, on a busy machine, the worker may store every
# file before this app gets to print its first progress line)
from labshelf.app.uploads import manager
SLOW_WORKER = (
    "import sys, time\\n"
    "from labshelf import artifact\\n"
    "store = artifact.store_object\\n"
    "def slow_store(obj, **progress):\\n"
    "    time.sleep(0.02)\\n"
    "    store(obj, **progress)\\n"
    "artifact.store_object = slow_store\\n"
    "from labshelf.app import upload_worker\\n"
    "sys.exit(upload_worker.main())\\n"
)
manager.worker_command = lambda: [sys.executable, "-c", SLOW_WORKER]
from labshelf.app.main_window import MainWindow
window = MainWindow()
window.show()
# in_process: the crash of a process with the upload engine inside; else the app dies and its
# upload worker process is left to notice
window.uploads.in_process = sys.argv[2] == "in_process"
drop = window.uploads.start({"paths": [sys.argv[1]], "as_folder": False})
def report(_id):
    print(drop.files_done, drop.worker_pid, int(drop.finished), repr(drop.message), flush=True)
window.uploads.drop_changed.connect(report)
app.exec()
"""


def _exited(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # orphaned: waits for init to reap it


@pytest.mark.parametrize("where", ["in_process", "worker"])
def test_resume_after_a_crash_finishes_only_what_is_missing(
    where: str, qtbot, instance, tmp_path: Path, monkeypatch
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    import labshelf as ls
    from labshelf import session as context
    from labshelf.models import PENDING, Artifact
    from sqlalchemy import select

    n = 200
    folder = _files(tmp_path / "crash", n, 4096)
    env = {
        **os.environ,
        "LABSHELF_QUIET": "1",
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_GUI, str(folder), where],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    # (a child that never gets there is killed after a minute: its last line says why)
    watchdog = threading.Timer(60, child.kill)
    watchdog.start()
    last = ""
    try:
        for line in child.stdout:
            last = line
            files_done, worker, finished, _message = line.split(maxsplit=3)
            if int(files_done) >= 40 or finished == "1":
                break
    finally:
        watchdog.cancel()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert last and int(last.split()[0]) >= 40 and last.split()[2] == "0", last
    if where == "worker":  # the worker notices that the app is gone, cancels and exits
        deadline = time.monotonic() + 15
        while not _exited(int(worker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _exited(int(worker)), "the upload worker outlived the app"
    visible = ls.Artifact.filter().count()
    assert 0 < visible < n, visible  # killed mid-transfer

    offered: list[int] = []
    win, resumed = _restart_and_resume(qtbot, monkeypatch, offered)
    assert offered == [1] and resumed.state == "done", resumed.message
    assert resumed.counts() == {"duplicate": visible, "done": n - visible}
    rows = context.read(
        lambda s: s.execute(
            select(Artifact.key, Artifact.visibility, Artifact.uid, Artifact.suffix)
        ).all()
    )
    assert sorted(r.key for r in rows) == sorted(
        f"crash/part{i:03d}.bin" for i in range(n)
    )  # no twice, none missing
    assert not [r for r in rows if r.visibility == PENDING]  # no dangling records
    store = Path(ls.settings.storage.root) / ".labshelf"
    objects = {
        p.name
        for p in store.iterdir()
        if not p.name.startswith(("labshelf.db", ".tmp-")) and p.name != "catalog.json"
    }  # catalog.json: the storage's marker naming its catalog
    assert objects == {f"{r.uid}{r.suffix}" for r in rows}  # every object has its record
    win.close()
    again = MainWindow()  # the queue file no longer lists the finished drop
    qtbot.addWidget(again)
    again.show()
    qtbot.wait(300)
    assert offered == [1]
    again.close()


def test_items_cancelled_alone_stay_cancelled_when_the_drop_resumes(
    qtbot, instance, tmp_path: Path, monkeypatch
) -> None:
    import re
    import time

    import labshelf as ls
    from labshelf import artifact

    folder = _files(tmp_path / "parts", 40, 200_000)
    store = artifact.store_object

    def held_store(obj, **progress) -> None:
        deadline = time.monotonic() + 20
        while (
            re.search(r"/part0[23]", obj.key)
            and not progress["cancel"]()
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        store(obj, **progress)

    monkeypatch.setattr(artifact, "store_object", held_store)
    monkeypatch.setattr(MainWindow, "ask_close_choice", lambda self: "continue")
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.uploads.in_process = (
        True  # where the patch applies; the resumed drop runs in a worker process
    )
    dock = first.queue_dock
    with qtbot.waitSignal(first.uploads.drop_planned, timeout=10000):
        drop = first.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: [i.state for i in drop.items[:20]] == ["done"] * 20, timeout=20000)
    top = dock.model.index(0, 0)
    _select(dock, [dock.model.index(row, 0, top) for row in range(30, 40)])
    qtbot.mouseClick(dock.findChild(QWidget, "cancelDrop"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [i.state for i in drop.items[30:]] == ["cancelled"] * 10, timeout=10000)
    # the cancelled items left the totals: what is left to do is items 20-29
    qtbot.waitUntil(lambda: drop.files_total == 30, timeout=5000)
    assert drop.bytes_total == 30 * 200_000 and drop.bytes_done == 20 * 200_000
    assert "uploading 66%" in first.windowTitle()
    first.close()
    assert not first.isVisible()  # close waited for the cancelled transfer to end

    monkeypatch.setattr(artifact, "store_object", store)
    offered: list[int] = []
    second, resumed = _restart_and_resume(qtbot, monkeypatch, offered)
    assert offered == [1]
    states = [i.state for i in resumed.items]
    assert states == ["duplicate"] * 20 + ["done"] * 10 + ["cancelled"] * 10, resumed.message
    assert (
        resumed.state == "done"
        and resumed.message == "10 done · 20 already registered · 10 cancelled"
    )
    assert (resumed.files_done, resumed.files_total) == (30, 30)
    assert resumed.bytes_done == resumed.bytes_total == 30 * 200_000
    assert sorted(a.key for a in ls.Artifact.filter()) == [
        f"parts/part{i:03d}.bin" for i in range(30)
    ]
    assert "uploading" not in second.windowTitle()
    second.close()


def test_upload_worker_killed_mid_drop_then_retry(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    import os
    import signal

    import labshelf as ls
    from labshelf import session as context
    from labshelf.app.uploads import manager
    from labshelf.models import PENDING, Artifact
    from sqlalchemy import select

    # a slow disk (slow_worker): the kill lands mid-drop however fast small files are copied
    monkeypatch.setattr(manager, "worker_command", slow_worker_command)
    folder = _files(tmp_path / "killed", 300, 4096)
    drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: drop.files_done >= 100, timeout=30000)
    os.kill(drop.worker_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: drop.finished, timeout=10000)
    assert drop.state == "failed" and "upload process stopped unexpectedly" in drop.message, (
        drop.message
    )
    assert window.queue_dock.isVisible()
    failed = [i for i in drop.items if i.state == "failed"]
    assert failed and all("stopped unexpectedly" in i.error for i in failed)
    retries = window.uploads.retry_failed(drop.id)
    qtbot.waitUntil(lambda: all(d.finished for d in retries), timeout=60000)
    assert [d.state for d in retries] == ["done"], [d.message for d in retries]
    # nothing twice, nothing missing: records killed half-way were adopted or redone
    assert sorted(a.key for a in ls.Artifact.filter()) == sorted(
        f"killed/part{i:03d}.bin" for i in range(300)
    )
    pending = context.read(
        lambda s: s.execute(select(Artifact.id).where(Artifact.visibility == PENDING)).all()
    )
    assert not pending  # no dangling records (queries never show them: ask the table)
    assert "uploading" not in window.windowTitle()


def test_closing_the_window_during_a_drop_stops_its_worker_and_leaves_nothing_half_written(
    qtbot, instance, tmp_path: Path, monkeypatch
) -> None:
    """Closing (and choosing to cancel) while a drop runs: the window waits for the worker to
    stop — it does, within seconds — and what it registered is complete: no pending record,
    no object without its record."""

    import labshelf as ls
    from labshelf import session as context
    from labshelf.app.uploads import manager
    from labshelf.models import PENDING, Artifact
    from sqlalchemy import select

    monkeypatch.setattr(manager, "worker_command", slow_worker_command)
    folder = _files(tmp_path / "closing", 3000, 4096)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: drop.files_done >= 100, timeout=30000)
    pid = drop.worker_pid
    window.close()  # never_ask_on_close: "cancel"
    assert not window.isVisible()

    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not reaped yet
        except FileNotFoundError:
            return True

    qtbot.waitUntil(gone, timeout=10000)
    rows = context.read(lambda s: s.execute(select(Artifact.uid, Artifact.visibility)).all())
    assert 100 <= len(rows) < 3000 and not [r for r in rows if r.visibility == PENDING]
    store = Path(ls.settings.storage.root) / ".labshelf"
    objects = {p.stem for p in store.iterdir() if p.suffix == ".bin"}
    assert objects == {r.uid for r in rows}  # no object without its record, no temp file
