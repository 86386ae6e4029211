"""Watch folders (labshelf.watch): files registered once complete, exactly once, with the
instrument's provenance; folder units and marker files; restart catch-up; new versions;
vanished files, open files, a missing folder and an unreachable storage.

Settle times are 0.3 s, so each scenario takes about a second or two.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import disconnect
from labshelf.watch import Watcher, WatchEvent, WatchOptions, open_for_writing

SETTLE = 0.3


class Recorder:
    """Collects a watcher's events; waits for them without sleeping blindly."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: WatchEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def of(self, *kinds: str) -> list[WatchEvent]:
        with self.cond:
            return [e for e in self.events if e.event in kinds]

    def wait_for(self, check: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not check():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; events: {[str(e) for e in self.events]}"
                self.cond.wait(min(left, 0.1))

    def wait_count(self, n: int, *kinds: str, timeout: float = 15.0) -> list[WatchEvent]:
        self.wait_for(lambda: len(self.of(*kinds)) >= n, timeout)
        return self.of(*kinds)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "instrument-out"
    folder.mkdir()
    return folder


@pytest.fixture
def watch(sqlite_instance: Path, inbox: Path) -> Iterator[Callable[..., tuple[Watcher, Recorder]]]:
    """Factory: a started watcher of ``inbox`` (options overridable) and its recorder."""
    started: list[Watcher] = []

    def make(**overrides: object) -> tuple[Watcher, Recorder]:
        options = dict(
            folder=inbox,
            instrument="Confocal 2",
            key_prefix="confocal",
            settle=SETTLE,
            rescan_interval=30.0,
        )
        options.update(overrides)
        recorder = Recorder()
        watcher = Watcher(WatchOptions(**options), on_event=recorder)  # type: ignore[arg-type]
        watcher.start()
        started.append(watcher)
        recorder.wait_count(1, "catchup")
        return watcher, recorder

    yield make
    for watcher in started:
        watcher.stop()


def write_slowly(path: Path, chunks: int = 6, size: int = 4096, pause: float = 0.1) -> bytes:
    """Write a file in chunks with pauses shorter than the settle time, as instruments do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b""
    seed = path.name.encode()
    with open(path, "wb") as out:
        for i in range(chunks):
            chunk = (seed + bytes([i % 256]) * size)[:size]  # every file has its own content
            out.write(chunk)
            out.flush()
            data += chunk
            time.sleep(pause)
    return data


def test_files_written_slowly_are_registered_once_complete(watch, inbox: Path) -> None:
    watcher, rec = watch()
    writers = [
        threading.Thread(target=write_slowly, args=(inbox / name,))
        for name in ("a.raw", "b.raw", "day1/c.raw")
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done = rec.wait_count(3, "registered")
    time.sleep(3 * SETTLE)  # nothing more comes: each file exactly once
    assert len(rec.of("registered", "new_version", "skipped")) == 3
    assert {e.key for e in done} == {"confocal/a.raw", "confocal/b.raw", "confocal/day1/c.raw"}
    artifacts = ls.Artifact.filter(key__startswith="confocal/")
    assert artifacts.count() == 3
    for artifact in artifacts:  # complete files only: every one has all six chunks
        assert artifact.size == 6 * 4096
        assert (
            artifact.cache().read_bytes() == (inbox / artifact.key[len("confocal/") :]).read_bytes()
        )
    run = watcher.run
    assert run.transform.type == "instrument" and run.transform.name == "Confocal 2"
    assert {a.uid for a in run.outputs} == {a.uid for a in artifacts}
    params = ls.Run.get(run.uid).params
    assert params["folder"] == str(inbox) and params["host"] == socket.gethostname()
    snap = watcher.snapshot()
    assert (snap.state, snap.registered, snap.pending, snap.failed) == ("watching", 3, 0, 0)
    watcher.stop()
    assert ls.Run.get(run.uid).finished_at is not None
    assert watcher.snapshot().state == "stopped"


def test_a_file_open_for_writing_waits_until_closed(watch, inbox: Path) -> None:
    _, rec = watch()
    path = inbox / "long.raw"
    with open(path, "wb") as out:
        out.write(b"x" * 1000)
        out.flush()
        assert open_for_writing({str(path.resolve())}) == {str(path.resolve())}
        rec.wait_count(1, "waiting")
        time.sleep(2 * SETTLE)
        assert not rec.of("registered")  # unchanged for longer than the settle time, but open
    assert open_for_writing({str(path.resolve())}) == set()
    (event,) = rec.wait_count(1, "registered")
    assert event.path == "long.raw"


def test_folder_units_settle_or_wait_for_a_marker(watch, inbox: Path) -> None:
    _, rec = watch(unit="folder", key_prefix=None)
    (inbox / "acq1").mkdir()
    for i in range(3):
        write_slowly(inbox / "acq1" / f"tile{i}.tif", chunks=2, pause=0.05)
    (inbox / "loose.txt").write_text("not in an acquisition folder")
    (event,) = rec.wait_count(1, "registered")
    artifact = ls.Artifact.get(event.uid)
    assert (event.path, artifact.key, artifact.n_objects) == ("acq1", "acq1", 3)
    assert any(e.path == "loose.txt" for e in rec.of("note"))


def test_a_marker_file_completes_a_folder(watch, inbox: Path) -> None:
    _, rec = watch(unit="folder", marker="DONE", settle=5.0)  # the marker, not the settle time
    (inbox / "run7").mkdir()
    (inbox / "run7" / "plate.csv").write_text("well,value\nA1,3\n")
    time.sleep(1.5)
    assert not rec.of("registered")
    started = time.monotonic()
    (inbox / "run7" / "DONE").write_text("")
    (event,) = rec.wait_count(1, "registered")
    assert time.monotonic() - started < 3.0
    assert ls.Artifact.get(event.uid).n_objects == 2


def test_filters_and_os_clutter(watch, inbox: Path) -> None:
    _, rec = watch(include=("*.tif",), exclude=("preview*",))
    for name in ("img1.tif", "preview1.tif", "notes.txt", ".DS_Store", "._img1.tif"):
        (inbox / name).write_bytes(name.encode())
    rec.wait_count(1, "registered")
    time.sleep(3 * SETTLE)
    assert [e.path for e in rec.of("registered")] == ["img1.tif"]


def test_restart_catches_up_without_duplicates(watch, inbox: Path) -> None:
    watcher, rec = watch()
    (inbox / "a.txt").write_text("first")
    (inbox / "b.txt").write_text("stays")
    rec.wait_count(2, "registered")
    watcher.stop()

    (inbox / "a.txt").write_text("second")  # modified while stopped: a new version
    (inbox / "c.txt").write_text("new")  # arrived while stopped
    (inbox / "b.txt").unlink()  # deleted: stays in the catalog
    watcher, rec = watch()
    assert rec.of("catchup")[0].count == 2
    rec.wait_count(1, "catchup_done")
    (new_version,) = rec.of("new_version")
    (registered,) = rec.of("registered")
    assert (new_version.path, new_version.version, registered.path) == ("a.txt", "2", "c.txt")
    assert new_version.catchup and registered.catchup
    family = ls.Artifact.get(new_version.uid).versions
    assert [a.cache().read_text() for a in family] == ["first", "second"]
    assert ls.Artifact.filter(key="confocal/b.txt").count() == 1
    watcher.stop()

    state = next((Path(os.environ["LABSHELF_DATA_DIR"]) / "watches").glob("*.json"))
    state.unlink()  # state lost: content registered already is skipped, never duplicated
    watcher, rec = watch()
    rec.wait_count(1, "catchup_done")
    assert {e.path for e in rec.of("skipped")} == {"a.txt", "c.txt"}
    assert not rec.of("registered", "new_version")
    assert ls.Artifact.filter(key__startswith="confocal/").count() == 4  # a x2, b, c


def test_a_modified_file_becomes_a_new_version(watch, inbox: Path) -> None:
    _, rec = watch()
    (inbox / "plate.csv").write_text("A1,1\n")
    (first,) = rec.wait_count(1, "registered")
    (inbox / "plate.csv").write_text("A1,1\nA2,2\n")
    (second,) = rec.wait_count(1, "new_version")
    assert second.uid[:16] == first.uid[:16] and second.key == first.key
    assert ls.Artifact.get(second.uid).is_latest and not ls.Artifact.get(first.uid).is_latest


def test_a_vanished_file_is_reported_and_nothing_registered(watch, inbox: Path) -> None:
    _, rec = watch()
    (inbox / "temp.raw").write_bytes(b"partial")
    time.sleep(SETTLE / 3)
    (inbox / "temp.raw").unlink()
    (event,) = rec.wait_count(1, "vanished")
    assert event.path == "temp.raw" and "nothing was registered" in event.message
    (inbox / "kept.raw").write_bytes(b"kept")
    rec.wait_count(1, "registered")
    assert [a.key for a in ls.Artifact.filter()] == ["confocal/kept.raw"]


def test_renamed_partial_files_are_not_reported(watch, inbox: Path) -> None:
    _, rec = watch()
    (inbox / "scan.raw.part").write_bytes(b"data")
    (inbox / "scan.raw.part").rename(inbox / "scan.raw")
    (event,) = rec.wait_count(1, "registered")
    assert event.path == "scan.raw" and not rec.of("vanished")


def test_a_failing_file_is_retried_then_reported(
    watch, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labshelf.watch.RETRY_DELAYS", (0.1, 0.1))
    watcher, rec = watch()
    (inbox / "bad\nname.txt").write_text("a name that cannot be a key")
    (failed,) = rec.wait_count(1, "failed")
    assert len(rec.of("retrying")) == 2 and "control" in failed.message
    assert watcher.snapshot().failed == 1 and watcher.snapshot().errors
    watcher.stop()
    _, rec = watch()  # reported once: not tried again until the file changes
    time.sleep(3 * SETTLE)
    assert rec.of("catchup")[0].count == 0 and not rec.of("failed")


def test_a_missing_folder_is_reported_not_deleted(watch, inbox: Path, tmp_path: Path) -> None:
    watcher, rec = watch()
    (inbox / "a.txt").write_text("a")
    rec.wait_count(1, "registered")
    inbox.rename(tmp_path / "unmounted")
    (missing,) = rec.wait_count(1, "folder_missing")
    assert "stay in the catalog" in missing.message
    assert watcher.snapshot().state == "folder missing"
    (tmp_path / "unmounted").rename(inbox)
    rec.wait_count(1, "folder_back")
    (inbox / "b.txt").write_text("b")
    rec.wait_count(2, "registered")
    assert ls.Artifact.filter().count() == 2 and not rec.of("vanished", "failed")


def test_unreachable_storage_pauses_and_resumes(tmp_path: Path, inbox: Path) -> None:
    """The storage root disappears (a share unmounted): the watch pauses with the reason and
    registers the waiting file once it is back."""
    root = tmp_path / "store"
    ls.init(str(root), db=f"sqlite:///{tmp_path / 'catalog.db'}")
    rec = Recorder()
    watcher = Watcher(WatchOptions(folder=inbox, instrument="reader", settle=SETTLE), on_event=rec)
    try:
        watcher.start()
        rec.wait_count(1, "catchup")
        root.rename(tmp_path / "away")
        root.write_text("not a folder")  # the storage cannot be written now
        (inbox / "plate.csv").write_text("A1,1\n")
        (paused,) = rec.wait_count(1, "paused")
        assert "storage" in paused.message and "unreachable" in paused.message
        assert watcher.snapshot().state == "paused" and watcher.snapshot().reason
        root.unlink()
        (tmp_path / "away").rename(root)
        rec.wait_count(1, "resumed", timeout=20)
        (event,) = rec.wait_count(1, "registered")
        assert event.path == "plate.csv" and not rec.of("failed")
    finally:
        watcher.stop()
        disconnect()


def test_database_outage_pauses_and_resumes(
    pg_server, tcp_proxy, tmp_path: Path, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network to PostgreSQL goes down while a file lands: the watch pauses with the
    database as the reason, registers the file once the line is back, exactly once."""
    monkeypatch.setenv("LABSHELF_DB_LINK_TIMEOUT", "2")
    db = pg_server.create_database()
    proxy = tcp_proxy(pg_server.port)
    ls.init(
        str(tmp_path / "store"),
        db=f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{db.name}",
    )
    rec = Recorder()
    watcher = Watcher(WatchOptions(folder=inbox, instrument="reader", settle=SETTLE), on_event=rec)
    try:
        watcher.start()
        rec.wait_count(1, "catchup")
        proxy.cut(hang=True)
        (inbox / "plate.csv").write_text("A1,1\n")
        (paused,) = rec.wait_count(1, "paused", timeout=30)
        assert "database" in paused.message.lower(), paused.message
        assert watcher.snapshot().state == "paused" and watcher.snapshot().reason
        assert not rec.of("registered", "failed")
        proxy.restore()
        rec.wait_count(1, "resumed", timeout=30)
        (event,) = rec.wait_count(1, "registered", timeout=30)
        assert event.path == "plate.csv" and not rec.of("failed")
        assert ls.Artifact.filter(key__endswith="plate.csv").count() == 1
    finally:
        proxy.restore()
        watcher.stop()
        disconnect()


def test_collection_versions_are_batched(watch, inbox: Path) -> None:
    watcher, rec = watch(collection="confocal runs", collection_interval=30.0)
    for i in range(5):
        (inbox / f"f{i}.txt").write_text(str(i))
    rec.wait_count(5, "registered")
    watcher.stop()  # the batch is written at the latest when the watch stops
    (event,) = rec.of("collection")
    collection = ls.Collection.get(event.uid)
    assert collection.name == "confocal runs" and collection.artifacts.count() == 5
    assert ls.Collection.filter(name="confocal runs").count() == 1


def test_user_pause_and_resume(watch, inbox: Path) -> None:
    watcher, rec = watch()
    watcher.pause()
    (inbox / "a.txt").write_text("a")
    time.sleep(4 * SETTLE)
    snap = watcher.snapshot()
    assert not rec.of("registered") and (snap.state, snap.pending) == ("paused", 1)
    assert snap.reason == "paused by the user"
    watcher.resume()
    rec.wait_count(1, "registered")


def test_bad_options_fail_with_one_sentence(sqlite_instance: Path, inbox: Path) -> None:
    cases = [
        (dict(unit="tile"), "not a watch unit"),
        (dict(marker="DONE"), "use it with --unit folder"),
        (dict(instrument=" "), "needs an instrument name"),
        (dict(key_prefix="../up"), "cannot leave their root"),
        (dict(labels=("DAPI",)), r"Several labels are called 'DAPI' \(.*Stain/DAPI"),
    ]
    ls.ULabel("DAPI").save()
    ls.ULabel("DAPI", type=ls.ULabel("Stain", is_type=True).save()).save()
    for overrides, match in cases:
        options = dict(folder=inbox, instrument="x", settle=SETTLE)
        options.update(overrides)
        with pytest.raises(ls.InvalidArgument, match=match):
            Watcher(WatchOptions(**options)).start()  # type: ignore[arg-type]
    with pytest.raises(ls.InvalidArgument, match="does not exist"):
        Watcher(WatchOptions(folder=inbox / "nope", instrument="x")).start()


def test_registered_files_get_the_labels(watch, inbox: Path) -> None:
    watcher, rec = watch(labels=("confocal", "plate3"))
    (inbox / "a.raw").write_bytes(b"a" * 100)
    rec.wait_count(1, "registered")
    artifact = ls.Artifact.get(rec.of("registered")[0].uid)
    assert sorted(x.name for x in artifact.ulabels) == ["confocal", "plate3"]
    assert artifact.features.history()[0]["run"] == watcher.run.uid  # the watch's own run


def test_one_watch_per_folder(watch, inbox: Path) -> None:
    watch()
    with pytest.raises(ls.InvalidArgument, match="already watched"):
        Watcher(WatchOptions(folder=inbox, instrument="Confocal 2", key_prefix="confocal")).start()


def test_events_as_json_lines() -> None:
    event = WatchEvent("registered", path="a.txt", key="p/a.txt", uid="u" * 20, version="1")
    data = event.as_dict()
    assert list(data)[:2] == ["event", "time"] and data["time"].endswith("+00:00")
    assert data["path"] == "a.txt" and "count" not in data
    assert "a.txt -> uuuu" in str(event)


@pytest.mark.skipif(shutil.which("sleep") is None, reason="needs a second process")
def test_open_for_writing_sees_other_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "held.raw"
    code = f"f = open({str(path)!r}, 'wb'); f.write(b'x'); f.flush(); print('open', flush=True); input()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "open"
        assert open_for_writing({str(path)}) == {str(path)}
    finally:
        proc.communicate("\n", timeout=10)
    assert open_for_writing({str(path)}) == set()
