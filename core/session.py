"""Short sessions, one per operation, on the current instance; the current user; the run that
saves and reads are linked to.

Records never live in a session between calls: ``read`` opens a session, runs the query and
closes it, so every record it returns is *detached* with all its fields loaded. A record is a
plain object: any thread may keep it, pass it to any later call or edit it; writes go through
``write`` as Core statements in one short transaction (see ``records``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from . import schema
from .config import user_handle
from .db import check_writable, end_read, retrying, sessionmakers, write_transaction
from .errors import LabshelfError
from .instance import Instance, current, ensure_user
from .log import warn

T = TypeVar("T")


def read(fn: Callable[[Session], T], *, what: str = "reading") -> T:
    """Run ``fn(session)`` in a fresh read session (autocommit, retried on transient
    errors); the records it returns are detached, with every column loaded."""

    def attempt() -> T:
        s = sessionmakers(current().url)[0]()
        try:
            return fn(s)
        finally:
            end_read(s)
            s.close()

    return retrying(attempt, what=what)


def write(fn: Callable[[Session], T], *, what: str = "saving") -> T:
    """Run ``fn(session)`` in one write transaction, retried as a whole."""

    def attempt() -> T:
        with write_transaction(sessionmakers(current().url)[1]()) as s:
            return fn(s)

    check_writable(current().url, what)  # its database file deleted or replaced: stop here
    return retrying(attempt, what=what)


# PostgreSQL plans a query by its tables' statistics, which autovacuum refreshes a while
# after a bulk write; until then a fresh bulk of rows is planned blind (a feature filter's
# first page at 10^5 artifacts: 110 ms before ANALYZE, 8 ms after). A write of at least this
# many rows into a table refreshes them at once.
ANALYZE_AFTER_ROWS = 5000


def refresh_statistics(tables: list[str], rows: int) -> None:
    """After a bulk write of ``rows`` rows into ``tables`` (labshelf's own table names):
    ANALYZE them on PostgreSQL (a sample: a fraction of a second at 10^6 rows). Best effort:
    a failure leaves the statistics to autovacuum."""
    if rows < ANALYZE_AFTER_ROWS or current().dialect != "postgresql":
        return
    names = ", ".join(f'"{name}"' for name in tables)

    def analyze(s: Session) -> None:
        s.execute(text(f"ANALYZE {names}"))

    try:
        write(analyze, what=f"refreshing the statistics of {names}")
    except LabshelfError as exc:
        warn(f"the statistics of {names} were not refreshed ({exc}); autovacuum will")


def instance() -> Instance:
    return current()


def user_id() -> int:
    """The id of the current user's row, created on first use."""
    return ensure_user(current(), user_handle())


def default_storage_id() -> int:
    inst = current()
    assert inst.default_storage_id is not None  # set when the instance was opened
    return inst.default_storage_id


def storage_roots() -> list[tuple[int, str]]:
    """(id, root) of every registered storage (read once per process; a storage registered
    by this process is seen at once)."""
    inst = current()
    with inst.lock:
        cached = inst.storage_list
    if cached is not None:
        return cached
    rows = read(
        lambda s: [
            (int(i), str(r))
            for i, r in s.execute(select(schema.storages.c.id, schema.storages.c.root))
        ],
        what="listing storages",
    )
    with inst.lock:
        inst.storage_list = rows
        inst.storage_roots.update(rows)
    return rows


def storage_root(storage_id: int) -> str:
    """The root of a storage row (cached per instance: roots never change)."""
    inst = current()
    root = inst.storage_roots.get(storage_id)
    if root is None:
        st = schema.storages
        root = read(
            lambda s: s.execute(select(st.c.root).where(st.c.id == storage_id)).scalar_one(),
            what="reading a storage",
        )
        inst.storage_roots[storage_id] = root
    return root


# ---------------------------------------------------------------- the active run

_run_lock = threading.Lock()
_active: dict[str, Any] = {"run": None, "source": None}
_noted: set[tuple[str, str]] = set()


def current_run() -> Any:
    """The run every save in this process links to, if one is active (a ``Run``)."""
    return _active["run"]


def current_source() -> Any:
    """What ``track()`` recorded about the calling script or notebook, if anything."""
    return _active["source"]


def set_current_run(run: Any, source: Any = None) -> Any:
    """Make ``run`` the process-wide active run (``None`` ends it); returns the previous."""
    with _run_lock:
        previous = _active["run"]
        _active["run"], _active["source"] = run, (source if run is not None else None)
    return previous


def note_input(record: Any) -> None:
    """Record that the active run read ``record`` (an artifact or a collection; never the
    run's own outputs)."""
    run = current_run()
    registry = type(record).__name__
    if run is None or registry not in ("Artifact", "Collection") or record.id is None:
        return
    if getattr(record, "run_id", None) == run.id:
        return
    marker = (run.uid, record.uid)  # uids, not ids: ids repeat across instances
    if marker in _noted:
        return
    is_artifact = registry == "Artifact"
    link = schema.run_input_artifacts if is_artifact else schema.run_input_collections
    column = link.c.artifact_id if is_artifact else link.c.collection_id

    def add(s: Session) -> None:
        exists = s.execute(
            select(link.c.id).where(link.c.run_id == run.id, column == record.id)
        ).first()
        if exists is None:
            s.execute(insert(link).values({"run_id": run.id, column.key: record.id}))

    write(add, what="recording a run input")
    _noted.add(marker)
