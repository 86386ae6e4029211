"""``labshelf watch`` as a process: JSON event lines, Ctrl+C (exit 130), SIGTERM (exit 0), and
SIGKILL in the middle of registering followed by a restart (no duplicates, no pending rows)."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import disconnect


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "store"
    ls.init(str(root), name="lab")
    disconnect()
    yield root
    disconnect()


def rows(store: Path, where: str) -> int:
    """Artifact rows matching ``where``, read straight from the SQLite file: pending rows
    (visibility -2, saves that never finished) are never shown by queries."""
    with sqlite3.connect(store / ".labshelf" / "labshelf.db") as conn:
        return conn.execute(f"SELECT count(*) FROM artifacts WHERE {where}").fetchone()[0]


class WatchProcess:
    """``labshelf watch … --json`` in a subprocess, its event lines read by a thread."""

    def __init__(self, folder: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labshelf.app.cli",
                "watch",
                str(folder),
                "--instrument",
                "Plate reader",
                "--key-prefix",
                "reader",
                "--settle",
                "300ms",
                "--json",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, event: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while sum(e["event"] == event for e in self.seen) < count:
            left = deadline - time.monotonic()
            assert left > 0 and self.proc.poll() is None, (
                f"no {count} '{event}' events; saw {self.seen[-5:]}; stderr: "
                + (self.proc.stderr.read() if self.proc.poll() is not None else "")
            )
            try:
                self.seen.append(self.lines.get(timeout=min(left, 0.5)))
            except queue.Empty:
                continue
        return [e for e in self.seen if e["event"] == event]

    def stop(self, sig: int) -> tuple[int, str]:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self.reader.join(10)  # the rest of stdout
        err = self.proc.stderr.read()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.proc.returncode, err


def test_watch_prints_json_events_and_ends_on_ctrl_c(store: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "reader"
    inbox.mkdir()
    watch = WatchProcess(inbox)
    watch.wait_for("catchup_done")
    (inbox / "plate1.csv").write_text("A1,0.3\n")
    (event,) = watch.wait_for("registered")
    assert (event["path"], event["key"], event["version"]) == (
        "plate1.csv",
        "reader/plate1.csv",
        "1",
    )
    assert event["time"].endswith("+00:00") and len(event["uid"]) == 20
    code, err = watch.stop(signal.SIGINT)
    assert code == 130 and "interrupted" in err
    assert watch.seen[-1]["event"] == "stopped" and watch.seen[0]["event"] == "started"
    ls.connect("lab")
    run = ls.Artifact.get(event["uid"]).run
    assert run.finished_at is not None and run.transform.type == "instrument"


def test_watch_ends_cleanly_on_sigterm(store: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "reader"
    inbox.mkdir()
    watch = WatchProcess(inbox)
    watch.wait_for("catchup_done")
    code, _ = watch.stop(signal.SIGTERM)
    assert code == 0 and watch.seen[-1]["event"] == "stopped"


def test_sigkill_and_restart_leave_no_duplicates_and_no_pending_rows(
    store: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "reader"
    inbox.mkdir()
    n = 120
    expected: list[str] = []
    for attempt in range(3):  # on a busy machine a whole catch-up may beat the kill: again
        for i in range(n):  # distinct content, big enough that the kill lands mid-registration
            path = inbox / f"batch{attempt}" / f"well{i:03}.bin"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(os.urandom(512 * 1024))
            expected.append(f"reader/batch{attempt}/well{i:03}.bin")
        watch = WatchProcess(inbox)  # one catch-up batch: pending rows for all, published in turn
        watch.wait_for("catchup")
        deadline = time.monotonic() + 60
        while not rows(store, "visibility = 1"):  # the first ones are published
            assert time.monotonic() < deadline and watch.proc.poll() is None
            time.sleep(0.005)
        watch.proc.kill()
        watch.proc.wait(timeout=30)
        if rows(store, "visibility = -2"):
            break
    assert rows(store, "visibility = -2"), "every kill came too late to interrupt anything"

    again = WatchProcess(inbox)
    catchup = again.wait_for("catchup")[0]
    assert 0 < catchup["count"] <= len(expected)
    again.wait_for("catchup_done", timeout=120)
    code, _ = again.stop(signal.SIGINT)
    assert code == 130
    ls.connect("lab")
    keys = [a.key for a in ls.Artifact.filter(key__startswith="reader/")]
    assert sorted(keys) == sorted(expected)  # each exactly once
    assert rows(store, "visibility = -2") == 0  # the killed session's pending rows were adopted
    assert not [p for p in ls.doctor().problems if p.kind in ("pending", "missing", "corrupt")]
    outcomes = [e for e in again.seen if e.get("catchup")]
    assert {e["event"] for e in outcomes} <= {"registered", "skipped"}


def test_watch_options_are_checked_before_anything_starts(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labshelf.app import cli

    inbox = tmp_path / "reader"
    inbox.mkdir()
    assert cli.main(["watch", str(tmp_path / "nope")]) == 3
    assert cli.main(["watch", str(inbox), "--marker", "DONE"]) == 2
    with pytest.raises(SystemExit) as exit_:
        cli.main(["watch", str(inbox), "--settle", "soon"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "use it with --unit folder" in err
    assert "'soon' is not a duration" in err
    ls.connect("lab")
    assert ls.Run.filter().count() == 0  # nothing was recorded for refused watches


def test_catch_up_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from labshelf.app import cli
    from labshelf.watch import WatchEvent

    drawn: list[tuple] = []
    monkeypatch.setattr(cli, "progress_wanted", lambda args: True)
    monkeypatch.setattr(cli.ProgressBar, "update", lambda self, *a, **k: drawn.append(a))
    args = cli.build_parser().parse_args(["watch", "x", "--quiet"])
    args.json, args.quiet = False, True
    printer = cli._WatchPrinter(args)
    printer(WatchEvent("catchup", count=3, bytes=30))
    for path in ("a", "b"):
        printer(WatchEvent("registered", path=path, catchup=True))
    printer(WatchEvent("registered", path="live"))  # arrived meanwhile: not in the catch-up
    printer(WatchEvent("catchup_done"))
    assert drawn == [(0, 3), (1, 3), (2, 3)] and printer.bar is None
    assert [round(cli.parse_duration(t), 3) for t in ("10", "500ms", "2m", "1.5h")] == [
        10,
        0.5,
        120,
        5400,
    ]
