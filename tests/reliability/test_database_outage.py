"""The PostgreSQL server goes away mid-session and comes back: clear errors while it is
down, and the same process works again afterwards without reconnecting by hand."""

from __future__ import annotations

import time
from pathlib import Path

import labshelf as ls
import pytest

from .conftest import audit, one_sentence, record


def _save_text(tmp_path: Path, name: str, text: str) -> ls.Artifact:
    """Save a small new file under key `name`."""
    f = tmp_path / name
    f.write_text(text)
    return ls.Artifact(f, key=name).save()


def _attempts(tmp_path: Path, tag: str) -> list:
    """Everyday operations; each is (name, callable)."""
    f = tmp_path / f"{tag}.txt"
    f.write_text(f"content {tag}\n")
    return [
        ("count", lambda: ls.Artifact.filter().count()),
        ("search", lambda: ls.Artifact.search("report").all()),
        ("get", lambda: ls.Artifact.get(key="first.txt")),
        ("save", lambda: ls.Artifact(f, key=f"during/{tag}.txt").save()),
        ("df", lambda: ls.Artifact.df()),
    ]


def test_postgres_stops_and_restarts_mid_session(
    pg_instance: Path, pg_server, tmp_path: Path
) -> None:
    first = tmp_path / "first.txt"
    first.write_text("first\n")
    a = ls.Artifact(first, key="first.txt", description="report one").save()
    assert ls.Artifact.filter().count() == 1

    pg_server.stop()
    errors: dict[str, str] = {}
    worst = 0.0
    try:
        for name, op in _attempts(tmp_path, "down"):
            t0 = time.monotonic()
            try:
                op()
            except ls.DatabaseError as exc:
                errors[name] = str(exc)
            except ls.LabshelfError as exc:  # also acceptable if it names the database
                errors[name] = f"{type(exc).__name__}: {exc}"
            else:
                raise AssertionError(f"{name} succeeded while the database was down")
            worst = max(worst, time.monotonic() - t0)
    finally:
        pg_server.start()
    clear = sum(one_sentence(m) and "database" in m.lower() for m in errors.values())
    for name, message in errors.items():
        assert one_sentence(message), f"{name}: {message!r}"
        assert "database" in message.lower(), f"{name}: {message!r}"
        assert "postgres@" not in message, message  # no URL in the message
    assert worst < 15, f"an operation took {worst:.1f} s to fail"

    # back up: the same process, the same records, no reconnect by hand
    t0 = time.monotonic()
    assert ls.Artifact.filter().count() == 1
    recovered = time.monotonic() - t0
    assert ls.Artifact.get(a.uid).key == "first.txt"
    for _name, op in _attempts(tmp_path, "up"):
        op()
    assert ls.Artifact.filter(key="during/up.txt").count() == 1
    assert ls.Artifact.filter(key="during/down.txt").count() == 0
    state = audit(pg_instance)
    state.assert_consistent()
    assert state.pending == 0 and not state.tmp_leftovers
    sample = errors.get("count", "")
    record(
        "PostgreSQL stopped mid-session, restarted",
        "postgresql",
        len(errors),
        lost=0,
        dangling=state.dangling,
        clear_errors=f"{clear}/{len(errors)} one-sentence DatabaseError",
        numbers=f"slowest failure {worst:.2f} s, first call after restart {recovered:.2f} s; "
        f'e.g. "{sample[:100]}"',
    )


def test_postgres_restart_between_calls(pg_instance: Path, pg_server, tmp_path: Path) -> None:
    """A restart the process never noticed: pooled connections are dead, the next call works."""
    _save_text(tmp_path, "x.txt", "x\n")
    pg_server.stop()
    pg_server.start()
    assert ls.Artifact.filter().count() == 1
    _save_text(tmp_path, "y.txt", "y\n")
    assert ls.Artifact.filter().count() == 2


def test_postgres_network_black_hole(pg_server, tcp_proxy, tmp_path: Path, monkeypatch) -> None:
    """The network to the server drops (live connections reset, new ones never answered):
    the next operation fails within the connect timeout (LABSHELF_DB_LINK_TIMEOUT), and works
    once the line is back."""
    from labshelf.instance import disconnect

    monkeypatch.setenv("LABSHELF_DB_LINK_TIMEOUT", "2")
    db = pg_server.create_database()
    proxy = tcp_proxy(pg_server.port)
    ls.init(
        str(tmp_path / "store"),
        db=f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{db.name}",
    )
    try:
        _save_text(tmp_path, "a.txt", "a\n")
        proxy.cut(hang=True)
        t0 = time.monotonic()
        try:
            ls.Artifact.filter().count()
        except ls.DatabaseError as exc:
            message = str(exc)
        else:
            raise AssertionError("count succeeded through a cut network")
        finally:
            waited = time.monotonic() - t0
            proxy.restore()
        assert one_sentence(message) and "database" in message.lower(), message
        assert "did not answer within 2 s" in message, message
        assert waited < 6, f"{waited:.1f} s to fail with a 2 s link timeout"
        assert ls.Artifact.filter().count() == 1
        record(
            "network to PostgreSQL black-holed, then restored",
            "postgresql",
            1,
            lost=0,
            clear_errors="1/1 one-sentence DatabaseError",
            numbers=f'failed after {waited:.1f} s (connect timeout); e.g. "{message[:90]}"',
        )
    finally:
        disconnect()


def test_postgres_stops_during_an_upload(
    pg_instance: Path, pg_server, tmp_path: Path, monkeypatch
) -> None:
    """The server stops while ls.upload is publishing: the upload ends promptly with a clear
    error; after the restart the same call completes and doctor cleans what was left."""
    import threading

    from labshelf import artifact

    from .conftest import run_doctor

    src = tmp_path / "batch"
    src.mkdir()
    for i in range(400):
        (src / f"{i}.txt").write_text(f"batch file {i}\n")
    original = artifact.store_object

    def slow_store(obj, **kw):
        time.sleep(0.01)
        return original(obj, **kw)

    monkeypatch.setattr(artifact, "store_object", slow_store)
    started = threading.Event()

    def progress(p) -> None:
        if p.files_done >= 40:
            started.set()

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = ls.upload(
                [src], key_prefix="b", as_folder=False, max_workers=4, on_progress=progress
            )
        except ls.LabshelfError as exc:
            outcome["error"] = exc
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["raw"] = exc

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(60)
    pg_server.stop()
    t0 = time.monotonic()
    try:
        t.join(timeout=60)
        ended = time.monotonic() - t0
        assert not t.is_alive(), "the upload hangs while the database is down"
    finally:
        pg_server.start()
    assert "raw" not in outcome, repr(outcome.get("raw"))
    if "error" in outcome:
        message = str(outcome["error"])
        assert isinstance(outcome["error"], ls.DatabaseError) and one_sentence(message), message
    else:
        message = str(outcome["report"]).splitlines()[0]
        assert not outcome["report"].ok
    monkeypatch.setattr(artifact, "store_object", original)
    again = ls.upload([src], key_prefix="b", as_folder=False)
    assert again.ok, str(again)
    assert ls.Artifact.filter(key__startswith="b/").count() == 400
    state = audit(pg_instance)
    state.assert_consistent()
    before_fix = (state.pending, len(state.pending_objects), len(state.tmp_leftovers))
    if run_doctor(fix=True) is not None:
        state = audit(pg_instance)
        assert state.pending == 0 and not state.pending_objects and not state.tmp_leftovers
    record(
        "PostgreSQL stopped during ls.upload of 400 files",
        "postgresql",
        1,
        lost=0,
        dangling=state.dangling,
        clear_errors="1/1 one-sentence DatabaseError"
        if "error" in outcome
        else "report with failed items",
        numbers=f"upload ended {ended:.1f} s after the stop; re-run completed; leftovers for "
        f"doctor {before_fix[0]} pending rows, {before_fix[1]} their objects, "
        f'{before_fix[2]} .tmp-; e.g. "{message[:90]}"',
    )


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


@pytest.mark.slow
def test_frozen_writer_does_not_block_others_forever(pg_instance: Path, tmp_path: Path) -> None:
    """A process freezes (SIGSTOP: a laptop going to sleep) inside its publish transaction,
    holding the publish lock. Other writers must not wait for it forever."""
    import signal
    import subprocess
    import threading

    from .conftest import start_worker

    src = tmp_path / "frozen-src"
    src.mkdir()
    for i in range(5):
        (src / f"{i}.txt").write_text(f"frozen {i}\n")
    proc = start_worker("save_bulk", src, "freeze-publish:1")
    try:
        assert proc.stdout.readline().strip() == "READY"
        deadline = time.monotonic() + 60
        while _state(proc.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(proc.pid) == "T", "the worker did not freeze"
        f = tmp_path / "other.txt"
        f.write_text("another user's save\n")
        outcome: dict = {}

        def save() -> None:
            try:
                outcome["uid"] = ls.Artifact(f, key="other.txt").save().uid
            except ls.LabshelfError as exc:
                outcome["error"] = str(exc)

        t0 = time.monotonic()
        t = threading.Thread(target=save, daemon=True)
        t.start()
        t.join(timeout=150)
        waited = time.monotonic() - t0
        blocked = t.is_alive()
        resumed = None
        if not blocked:  # the sleeper wakes up: its transaction is gone, the retry publishes
            proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(timeout=60)
                resumed = proc.returncode
            except subprocess.TimeoutExpired:
                resumed = "hung"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    if blocked:
        t.join(timeout=30)  # the frozen session is gone now: the save proceeds
    record(
        "a writer frozen (SIGSTOP) inside its publish transaction",
        "postgresql",
        1,
        lost=0,
        clear_errors="other writers proceed" if not blocked else "OTHER WRITERS HANG",
        numbers=f"another process's save waited {waited:.1f} s"
        + (
            " and was still blocked"
            if blocked
            else f" ({'saved' if 'uid' in outcome else outcome.get('error', '')[:80]})"
        ),
    )
    assert not blocked, f"a save waited {waited:.0f} s behind a frozen process's publish lock"
    assert resumed == 0, f"the woken process ended with {resumed}: {err[-1500:]}"
    assert ls.Artifact.filter(key__startswith="bulk/").count() == 5
    audit(pg_instance).assert_consistent()


def test_postgres_sessions_end_abandoned_transactions(pg_instance: Path) -> None:
    """labshelf's PostgreSQL sessions end a transaction left idle (a frozen client), so its
    locks cannot block everyone else for hours."""
    from labshelf.instance import current
    from sqlalchemy import text

    with current().engine().connect() as conn:
        value = conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
        statement = conn.execute(text("SHOW statement_timeout")).scalar()
        user_timeout = conn.execute(text("SHOW tcp_user_timeout")).scalar()
    assert value not in ("0", "0ms"), value
    # the defaults (LABSHELF_DB_STATEMENT_TIMEOUT, LABSHELF_DB_LINK_TIMEOUT unset)
    assert statement == "1min", statement
    assert user_timeout == "15000", user_timeout  # ms


# ---------------------------------------------------------------- bounded waits


def _bounded_pg_instance(pg_server, tmp_path: Path, monkeypatch, statement: str, link: str) -> None:
    """A current PostgreSQL instance whose time limits are the given (small) ones."""
    from labshelf.instance import current
    from sqlalchemy import text

    monkeypatch.setenv("LABSHELF_DB_STATEMENT_TIMEOUT", statement)
    monkeypatch.setenv("LABSHELF_DB_LINK_TIMEOUT", link)
    ls.init(str(tmp_path / "store"), db=pg_server.create_database().url)
    with current().engine().begin() as conn:
        conn.execute(text("CREATE TABLE probe (n integer)"))


def _probe_rows() -> int:
    from labshelf.instance import current
    from sqlalchemy import text

    with current().engine().connect() as conn:
        return conn.execute(text("SELECT count(*) FROM probe")).scalar()


def _in_thread(fn, limit: float) -> tuple[object, float]:
    """(result or LabshelfError, seconds) of ``fn()``; fails if it is still running after
    ``limit`` seconds (an unbounded wait), rather than hanging the suite."""
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except ls.LabshelfError as exc:
            outcome["value"] = exc
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["raw"] = exc

    t0 = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    waited = time.monotonic() - t0
    assert not t.is_alive(), f"still waiting after {waited:.0f} s: the wait is unbounded"
    assert "raw" not in outcome, repr(outcome.get("raw"))
    return outcome["value"], waited


def test_postgres_statement_timeout(pg_server, tmp_path: Path, monkeypatch) -> None:
    """A statement the server takes too long over (LABSHELF_DB_STATEMENT_TIMEOUT) ends with
    one clear sentence, its transaction rolled back; the connection is usable afterwards."""
    from labshelf import session as context
    from labshelf.instance import disconnect
    from sqlalchemy import text

    _bounded_pg_instance(pg_server, tmp_path, monkeypatch, statement="1", link="2")
    try:

        def slow_write(s) -> None:
            s.execute(text("INSERT INTO probe VALUES (1)"))
            s.execute(text("SELECT pg_sleep(8)"))

        error, waited = _in_thread(lambda: context.write(slow_write, what="filling the probe"), 20)
        assert isinstance(error, ls.DatabaseError), error
        message = str(error)
        assert one_sentence(message), message
        assert message.startswith("The database took longer than 1 s while filling the probe"), (
            message
        )
        assert waited < 4, f"{waited:.1f} s for a 1 s statement timeout"
        assert _probe_rows() == 0  # the insert before the slow statement was rolled back

        error, waited = _in_thread(
            lambda: context.read(
                lambda s: s.execute(text("SELECT pg_sleep(8)")).all(), what="reading slowly"
            ),
            20,
        )
        assert isinstance(error, ls.DatabaseError) and "while reading slowly" in str(error), error
        assert waited < 4, f"{waited:.1f} s for a 1 s statement timeout"

        _save_text(tmp_path, "after.txt", "after\n")
        assert ls.Artifact.filter().count() == 1
        record(
            "a statement longer than the statement timeout (1 s)",
            "postgresql",
            2,
            lost=0,
            clear_errors="2/2 one-sentence DatabaseError",
            numbers=f'failed after {waited:.1f} s, rolled back; e.g. "{message[:90]}"',
        )
    finally:
        disconnect()


def test_postgres_server_frozen_mid_transaction(pg_server, tmp_path: Path, monkeypatch) -> None:
    """The server freezes (SIGSTOP: a hung host, or a network that drops its answers) in the
    middle of a write transaction: the write gives up after the statement timeout plus the
    link timeout with one clear sentence, other calls give up too, and once the server
    thaws nothing of the write is left and everything works again."""
    import os
    import signal

    from labshelf import session as context
    from labshelf.instance import current, disconnect
    from sqlalchemy import text

    _bounded_pg_instance(pg_server, tmp_path, monkeypatch, statement="0.5", link="1")
    try:
        _save_text(tmp_path, "a.txt", "a\n")
        postmaster = int((pg_server.datadir / "postmaster.pid").read_text().split()[0])
        frozen: list[int] = []
        backend: list[int] = []

        def freeze_midway(s) -> None:
            s.execute(text("INSERT INTO probe VALUES (1)"))
            backend.append(s.execute(text("SELECT pg_backend_pid()")).scalar())
            with current().engine().connect() as other:  # every session of this database
                pids = (
                    other.execute(
                        text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                    )
                    .scalars()
                    .all()
                )
            for pid in [postmaster, *pids]:
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)
            s.execute(text("SELECT count(*) FROM probe"))

        try:
            error, waited = _in_thread(
                lambda: context.write(freeze_midway, what="filling the probe"), 20
            )
            later, later_waited = _in_thread(lambda: ls.Artifact.filter().count(), 20)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        assert isinstance(error, ls.DatabaseError), error
        message = str(error)
        assert one_sentence(message), message
        assert message.startswith(
            "The database server did not answer within 1.5 s while filling the probe"
        ), message
        assert waited < 4, f"{waited:.1f} s with 0.5 s + 1 s limits"
        # a call after it: its pooled connection is silent too, and new ones are not answered
        assert isinstance(later, ls.DatabaseError) and one_sentence(str(later)), later
        assert "did not answer" in str(later), later
        assert later_waited < 6, f"{later_waited:.1f} s with 0.5 s + 1 s limits"

        # thawed: the abandoned transaction is rolled back and its session ends
        assert _probe_rows() == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with current().engine().connect() as conn:
                alive = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": backend[0]}
                ).scalar()
            if not alive:
                break
            time.sleep(0.1)
        assert not alive, "the frozen transaction's session is still there after the thaw"
        assert _probe_rows() == 0
        _save_text(tmp_path, "b.txt", "b\n")
        assert ls.Artifact.filter().count() == 2
        record(
            "PostgreSQL frozen (SIGSTOP) mid-transaction",
            "postgresql",
            2,
            lost=0,
            clear_errors="2/2 one-sentence DatabaseError",
            numbers=f"the write failed after {waited:.1f} s, the next read after "
            f"{later_waited:.1f} s (0.5 s + 1 s limits), rolled back; "
            f'e.g. "{message[:90]}"',
        )
    finally:
        disconnect()
