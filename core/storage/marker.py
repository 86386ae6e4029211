"""The catalog marker: which catalog manages a storage root.

``<root>/.labshelf/catalog.json`` names the instance (its id and name) and the kind of its
database, and where the database can be reached when that is not private to one machine: a
SQLite file inside the root, or a PostgreSQL server (host, port and database name; never a
user name or password). It is written when a catalog first uses a root (``init``, or its
first object there) and never changed afterwards: a second catalog that finds another id in
it does not manage the root (see ``instance``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import StorageError
from ..keys import OBJECTS_DIR
from .base import Backend, Expected, Progress, Reuse, Source

MARKER_NAME = "catalog.json"
MARKER_KEY = f"{OBJECTS_DIR}/{MARKER_NAME}"


@dataclass
class Marker:
    """What the marker of a storage root says (no secrets)."""

    instance_id: str
    instance_name: str
    database: str  # "sqlite" or "postgresql"
    database_in_storage: bool = False  # a SQLite file under this root
    database_server: str | None = None  # PostgreSQL: postgresql+psycopg://host:port/db
    created_at: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps({"labshelf_catalog": 1, **asdict(self)}, indent=2).encode()

    @classmethod
    def parse(cls, data: bytes, where: str) -> Marker:
        try:
            raw = json.loads(data)
            return cls(
                instance_id=str(raw["instance_id"]),
                instance_name=str(raw.get("instance_name") or "?"),
                database=str(raw.get("database") or "?"),
                database_in_storage=bool(raw.get("database_in_storage")),
                database_server=raw.get("database_server") or None,
                created_at=str(raw.get("created_at") or ""),
            )
        except (ValueError, KeyError, TypeError):
            raise StorageError(
                f"The catalog marker {where} is damaged, so labshelf cannot tell which catalog "
                "manages this storage; if you know that no other catalog uses it, delete that "
                "file and try again."
            ) from None

    def how_to_connect(self, root: str) -> str:
        """How to use the catalog this marker names instead (a sentence part)."""
        if self.database == "postgresql" and self.database_server:
            return f"connect to it with ls.connect('{self.database_server}') (add your user name)"
        if self.database_in_storage:
            return f"connect to it with ls.connect('{root}') (`labshelf connect {root}`)"
        return (
            "its database is a SQLite file on the computer of whoever created it, so only they "
            "can connect to it; a catalog several people share needs a PostgreSQL database"
        )


def new_marker(
    instance_id: str,
    instance_name: str,
    database: str,
    *,
    database_in_storage: bool,
    database_server: str | None,
) -> Marker:
    return Marker(
        instance_id,
        instance_name,
        database,
        database_in_storage,
        database_server,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def read_marker(backend: Backend) -> Marker | None:
    """The marker of a storage root, or None if none was written there."""
    data = backend.read_bytes(MARKER_KEY)
    return None if data is None else Marker.parse(data, backend.url(MARKER_KEY))


def write_marker(backend: Backend, marker: Marker) -> Marker:
    """Write ``marker`` unless the root has one already; the marker the root holds now."""
    if backend.write_new(MARKER_KEY, marker.to_bytes()):
        return marker
    found = read_marker(backend)
    return found if found is not None else marker


class RootGuard:
    """What one catalog may do under the roots it meets: write where the marker names it (or
    where there is no marker yet: its first object there writes one), never where the marker
    names another catalog. Markers are read once per root and process."""

    def __init__(self, instance_id: str | None, make_marker: Callable[[], Marker]):
        self.instance_id = instance_id
        self.make_marker = make_marker
        self._owners: dict[str, Marker | None] = {}
        self._lock = threading.Lock()

    def owner(self, backend: Backend) -> Marker | None:
        """The marker of ``backend``'s root (None: no marker), read once."""
        with self._lock:
            if backend.root in self._owners:
                return self._owners[backend.root]
        found = read_marker(backend)
        with self._lock:
            self._owners[backend.root] = found
        return found

    def is_foreign(self, backend: Backend) -> bool:
        found = self.owner(backend)
        return found is not None and found.instance_id != self.instance_id

    def before_write(self, backend: Backend, *, claim: bool) -> None:
        """Refuse a write under a root another catalog manages; with ``claim``, write this
        catalog's marker first where there is none."""
        found = self.owner(backend)
        if found is None and claim and self.instance_id is not None:
            found = write_marker(backend, self.make_marker())
            with self._lock:
                self._owners[backend.root] = found
        if found is not None and found.instance_id != self.instance_id:
            raise foreign_storage_error(backend.root, found)


def foreign_storage_error(root: str, marker: Marker) -> StorageError:
    return StorageError(
        f"The storage {root} is managed by another catalog ('{marker.instance_name}', id "
        f"{marker.instance_id}), so this catalog only registers and reads the files there and "
        "never writes, moves or deletes anything in it; save copies to a storage of this "
        "catalog's own (storage=ls.Storage('...').save()), or " + marker.how_to_connect(root)
    )


class GuardedBackend:
    """A backend whose writes (``put``, ``move``, ``remove``) ask a ``RootGuard`` first;
    everything else is the backend's own."""

    def __init__(self, inner: Backend, guard: RootGuard):
        self.inner = inner
        self.guard = guard

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"GuardedBackend({self.inner!r})"

    def put(
        self,
        source: Source,
        key: str,
        expected: Expected,
        progress: Progress,
        reuse: Reuse | None = None,
    ) -> None:
        self.guard.before_write(self.inner, claim=True)
        self.inner.put(source, key, expected, progress, reuse)

    def move(self, old: str, new: str) -> None:
        self.guard.before_write(self.inner, claim=True)
        self.inner.move(old, new)

    def remove(self, key: str) -> None:
        self.guard.before_write(self.inner, claim=False)
        self.inner.remove(key)
