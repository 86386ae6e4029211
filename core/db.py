"""Engines and sessions.

Each thread has two sessions per database:

- the *home* session, where the records a caller holds live. It reads in
  autocommit mode (no transaction, snapshot or lock is held between calls) and
  is never flushed, so an attribute set on a record reaches the database only
  through ``save()``, never as a side effect of a later query;
- the *writer* session, used for one short transaction at a time (``write()``)
  and emptied afterwards.

SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for
writes; "database is locked" and similar transient errors are retried.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from .errors import DatabaseError

T = TypeVar("T")

_engines: dict[str, Engine] = {}
_sessions: dict[str, tuple[scoped_session, scoped_session]] = {}
_lock = threading.Lock()

WRITE_RETRIES = 12
IDLE_IN_TRANSACTION_MS = 60_000  # PostgreSQL: end a transaction whose client went silent


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # contains/startswith/… are case-sensitive, as on PostgreSQL (the i-lookups lower())
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()
        from .textsim import word_similarity

        dbapi_conn.create_function("ls_word_similarity", 2, word_similarity, deterministic=True)

    @event.listens_for(engine, "begin")
    def on_begin(conn):  # noqa: ANN001
        options = conn.get_execution_options()
        if options.get("labshelf_home"):
            return  # home sessions read in autocommit mode
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("labshelf_write") else "BEGIN")


def engine_for(url: str | URL) -> Engine:
    """The process-wide engine of a database URL (created once)."""
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            parsed = make_url(key)
            if parsed.get_backend_name() == "sqlite":
                engine = create_engine(parsed, connect_args={"timeout": 30})
                _sqlite_pragmas(engine)
            else:
                engine = create_engine(
                    parsed,
                    pool_pre_ping=True,
                    pool_size=5,
                    max_overflow=10,
                    # A client frozen inside a transaction (a laptop gone to sleep) would hold
                    # its locks, the publish lock among them, until TCP gives up (hours): the
                    # server ends such a transaction after a minute, and everyone else goes on.
                    connect_args={
                        "connect_timeout": 10,
                        "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
                    },
                )
            _engines[key] = engine
            home_bind = engine.execution_options(isolation_level="AUTOCOMMIT", labshelf_home=True)
            _sessions[key] = (
                scoped_session(
                    sessionmaker(home_bind, class_=HomeSession, expire_on_commit=False, autoflush=False)
                ),
                scoped_session(sessionmaker(engine, expire_on_commit=False, autoflush=False)),
            )
        return engine


class HomeSession(Session):
    """The session a thread's records live in: it reads, and never writes.

    ``flush`` does nothing, so ending a read with ``commit()`` only returns the
    connection to the pool; attribute edits stay pending on their records until
    ``save()`` writes them through a writer session.
    """

    def flush(self, objects=None) -> None:  # noqa: ANN001
        return None

    def _is_clean(self) -> bool:
        # commit() flushes until the session reports clean; pending edits are not
        # this session's to write, so it always is.
        return True


def end_read(session: Session) -> None:
    """Give the home session's connection back to the pool (nothing is written)."""
    try:
        session.commit()
    except DBAPIError:
        session.rollback()


class RawStatement:
    """A Core statement compiled once per dialect and run on a bare DB-API cursor.

    For hot single-row probes (one per file in bulk registration) SQLAlchemy's
    execution machinery costs several times the query itself; the SQL is still
    SQLAlchemy's, with bound parameters."""

    def __init__(self, statement: Any):
        self.statement = statement
        self._compiled: dict[str, Any] = {}

    def rows(self, engine: Engine, **params: Any) -> list[tuple]:
        compiled = self._compiled.get(engine.dialect.name)
        if compiled is None:
            compiled = self.statement.compile(dialect=engine.dialect)
            self._compiled[engine.dialect.name] = compiled
        values = compiled.construct_params(params)
        if compiled.positiontup is not None:
            values = tuple(values[name] for name in compiled.positiontup)
        dbapi_error = engine.dialect.loaded_dbapi.Error
        sql = str(compiled)
        try:
            conn = engine.raw_connection()
        except dbapi_error as exc:  # the server cannot be reached: say so, as the ORM would
            raise DBAPIError.instance(sql, values, exc, dbapi_error) from exc
        try:
            cursor = conn.cursor()
            cursor.execute(sql, values)
            return cursor.fetchall()
        except dbapi_error as exc:  # a broken pooled connection: drop it, let retrying() retry
            conn.invalidate()
            raise DBAPIError.instance(sql, values, exc, dbapi_error, connection_invalidated=True) from exc
        finally:
            conn.close()  # back to the pool (which ends any implicit transaction)


def sessions_for(url: str | URL) -> tuple[scoped_session, scoped_session]:
    """(home, writer) scoped sessions of a database."""
    engine_for(url)
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return _sessions[key]


def dispose_all() -> None:
    """Close every session and engine of this process (used by disconnect and tests)."""
    with _lock:
        for home, writer in _sessions.values():
            home.remove()
            writer.remove()
        for engine in _engines.values():
            engine.dispose()
        _sessions.clear()
        _engines.clear()


def is_transient(exc: BaseException) -> bool:
    """A lock/serialization/connection error that a retry may cure."""
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        return any(
            s in text
            for s in ("database is locked", "database is busy", "deadlock", "could not serialize")
        )
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return False


def retrying(fn: Callable[[], T], *, what: str, attempts: int = WRITE_RETRIES) -> T:
    """Run ``fn`` again with jittered backoff while it fails with a transient DB error."""
    delay = 0.02
    for attempt in range(attempts):
        try:
            return fn()
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == attempts - 1:
                raise as_database_error(exc, what) from exc
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def as_database_error(exc: DBAPIError, what: str) -> DatabaseError:
    """A one-sentence error for a low-level database failure (no URL, no password)."""
    orig = exc.orig if exc.orig is not None else exc
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return DatabaseError(f"The database failed while {what}: {first_line}")


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """One write transaction on a writer session: committed or rolled back, then emptied."""
    session.connection(execution_options={"labshelf_write": True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
