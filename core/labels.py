"""Labels: the ULabel registry, the labels of artifacts and collections (``x.ulabels``), and
the audit trail that labels and feature values share.

A label is a name (``DAPI``); a label with ``is_type=True`` groups others (``Stain`` ->
``DAPI``, ``GFP``), so labels form a tree. Names are unique within a type (and among the
labels without one). ``ls.ULabel("DAPI")`` returns the existing label of that name and type
when there is one, as ``ls.Artifact(path)`` returns the existing artifact of that content.

A record's labels are rows of its registry's link table (``artifact_ulabels``, …): plain
labels (``feature_id`` NULL) and the values of categorical features (``stain = DAPI``), so
``x.ulabels.all()``, ``filter(ulabels=…)`` and the label counts see both. Every change is one
transaction, and every added or removed label is an ``annotation_events`` row saying who, when
and in which run. On PostgreSQL the annotation writes of all processes take turns
(``annotation_lock``), so that "add unless present" never adds twice.

This layer sits below ``artifact`` and ``collection``, which use it when they are built and
published; the query layer learns the ``ulabels`` lookups and the label-name search through
``query.register_extension`` (it does not import this module).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, cast

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, text
from sqlalchemy.orm import Mapped, Session

from . import schema
from .errors import IntegrityError, InvalidArgument
from .log import say
from .query import (
    Extension,
    Model,
    QuerySet,
    any_of,
    compile_lookup,
    ids_in,
    register_extension,
)
from .records import Base, Record, as_saved, pending_edits, record_from_row, save_edits
from .registry import BY_NAME, REGISTRIES, Registry, registry_of
from .relations import Relation
from .schema import utcnow
from .session import current_run, read, refresh_statistics, user_id, write
from .uids import base62
from .users import User

NAME_MAX = 150
CHUNK = 2000  # ids per IN list (SQLite takes 32766 parameters)
L = schema.ulabels.c


# ---------------------------------------------------------------- who and when


@dataclass(frozen=True)
class Actor:
    """Who makes an annotation and in which run (read before a write transaction opens:
    creating the user's row is a write of its own)."""

    user_id: int
    run_id: int | None

    def stamp(self) -> dict[str, Any]:
        return {"created_by_id": self.user_id, "created_at": utcnow(), "run_id": self.run_id}


def actor(run: Any = None) -> Actor:
    """The current user and ``run`` (default: the active run of ``ls.track()``)."""
    run = run if run is not None else current_run()
    if run is not None and run.__dict__.get("id") is None:
        raise InvalidArgument("run= must be a saved run.")
    return Actor(user_id(), run.id if run is not None else None)


def annotation_lock(s: Session) -> None:
    """Annotation writes take turns on PostgreSQL (SQLite's BEGIN IMMEDIATE does already)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(7233)"))


def record_events(s: Session, spec: Registry, events: list[dict[str, Any]], who: Actor) -> None:
    """Append audit rows: ``events`` hold the record id under ``record``, ``action`` ("add",
    "remove" or "inherit"), and ``ulabel_id``/``feature_id``/``feature``/``value``."""
    if not events:
        return
    stamp = who.stamp()
    fk = f"{spec.key}_id"
    rows = [
        {
            "artifact_id": None,
            "collection_id": None,
            fk: e["record"],
            "action": e["action"],
            "ulabel_id": e.get("ulabel_id"),
            "feature_id": e.get("feature_id"),
            "feature": e.get("feature"),
            "value": e.get("value"),
            **stamp,
        }
        for e in events
    ]
    insert_rows(s, schema.annotation_events, rows)


def insert_rows(s: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in the session's transaction through the
    driver's executemany: SQLAlchemy's per-row parameter handling would cost several times
    the database's own work for the tens of thousands of values and audit rows of a table
    import. The columns' bind processors still convert each value (datetimes for SQLite)."""
    if not rows:
        return
    conn = s.connection()
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup) if compiled.positiontup is not None else keys
    processors = [
        (i, process)
        for i, k in enumerate(order)
        if (process := table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    memo: dict[int, tuple[Any, Any]] = {}  # the rows' shared stamp is processed once

    def converted(row: dict[str, Any]) -> tuple[Any, ...]:
        values = [row[k] for k in order]
        for i, process in processors:
            raw = values[i]
            if raw is None:
                continue
            seen = memo.get(i)
            if seen is None or seen[0] is not raw:
                seen = memo[i] = (raw, process(raw))
            values[i] = seen[1]
        return tuple(values)

    params: list[Any] = [converted(row) for row in rows]
    if dialect.name == "postgresql":
        # COPY: one stream instead of a statement per row (the server's own cost drops ~10x)
        columns = ", ".join(dialect.identifier_preparer.quote(k) for k in order)
        name = dialect.identifier_preparer.format_table(table)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
            for values in params:
                copy.write_row(values)
        return
    if compiled.positiontup is None:
        params = [dict(zip(order, p, strict=True)) for p in params]
    conn.exec_driver_sql(str(compiled), params)


def chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


# ---------------------------------------------------------------- the registry


class ULabel(Record, Base):
    """A label; with ``is_type=True`` a type that groups other labels."""

    __table__ = schema.ulabels

    id: Mapped[int]
    uid: Mapped[str]
    name: Mapped[str]
    type_id: Mapped[int | None]
    is_type: Mapped[bool]
    description: Mapped[str | None]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    type = Relation["ULabel"]("type_id", "ULabel")
    created_by = Relation[User]("created_by_id", "User")

    def __new__(cls, *args: Any, **kwargs: Any) -> ULabel:
        if not args and not kwargs:  # the ORM loading a row
            return super().__new__(cls)
        return _existing_or_new(cls, *args, **kwargs)

    def __init__(
        self,
        name: str | None = None,
        type: ULabel | str | None = None,
        is_type: bool = False,
        description: str | None = None,
    ) -> None:
        if self.__dict__.get("id") is not None:  # the existing label, returned by __new__
            return
        fields, kind = self.__dict__.pop("_ls_new")
        for key, value in fields.items():
            setattr(self, key, value)
        if kind is not None:
            self.__dict__[ULabel.type.cache] = kind

    def save(self) -> Self:
        """Save a new label (or the existing one of that name and type), or this label's edits."""
        if self.__dict__.get("id") is None:
            _insert_label(self)
        else:
            _save_label_edits(self)
        return self

    def delete(self, force: bool = False) -> None:
        """Delete this label. A label on records is refused, with their count, unless
        ``force=True``, which removes it from them (recorded in their audit trails); a type
        that still groups labels, or is the type of a feature's values, is always refused."""
        delete_label(self, force=force)

    @property
    def children(self) -> QuerySet:
        """The labels of this type."""
        return ULabel.filter(type_id=self.id)

    @property
    def artifacts(self) -> QuerySet:
        """The artifacts that carry this label (plain or as a feature value)."""
        return BY_NAME["Artifact"].model.filter(ulabels=self)

    @property
    def collections(self) -> QuerySet:
        return BY_NAME["Collection"].model.filter(ulabels=self)

    def _describe_general(self) -> list[tuple[str, str]]:
        kind = self.type
        return [("type", kind.name)] if kind is not None else []


def check_name(name: Any, what: str = "A label") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(
            f"{what} needs a name (text), e.g. ls.ULabel('DAPI'); got {name!r:.60}."
        )
    name = name.strip()
    if len(name) > NAME_MAX or "\n" in name or "\r" in name:
        raise InvalidArgument(
            f"{what} name is one line of at most {NAME_MAX} characters; got {name[:60]!r}…"
        )
    return str(name)


def find_type(value: Any) -> ULabel:
    """A label type given as a saved type label or by its name."""
    if isinstance(value, ULabel):
        if value.__dict__.get("id") is None:
            raise InvalidArgument(f"The type '{value.name}' is not saved yet; save it first.")
        if not value.is_type:
            raise InvalidArgument(
                f"The label '{value.name}' is not a type; make types with "
                f"ls.ULabel('{value.name}', is_type=True)."
            )
        return value
    name = check_name(value, "A label type")
    found = ULabel.filter(name=name, is_type=True)._clone(limit=6).all()
    if not found:
        raise InvalidArgument(
            f"There is no label type '{name}'; make it with ls.ULabel('{name}', is_type=True).save()."
        )
    if len(found) > 1:
        raise InvalidArgument(
            f"Several label types are called '{name}' ({_paths(found)}); pass the type record."
        )
    return cast(ULabel, found[0])


def _paths(labels: Iterable[ULabel]) -> str:
    return ", ".join(label_path(x) for x in labels)


def label_path(label: ULabel) -> str:
    """'Stain/DAPI' for a label of type Stain, 'DAPI' for one without a type."""
    kind = label.type if label.type_id is not None else None
    return f"{kind.name}/{label.name}" if kind is not None else label.name


def _existing_or_new(
    cls: type[ULabel],
    name: Any = None,
    type: Any = None,
    is_type: bool = False,
    description: str | None = None,
    *args: Any,
    **kwargs: Any,
) -> ULabel:
    if args or kwargs:
        raise InvalidArgument(
            "ULabel() takes name, type=, is_type= and description=, e.g. "
            f"ls.ULabel('DAPI', type=stain); got {len(args)} more argument(s) {sorted(kwargs)}."
        )
    name = check_name(name)
    kind = find_type(type) if type is not None else None
    if not isinstance(is_type, bool):
        raise InvalidArgument(f"is_type= takes True or False, not {is_type!r:.40}.")
    existing = _by_name(name, kind.id if kind is not None else None)
    if existing is not None:
        if existing.is_type != is_type:
            what = "a type" if existing.is_type else "a label, not a type"
            raise InvalidArgument(
                f"The label '{label_path(existing)}' exists already as {what} (uid "
                f"{existing.uid}); choose another name."
            )
        say(f"returning the existing label '{label_path(existing)}' ({existing.uid})")
        return existing
    obj = object.__new__(cls)
    fields = dict(
        name=name,
        is_type=is_type,
        description=description,
        type_id=kind.id if kind is not None else None,
    )
    obj.__dict__["_ls_new"] = (fields, kind)  # set by __init__ (the ORM's state exists there)
    return obj


def _by_name(name: str, type_id: int | None) -> ULabel | None:
    stmt = select(schema.ulabels).where(L.name == name, _in_type(type_id))
    row = read(lambda s: s.execute(stmt).mappings().first(), what=f"looking up label '{name}'")
    return cast(ULabel, record_from_row(ULabel, row)) if row is not None else None


def _in_type(type_id: int | None) -> ColumnElement[bool]:
    return L.type_id.is_(None) if type_id is None else L.type_id == type_id


def _insert_label(obj: ULabel) -> None:
    """Insert a new label, or take the row another process inserted meanwhile."""
    creator = user_id()
    now = utcnow()
    values: dict[str, Any] = dict(
        uid=base62(schema.ulabels.c.uid.type.length),  # type: ignore[attr-defined]
        name=check_name(obj.name),
        type_id=obj.__dict__.get("type_id"),
        is_type=bool(obj.__dict__.get("is_type")),
        description=obj.__dict__.get("description"),
        created_by_id=creator,
        created_at=now,
        updated_at=now,
    )

    def run(s: Session) -> dict[str, Any]:
        annotation_lock(s)
        found = (
            s.execute(
                select(schema.ulabels).where(L.name == values["name"], _in_type(values["type_id"]))
            )
            .mappings()
            .first()
        )
        if found is not None:
            return dict(found)
        new_id = s.execute(
            insert(schema.ulabels).values(**values).returning(schema.ulabels.c.id)
        ).scalar_one()
        return {**values, "id": int(new_id)}

    row = write(run, what=f"saving label '{values['name']}'")
    as_saved(obj, row)


def ensure_labels(
    s: Session, wanted: Iterable[tuple[str, int | None]], creator: int
) -> dict[tuple[str, int | None], int]:
    """Inside a write transaction: the ids of labels (name, type id), created when missing."""
    wanted = list(dict.fromkeys(wanted))
    found: dict[tuple[str, int | None], int] = {}
    for name, type_id in wanted:
        row = s.execute(select(L.id).where(L.name == name, _in_type(type_id))).scalar()
        if row is None:
            now = utcnow()
            row = s.execute(
                insert(schema.ulabels)
                .values(
                    uid=base62(schema.ulabels.c.uid.type.length),  # type: ignore[attr-defined]
                    name=name,
                    type_id=type_id,
                    is_type=False,
                    created_by_id=creator,
                    created_at=now,
                    updated_at=now,
                )
                .returning(L.id)
            ).scalar_one()
        found[(name, type_id)] = int(row)
    return found


def _save_label_edits(obj: ULabel) -> None:
    edits = pending_edits(obj)
    if "name" in edits:
        obj.name = check_name(edits["name"])
    type_id = obj.type_id
    if "type_id" in edits and type_id is not None:
        kind = obj.type
        if kind is None:
            raise InvalidArgument(f"There is no label type with id {type_id}.")
        _refuse_cycle(obj, find_type(kind))
    if "is_type" in edits and not obj.is_type and obj.children.count():
        raise InvalidArgument(
            f"The type '{obj.name}' still groups {obj.children.count()} label(s); it stays a type."
        )
    if ("name" in edits or "type_id" in edits) and _by_name(obj.name, type_id) not in (None, obj):
        raise IntegrityError(
            f"A label '{obj.name}' exists already in that type; choose another name."
        )
    save_edits(obj)


def _refuse_cycle(obj: ULabel, kind: ULabel) -> None:
    seen: set[int] = set()
    current: ULabel | None = kind
    while current is not None and current.id not in seen:
        if current.id == obj.id:
            raise InvalidArgument(f"The label '{obj.name}' cannot be a label of its own type tree.")
        seen.add(current.id)
        current = current.type


# ---------------------------------------------------------------- labels from text


def resolve_labels(items: Iterable[Any], *, create: bool = True) -> list[ULabel]:
    """Labels from records, names and lists of either. A name is the label of that name when
    exactly one exists; it is created (without a type) when none does; several are refused,
    naming them."""
    out: list[ULabel] = []
    for item in _flatten(items):
        if isinstance(item, ULabel):
            if item.__dict__.get("id") is None:
                item.save()
            out.append(item)
            continue
        if not isinstance(item, str):
            raise InvalidArgument(
                f"Labels are ls.ULabel records or names, not {type(item).__name__} {item!r:.40}."
            )
        out.append(label_by_name(item, create=create))
    return list(dict.fromkeys(out))


def _flatten(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, QuerySet):
            yield from item.all()
        elif isinstance(item, list | tuple | set | frozenset):
            yield from _flatten(item)
        else:
            yield item


def label_by_name(name: str, *, create: bool = True, type: Any = None) -> ULabel:
    """The one label called ``name`` (of ``type`` if given), created when missing."""
    name = check_name(name)
    if type is not None:
        kind = find_type(type)
        found = _by_name(name, kind.id)
        if found is None and create:
            return ULabel(name, type=kind).save()
        if found is None:
            raise InvalidArgument(f"There is no label '{kind.name}/{name}'.")
        return found
    candidates = ULabel.filter(name=name)._clone(limit=6).all()
    if not candidates and "/" in name:
        typed = _by_path(name, create=create)
        if typed is not None:
            return typed
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise InvalidArgument(
            f"Several labels are called '{name}' ({_paths(candidates)}); pass the ls.ULabel "
            f"record, e.g. ls.ULabel.get(name='{name}', type__name='{_type_name(candidates[0])}')."
        )
    if not create:
        raise InvalidArgument(f"There is no label '{name}'.")
    return ULabel(name).save()


def _by_path(path: str, *, create: bool) -> ULabel | None:
    """The label written as ``Type/Name`` (as ``label_path`` shows it), when no label is named
    so literally and exactly one type ``Type`` exists; created in that type when missing and
    ``create``. None when there is no such type (the text is then a plain name)."""
    type_name, _, name = path.rpartition("/")
    type_name, name = type_name.strip(), name.strip()
    if not type_name or not name:
        return None
    kinds = ULabel.filter(name=type_name, is_type=True)._clone(limit=2).all()
    if len(kinds) != 1:
        return None
    return label_by_name(name, create=create, type=kinds[0])


def _type_name(label: ULabel) -> str:
    kind = label.type
    return kind.name if kind is not None else ""


# ---------------------------------------------------------------- labels of records


def _spec_of(record_or_name: Any) -> Registry:
    spec = registry_of(record_or_name)
    if not spec.annotated:
        raise InvalidArgument(f"{spec.title} take no labels or features.")
    return spec


def _saved_id(record: Any) -> int:
    record_id = record.__dict__.get("id")
    if record_id is None:
        kind = type(record).__name__.lower()
        raise InvalidArgument(
            f"This {kind} is not saved yet; save it first (its labels and features are stored "
            "with its record)."
        )
    return int(record_id)


def _fk(spec: Registry) -> Any:
    assert spec.label_links is not None
    return spec.label_links.c[f"{spec.key}_id"]


def _link_plain(
    s: Session, spec: Registry, ids: list[int], by_id: dict[int, ULabel], who: Actor
) -> list[dict[str, Any]]:
    """Inside a write transaction: link the labels ``by_id`` to the records ``ids`` as plain
    labels (a label that is also a feature's value there is a link of its own), skipping the
    links present already, and record each addition; the rows inserted."""
    links = spec.label_links
    assert links is not None
    fk = _fk(spec)
    made: list[dict[str, Any]] = []
    for part in chunks(list(dict.fromkeys(ids))):
        have = set(
            s.execute(
                select(fk, links.c.ulabel_id).where(
                    fk.in_(part),
                    links.c.ulabel_id.in_(list(by_id)),
                    links.c.feature_id.is_(None),
                )
            ).all()
        )
        made += [
            {fk.key: r, "ulabel_id": lid, "feature_id": None}
            for r in part
            for lid in by_id
            if (r, lid) not in have
        ]
    if made:
        insert_rows(s, links, made)
    record_events(
        s,
        spec,
        [
            {
                "record": m[fk.key],
                "action": "add",
                "ulabel_id": m["ulabel_id"],
                "value": by_id[m["ulabel_id"]].name,
            }
            for m in made
        ],
        who,
    )
    return made


def add_labels(
    registry: str, ids: list[int], labels: list[ULabel], who: Actor
) -> list[tuple[int, int]]:
    """Put ``labels`` on the records ``ids`` in one transaction; the (record id, label id)
    links it made (those present already are left alone)."""
    spec = _spec_of(registry)
    fk = _fk(spec)
    by_id = {x.id: x for x in labels}
    if not ids or not by_id:
        return []

    def run(s: Session) -> list[tuple[int, int]]:
        annotation_lock(s)
        made = _link_plain(s, spec, ids, by_id, who)
        return [(m[fk.key], m["ulabel_id"]) for m in made]

    made = write(run, what=f"labelling {len(ids)} {spec.key}(s)")
    if spec.label_links is not None:
        refresh_statistics([spec.label_links.name], len(made))
    return made


def remove_labels(
    registry: str, ids: list[int], labels: list[ULabel] | None, who: Actor, *, keep: bool = False
) -> list[tuple[int, int, int | None]]:
    """Take ``labels`` off the records ``ids`` wherever they are linked (plain or as a
    feature value), in one transaction; with ``keep=True`` take off every label *but* them.
    Returns the (record id, label id, feature id or None) links removed."""
    spec = _spec_of(registry)
    label_ids = [x.id for x in labels or []]

    def run(s: Session) -> list[tuple[int, int, int | None]]:
        annotation_lock(s)
        removed: list[tuple[int, int, int | None]] = []
        unlink(s, spec, ids, label_ids, who, keep=keep, removed=removed)
        return removed

    return write(run, what=f"removing labels from {len(ids)} {spec.key}(s)")


def unlink(
    s: Session,
    spec: Registry,
    ids: list[int],
    label_ids: list[int],
    who: Actor,
    *,
    keep: bool = False,
    feature_id: int | None = None,
    removed: list[tuple[int, int, int | None]] | None = None,
) -> int:
    """Inside a write transaction: delete the links of ``label_ids`` (or of all labels but
    them, ``keep=True``) from the records ``ids`` (only as values of ``feature_id`` if given),
    recording each removal (and appending (record, label, feature) to ``removed``)."""
    links = spec.label_links
    assert links is not None
    fk = _fk(spec)
    f = schema.features.c
    count = 0
    for part in chunks(list(dict.fromkeys(ids))):
        cond = [fk.in_(part)]
        if label_ids or not keep:
            match = links.c.ulabel_id.in_(label_ids)
            cond.append(~match if keep else match)
        if feature_id is not None:
            cond.append(links.c.feature_id == feature_id)
        rows = s.execute(
            select(links.c.id, fk, links.c.ulabel_id, links.c.feature_id, L.name, f.name)
            .join(schema.ulabels, L.id == links.c.ulabel_id)
            .outerjoin(schema.features, f.id == links.c.feature_id)
            .where(*cond)
        ).all()
        if not rows:
            continue
        s.execute(delete(links).where(links.c.id.in_([r[0] for r in rows])))
        if removed is not None:
            removed += [(r[1], r[2], r[3]) for r in rows]
        record_events(
            s,
            spec,
            [
                {
                    "record": r[1],
                    "action": "remove",
                    "ulabel_id": r[2],
                    "feature_id": r[3],
                    "feature": r[5],
                    "value": r[4],
                }
                for r in rows
            ],
            who,
        )
        count += len(rows)
    return count


def labels_of(registry: str, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every label on each record: ``{id: [{"uid", "name", "type", "feature"}, …]}`` (a label
    that is a feature value names the feature), sorted by type and name."""
    spec = _spec_of(registry)
    links = spec.label_links
    assert links is not None
    fk = _fk(spec)
    kind, f = schema.ulabels.alias("kind"), schema.features.c
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}

    def q(s: Session) -> None:
        for part in chunks(list(dict.fromkeys(ids))):
            rows = s.execute(
                select(fk, L.uid, L.name, kind.c.name, f.name)
                .join(schema.ulabels, L.id == links.c.ulabel_id)
                .outerjoin(kind, kind.c.id == L.type_id)
                .outerjoin(schema.features, f.id == links.c.feature_id)
                .where(fk.in_(part))
                .order_by(fk, kind.c.name, L.name)
            ).all()
            for rid, uid, name, type_name, feature in rows:
                out[rid].append({"uid": uid, "name": name, "type": type_name, "feature": feature})

    read(q, what="reading labels")
    return out


class LabelManager:
    """``x.ulabels``: the labels of one saved artifact or collection."""

    def __init__(self, record: Any) -> None:
        self._record = record
        self._spec = _spec_of(record)

    def _id(self) -> int:
        return _saved_id(self._record)

    def add(self, *labels: Any, run: Any = None) -> None:
        """Add labels (records or names; a name creates its label when none exists)."""
        record_id = self._id()
        found = resolve_labels(labels)
        add_labels(self._spec.key, [record_id], found, actor(run))

    def remove(self, *labels: Any, run: Any = None) -> None:
        """Remove labels from the record (also where they are a feature's value)."""
        record_id = self._id()
        found = resolve_labels(labels, create=False)
        remove_labels(self._spec.key, [record_id], found, actor(run))

    def set(self, labels: Iterable[Any], run: Any = None) -> None:
        """Make ``labels`` the record's labels: the others are removed (also as feature
        values), the missing ones added, in one transaction."""
        record_id = self._id()
        found = resolve_labels([labels])
        set_labels(self._spec.key, [record_id], found, actor(run))

    def all(self) -> QuerySet:
        """The record's labels, as a QuerySet of ULabel."""
        fk = _fk(self._spec)
        links = self._spec.label_links
        assert links is not None
        ids = select(links.c.ulabel_id).where(fk == self._id())
        return QuerySet(ULabel, conditions=(ULabel.id.in_(ids),)).order_by("name")

    def __iter__(self) -> Iterator[ULabel]:
        return iter(self.all())

    def __len__(self) -> int:
        return self.all().count()

    def __contains__(self, label: Any) -> bool:
        if isinstance(label, str):
            return self.all().filter(name=label).exists()
        return isinstance(label, ULabel) and self.all().filter(id=label.id).exists()

    def __repr__(self) -> str:
        names = [label_path(x) for x in self.all()]
        return f"<labels of {self._spec.key} {self._record.uid}: {', '.join(names) or 'none'}>"


def set_labels(registry: str, ids: list[int], labels: list[ULabel], who: Actor) -> None:
    """Make ``labels`` the labels of every record ``ids`` (one transaction)."""
    spec = _spec_of(registry)
    by_id = {x.id: x for x in labels}

    def run(s: Session) -> None:
        annotation_lock(s)
        unlink(s, spec, ids, list(by_id), who, keep=True)
        _link_plain(s, spec, ids, by_id, who)

    write(run, what=f"setting the labels of {len(ids)} {spec.key}(s)")


# ---------------------------------------------------------------- the tree


def label_tree(registry: str = "artifact", type: Any = None) -> list[dict[str, Any]]:
    """Every label as a tree of types: ``[{"uid", "name", "is_type", "description", "count",
    "children": [...]}, …]`` sorted by name, where ``count`` is the number of records of
    ``registry`` (trash excluded) carrying the label — for a type, any label of it. With
    ``type`` (a type or its name): that type's subtree only."""
    spec = _spec_of(registry)
    links = spec.label_links
    assert links is not None
    fk, table = _fk(spec), spec.table
    # the few records in the trash (or being saved) are left out by id: joining every link
    # to its record would cost a lookup per link
    hidden = (
        [fk.not_in(select(table.c.id).where(table.c.visibility < 0))]
        if "visibility" in table.c
        else []
    )

    def q(s: Session) -> tuple[list[Any], dict[int, int], dict[int, int]]:
        rows = s.execute(
            select(L.id, L.uid, L.name, L.type_id, L.is_type, L.description).order_by(L.name)
        ).all()
        counted = (
            select(links.c.ulabel_id, func.count(func.distinct(fk)))
            .where(*hidden)
            .group_by(links.c.ulabel_id)
        )
        per_type = (
            select(L.type_id, func.count(func.distinct(fk)))
            .select_from(schema.ulabels)
            .join(links, links.c.ulabel_id == L.id)
            .where(L.type_id.is_not(None), *hidden)
            .group_by(L.type_id)
        )
        counts = {int(k): int(n) for k, n in s.execute(counted).all()}
        per_types = {int(k): int(n) for k, n in s.execute(per_type).all()}
        return list(rows), counts, per_types

    rows, counts, type_counts = read(q, what="reading the labels")
    nodes = {
        r[0]: {
            "uid": r[1],
            "name": r[2],
            "is_type": bool(r[4]),
            "description": r[5],
            "count": int(type_counts.get(r[0], 0) if r[4] else counts.get(r[0], 0)),
            "children": [],
        }
        for r in rows
    }
    roots: list[dict[str, Any]] = []
    for r in rows:
        parent = nodes.get(r[3]) if r[3] is not None else None
        (parent["children"] if parent is not None else roots).append(nodes[r[0]])
    if type is not None:
        wanted = find_type(type)
        return nodes[wanted.id]["children"] if wanted.id in nodes else []
    return roots


# ---------------------------------------------------------------- deleting labels


def usage(label_id: int) -> dict[str, int]:
    """How many records of each annotated registry carry the label."""

    def q(s: Session) -> dict[str, int]:
        out = {}
        for spec in annotated_registries():
            fk = _fk(spec)
            links = spec.label_links
            assert links is not None
            out[spec.key] = int(
                s.execute(
                    select(func.count(func.distinct(fk))).where(links.c.ulabel_id == label_id)
                ).scalar_one()
            )
        return out

    return read(q, what="counting the records of a label")


def annotated_registries() -> list[Registry]:
    return [spec for spec in REGISTRIES.values() if spec.annotated]


def _counted(counts: dict[str, int]) -> str:
    return " and ".join(f"{n} {key}{'s' if n != 1 else ''}" for key, n in counts.items() if n)


def delete_label(label: ULabel, *, force: bool = False, run: Any = None) -> None:
    label_id = _saved_id(label)
    children = ULabel.filter(type_id=label_id).count()
    if children:
        raise IntegrityError(
            f"The type '{label.name}' groups {children} label(s); delete or move them first."
        )
    typed = read(
        lambda s: list(
            s.execute(
                select(schema.features.c.name).where(schema.features.c.type_id == label_id)
            ).scalars()
        ),
        what="checking features",
    )
    if typed:
        raise IntegrityError(
            f"The type '{label.name}' is the type of the values of feature(s) "
            f"{', '.join(typed)}; delete those features first."
        )
    counts = {k: n for k, n in usage(label_id).items() if n}
    if counts and not force:
        raise IntegrityError(
            f"The label '{label_path(label)}' is on {_counted(counts)}; remove it from them "
            "first, or delete it with force=True, which removes it from them."
        )
    who = actor(run)

    def run_(s: Session) -> None:
        annotation_lock(s)
        for spec in annotated_registries():
            links = spec.label_links
            assert links is not None
            fk = _fk(spec)
            ids = list(
                s.execute(select(fk).where(links.c.ulabel_id == label_id).distinct()).scalars()
            )
            unlink(s, spec, ids, [label_id], who)
        s.execute(delete(schema.ulabels).where(L.id == label_id))

    write(run_, what=f"deleting label '{label.name}'")
    if counts:
        say(f"deleted label '{label_path(label)}' and removed it from {_counted(counts)}")
    label.__dict__["id"] = None


# ---------------------------------------------------------------- queries


def _label_lookup(
    model: Model, head: str, rest: list[str], op: str, value: Any, path: str
) -> ColumnElement[bool] | None:
    """``ulabels=label``, ``ulabels__in=[…]``, ``ulabels__isnull=True`` and
    ``ulabels__<ULabel field>__<op>=…`` on an annotated registry."""
    if head != "ulabels":
        return None
    spec = registry_of(model)
    if not spec.annotated:
        return None
    links = spec.label_links
    assert links is not None
    fk = _fk(spec)
    if rest:
        inner = compile_lookup(ULabel, "__".join([*rest, op]), value)
        return ids_in(
            model, select(fk).where(links.c.ulabel_id.in_(select(ULabel.id).where(inner)))
        )
    if op == "isnull":
        tagged: ColumnElement[bool] = model.id.in_(select(fk))
        return ~tagged if value else tagged
    if op == "exact" and value is None:
        untagged: ColumnElement[bool] = ~model.id.in_(select(fk))
        return untagged
    if op not in ("exact", "in"):
        raise InvalidArgument(
            f"The lookup '{path}' compares labels; use ulabels=label, ulabels__in=[…] or "
            "ulabels__name__<op>=…."
        )
    values = [value] if op == "exact" else _as_list(value, path)
    return ids_in(model, select(fk).where(links.c.ulabel_id.in_(label_ids_matching(values, path))))


def _as_list(value: Any, path: str) -> list[Any]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise InvalidArgument(f"The lookup '{path}' needs a list of values.")
    return list(value)


def label_ids_matching(values: list[Any], path: str, type_id: int | None = None) -> Any:
    """A subquery of the ids of labels given as records, ids or names (of ``type_id``)."""
    ids, names = [], []
    for v in values:
        if isinstance(v, ULabel):
            ids.append(_saved_id(v))
        elif isinstance(v, str):
            names.append(v.strip())
        elif isinstance(v, int) and not isinstance(v, bool):
            ids.append(v)
        else:
            raise InvalidArgument(
                f"The lookup '{path}' takes labels (ls.ULabel records or names), not "
                f"{type(v).__name__} {v!r:.40}."
            )
    cond = or_(L.id.in_(ids), L.name.in_(names))
    if type_id is not None:
        cond = cond & (L.type_id == type_id)
    return select(L.id).where(cond)


def _label_search(model: Model, q: str) -> ColumnElement[bool] | None:
    """Records carrying a label whose name contains the search text."""
    spec = registry_of(model)
    if not spec.annotated or not q:
        return None
    links = spec.label_links
    assert links is not None
    pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matching = select(L.id).where(func.lower(L.name).like(pattern, escape="\\"))
    return any_of(model.id, select(_fk(spec)).where(links.c.ulabel_id.in_(matching)))


register_extension(
    Extension(
        name="labels",
        lookup=_label_lookup,
        names=lambda model: ["ulabels"] if registry_of(model).annotated else [],
        search=_label_search,
    )
)
