"""Alembic migrations of the labshelf schema, run programmatically.

``upgrade_if_needed`` reads the schema revision with one query and loads
Alembic only when there is something to do, so connecting stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from ..db import as_database_error, is_read_only, sqlite_path
from ..errors import DatabaseError
from ..log import say

HEAD = "0012"
KNOWN = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012",
)


def _alembic_config(connection: Connection) -> Any:  # -> alembic.config.Config
    from alembic.config import Config  # deferred: Alembic loads only when a migration runs

    cfg = Config()
    cfg.set_main_option("script_location", str(files("labshelf.migrations")))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(connection: Connection, revision: str = "head") -> None:
    from alembic import command  # deferred: see _alembic_config

    command.upgrade(_alembic_config(connection), revision)


@contextmanager
def _unbounded(conn: Connection) -> Iterator[None]:
    """No statement timeout and no client wait limit for this transaction (see labshelf.db: they
    bound ordinary statements, not a schema upgrade)."""
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    driver: Any = conn.connection.driver_connection  # db.py's BoundedConnection on PostgreSQL
    had = getattr(driver, "labshelf_wait_limit", None)
    if had is not None:
        driver.labshelf_wait_limit = None
    try:
        yield
    finally:
        if had is not None:
            driver.labshelf_wait_limit = had


def _no_catalog_message(engine: Engine, name: str) -> str:
    path = sqlite_path(engine.url)
    where = f"The database file {path}" if path else f"The database of instance '{name}'"
    return (
        f"{where} holds no labshelf catalog (it is empty); labshelf only creates a catalog on "
        "purpose: restore the database, re-point the instance with `labshelf init --storage "
        "ROOT --db URL`, or create a new catalog with `labshelf init --storage ROOT`"
    )


def _read_only_message(engine: Engine, rev: str | None) -> str:
    path = sqlite_path(engine.url)
    folder = path.parent if path is not None else "the database"
    if rev is None:
        return f"The folder {folder} is read-only here, so no catalog can be created in it"
    return (
        f"The catalog in {folder} is read-only here and has schema revision {rev}, older than "
        f"this labshelf's {HEAD}; open it once where it is writable, so that it is upgraded"
    )


def upgrade_if_needed(engine: Engine, name: str, *, create: bool) -> None:
    """Create the schema (``create=True``, ``init`` only) or upgrade an older one to ``HEAD``;
    an empty database is never given a schema otherwise."""
    try:
        with engine.connect() as conn:
            rev = current_revision(conn)
            if rev == HEAD:
                return
            if rev is not None and rev not in KNOWN:
                raise DatabaseError(
                    f"The database of instance '{name}' has schema revision {rev}, "
                    "newer than this labshelf knows; upgrade labshelf."
                )
            if rev is None and not create and inspect(conn).get_table_names():
                raise DatabaseError(
                    f"The database of instance '{name}' holds tables that are not a "
                    "labshelf schema; connect to an empty or a labshelf database."
                )
            if rev is None and not create:
                raise DatabaseError(_no_catalog_message(engine, name))
            if is_read_only(engine.url):
                raise DatabaseError(_read_only_message(engine, rev))
            if rev is not None:
                say(f"upgrading the schema of '{name}' from {rev} to {HEAD}")
        # SQLite: BEGIN IMMEDIATE, so a second process waits for the lock instead of failing
        # with "database is locked" when its read transaction tries to write
        with engine.execution_options(labshelf_write=True).begin() as conn:
            if conn.dialect.name == "postgresql":
                # processes opening a new instance together migrate one after the other (the
                # later ones find the schema at HEAD); concurrent CREATE TABLEs collide
                conn.execute(text("SELECT pg_advisory_xact_lock(7232)"))
                with _unbounded(conn):  # building an index on a big catalog may take minutes
                    upgrade(conn)
            else:
                upgrade(conn)
    except DBAPIError as exc:
        raise as_database_error(exc, f"opening instance '{name}'") from exc
