"""The main thread's per-file probes keep one connection (``db._ProbeConnections``), on
SQLite and PostgreSQL: fewer pool round trips, never an old view of the catalog (autocommit:
never idle in a transaction), nothing left open after ``disconnect``, and no connection held
by other threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import labshelf as ls
import pytest
from labshelf import db
from labshelf.instance import current, disconnect
from sqlalchemy import event

from tests.core.conftest import text_files


def _fds_to(path: Path) -> int:
    """How many of this process's descriptors are open on ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue
    return count


def test_probes_of_many_artifacts_take_one_connection(instance: Path, tmp_path: Path) -> None:
    engine = current().engine()
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *args: checkouts.append(1))
    files = text_files(tmp_path / "src", 40)
    arts = [ls.Artifact(str(f), key=f"p/{f.name}") for f in files]
    assert len(checkouts) <= 2, len(checkouts)  # 40 probes: one held connection (was 40+)
    if engine.dialect.name == "postgresql":  # held between probes, never in a transaction
        (held,) = [c for _e, _p, c in db._probe_connections.held.values()]
        pid = held.dbapi_connection.info.backend_pid
        with engine.connect() as conn:
            state = conn.exec_driver_sql(
                f"SELECT state FROM pg_stat_activity WHERE pid = {int(pid)}"
            ).scalar()
        assert state == "idle", state
    ls.save(arts)
    # the held connection sees what was saved since (autocommit: no old snapshot)
    again = ls.Artifact(str(files[3]), key=f"p/{files[3].name}")
    assert again.id == arts[3].id and again.uid == arts[3].uid


def test_the_held_connection_sees_another_process_s_writes(instance: Path, tmp_path: Path) -> None:
    first = text_files(tmp_path / "a", 1, "first")[0]
    ls.Artifact(str(first), key="x/first.txt")  # a probe: the connection is now held
    other = text_files(tmp_path / "b", 1, "other")[0]
    script = "import sys, labshelf as ls; ls.Artifact(sys.argv[1], key='x/other.txt').save()"
    env = dict(os.environ, LABSHELF_QUIET="1")
    subprocess.run([sys.executable, "-c", script, str(other)], check=True, env=env, timeout=120)
    found = ls.Artifact(str(other), key="x/other.txt")  # the same content: the other's record
    assert found.id is not None and found.key == "x/other.txt"


def test_disconnect_closes_it_and_threads_never_hold_one(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    database = sqlite_instance / ".labshelf" / "labshelf.db"
    assert database.exists()
    files = text_files(tmp_path / "src", 3)
    ls.Artifact(str(files[0]), key="t/0.txt")
    assert db._probe_connections.held  # the main thread's probe connection
    disconnect()
    assert not db._probe_connections.held
    assert _fds_to(database) == 0, "a connection to the database stayed open"

    ls.connect(str(sqlite_instance))
    seen: list[object] = []

    def probe() -> None:
        ls.Artifact(str(files[1]), key="t/1.txt")
        seen.append(dict(db._probe_connections.held))

    worker = threading.Thread(target=probe)
    worker.start()
    worker.join(60)
    assert seen == [{}]  # a thread's probes go back to the pool


def test_a_held_connection_the_server_closed_is_replaced(instance: Path, tmp_path: Path) -> None:
    """PostgreSQL ends the held connection while it waits (a restart, an administrator, an
    idle timeout): the next probe takes a fresh one instead of failing."""
    if current().engine().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    files = text_files(tmp_path / "src", 2)
    first = ls.Artifact(str(files[0]), key="k/0.txt").save()
    (held,) = [c for _e, _p, c in db._probe_connections.held.values()]
    pid = held.dbapi_connection.info.backend_pid
    engine = current().engine()
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
    again = ls.Artifact(str(files[0]), key="k/0.txt")  # the probe finds the saved record
    assert again.id == first.id
    (fresh,) = [c for _e, _p, c in db._probe_connections.held.values()]
    assert fresh.dbapi_connection.info.backend_pid != pid
