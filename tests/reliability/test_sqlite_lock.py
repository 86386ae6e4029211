"""Another process holds SQLite's write lock and never lets go: a write waits for it at
most LABSHELF_SQLITE_LOCK_WAIT seconds in all (retries included), then fails with one
sentence naming the cause and what was being done, having written nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect

from .conftest import audit, one_sentence, record

LOCK_WAIT = 2.0

# Takes the write lock (BEGIN IMMEDIATE), says LOCKED, and holds it until stdin closes.
_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
print("LOCKED", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
conn.close()
"""


@pytest.fixture
def locked_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(storage root, database file) of a SQLite instance with a 2 s lock wait."""
    monkeypatch.setenv("LABSHELF_SQLITE_LOCK_WAIT", str(LOCK_WAIT))
    root = tmp_path / "store"
    ls.init(str(root))
    try:
        database = current().engine().url.database
        assert database and Path(database).is_file(), database
        yield root, Path(database)
    finally:
        disconnect()


def _hold_write_lock(database: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "LOCKED"
    return proc


def _release(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()


def test_write_gives_up_on_a_lock_held_by_another_process(locked_instance, tmp_path: Path) -> None:
    root, database = locked_instance
    first = tmp_path / "first.txt"
    first.write_text("first\n")
    ls.Artifact(first, key="first.txt").save()
    f = tmp_path / "blocked.txt"
    f.write_text("written while another process holds the lock\n")

    holder = _hold_write_lock(database)
    outcome: dict = {}

    def save() -> None:
        try:
            outcome["artifact"] = ls.Artifact(f, key="blocked.txt").save()
        except ls.LabshelfError as exc:
            outcome["error"] = exc

    try:
        t0 = time.monotonic()
        t = threading.Thread(target=save, daemon=True)
        t.start()
        t.join(LOCK_WAIT + 10)  # without a bound on the total wait this is minutes
        waited = time.monotonic() - t0
        assert not t.is_alive(), f"the save still waits for the lock after {waited:.0f} s"
        # reads do not need the write lock (WAL): the failed save left no record
        assert ls.Artifact.filter(key="blocked.txt").count() == 0
        assert ls.Artifact.filter().count() == 1
    finally:
        _release(holder)
    t.join(30)
    error = outcome.get("error")
    assert isinstance(error, ls.DatabaseError), outcome
    message = str(error)
    assert one_sentence(message), message
    assert message.startswith(
        "Another process holds the database's write lock, so labshelf stopped registering artifacts"
    ), message
    assert "changed nothing" in message, message
    assert LOCK_WAIT - 0.2 <= waited < LOCK_WAIT + 2, f"gave up after {waited:.1f} s"
    state = audit(root)
    state.assert_consistent()
    assert state.pending == 0 and not state.pending_objects and not state.tmp_leftovers

    # the lock is free again: the same save goes through
    t0 = time.monotonic()
    again = ls.Artifact(f, key="blocked.txt").save()
    took = time.monotonic() - t0
    assert ls.Artifact.get(key="blocked.txt").uid == again.uid
    assert ls.Artifact.filter().count() == 2
    audit(root).assert_consistent()
    record(
        "another process holds SQLite's write lock",
        "sqlite",
        1,
        lost=0,
        clear_errors="1/1 one-sentence DatabaseError",
        numbers=f"gave up after {waited:.1f} s (limit {LOCK_WAIT:g} s), saved in {took:.2f} s "
        f'once released; e.g. "{message[:100]}"',
    )


def test_write_waits_for_a_lock_released_in_time(locked_instance, tmp_path: Path) -> None:
    """A lock held for less than the limit only delays the write."""
    _root, database = locked_instance
    f = tmp_path / "late.txt"
    f.write_text("late\n")
    holder = _hold_write_lock(database)
    timer = threading.Timer(LOCK_WAIT / 3, _release, args=(holder,))
    timer.start()
    try:
        t0 = time.monotonic()
        ls.Artifact(f, key="late.txt").save()
        took = time.monotonic() - t0
    finally:
        timer.join()
        _release(holder)
    assert ls.Artifact.filter(key="late.txt").count() == 1
    assert took >= LOCK_WAIT / 3 - 0.1, took
