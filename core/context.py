"""The current instance's thread-local session, user and default storage."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from .db import end_read, retrying, write_transaction
from .instance import Instance, current, user_handle
from .models import Storage, User
from .uids import UID_LENGTHS, base62

T = TypeVar("T")


def session() -> Session:
    """This thread's home session on the current instance."""
    return current().session()


def read(fn: Callable[[Session], T], *, what: str = "reading") -> T:
    """Run ``fn(home_session)``: autocommit reads, retried on transient errors; the
    connection goes back to the pool afterwards."""

    def attempt() -> T:
        s = session()
        try:
            return fn(s)
        finally:
            end_read(s)

    return retrying(attempt, what=what)


def release_session() -> None:
    """Forget this thread's records and sessions (a pool thread between tasks).

    Reads already hand their connection back and every query refreshes the rows it
    returns, so this only frees the records the thread still holds."""
    from .db import sessions_for

    inst = current()
    for scoped in sessions_for(inst.url):
        scoped.remove()


def write(fn: Callable[[Session], T], *, what: str = "saving") -> T:
    """Run ``fn(writer_session)`` in one write transaction, retried as a whole."""

    def attempt() -> T:
        with write_transaction(current().writer()) as s:
            return fn(s)

    return retrying(attempt, what=what)


def user_id(s: Session | None = None) -> int:
    """The id of the current user's row, created on first use."""
    inst = current()
    handle = user_handle()
    cached = getattr(inst, "_user_cache", None)
    if cached and cached[0] == handle:
        return cached[1]
    uid = _ensure_user(inst, handle)
    inst._user_cache = (handle, uid)
    return uid


def _ensure_user(inst: Instance, handle: str) -> int:
    engine = inst.engine()
    for _ in range(3):
        with engine.connect() as conn:
            found = conn.execute(select(User.id).where(User.handle == handle)).scalar()
        if found is not None:
            return found
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(User).values(uid=base62(UID_LENGTHS["user"]), handle=handle, name=None)
                )
        except SAIntegrityError:
            continue  # another process created it meanwhile
    raise RuntimeError(f"could not create the user row for '{handle}'")


def ensure_default_storage(inst: Instance) -> int:
    """The id of the instance's default storage row, created if missing."""
    root = inst.config.storage
    engine = inst.engine()
    with engine.connect() as conn:
        found = conn.execute(select(Storage.id).where(Storage.root == root)).scalar()
        if found is not None:
            return found
    from .storage import storage_type

    uid_ = _ensure_user(inst, user_handle())
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Storage).values(
                    uid=base62(UID_LENGTHS["storage"]),
                    root=root,
                    type=storage_type(root),
                    created_by_id=uid_,
                    description=f"default storage of instance {inst.name}",
                )
            )
    except SAIntegrityError:
        pass
    with engine.connect() as conn:
        return conn.execute(select(Storage.id).where(Storage.root == root)).scalar_one()


STORAGE_LIST_TTL = 10.0  # seconds; storage roots are added rarely


def storage_roots() -> list[Any]:
    """(id, root) of every registered storage, cached briefly per instance."""
    inst = current()
    cached = getattr(inst, "_storage_list", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > STORAGE_LIST_TTL:
        rows = read(
            lambda s: s.connection().execute(select(Storage.id, Storage.root)).all(),
            what="listing storages",
        )
        cached = (now, rows)
        inst._storage_list = cached
    return cached[1]


def forget_storage_list() -> None:
    """Call after registering a storage so the next lookup sees it."""
    inst = current()
    inst._storage_list = None


def default_storage_id() -> int:
    return current()._default_storage_id


def default_storage() -> Storage:
    inst = current()
    sid = inst._default_storage_id
    return read(lambda s: s.get(Storage, sid), what="reading the default storage")
