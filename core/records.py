"""Records: what every registry's record can do, and the generic persistence behind it.

A record is a plain, *detached* object (see ``session``): it is never attached to a session
between calls, so any record — saved, fetched, returned by a QuerySet, made in another
thread — can be kept and passed to any later call. Equality is by registry and id
(``ls.Transform.get(t.uid) == t``).

What can go stale: a record is a snapshot of its row when it was read or saved. Another
process, or another record object of the same row, may change the row later; fields such as
``is_latest`` (a newer version was saved), ``visibility`` (moved to the trash elsewhere),
``description`` or ``key`` then read old values until ``x.refresh()`` re-reads them.
labshelf itself keeps the objects it is handed up to date: ``revises=old`` flips
``old.is_latest``, ``delete()``/``restore()`` update the record they are called on.

Writes are Core statements in one short transaction each: ``insert_record`` for a new plain
record (user, storage, run, transform), ``save_edits`` for attribute edits, and the trash /
restore / delete helpers for versioned registries.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state
from sqlalchemy.orm.instrumentation import manager_of_class

from . import registry, schema
from .describe import describe as describe_record
from .describe import short_repr
from .errors import DoesNotExist, InvalidArgument
from .humanize import describe_char, nfc, printable, unsafe_char
from .log import say
from .query import QuerySet, get, lookup
from .relations import columns_of, relations_of
from .schema import TRASH, VISIBLE, utcnow
from .session import read, user_id, write
from .uids import base62, new_stem, versioned_uid
from .versioning import recompute_latest

if TYPE_CHECKING:
    import pandas as pd


class Base(DeclarativeBase):
    """The declarative base of the record classes (their tables are in ``schema``)."""

    metadata = schema.metadata


class Record:
    """Behaviour shared by the records of every registry."""

    if TYPE_CHECKING:  # mapped by each registry's class; declared here for type checkers
        id: int | None
        uid: str | None
        __table__: ClassVar[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.bind(cls)

    def __init__(self, *args: Any, **fields: Any):
        """A new, unsaved record from keyword fields (relations take saved records)."""
        name = type(self).__name__
        if args:
            raise InvalidArgument(
                f"{name}() takes keyword fields only, e.g. {name}({_example(type(self))}=...); "
                f"got {len(args)} positional argument(s)."
            )
        columns, relations = columns_of(type(self)), relations_of(type(self))
        unknown = sorted(set(fields) - set(columns) - set(relations) - {"id"})
        if unknown or "id" in fields:
            valid = sorted((set(columns) | set(relations)) - {"id"})
            raise InvalidArgument(
                f"{name}() got unknown field(s) {unknown or ['id']}; fields are {valid}."
            )
        for key, value in fields.items():
            setattr(self, key, value)

    # -- identity

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        mine, theirs = self.__dict__.get("id"), other.__dict__.get("id")
        return mine is not None and mine == theirs

    def __hash__(self) -> int:
        id_ = self.__dict__.get("id")
        return hash((type(self).__name__, id_)) if id_ is not None else object.__hash__(self)

    def __repr__(self) -> str:
        return short_repr(self)

    def _repr_html_(self) -> str:
        """A compact table of the record's fields (Jupyter)."""
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(_cell(v))}</td></tr>"
            for k, v in _display_fields(self)
        )
        return f"<b>{type(self).__name__}</b><table>{rows}</table>"

    # -- queries

    @classmethod
    def filter(cls, *conditions: Any, **lookups: Any) -> QuerySet:
        return QuerySet(cls).filter(*conditions, **lookups)

    @classmethod
    def exclude(cls, **lookups: Any) -> QuerySet:
        return QuerySet(cls).exclude(**lookups)

    @classmethod
    def all(cls) -> QuerySet:
        return QuerySet(cls)

    @classmethod
    def get(cls, uid_or_prefix: str | None = None, **lookups: Any) -> Self:
        return get(cls, uid_or_prefix, **lookups)

    @classmethod
    def search(cls, text: str) -> QuerySet:
        return QuerySet(cls).search(text)

    @classmethod
    def df(
        cls, include: list[str] | None = None, limit: int = 100, features: list[str] | None = None
    ) -> pd.DataFrame:
        qs = QuerySet(cls).order_by("-created_at")._clone(limit=limit)
        return qs.df(include=include, features=features)

    to_dataframe = df

    @classmethod
    def lookup(cls, field: str | None = None) -> Any:
        return lookup(cls, field)

    # -- saving

    def save(self) -> Self:
        """Save this record (insert it, or write its edited fields) and return it."""
        if self.__dict__.get("id") is None:
            insert_record(self)
        else:
            save_edits(self)
        return self

    def refresh(self) -> Self:
        """Read this record's fields from the database again."""
        if self.__dict__.get("id") is None:
            raise InvalidArgument(f"This {type(self).__name__.lower()} is not saved yet.")
        refresh(self)
        return self

    def describe(self, print_it: bool = True) -> str:
        return describe_record(self, print_it=print_it)

    # hooks for describe(): extra (name, value) lines of the General, Labels & features and
    # Provenance sections
    def _describe_general(self) -> list[tuple[str, str]]:
        return []

    def _describe_annotations(self) -> list[tuple[str, str]]:
        return []

    def _describe_provenance(self) -> list[tuple[str, str]]:
        return []


class VersionedRecord(Record):
    """Registries with version families (``stem_uid``, ``version``, ``is_latest``)."""

    if TYPE_CHECKING:
        stem_uid: str | None
        is_latest: bool | None

    @property
    def versions(self) -> QuerySet:
        """The family, oldest first (the trash excluded)."""
        qs = type(self).filter(stem_uid=self.stem_uid)
        if registry.registry_of(self).has_trash:
            qs = qs.filter(visibility__in=[schema.HIDDEN, VISIBLE])
        return qs.order_by("uid")


class TrashableRecord(VersionedRecord):
    """Versioned registries with a trash (``visibility``): artifacts and collections."""

    if TYPE_CHECKING:
        visibility: int | None

    def delete(self, permanent: bool = False) -> None:
        if permanent:
            delete_permanently(self)
        else:
            trash(self)

    def restore(self) -> Self:
        restore(self)
        return self


# ---------------------------------------------------------------- display helpers


def _example(model: type) -> str:
    return registry.registry_of(model).name_field


def _display_fields(rec: Any) -> list[tuple[str, Any]]:
    spec = registry.registry_of(rec)
    hidden = {"id", "source_code", "stem_uid"}
    return [
        (k, getattr(rec, k))
        for k in spec.fields
        if k not in hidden and not k.endswith("_id") and getattr(rec, k) is not None
    ]


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# ---------------------------------------------------------------- persistence


def column_defaults(table: Any) -> dict[str, Any]:
    """The Python-side default of every column that has one (now() for timestamps)."""
    out: dict[str, Any] = {}
    for col in table.columns:
        default = col.default
        if default is None:
            continue
        out[col.key] = default.arg(None) if default.is_callable else default.arg
    return out


def fill_new(obj: Any) -> dict[str, Any]:
    """Column values for inserting ``obj``: its own fields, a uid and stem if missing, the
    current user, and the columns' defaults."""
    model = type(obj)
    spec = registry.registry_of(model)
    values = {k: obj.__dict__.get(k) for k in columns_of(model) if k != "id"}
    if values.get("uid") is None:
        values["uid"] = (
            versioned_uid(new_stem(spec.uid_length), 0)
            if spec.versioned
            else base62(spec.uid_length)
        )
    if spec.versioned and values.get("stem_uid") is None:
        values["stem_uid"] = values["uid"][:-4]
    if "created_by_id" in values and values["created_by_id"] is None:
        values["created_by_id"] = user_id()
    for key, default in column_defaults(spec.table).items():
        if values.get(key) is None:
            values[key] = default
    return values


def as_saved(obj: Any, values: dict[str, Any]) -> None:
    """Turn a new object into a saved, detached record holding ``values`` (every column).

    The values are set as saved values, without the attribute listeners that check what a
    user sets (``checked_names``): a row is shown as it is stored."""
    for key, value in values.items():
        set_committed_value(obj, key, value)
    for key in columns_of(type(obj)):
        if key not in obj.__dict__:
            set_committed_value(obj, key, None)
    if instance_state(obj).key is None:
        make_transient_to_detached(obj)


def blank(model: type) -> Any:
    """A new, empty record of ``model`` made without the registry's constructor (which may
    look things up or refuse missing fields)."""
    configure_mappers()  # once per process; the constructor would have done it
    return manager_of_class(model).new_instance()


def record_from_row(model: type, row: Any) -> Any:
    """A saved, detached record of ``model`` holding a row (a mapping of every column)."""
    obj = blank(model)
    as_saved(obj, dict(row))
    return obj


def sync(obj: Any, **values: Any) -> None:
    """Set fields on a record as saved values (no pending edit)."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def checked_names(*attributes: tuple[Any, str]) -> None:
    """Check every value set on these (attribute, what) pairs, at construction and on edits:
    names are shown in lists and terminals, so they hold no control, text-direction or
    invisible character (a description may: it is escaped wherever it is shown)."""
    for attribute, what in attributes:
        event.listen(attribute, "set", _name_check(what), retval=True)


def _name_check(what: str) -> Callable[[Any, Any, Any, Any], Any]:
    def check(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        if isinstance(value, str):
            bad = unsafe_char(value)
            if bad is not None:
                raise InvalidArgument(
                    f"The {what} '{printable(value[:200])}' contains the character "
                    f"{describe_char(bad)}; names cannot hold control, text-direction or "
                    "invisible characters."
                )
            return nfc(value)  # one form for equal-looking names (macOS sends NFD)
        return value

    return check


def nfc_text(*attributes: Any) -> None:
    """Keep free text set on these attributes in Unicode NFC, so that search finds it
    whatever form it came in (macOS sends NFD)."""
    for attribute in attributes:
        event.listen(attribute, "set", _nfc_value, retval=True)


def _nfc_value(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
    return nfc(value) if isinstance(value, str) else value


def publish_lock(s: Session) -> None:
    """Serialize writes that move ``is_latest`` across processes (SQLite's BEGIN IMMEDIATE
    already does; PostgreSQL takes a transaction-level advisory lock)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(7231)"))


def insert_record(obj: Any) -> Any:
    """Insert a new record of a registry without files (transform, run, user, storage)."""
    model = type(obj)
    spec = registry.registry_of(model)
    values = fill_new(obj)
    table = spec.table

    def run(s: Session) -> tuple[int, bool | None]:
        if spec.versioned:
            publish_lock(s)
        new_id = s.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
        latest = None
        if spec.versioned:
            recompute_latest(s, model, [values["stem_uid"]])
            latest = s.execute(select(table.c.is_latest).where(table.c.id == new_id)).scalar()
        return int(new_id), latest

    new_id, latest = write(run, what=f"saving {spec.key} {values['uid']}")
    values["id"] = new_id
    if latest is not None:
        values["is_latest"] = bool(latest)
    as_saved(obj, values)
    return obj


def pending_edits(obj: Any) -> dict[str, Any]:
    """The fields of a saved record that were set since it was read or saved."""
    state = instance_state(obj)
    columns = columns_of(type(obj))
    return {
        attr.key: attr.value
        for attr in state.attrs
        if attr.key in columns and attr.history.has_changes()
    }


def save_edits(obj: Any) -> Any:
    """Write the edited fields of a saved record."""
    changes = pending_edits(obj)
    if not changes:
        return obj
    model = type(obj)
    if "id" in changes or "uid" in changes:
        raise InvalidArgument(
            f"The id and uid of {model.__name__.lower()} {obj.uid} cannot change."
        )
    if "updated_at" in columns_of(model):
        changes["updated_at"] = utcnow()
    table = registry.registry_of(model).table

    def run(s: Session) -> int:
        result = s.execute(update(table).where(table.c.id == obj.id).values(**changes))
        return int(result.rowcount)  # type: ignore[attr-defined]

    if write(run, what=f"saving {model.__name__.lower()} {obj.uid}") == 0:
        raise DoesNotExist(
            f"The {model.__name__.lower()} {obj.uid} no longer exists; it was deleted."
        )
    sync(obj, **changes)
    return obj


def refresh(obj: Any) -> None:
    """Read every column of ``obj``'s row again; forget cached related records."""
    model = type(obj)
    table = registry.registry_of(model).table
    row = read(
        lambda s: s.execute(select(table).where(table.c.id == obj.id)).mappings().first(),
        what=f"reading {model.__name__.lower()} {obj.uid}",
    )
    if row is None:
        raise DoesNotExist(f"The {model.__name__.lower()} {obj.uid} no longer exists.")
    sync(obj, **dict(row))
    for rel in relations_of(model).values():
        obj.__dict__.pop(rel.cache, None)


def latest_flags(model: type, stems: list[str]) -> dict[int, bool]:
    """id → is_latest of every member of the families ``stems``."""
    table = registry.registry_of(model).table
    flags: dict[int, bool] = {}

    def q(s: Session) -> None:
        for i in range(0, len(stems), 500):
            rows = s.execute(
                select(table.c.id, table.c.is_latest).where(
                    table.c.stem_uid.in_(stems[i : i + 500])
                )
            ).all()
            flags.update({int(a): bool(b) for a, b in rows})

    read(q, what="reading version flags")
    return flags


def refresh_latest_flags(objs: list[Any]) -> None:
    """Bring ``is_latest`` of these records in line with the database."""
    if not objs:
        return
    flags = latest_flags(type(objs[0]), list({o.stem_uid for o in objs}))
    for o in objs:
        if o.id in flags:
            sync(o, is_latest=flags[o.id])


# ---------------------------------------------------------------- trash and delete


def trash(obj: Any) -> None:
    """Move a record (and only it) to the trash; its family's latest moves on."""
    model = type(obj)
    table = registry.registry_of(model).table

    def run(s: Session) -> None:
        publish_lock(s)  # is_latest moves: take turns with publishes of the same family
        s.execute(
            update(table).where(table.c.id == obj.id).values(visibility=TRASH, is_latest=False)
        )
        recompute_latest(s, model, [obj.stem_uid])

    write(run, what=f"moving {obj.uid} to the trash")
    sync(obj, visibility=TRASH, is_latest=False)
    say(f"moved {model.__name__.lower()} {obj.uid} to the trash; restore() brings it back")


def restore(obj: Any) -> None:
    model = type(obj)
    table = registry.registry_of(model).table

    def run(s: Session) -> None:
        publish_lock(s)
        s.execute(update(table).where(table.c.id == obj.id).values(visibility=VISIBLE))
        recompute_latest(s, model, [obj.stem_uid])

    write(run, what=f"restoring {obj.uid}")
    sync(obj, visibility=VISIBLE)
    refresh_latest_flags([obj])


def delete_row(obj: Any, before: Any = None, *, what: str) -> None:
    """Delete ``obj``'s row in one transaction (``before(session)`` runs first in it) and
    move its family's latest on; the record keeps its fields but loses its id."""
    model = type(obj)
    spec = registry.registry_of(model)
    table = spec.table

    def run(s: Session) -> None:
        publish_lock(s)
        if before is not None:
            before(s)
        s.execute(delete(table).where(table.c.id == obj.id))
        if spec.versioned:
            recompute_latest(s, model, [obj.stem_uid])

    write(run, what=what)


def delete_permanently(obj: Any) -> None:
    """Versioned records without files: the row goes (registries with files override)."""
    delete_row(obj, what=f"deleting {obj.uid}")
    say(f"deleted {type(obj).__name__.lower()} {obj.uid} permanently")


def referenced(model_table: Any, column: Any, record_id: int) -> int:
    """How many rows of a table point at a record through ``column``."""
    return int(
        read(
            lambda s: s.execute(
                select(func.count()).select_from(model_table).where(column == record_id)
            ).scalar_one()
        )
    )


def require_saved(obj: Any, what: str) -> None:
    if not isinstance(obj, Record) or obj.__dict__.get("id") is None:
        raise InvalidArgument(f"{what} must be a saved record.")
