"""Engines, short sessions, and bounded, retried database work.

Each database URL has one engine per process and two session factories: *readers* run in
autocommit mode (no transaction, snapshot or lock is held between statements) and *writers*
run one short transaction at a time (``write_transaction``). Sessions live for one
operation only (see ``session``): records are never attached to a session between calls.

SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for
writes; "database is locked" and similar transient errors are retried, but a write
waits at most ``LABSHELF_SQLITE_LOCK_WAIT`` seconds in all for another process's
write lock. A SQLite file is never created here (only ``init`` creates one, see
``create_sqlite_file``): connections open it with ``mode=rw`` (``mode=ro`` where it cannot
be written: a read-only mount, a folder without write permission), and the file's identity
(device, inode) taken when its engine was made is compared with the path before every
write, so a process whose database was deleted or replaced stops writing instead of
saving into a file nobody will see again.

PostgreSQL connections are bounded in time, with libpq's and the server's own means:
``statement_timeout`` (``LABSHELF_DB_STATEMENT_TIMEOUT``) ends a statement the server
takes too long over; ``connect_timeout``, TCP keepalives and ``tcp_user_timeout``
(``LABSHELF_DB_LINK_TIMEOUT``) detect a dead or black-holed link on both ends; and
psycopg's own wait timeout closes a connection whose server stays silent (frozen)
past both. A statement that times out rolls its transaction back.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from .errors import DatabaseError
from .log import say
from .textsim import word_similarity

if TYPE_CHECKING:
    import sqlite3

    from psycopg.abc import PQGen

T = TypeVar("T")

_engines: dict[str, Engine] = {}
_files: dict[str, SqliteFile] = {}  # the SQLite file behind each engine (by URL key)
_makers: dict[str, tuple[sessionmaker[Session], sessionmaker[Session]]] = {}
_lock = threading.Lock()

WRITE_RETRIES = 12
IDLE_IN_TRANSACTION_MS = 60_000  # PostgreSQL: end a transaction whose client went silent

# Defaults, in seconds, of the time limits (each overridable by its environment variable).
STATEMENT_TIMEOUT = 60.0  # PostgreSQL: the longest one statement may run
LINK_TIMEOUT = 15.0  # PostgreSQL: to connect, and to notice a dead or black-holed link
SQLITE_LOCK_WAIT = 60.0  # SQLite: the longest a write waits in all for the write lock


def _seconds(var: str, default: float) -> float:
    """A positive number of seconds from the environment (the default if unset or invalid)."""
    raw = os.environ.get(var, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def statement_timeout() -> float:
    return _seconds("LABSHELF_DB_STATEMENT_TIMEOUT", STATEMENT_TIMEOUT)


def link_timeout() -> float:
    return _seconds("LABSHELF_DB_LINK_TIMEOUT", LINK_TIMEOUT)


def sqlite_lock_wait() -> float:
    return _seconds("LABSHELF_SQLITE_LOCK_WAIT", SQLITE_LOCK_WAIT)


_write_deadline = threading.local()  # the monotonic time by which retrying()'s write gives up


# URL query parameters that hold the password itself (libpq reads ``password``)
PASSWORD_QUERY_KEYS = ("password", "passwd", "pwd")
_SECRET_QUERY_WORDS = ("pass", "pwd", "secret", "token", "credential", "private", "apikey")
_NOT_SECRET_QUERY_KEYS = ("passfile",)  # libpq: the path of a .pgpass file


def is_secret_query_key(key: str) -> bool:
    """Whether a database URL's query parameter is password-like (its value is masked)."""
    lowered = key.lower().replace("_", "").replace("-", "")
    if lowered in _NOT_SECRET_QUERY_KEYS:
        return False
    return any(word in lowered for word in _SECRET_QUERY_WORDS)


def mask_url(url: str | URL) -> str:
    """The URL with its password and every password-like query value replaced by ``***``."""
    parsed = make_url(url) if isinstance(url, str) else url
    secret = {k: "***" for k in parsed.query if is_secret_query_key(k)}
    if secret:
        parsed = parsed.update_query_dict(secret)
    return parsed.render_as_string(hide_password=True).replace("=%2A%2A%2A", "=***")


_last_url: tuple[URL | None, str] = (None, "")  # (the last URL object keyed, its key)


def _url_key(url: str | URL) -> str:
    global _last_url
    if isinstance(url, str):
        return url
    last, key = _last_url  # an instance asks with its one URL object for every engine()
    if last is url:
        return key
    key = url.render_as_string(hide_password=False)
    _last_url = (url, key)
    return key


@dataclass
class SqliteFile:
    """The database file of a SQLite engine, as it was when the engine was made."""

    path: Path
    identity: tuple[int, int]  # (st_dev, st_ino)
    read_only: bool = False  # the file or its folder cannot be written here
    immutable: bool = False  # read-only, and SQLite cannot keep its WAL index next to it

    def uri(self) -> str:
        """The ``file:`` URI connections open: ``mode=rw`` never creates a missing file;
        ``mode=ro`` reads a catalog that cannot be written here (a read-only mount, a folder
        without write permission), ``immutable=1`` too where SQLite cannot even create the
        WAL index (``-shm``) beside it, which is safe there: nobody can change the file."""
        mode = "mode=ro" if self.read_only else "mode=rw"
        return f"file:{quote(str(self.path))}?{mode}" + ("&immutable=1" if self.immutable else "")

    def check(self, what: str, *, write: bool = True) -> None:
        """Raise ``DatabaseError`` if the path no longer names the file opened at first, or
        (``write``) if the file is read-only here."""
        if write and self.read_only:
            raise DatabaseError(
                f"The catalog in {self.path.parent} is read-only here, so labshelf cannot "
                f"change it ({what}); reading, queries and load() work: save where it is writable"
            )
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise DatabaseError(
                f"The database file {self.path} was deleted while labshelf had it open, so "
                f"labshelf stopped {what} and changed nothing; restore the file, or create a "
                "new catalog on purpose with `labshelf init`"
            ) from None
        except OSError as exc:
            raise DatabaseError(
                f"The database file {self.path} cannot be checked ({exc.strerror}), so "
                f"labshelf stopped {what} and changed nothing"
            ) from None
        if (st.st_dev, st.st_ino) != self.identity:
            raise DatabaseError(
                f"The database file {self.path} was replaced by another file while labshelf "
                f"had it open, so labshelf stopped {what} and changed nothing; connect again "
                "(ls.connect or a new process) to use the file that is there now"
            )


def missing_database_message(path: Path | str) -> str:
    return (
        f"The database file {path} does not exist; labshelf never replaces a lost catalog "
        "with an empty one: restore the file, re-point this instance with "
        "`labshelf init --storage ROOT --db sqlite:////path/to/labshelf.db`, or create a new, "
        "empty catalog on purpose with `labshelf init --storage ROOT`"
    )


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for another database, in memory or a ``file:`` URI)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(os.path.abspath(database))


def create_sqlite_file(url: str | URL) -> None:
    """Create an empty SQLite file for a new catalog (``init`` only: nothing else creates one)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)


def _sqlite_file(url: URL) -> SqliteFile | None:
    path = sqlite_path(url)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DatabaseError(missing_database_message(path)) from None
    except OSError as exc:
        raise DatabaseError(f"The database file {path} cannot be opened: {exc.strerror}") from None
    file = SqliteFile(path, (st.st_dev, st.st_ino))
    if not (_writable(path) and _writable(path.parent)):
        file.read_only = True
        file.immutable = not _opens_read_only(file)
        say(
            f"the catalog in {path.parent} is read-only here: it is opened for reading only, "
            "and saving or editing records is refused"
        )
    return file


def _writable(path: Path) -> bool:
    """Whether this process may write ``path`` (a read-only mount says no, even to root)."""
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def _opens_read_only(file: SqliteFile) -> bool:
    """Whether SQLite reads the file with ``mode=ro`` (it needs to share or create the WAL
    index beside a WAL database; a read-only folder without one needs ``immutable``)."""
    import sqlite3

    try:
        conn = sqlite3.connect(file.uri(), uri=True, timeout=1)
    except sqlite3.Error:
        return False
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def drop_stale_engine(url: str | URL) -> None:
    """Forget this process's engine of a SQLite URL whose file was deleted or replaced since,
    so that opening the instance again (``init``/``connect``) uses the file there now."""
    key = _url_key(url)
    with _lock:
        file = _files.get(key)
        if file is None:
            return
        try:
            st = os.stat(file.path)
            if (st.st_dev, st.st_ino) == file.identity:
                return
        except OSError:
            pass
        _makers.pop(key, None)
        _engines.pop(key).dispose()
        del _files[key]


def check_writable(url: str | URL, what: str) -> None:
    """Raise ``DatabaseError`` if writing to this database must not happen now (its SQLite
    file was deleted or replaced since this process opened it)."""
    file = _files.get(_url_key(url))
    if file is not None:
        file.check(what)


def is_read_only(url: str | URL) -> bool:
    """Whether this process opened the database for reading only."""
    engine_for(url)
    file = _files.get(_url_key(url))
    return file is not None and file.read_only


def _sqlite_pragmas(engine: Engine, file: SqliteFile | None) -> None:
    if file is not None:

        @event.listens_for(engine, "do_connect")
        def open_file(
            _dialect: Dialect,
            _record: ConnectionPoolEntry,
            cargs: list[Any],
            cparams: dict[str, Any],
        ) -> None:
            file.check("opening the database", write=False)
            cargs[0] = file.uri()
            cparams["uri"] = True

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(sqlite_lock_wait() * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # contains/startswith/… are case-sensitive, as on PostgreSQL (the i-lookups lower())
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()
        dbapi_conn.create_function("ls_word_similarity", 2, word_similarity, deterministic=True)

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("labshelf_reader"):
            return  # reader sessions read in autocommit mode
        if options.get("labshelf_write"):
            if file is not None:
                file.check("saving")
            # Wait for another process's write lock only as long as this write has left.
            deadline = getattr(_write_deadline, "at", None)
            wait = sqlite_lock_wait() if deadline is None else deadline - time.monotonic()
            conn.exec_driver_sql(f"PRAGMA busy_timeout={max(0, int(wait * 1000))}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class ServerSilent(Exception):
    """Marks a PostgreSQL connection closed because its server stopped answering."""


def _postgres_connect_args() -> dict[str, Any]:
    """libpq parameters and server settings that bound every wait on a connection."""
    stmt, link = statement_timeout(), link_timeout()
    # Keepalive probes start after a third of the link timeout of silence and end it in all
    # (tcp_user_timeout caps them): both ends notice a black-holed link, even while idle.
    idle, interval = max(1, int(link / 3)), max(1, int(link / 6))
    settings = {
        # A client frozen inside a transaction (a laptop gone to sleep) would hold its locks,
        # the publish lock among them, until TCP gives up (hours): the server ends such a
        # transaction after a minute, and everyone else goes on.
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_MS,
        "statement_timeout": max(1, int(stmt * 1000)),
        "tcp_keepalives_idle": idle,
        "tcp_keepalives_interval": interval,
        "tcp_keepalives_count": 3,
        "tcp_user_timeout": max(1, int(link * 1000)),
    }
    return {
        "connect_timeout": max(2, math.ceil(link)),  # libpq's minimum is 2 s
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": 3,
        "tcp_user_timeout": max(1, int(link * 1000)),
        "options": " ".join(f"-c {name}={value}" for name, value in settings.items()),
        # No server-side prepared statements (psycopg prepares a query after 5 runs): PostgreSQL
        # would soon plan it once for any parameters, and such a generic plan can be
        # disastrous on skewed data: `visibility >= $1` estimated at one row made a filter by
        # three feature values re-run its id subquery for each of 10^5 artifacts (47 s instead
        # of 0.1 s, tests/benchmarks/bench_annotate.py --postgres after ANALYZE).
        "prepare_threshold": None,
    }


def _postgres_bounded_waits(engine: Engine) -> None:
    """Connections that give up on a server silent for longer than the statement timeout
    plus the link timeout: the server itself would have answered (if only with its own
    timeout) by then, so it is frozen, or the network drops its answers."""
    import psycopg  # deferred: the PostgreSQL driver loads only for PostgreSQL instances

    limit = statement_timeout() + link_timeout()
    _WAIT_INTERVAL = getattr(psycopg.connection, "_WAIT_INTERVAL", 0.1)  # noqa: N806 - psycopg's

    class BoundedConnection(psycopg.Connection):
        # None: no limit here (a schema upgrade, which may build indexes for minutes)
        labshelf_wait_limit: float | None = limit

        def wait(
            self, gen: PQGen[T], interval: float = _WAIT_INTERVAL, timeout: float | None = None
        ) -> T:
            try:
                return super().wait(
                    gen, interval=interval, timeout=timeout or self.labshelf_wait_limit
                )
            except psycopg.OperationalError as exc:
                if timeout is not None or type(exc).__name__ != "_WaitTimeout":
                    raise
                self.close()  # the server rolls back whatever this connection began
                raise psycopg.OperationalError(
                    f"the server did not answer within {limit:g} s"
                ) from ServerSilent()

    @event.listens_for(engine, "do_connect")
    def connect(
        _dialect: Dialect, _record: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any]
    ) -> psycopg.Connection[Any]:
        return BoundedConnection.connect(*cargs, **cparams)


def engine_for(url: str | URL) -> Engine:
    """The process-wide engine of a database URL (created once)."""
    key = _url_key(url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            parsed = make_url(key)
            if parsed.get_backend_name() == "sqlite":
                file = _sqlite_file(parsed)
                engine = create_engine(parsed, connect_args={"timeout": sqlite_lock_wait()})
                _sqlite_pragmas(engine, file)
                if file is not None:
                    _files[key] = file
            else:
                engine = create_engine(
                    parsed,
                    pool_pre_ping=True,
                    pool_size=5,
                    max_overflow=10,
                    connect_args=_postgres_connect_args(),
                )
                _postgres_bounded_waits(engine)
            _engines[key] = engine
            reader = engine.execution_options(isolation_level="AUTOCOMMIT", labshelf_reader=True)
            _makers[key] = (
                sessionmaker(reader, expire_on_commit=False, autoflush=False),
                sessionmaker(engine, expire_on_commit=False, autoflush=False),
            )
        return engine


def end_read(session: Session) -> None:
    """Give a reader session's connection back to the pool (nothing is written)."""
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

    def rows(self, engine: Engine, **params: Any) -> list[tuple[Any, ...]]:
        return self._rows(engine, params, again=True)

    def _rows(self, engine: Engine, params: dict[str, Any], again: bool) -> list[tuple[Any, ...]]:
        compiled = self._compiled.get(engine.dialect.name)
        if compiled is None:
            compiled = self.statement.compile(dialect=engine.dialect)
            self._compiled[engine.dialect.name] = compiled
        values = compiled.construct_params(params)
        if compiled.positiontup is not None:
            values = tuple(values[name] for name in compiled.positiontup)
        dbapi_error = engine.dialect.loaded_dbapi.Error
        sql = str(compiled)
        held = None
        try:
            held = _probe_connections.get(engine)
            conn = held if held is not None else engine.raw_connection()
        except dbapi_error as exc:  # the server cannot be reached: say so, as the ORM would
            raise DBAPIError.instance(sql, values, exc, dbapi_error) from exc
        cursor = None
        try:
            cursor = conn.cursor()
            cursor.execute(sql, values)
            return cast(list[tuple[Any, ...]], cursor.fetchall())  # DBAPI stubs: a Sequence
        except dbapi_error as exc:  # a broken pooled connection: drop it, let retrying() retry
            error = DBAPIError.instance(sql, values, exc, dbapi_error, connection_invalidated=True)
            if held is None:
                conn.invalidate()
                raise error from exc
            lost = _is_disconnect(engine, exc, conn, cursor)
            _probe_connections.drop(engine)  # (closes it)
            if again and lost and not timed_out(error):
                # The held connection died while it waited (a server restart): a pooled one is
                # checked (pre-ping) when taken, so once more on a fresh one.
                return self._rows(engine, params, again=False)
            raise error from exc
        finally:
            if held is None:
                conn.close()  # back to the pool (which ends any implicit transaction)


def _is_disconnect(engine: Engine, exc: Any, conn: Any, cursor: Any) -> bool:
    """Whether ``exc`` says the connection ``conn`` is gone (the dialect's judgement)."""
    try:
        return bool(engine.dialect.is_disconnect(exc, conn.dbapi_connection, cursor))
    except (AttributeError, TypeError):  # (a dialect that cannot tell: not a disconnect)
        return False


class _ProbeConnections:
    """One pooled connection per engine kept checked out for the main thread's
    ``RawStatement`` probes.

    A script registering files one ``Artifact()`` at a time probes once per file; taking a
    connection from the pool and giving it back (a rollback on return) cost as much as the
    probe itself on SQLite, and four more round trips than the probe on PostgreSQL (3,000
    ``Artifact()``s: 15,000 waits on the server, 0.78 ms per file). The held connection is
    in autocommit mode, so a probe never holds a read transaction or an old snapshot:
    SQLite's connections are (``isolation_level = None``), a PostgreSQL one is switched to it
    when taken (never idle in a transaction; it is closed, not pooled, when let go). Only the
    main thread (a pool's size is never taken by threads that come and go). ``dispose_all``,
    a fork and a failed probe let go of them."""

    def __init__(self) -> None:
        # id(engine) -> (engine, the engine's pool when taken, connection)
        self.held: dict[int, tuple[Engine, Any, Any]] = {}
        self.pid = os.getpid()
        self.stale = False  # disposed from another thread: let go at the next probe
        self.forked: list[Any] = []  # a parent's connections: never used nor closed here

    def get(self, engine: Engine) -> Any:
        if (
            engine.dialect.name not in HELD_PROBE_DIALECTS
            or threading.current_thread() is not _MAIN
        ):
            return None
        if self.pid != os.getpid():  # a forked child: the parent's connections are not ours
            self.forked.extend(self.held.values())
            self.held, self.pid = {}, os.getpid()
        if self.stale:
            self.clear()
        found = self.held.get(id(engine))
        if found is not None and found[0] is engine and found[1] is engine.pool:
            return found[2]
        if found is not None:  # the engine was disposed: its old connection goes
            self.drop(engine)
        conn = engine.raw_connection()
        if engine.dialect.name == "postgresql":
            try:
                dbapi: Any = conn.dbapi_connection  # (psycopg's: it has autocommit)
                dbapi.rollback()  # (whatever a checkout hook began)
                dbapi.autocommit = True
            except BaseException:
                conn.invalidate()
                raise
        self.held[id(engine)] = (engine, engine.pool, conn)
        return conn

    def drop(self, engine: Engine) -> None:
        found = self.held.pop(id(engine), None)
        if found is not None:
            with contextlib.suppress(Exception):
                found[2].invalidate()  # closes it: a probe's connection is never pooled again

    def clear(self) -> None:
        """Close every held connection (in the main thread; elsewhere at its next probe: a
        connection is used only by the main thread)."""
        if threading.current_thread() is not _MAIN:
            self.stale = True
            return
        self.stale = False
        held, self.held = self.held, {}
        if self.pid != os.getpid():
            self.forked.extend(held.values())
            return
        for _engine, _pool, conn in held.values():
            with contextlib.suppress(Exception):
                conn.invalidate()


_MAIN = threading.main_thread()
HELD_PROBE_DIALECTS = ("sqlite", "postgresql")  # the dialects whose probes keep a connection
_probe_connections = _ProbeConnections()


def sessionmakers(url: str | URL) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(reader, writer) session factories of a database."""
    engine_for(url)
    key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return _makers[key]


def dispose_all() -> None:
    """Close every session and engine of this process (used by disconnect and tests)."""
    with _lock:
        _probe_connections.clear()
        for engine in _engines.values():
            engine.dispose()
        _makers.clear()
        _engines.clear()
        _files.clear()


def _orig_text(exc: DBAPIError) -> str:
    return str(exc.orig).lower() if exc.orig is not None else str(exc).lower()


def is_lock_wait(exc: BaseException) -> bool:
    """SQLite's write lock is held by another connection."""
    return isinstance(exc, OperationalError) and any(
        s in _orig_text(exc) for s in ("database is locked", "database is busy")
    )


def timed_out(exc: BaseException) -> str | None:
    """Which time limit ended the operation: "statement" (the server cancelled it), "link"
    (the server or the network to it went silent), or None."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if orig is not None and isinstance(orig.__cause__, ServerSilent):
        return "link"
    text = _orig_text(exc)
    if getattr(orig, "sqlstate", None) == "57014" and "statement timeout" in text:
        return "statement"
    if "timed out" in text or "timeout expired" in text:
        return "link"
    return None


def is_transient(exc: BaseException) -> bool:
    """A lock/serialization/connection error that a retry may cure (not a time limit: a
    retry would wait as long again)."""
    if timed_out(exc):
        return False
    if isinstance(exc, OperationalError):
        text = _orig_text(exc)
        return any(
            s in text
            for s in ("database is locked", "database is busy", "deadlock", "could not serialize")
        )
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def retrying(fn: Callable[[], T], *, what: str, attempts: int = WRITE_RETRIES) -> T:
    """Run ``fn`` again with jittered backoff while it fails with a transient DB error;
    waits for SQLite's write lock end ``sqlite_lock_wait()`` seconds after the first try."""
    delay = 0.02
    start = time.monotonic()
    outer = getattr(_write_deadline, "at", None)
    deadline = outer if outer is not None else start + sqlite_lock_wait()
    _write_deadline.at = deadline
    try:
        for attempt in range(attempts):
            try:
                return fn()
            except DBAPIError as exc:
                if is_lock_wait(exc):
                    left = deadline - time.monotonic()
                    if left < 0.05 or attempt == attempts - 1:
                        raise DatabaseError(
                            f"Another process holds the database's write lock, so labshelf "
                            f"stopped {what} after waiting {time.monotonic() - start:.0f} s and "
                            f"changed nothing; try again once that process has finished"
                        ) from exc
                    time.sleep(min(left, delay * (1 + random.random())))
                elif not is_transient(exc) or attempt == attempts - 1:
                    raise as_database_error(exc, what) from exc
                else:
                    time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")
    finally:
        _write_deadline.at = outer


def as_database_error(exc: DBAPIError, what: str) -> DatabaseError:
    """A one-sentence error for a low-level database failure (no URL, no password)."""
    limit = timed_out(exc)
    if limit == "statement":
        return DatabaseError(
            f"The database took longer than {statement_timeout():g} s while {what}, so it was "
            f"cancelled and nothing was changed"
        )
    if limit == "link":
        if exc.orig is not None and isinstance(exc.orig.__cause__, ServerSilent):
            seconds = statement_timeout() + link_timeout()
        elif "timeout expired" in _orig_text(exc):  # libpq's connect_timeout
            seconds = float(_postgres_connect_args()["connect_timeout"])
        else:
            seconds = link_timeout()
        return DatabaseError(
            f"The database server did not answer within {seconds:g} s while {what}; the server "
            f"may be frozen or the network to it down"
        )
    orig = exc.orig if exc.orig is not None else exc
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if "readonly database" in first_line.lower():
        return DatabaseError(
            f"The database is read-only here, so labshelf cannot change it ({what}); reading, "
            "queries and load() work: save where it is writable"
        )
    return DatabaseError(f"The database failed while {what}: {first_line}")


CHANGES_CHANNEL = "labshelf_changes"  # PostgreSQL: LISTEN here to hear about writes


def notify_changes(session: Session) -> None:
    """PostgreSQL: tell the listeners of ``CHANGES_CHANNEL`` (an open window on the same
    database, see ``ChangeFeed``) that this transaction wrote. The server delivers it at
    commit, once per transaction, and never for a transaction rolled back. SQLite needs no
    message: its readers see a changed ``data_version``."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANGES_CHANNEL}"))


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """One write transaction on a writer session: committed or rolled back, then emptied.
    A committed write is announced to other processes (``notify_changes``)."""
    session.connection(execution_options={"labshelf_write": True})
    try:
        yield session
        notify_changes(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class ChangeFeed:
    """Hears when a database changes, for a window that shows it live: PostgreSQL through
    LISTEN on ``CHANGES_CHANNEL`` (every labshelf write transaction notifies it), SQLite by
    polling ``PRAGMA data_version``, which changes when another connection commits. One
    connection of its own, used by one thread; ``close()`` ends it.

    ``wait(timeout)`` returns True once something changed (possibly a write the caller made
    itself: callers compare what they show), False after ``timeout`` seconds without a
    change; a lost connection raises ``DatabaseError`` (make a new feed to go on)."""

    SQLITE_POLL = 0.25  # seconds between two data_version probes

    def __init__(self, url: str | URL) -> None:
        self.url = make_url(url) if isinstance(url, str) else url
        self._pg: Any = None
        self._sqlite: Any = None
        self._version: int | None = None
        try:
            if self.url.get_backend_name() == "postgresql":
                self._listen()
            else:
                self._open_sqlite()
        except Exception as exc:  # any driver error: one sentence
            raise DatabaseError(f"Could not follow the database's changes: {exc}") from exc

    def _listen(self) -> None:
        import psycopg  # deferred: the PostgreSQL driver loads only for PostgreSQL instances

        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        link = link_timeout()
        self._pg = psycopg.connect(
            dsn,
            autocommit=True,
            connect_timeout=max(2, math.ceil(link)),
            keepalives=1,
            keepalives_idle=max(1, int(link / 3)),
            keepalives_interval=max(1, int(link / 6)),
            keepalives_count=3,
        )
        self._pg.execute(f"LISTEN {CHANGES_CHANNEL}")

    def _open_sqlite(self) -> None:
        import sqlite3
        from pathlib import Path

        uri = Path(self.url.database or "").resolve().as_uri() + "?mode=ro"
        self._sqlite = sqlite3.connect(uri, uri=True, timeout=1.0)
        self._version = self._data_version()

    def _data_version(self) -> int:
        return int(self._sqlite.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> bool:
        """True as soon as the database changed, False after ``timeout`` seconds."""
        try:
            if self._pg is not None:
                heard = list(self._pg.notifies(timeout=timeout, stop_after=1))
                if heard:  # and the rest of a burst, without waiting
                    list(self._pg.notifies(timeout=0.0))
                return bool(heard)
            deadline = time.monotonic() + timeout
            while True:
                version = self._data_version()
                if version != self._version:
                    self._version = version
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(self.SQLITE_POLL, left))
        except Exception as exc:  # a lost connection: one sentence
            self.close()
            raise DatabaseError(f"Lost the database's change feed: {exc}") from exc

    def close(self) -> None:
        for conn in (self._pg, self._sqlite):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._pg = self._sqlite = None
