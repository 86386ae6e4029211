"""Features: the Feature registry, typed feature values of artifacts and collections
(``x.features``), their queries and the version hand-over.

A feature is a name with a dtype (``str int float bool date datetime cat cat[TYPE]``), an
optional unit and description. A record holds at most one value per non-categorical feature
(a new value replaces the old one) in its registry's value table (``artifact_feature_values``:
one typed column per kind, each indexed with the feature first); the values of a categorical
feature are labels, linked like plain labels but with the feature named (see ``labels``), so
a record may hold several (``stain = DAPI, GFP``).

Values are validated against the dtype before anything is written (``"37 °C"`` for a float is
refused, naming feature, value and dtype); every write is one transaction that also creates the
labels (and, asked to, the features) it needs, and records each added or removed value in the
audit trail (``x.features.history()``). Feature names are lookups:
``ls.Artifact.filter(temperature__gte=30, stain="DAPI")`` compiles to ``id IN (SELECT …)``
subqueries on the (feature, value) indexes, registered with the query layer as an extension.

New versions start with the labels and values of the version they revise (``inherit``, called
in the transaction that publishes them); change them afterwards with the managers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Self, cast

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Mapped, Session

from . import schema
from .errors import IntegrityError, InvalidArgument
from .labels import (
    Actor,
    ULabel,
    _flatten,
    _saved_id,
    _spec_of,
    actor,
    annotated_registries,
    annotation_lock,
    check_name,
    chunks,
    ensure_labels,
    find_type,
    insert_rows,
    label_ids_matching,
    label_path,
    record_events,
    unlink,
)
from .log import say
from .query import OPS, Extension, Model, compile_lookup, ids_in, register_extension
from .records import Base, Record, as_saved, pending_edits, record_from_row, save_edits
from .registry import Registry, registry_of
from .relations import Relation
from .schema import utcnow
from .session import read, refresh_statistics, user_id, write
from .uids import base62
from .users import User

DTYPES = ("str", "int", "float", "bool", "date", "datetime", "cat")
STR_MAX = 500  # characters of a text value (kept in an index on every backend)
F = schema.features.c
L = schema.ulabels.c
NAME_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VALUE_COLUMN = {
    "str": "value_str",
    "int": "value_int",
    "bool": "value_int",
    "float": "value_float",
    "date": "value_dt",
    "datetime": "value_dt",
}


# ---------------------------------------------------------------- the registry


class Feature(Record, Base):
    """A named, typed annotation: ``ls.Feature("temperature", float, unit="°C")``."""

    __table__ = schema.features

    id: Mapped[int]
    uid: Mapped[str]
    name: Mapped[str]
    dtype: Mapped[str]
    type_id: Mapped[int | None]
    unit: Mapped[str | None]
    description: Mapped[str | None]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    type = Relation[ULabel]("type_id", "ULabel")
    created_by = Relation[User]("created_by_id", "User")

    def __new__(cls, *args: Any, **kwargs: Any) -> Feature:
        if not args and not kwargs:  # the ORM loading a row
            return super().__new__(cls)
        return _existing_or_new(cls, *args, **kwargs)

    def __init__(
        self,
        name: str | None = None,
        dtype: Any = None,
        unit: str | None = None,
        description: str | None = None,
    ) -> None:
        if self.__dict__.get("id") is not None:  # the existing feature, returned by __new__
            return
        for key, value in self.__dict__.pop("_ls_new").items():
            setattr(self, key, value)

    @property
    def kind(self) -> str:
        """The dtype without its label type: ``cat`` for ``cat[Stain]``."""
        return kind_of(self.dtype)

    def save(self) -> Self:
        """Save a new feature (or take the existing one of that name), or this feature's edits
        (its dtype cannot change)."""
        if self.__dict__.get("id") is None:
            _insert_feature(self)
        else:
            _save_feature_edits(self)
        return self

    def delete(self, force: bool = False) -> None:
        """Delete this feature. A feature with values is refused, with the count of records
        holding one, unless ``force=True``, which removes the values (recorded in the audit
        trails of their records)."""
        delete_feature(self, force=force)

    def validate(self, value: Any) -> Any:
        """``value`` as this feature stores it, or ``InvalidArgument`` naming feature, value
        and dtype (categorical values: the label names or records, unchanged)."""
        return coerce(self, value)

    def _describe_general(self) -> list[tuple[str, str]]:
        return [("unit", self.unit)] if self.unit else []


def kind_of(dtype: str) -> str:
    return "cat" if dtype.startswith("cat") else dtype


def parse_dtype(dtype: Any) -> tuple[str, ULabel | None]:
    """(canonical dtype text, label type of ``cat[TYPE]``) of a dtype given as a type
    (``float``, ``datetime.date``), a label type, or text (``"cat[Stain]"``)."""
    by_type = {str: "str", int: "int", float: "float", bool: "bool", date: "date"}
    if dtype is datetime:
        return "datetime", None
    if isinstance(dtype, type) and dtype in by_type:
        return by_type[dtype], None
    if isinstance(dtype, ULabel):
        kind = find_type(dtype)
        return f"cat[{kind.name}]", kind
    if isinstance(dtype, str):
        text = dtype.strip()
        match = re.fullmatch(r"cat\[(.+)\]", text, flags=re.IGNORECASE)
        if match:
            kind = find_type(match.group(1).strip())
            return f"cat[{kind.name}]", kind
        if text.lower() in DTYPES:
            return text.lower(), None
    raise InvalidArgument(
        f"{dtype!r:.60} is not a feature dtype; use one of {', '.join(DTYPES)} or cat[TYPE] "
        "(TYPE: a label type), e.g. ls.Feature('temperature', dtype=float)."
    )


def reserved_names() -> set[str]:
    """Names a feature cannot take: the fields and relations of the annotated registries,
    the lookup operators and the managers."""
    names = {"ulabels", "features", "pk", "id", *OPS}
    for spec in annotated_registries():
        for column in spec.table.c:
            names.update({column.key, column.key.removesuffix("_id")})
    return names


def check_feature_name(name: Any) -> str:
    name = check_name(name, "A feature")
    if not NAME_RULE.fullmatch(name) or "__" in name:
        raise InvalidArgument(
            f"The feature name '{name}' cannot be used in lookups such as {name}__gte=…: use "
            "letters, digits and single underscores, not starting with a digit (e.g. "
            f"'{normalize_name(name) or 'temperature'}')."
        )
    if name in reserved_names():
        raise InvalidArgument(
            f"'{name}' is a field or lookup of artifacts and collections; name the feature "
            f"otherwise, e.g. '{name}_value'."
        )
    return str(name)


def normalize_name(text: str) -> str:
    """A feature name made from a column header: 'Sepal length (cm)' -> 'Sepal_length_cm'."""
    name = re.sub(r"\W+", "_", str(text).strip(), flags=re.ASCII)
    name = re.sub(r"_+", "_", name).strip("_")
    if name and name[0].isdigit():
        name = f"f_{name}"
    return name


def _existing_or_new(
    cls: type[Feature],
    name: Any = None,
    dtype: Any = None,
    unit: str | None = None,
    description: str | None = None,
    *args: Any,
    **kwargs: Any,
) -> Feature:
    if args or kwargs:
        raise InvalidArgument(
            "Feature() takes name, dtype, unit= and description=, e.g. "
            f"ls.Feature('temperature', float, unit='°C'); got more: {sorted(kwargs)}."
        )
    name = check_feature_name(name)
    if dtype is None:
        raise InvalidArgument(
            f"The feature '{name}' needs a dtype: one of {', '.join(DTYPES)} or cat[TYPE]."
        )
    text, kind = parse_dtype(dtype)
    if unit is not None and (not isinstance(unit, str) or len(unit) > 50):
        raise InvalidArgument(f"The unit of feature '{name}' is short text, e.g. '°C'.")
    existing = feature_named(name)
    if existing is not None:
        if existing.dtype != text:
            raise InvalidArgument(
                f"The feature '{name}' exists already with dtype {existing.dtype}, not {text}; "
                "use it as it is, or delete it first."
            )
        say(f"returning the existing feature '{name}' ({existing.dtype})")
        return existing
    obj = object.__new__(cls)
    obj.__dict__["_ls_new"] = dict(
        name=name,
        dtype=text,
        type_id=kind.id if kind is not None else None,
        unit=unit or None,
        description=description,
    )
    return obj


def feature_named(name: str) -> Feature | None:
    stmt = select(schema.features).where(F.name == name)
    row = read(lambda s: s.execute(stmt).mappings().first(), what=f"looking up feature '{name}'")
    return cast(Feature, record_from_row(Feature, row)) if row is not None else None


def _new_feature_row(fields: Mapping[str, Any], creator: int) -> dict[str, Any]:
    now = utcnow()
    return dict(
        uid=base62(schema.features.c.uid.type.length),  # type: ignore[attr-defined]
        name=fields["name"],
        dtype=fields["dtype"],
        type_id=fields.get("type_id"),
        unit=fields.get("unit"),
        description=fields.get("description"),
        created_by_id=creator,
        created_at=now,
        updated_at=now,
    )


def _insert_feature(obj: Feature) -> None:
    values = _new_feature_row(
        {k: obj.__dict__.get(k) for k in ("name", "dtype", "type_id", "unit", "description")},
        user_id(),
    )

    def run(s: Session) -> dict[str, Any]:
        annotation_lock(s)
        found = s.execute(select(schema.features).where(F.name == values["name"])).mappings()
        row = found.first()
        if row is not None:
            if row["dtype"] != values["dtype"]:
                raise InvalidArgument(
                    f"The feature '{values['name']}' was saved meanwhile with dtype "
                    f"{row['dtype']}, not {values['dtype']}."
                )
            return dict(row)
        new_id = s.execute(
            insert(schema.features).values(**values).returning(schema.features.c.id)
        ).scalar_one()
        return {**values, "id": int(new_id)}

    as_saved(obj, write(run, what=f"saving feature '{values['name']}'"))


def _save_feature_edits(obj: Feature) -> None:
    edits = pending_edits(obj)
    if "dtype" in edits or "type_id" in edits:
        raise InvalidArgument(
            f"The dtype of feature '{obj.name}' cannot change (its values were checked against "
            "it); make a new feature instead."
        )
    if "name" in edits:
        obj.name = check_feature_name(edits["name"])
        other = feature_named(obj.name)
        if other is not None and other != obj:
            raise IntegrityError(f"A feature '{obj.name}' exists already; choose another name.")
    save_edits(obj)


def feature_usage(feature_id: int) -> dict[str, int]:
    """How many records of each annotated registry hold a value of the feature."""

    def q(s: Session) -> dict[str, int]:
        out = {}
        dtype = s.execute(select(F.dtype).where(F.id == feature_id)).scalar()
        for spec in annotated_registries():
            values, links = _tables(spec)
            fk = f"{spec.key}_id"
            if dtype is None or kind_of(dtype) == "cat":
                ids = select(links.c[fk]).where(links.c.feature_id == feature_id).distinct()
            else:
                ids = select(values.c[fk]).where(*_holding(values, feature_id, dtype))
            out[spec.key] = int(
                s.execute(select(func.count()).select_from(ids.subquery())).scalar_one()
            )
        return out

    return read(q, what="counting the values of a feature")


def delete_feature(feature: Feature, *, force: bool = False, run: Any = None) -> None:
    feature_id = _saved_id(feature)
    counts = {k: n for k, n in feature_usage(feature_id).items() if n}
    held = " and ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())
    if counts and not force:
        raise IntegrityError(
            f"The feature '{feature.name}' has values on {held}; remove them first, or delete "
            "it with force=True, which removes them."
        )
    who = actor(run)

    def run_(s: Session) -> None:
        annotation_lock(s)
        for spec in annotated_registries():
            values, links = _tables(spec)
            fk = values.c[f"{spec.key}_id"]
            if feature.kind != "cat":
                rows = _holding(values, feature_id, feature.dtype)
                ids = list(s.execute(select(fk).where(*rows)).scalars())
                _drop_scalar(s, spec, ids, feature, who)
            linked = select(links.c[f"{spec.key}_id"]).where(links.c.feature_id == feature_id)
            unlink(
                s,
                spec,
                list(s.execute(linked.distinct()).scalars()),
                [],
                who,
                keep=True,
                feature_id=feature_id,
            )
        s.execute(delete(schema.features).where(F.id == feature_id))

    write(run_, what=f"deleting feature '{feature.name}'")
    if counts:
        say(f"deleted feature '{feature.name}' and its values on {held}")
    feature.__dict__["id"] = None


# ---------------------------------------------------------------- values


def _holding(values: Any, feature_id: int, dtype: str) -> list[ColumnElement[bool]]:
    """The value rows of a scalar feature, as its (partial) index finds them."""
    column = values.c[VALUE_COLUMN[kind_of(dtype)]]
    return [values.c.feature_id == feature_id, column.is_not(None)]


def _tables(spec: Registry) -> tuple[Any, Any]:
    assert spec.feature_values is not None and spec.label_links is not None
    return spec.feature_values, spec.label_links


def _bad(feature: Any, value: Any, hint: str = "") -> InvalidArgument:
    return InvalidArgument(
        f"The value {value!r:.60} of feature '{feature.name}' is not a {feature.dtype}{hint}."
    )


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as Python values (NaN/NaT as None)."""
    if type(value) in (str, int, bool):
        return value
    if type(value).__module__.split(".")[0] in ("numpy", "pandas"):
        if hasattr(value, "to_pydatetime"):
            value = None if str(value) == "NaT" else value.to_pydatetime()
        elif hasattr(value, "item"):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def coerce(feature: Any, value: Any, kind: str | None = None) -> Any:
    """A value of ``feature`` as stored: str, int, float, bool, date, datetime (UTC), or for
    ``cat`` a list of labels and names. ``InvalidArgument`` names feature, value and dtype."""
    value = _plain(value)
    kind = kind or kind_of(feature.dtype)
    if value is None:
        raise InvalidArgument(
            f"The feature '{feature.name}' got no value (None); use remove_values() to remove one."
        )
    if kind == "cat":
        items = list(_flatten([value]))
        for item in items:
            if not isinstance(item, ULabel | str) or (isinstance(item, str) and not item.strip()):
                raise _bad(feature, item, ": its values are labels (names or ls.ULabel records)")
        if not items:
            raise _bad(feature, value, ": give at least one label")
        return items
    if isinstance(value, list | tuple | set):
        raise _bad(feature, value, " (one value per record; only cat features hold several)")
    return _SCALAR[kind](feature, value)


def _as_str(feature: Any, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(feature, value)
    if len(value) > STR_MAX:
        raise InvalidArgument(
            f"The value of feature '{feature.name}' has {len(value)} characters; at most "
            f"{STR_MAX} fit (store longer text in a file artifact)."
        )
    return value


def _as_int(feature: Any, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,18}\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    raise _bad(feature, value)


def _as_float(feature: Any, value: Any) -> float:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _bad(feature, value) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise _bad(feature, value)
    if not math.isfinite(number):
        raise _bad(feature, value, " (a finite number)")
    return number


def _as_bool(feature: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise _bad(feature, value, " (true or false)")


def _as_date(feature: Any, value: Any) -> date:
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise _bad(feature, value, " (a date without a time)")
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise _bad(feature, value, " (YYYY-MM-DD)") from None
    raise _bad(feature, value)


def _as_datetime(feature: Any, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _bad(feature, value, " (ISO 8601, e.g. 2024-05-01T14:30)") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise _bad(feature, value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SCALAR = {
    "str": _as_str,
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "date": _as_date,
    "datetime": _as_datetime,
}


def _stored(kind: str, value: Any) -> Any:
    """A scalar as its value column holds it."""
    if kind == "bool":
        return int(value)
    if kind == "date":
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _loaded(kind: str, row: Any) -> Any:
    """A scalar from a value row (``value_str``, ``value_int``, ``value_float``, ``value_dt``)."""
    value = row[VALUE_COLUMN[kind]]
    if value is None:
        return None
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return value.date()
    return value


def as_text(value: Any) -> str:
    """A value as the audit trail and the app show it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def infer_dtype(value: Any) -> str:
    """The dtype a new feature gets from a first value: short text and lists of text are
    categorical (labels), longer text is str."""
    value = _plain(value)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, ULabel | list | tuple | set):
        return "cat"
    if isinstance(value, str):
        return "cat" if len(value) <= 100 and "\n" not in value else "str"
    raise InvalidArgument(f"No feature dtype fits {type(value).__name__} {value!r:.40}.")


# ---------------------------------------------------------------- planning a write


@dataclass
class Planned:
    """One feature's validated value for a write: ``scalar`` for a scalar feature, else
    ``labels`` as label ids or (name, type id) of labels to create."""

    feature: Feature  # saved, or new (created in the write's transaction)
    scalar: Any = None
    labels: list[int | tuple[str, int | None]] = field(default_factory=list)
    kind: str = ""  # the feature's kind ("float", "cat", …)

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = self.feature.kind


class Planner:
    """Validates ``{feature or name: value}`` dicts before anything is written, remembering
    the features and labels it looked up (a table of 10,000 rows asks once per name).

    ``create_features``: unknown names become new features (created in the write's
    transaction) with the dtype ``dtypes[name]`` or one inferred from the value."""

    def __init__(
        self, *, create_features: bool = False, dtypes: Mapping[str, Any] | None = None
    ) -> None:
        self.create = create_features
        self.dtypes = dict(dtypes or {})
        self.features: dict[str, Feature] = {}
        self._missing: set[str] = set()
        self._labels: dict[tuple[int | str, str], int | tuple[str, int | None]] = {}
        self._kinds: dict[int, str] = {}  # id(feature) -> its kind (a dtype read per cell is slow)

    def plan(self, values: Mapping[Any, Any]) -> list[Planned]:
        if not isinstance(values, Mapping):
            raise InvalidArgument(
                "Feature values are a dict, e.g. {'temperature': 37.0, 'stain': 'DAPI'}; got "
                f"{type(values).__name__}."
            )
        self.load([k for k in values if isinstance(k, str)])
        return [self.one(key, value) for key, value in values.items()]

    def load(self, names: Iterable[str]) -> None:
        """Look up the features ``names`` (once each)."""
        if isinstance(names, list) and len(names) == 1 and names[0] in self.features:
            return  # the usual case of a table: asked once per cell
        todo = [n for n in names if n not in self.features and n not in self._missing]
        if todo:
            self.features.update(_features_by_name(todo))
            self._missing.update(n for n in todo if n not in self.features)

    def feature(self, key: Any, value: Any = None) -> Feature:
        """The feature a values dict names with ``key`` (new ones made as the planner allows)."""
        known = self.features.get(key) if isinstance(key, str) else None
        if known is not None:
            return known
        if isinstance(key, Feature):
            _saved_id(key)
            return key
        if not isinstance(key, str):
            raise InvalidArgument(f"Feature values are keyed by feature names, not {key!r:.40}.")
        self.load([key])
        if key in self.features:
            return self.features[key]
        name = check_feature_name(key)
        if not self.create:
            raise InvalidArgument(
                f"There is no feature '{name}'; create it with ls.Feature('{name}', dtype=…)"
                ".save() or pass create_features=True."
            )
        text, kind = parse_dtype(self.dtypes.get(name) or infer_dtype(value))
        new = object.__new__(Feature)
        new.__dict__["_ls_new"] = dict(
            name=name,
            dtype=text,
            type_id=kind.id if kind is not None else None,
            unit=None,
            description=None,
        )
        new.__init__()  # type: ignore[misc]
        self.features[name] = new
        return new

    def one(self, key: Any, value: Any) -> Planned:
        """One validated value of the feature ``key``."""
        feature = self.feature(key, value)
        kind = self._kinds.get(id(feature))
        if kind is None:
            kind = self._kinds[id(feature)] = feature.kind
        checked = coerce(feature, value, kind)
        if kind != "cat":
            return Planned(feature, scalar=checked, kind=kind)
        return Planned(feature, labels=self._label_refs(feature, checked), kind=kind)

    def _label_refs(self, feature: Feature, items: list[Any]) -> list[int | tuple[str, int | None]]:
        """Label ids (or labels to create) of a categorical feature's values: names are looked
        up in the feature's label type (cat[TYPE]) or among all labels (cat)."""
        type_id = feature.type_id
        refs: list[int | tuple[str, int | None]] = []
        for item in items:
            if isinstance(item, ULabel):
                label_id = item.id if item.__dict__.get("id") else item.save().id
                if type_id is not None and item.type_id != type_id:
                    raise InvalidArgument(
                        f"The label '{label_path(item)}' is not a {feature.dtype[4:-1]}; "
                        f"feature '{feature.name}' takes {feature.dtype}."
                    )
                refs.append(label_id)
                continue
            name = check_name(item)
            marker = (feature.id or feature.name, name)
            if marker not in self._labels:
                self._labels[marker] = _label_id_or_new(feature, name, type_id)
            refs.append(self._labels[marker])
        return list(dict.fromkeys(refs))


def plan(
    values: Mapping[Any, Any],
    *,
    create_features: bool = False,
    dtypes: Mapping[str, Any] | None = None,
) -> list[Planned]:
    """Validate ``{feature or name: value}`` before anything is written."""
    return Planner(create_features=create_features, dtypes=dtypes).plan(values)


def _features_by_name(names: list[str]) -> dict[str, Feature]:
    if not names:
        return {}
    rows = read(
        lambda s: s.execute(select(schema.features).where(F.name.in_(names))).mappings().all(),
        what="looking up features",
    )
    return {r["name"]: record_from_row(Feature, r) for r in rows}


def _label_id_or_new(
    feature: Feature, name: str, type_id: int | None
) -> int | tuple[str, int | None]:
    cond = L.name == name
    if type_id is not None:
        cond = cond & (L.type_id == type_id)
    rows = read(
        lambda s: s.execute(select(L.id, L.type_id).where(cond).limit(6)).all(),
        what=f"looking up label '{name}'",
    )
    if len(rows) == 1:
        return int(rows[0][0])
    if not rows:
        return (name, type_id)
    untyped = [r for r in rows if r[1] is None]
    if len(untyped) == 1:  # a plain label of that name beats labels that have a type
        return int(untyped[0][0])
    listed = ", ".join(label_path(x) for x in ULabel.filter(name=name)._clone(limit=6))
    raise InvalidArgument(
        f"Several labels are called '{name}' ({listed}); give feature '{feature.name}' the "
        "ls.ULabel record, or make its dtype cat[TYPE]."
    )


# ---------------------------------------------------------------- writing values


def write_values(
    registry: str, ids: list[int], planned: list[Planned], who: Actor, *, replace: bool
) -> None:
    """Give every record ``ids`` the planned values, in one transaction: a scalar value
    replaces the record's value of that feature; categorical values are added (``replace``:
    they become the feature's only values)."""
    if not ids or not planned:
        return
    write_many(registry, dict.fromkeys(ids, planned), who, replace=replace)


def write_many(
    registry: str, planned: Mapping[int, list[Planned]], who: Actor, *, replace: bool
) -> None:
    """Give each record its own planned values (``{record id: [Planned, …]}``), all in one
    transaction (as ``write_values``)."""
    spec = _spec_of(registry)
    if not any(planned.values()):
        return

    def run(s: Session) -> None:
        annotation_lock(s)
        apply_many(s, spec, planned, who, replace=replace)

    write(run, what=f"saving feature values of {len(planned)} {spec.key}(s)")
    table = spec.feature_values
    if table is not None:
        refresh_statistics([table.name], sum(len(p) for p in planned.values()))


def apply(
    s: Session, spec: Registry, ids: list[int], planned: list[Planned], who: Actor, *, replace: bool
) -> None:
    """Inside a write transaction: the same planned values for every record ``ids``."""
    apply_many(s, spec, dict.fromkeys(ids, planned), who, replace=replace)


def apply_many(
    s: Session, spec: Registry, planned: Mapping[int, list[Planned]], who: Actor, *, replace: bool
) -> None:
    """Inside a write transaction: create the features and labels the values need, then write
    them feature by feature, in batches."""
    everything = [p for values in planned.values() for p in values]
    _create_features(s, list({id(p.feature): p.feature for p in everything}.values()), who.user_id)
    wanted = [ref for p in everything for ref in p.labels if isinstance(ref, tuple)]
    made = ensure_labels(s, wanted, who.user_id) if wanted else {}
    scalars: dict[int, tuple[Feature, dict[int, Any]]] = {}
    cats: dict[int, tuple[Feature, dict[int, list[int]]]] = {}
    for record_id, values in planned.items():
        for p in values:
            if p.kind == "cat":
                ids = [r if isinstance(r, int) else made[r] for r in p.labels]
                cats.setdefault(id(p.feature), (p.feature, {}))[1][record_id] = ids
            else:
                scalars.setdefault(id(p.feature), (p.feature, {}))[1][record_id] = p.scalar
    for feature, by_record in scalars.values():
        _write_scalar(s, spec, feature, by_record, who)
    for feature, by_record in cats.values():
        _write_labels(s, spec, feature, by_record, who, replace=replace)


def _create_features(s: Session, features: list[Feature], creator: int) -> None:
    for feature in features:
        if feature.__dict__.get("id") is not None:
            continue
        fields = {
            k: feature.__dict__.get(k) for k in ("name", "dtype", "type_id", "unit", "description")
        }
        found = s.execute(select(schema.features).where(F.name == fields["name"])).mappings()
        existing = found.first()
        if existing is None:
            values = _new_feature_row(fields, creator)
            new_id = s.execute(
                insert(schema.features).values(**values).returning(F.id)
            ).scalar_one()
            row: dict[str, Any] = {**values, "id": int(new_id)}
        elif existing["dtype"] != fields["dtype"]:
            raise InvalidArgument(
                f"The feature '{fields['name']}' was saved meanwhile with dtype "
                f"{existing['dtype']}."
            )
        else:
            row = dict(existing)
        as_saved(feature, row)


def _write_scalar(
    s: Session, spec: Registry, feature: Feature, by_record: dict[int, Any], who: Actor
) -> None:
    """The records' values of one scalar feature: inserted, or updated where they changed."""
    values, _ = _tables(spec)
    fk = values.c[f"{spec.key}_id"]
    kind = feature.kind
    column = VALUE_COLUMN[kind]
    events: list[dict[str, Any]] = []
    for part in chunks(list(by_record)):
        have = {
            r[fk.key]: r
            for r in s.execute(
                select(values).where(fk.in_(part), values.c.feature_id == feature.id)
            ).mappings()
        }
        new = [r for r in part if r not in have]
        changed = [have[r] for r in part if r in have and _loaded(kind, have[r]) != by_record[r]]
        if new:
            insert_rows(
                s,
                values,
                [
                    {fk.key: r, "feature_id": feature.id, column: _stored(kind, by_record[r])}
                    for r in new
                ],
            )
        if changed:
            s.execute(
                update(values)
                .where(values.c.id == bindparam("row_id"))
                .values({column: bindparam("new_value")}),
                [
                    {"row_id": row["id"], "new_value": _stored(kind, by_record[row[fk.key]])}
                    for row in changed
                ],
            )
        for row in changed:
            events.append(_event(row[fk.key], "remove", feature, as_text(_loaded(kind, row))))
        events += [
            _event(r, "add", feature, as_text(by_record[r]))
            for r in [*new, *(x[fk.key] for x in changed)]
        ]
    record_events(s, spec, events, who)


def _event(record: int, action: str, feature: Any, value: str) -> dict[str, Any]:
    return {
        "record": record,
        "action": action,
        "feature_id": feature.id,
        "feature": feature.name,
        "value": value,
    }


def _write_labels(
    s: Session,
    spec: Registry,
    feature: Feature,
    by_record: dict[int, list[int]],
    who: Actor,
    *,
    replace: bool,
) -> None:
    """The records' labels as values of one categorical feature (``replace``: the others go)."""
    _, links = _tables(spec)
    fk = links.c[f"{spec.key}_id"]
    groups: dict[tuple[int, ...], list[int]] = {}
    for record_id, label_ids in by_record.items():
        groups.setdefault(tuple(label_ids), []).append(record_id)
    if replace:
        for group, members in groups.items():
            unlink(s, spec, members, list(group), who, keep=True, feature_id=feature.id)
    every = sorted({x for label_ids in groups for x in label_ids})
    names = {int(i): str(n) for i, n in s.execute(select(L.id, L.name).where(L.id.in_(every)))}
    made: list[dict[str, Any]] = []
    for part in chunks(list(by_record)):
        have = set(
            s.execute(
                select(fk, links.c.ulabel_id).where(
                    fk.in_(part), links.c.feature_id == feature.id, links.c.ulabel_id.in_(every)
                )
            ).all()
        )
        made += [
            {fk.key: r, "ulabel_id": lid, "feature_id": feature.id}
            for r in part
            for lid in by_record[r]
            if (r, lid) not in have
        ]
    if made:
        insert_rows(s, links, made)
    record_events(
        s,
        spec,
        [
            {
                **_event(m[fk.key], "add", feature, names[m["ulabel_id"]]),
                "ulabel_id": m["ulabel_id"],
            }
            for m in made
        ],
        who,
    )


def _drop_scalar(
    s: Session, spec: Registry, ids: list[int], feature: Any, who: Actor, only: Any = None
) -> int:
    """Inside a write transaction: remove the records' value of a scalar feature (only when it
    equals ``only``, if given)."""
    values, _ = _tables(spec)
    fk = values.c[f"{spec.key}_id"]
    kind = kind_of(feature.dtype)
    dropped = 0
    for part in chunks(list(dict.fromkeys(ids))):
        rows = [
            r
            for r in s.execute(
                select(values).where(fk.in_(part), values.c.feature_id == feature.id)
            ).mappings()
            if only is None or _loaded(kind, r) == only
        ]
        if not rows:
            continue
        s.execute(delete(values).where(values.c.id.in_([r["id"] for r in rows])))
        record_events(
            s,
            spec,
            [_event(r[fk.key], "remove", feature, as_text(_loaded(kind, r))) for r in rows],
            who,
        )
        dropped += len(rows)
    return dropped


def remove_values(
    registry: str, ids: list[int], feature: Any, value: Any = None, *, run: Any = None
) -> int:
    """Remove the records' values of ``feature`` (only ``value``, if given) in one
    transaction; the number of values removed."""
    spec = _spec_of(registry)
    found = _resolve_feature(feature)
    who = actor(run)
    if found.kind == "cat":
        label_ids = None if value is None else _existing_label_ids(found, value)

        def run_cat(s: Session) -> int:
            annotation_lock(s)
            if label_ids is None:
                return unlink(s, spec, ids, [], who, keep=True, feature_id=found.id)
            return unlink(s, spec, ids, label_ids, who, feature_id=found.id)

        return write(run_cat, what=f"removing values of '{found.name}'")
    only = None if value is None else coerce(found, value)

    def run_(s: Session) -> int:
        annotation_lock(s)
        return _drop_scalar(s, spec, ids, found, who, only=only)

    return write(run_, what=f"removing values of '{found.name}'")


def _existing_label_ids(feature: Feature, value: Any) -> list[int]:
    cond = label_ids_matching(list(_flatten([value])), feature.name, feature.type_id)
    return list(read(lambda s: list(s.execute(cond).scalars()), what="looking up labels"))


def _resolve_feature(feature: Any) -> Feature:
    if isinstance(feature, Feature):
        _saved_id(feature)
        return feature
    if isinstance(feature, str):
        found = feature_named(feature.strip())
        if found is None:
            raise InvalidArgument(f"There is no feature '{feature.strip()}'.")
        return found
    raise InvalidArgument(f"Name a feature by its name or record, not {feature!r:.40}.")


# ---------------------------------------------------------------- reading values


def values_of(
    registry: str, ids: list[int], names: list[str] | None = None, *, detailed: bool = False
) -> dict[int, dict[str, Any]]:
    """``{id: {feature name: value}}`` of the records (only the features ``names``): scalars
    as Python values, a categorical feature as its label's name (a sorted list of names when it
    has several). ``detailed``: ``{name: {"value", "dtype", "unit", "labels"}}`` instead."""
    spec = _spec_of(registry)
    values, links = _tables(spec)
    fk_v, fk_l = values.c[f"{spec.key}_id"], links.c[f"{spec.key}_id"]
    out: dict[int, dict[str, Any]] = {i: {} for i in ids}
    feature_filter = [F.name.in_(names)] if names is not None else []

    def q(s: Session) -> None:
        for part in chunks(list(dict.fromkeys(ids))):
            scalars = s.execute(
                select(values, F.name, F.dtype, F.unit)
                .join(schema.features, F.id == values.c.feature_id)
                .where(fk_v.in_(part), *feature_filter)
            ).mappings()
            for row in scalars:
                value = _loaded(kind_of(row["dtype"]), row)
                out[row[fk_v.key]][row["name"]] = (
                    {"value": value, "dtype": row["dtype"], "unit": row["unit"], "labels": []}
                    if detailed
                    else value
                )
            cats = s.execute(
                select(fk_l, F.name, F.dtype, F.unit, L.name, L.uid)
                .join(schema.features, F.id == links.c.feature_id)
                .join(schema.ulabels, L.id == links.c.ulabel_id)
                .where(fk_l.in_(part), *feature_filter)
                .order_by(L.name)
            ).all()
            for record_id, name, dtype, unit, label, label_uid in cats:
                entry = out[record_id].setdefault(
                    name, {"value": None, "dtype": dtype, "unit": unit, "labels": []}
                )
                entry["labels"].append({"name": label, "uid": label_uid})
        if not detailed:
            for held in out.values():
                for name, entry in list(held.items()):
                    if isinstance(entry, dict):
                        found = [x["name"] for x in entry["labels"]]
                        held[name] = found[0] if len(found) == 1 else found
        else:
            for held in out.values():
                for entry in held.values():
                    if entry["labels"]:
                        found = [x["name"] for x in entry["labels"]]
                        entry["value"] = found[0] if len(found) == 1 else found

    read(q, what="reading feature values")
    return out


def history_of(registry: str, record_id: int) -> list[dict[str, Any]]:
    """The audit trail of one record, oldest first: ``{"action", "feature", "value", "user",
    "at", "run"}`` (``feature`` None for a plain label)."""
    spec = _spec_of(registry)
    e = schema.annotation_events.c
    users, runs = schema.users.c, schema.runs.c
    stmt = (
        select(e.action, e.feature, e.value, users.handle, e.created_at, runs.uid)
        .outerjoin(schema.users, users.id == e.created_by_id)
        .outerjoin(schema.runs, runs.id == e.run_id)
        .where(e[f"{spec.key}_id"] == record_id)
        .order_by(e.id)
    )
    rows = read(lambda s: s.execute(stmt).all(), what="reading the annotation history")
    return [
        {"action": a, "feature": f, "value": v, "user": u, "at": at, "run": r}
        for a, f, v, u, at, r in rows
    ]


# ---------------------------------------------------------------- versions


def inherit(s: Session, spec: Registry, pairs: Iterable[tuple[int, int]], who: Actor) -> None:
    """Inside the transaction that publishes new versions: copy each source record's labels
    and feature values to its new version (``pairs``: (new id, source id)), skipping what the
    new version holds already; recorded as "inherit" events."""
    pairs = [(new, old) for new, old in pairs if new != old]
    if not pairs:
        return
    values, links = _tables(spec)
    fk_v, fk_l = values.c[f"{spec.key}_id"], links.c[f"{spec.key}_id"]
    targets: dict[int, list[int]] = {}
    for new, old in pairs:
        targets.setdefault(old, []).append(new)
    sources = list(targets)
    for part in chunks(sources):
        rows = s.execute(
            select(fk_l, links.c.ulabel_id, links.c.feature_id, L.name, F.name)
            .join(schema.ulabels, L.id == links.c.ulabel_id)
            .outerjoin(schema.features, F.id == links.c.feature_id)
            .where(fk_l.in_(part))
        ).all()
        news = [n for o in part for n in targets[o]]
        have = set(
            s.execute(
                select(fk_l, links.c.ulabel_id, links.c.feature_id).where(fk_l.in_(news))
            ).all()
        )
        made = [
            (n, label_id, feature_id, label, feature)
            for old, label_id, feature_id, label, feature in rows
            for n in targets[old]
            if (n, label_id, feature_id) not in have
        ]
        if made:
            insert_rows(
                s,
                links,
                [{fk_l.key: n, "ulabel_id": lab, "feature_id": f} for n, lab, f, _, _ in made],
            )
        events = [
            {
                "record": n,
                "action": "inherit",
                "ulabel_id": lab,
                "feature_id": f,
                "feature": fname,
                "value": label,
            }
            for n, lab, f, label, fname in made
        ]
        scalars = (
            s.execute(
                select(values, F.name, F.dtype)
                .join(schema.features, F.id == values.c.feature_id)
                .where(fk_v.in_(part))
            )
            .mappings()
            .all()
        )
        held = set(s.execute(select(fk_v, values.c.feature_id).where(fk_v.in_(news))).all())
        copies = [
            (n, row)
            for row in scalars
            for n in targets[row[fk_v.key]]
            if (n, row["feature_id"]) not in held
        ]
        if copies:
            insert_rows(
                s,
                values,
                [
                    {
                        fk_v.key: n,
                        "feature_id": row["feature_id"],
                        **{
                            c: row[c] for c in ("value_str", "value_int", "value_float", "value_dt")
                        },
                    }
                    for n, row in copies
                ],
            )
        events += [
            {
                "record": n,
                "action": "inherit",
                "feature_id": row["feature_id"],
                "feature": row["name"],
                "value": as_text(_loaded(kind_of(row["dtype"]), row)),
            }
            for n, row in copies
        ]
        record_events(s, spec, events, who)


# ---------------------------------------------------------------- the manager


class FeatureManager:
    """``x.features``: the feature values of one saved artifact or collection."""

    def __init__(self, record: Any) -> None:
        self._record = record
        self._spec = _spec_of(record)

    def _id(self) -> int:
        return _saved_id(self._record)

    def add_values(
        self, values: Mapping[Any, Any], *, create_features: bool = False, run: Any = None
    ) -> None:
        """Add values (``{"temperature": 37.0, "stain": "DAPI"}``): a scalar replaces the
        feature's value, labels are added to a categorical feature's values. Unknown features
        are refused unless ``create_features=True`` (dtypes inferred from the values)."""
        record_id = self._id()
        planned = plan(values, create_features=create_features)
        write_values(self._spec.key, [record_id], planned, actor(run), replace=False)

    def set_values(
        self, values: Mapping[Any, Any], *, create_features: bool = False, run: Any = None
    ) -> None:
        """Like ``add_values``, but a categorical feature's labels replace its old ones."""
        record_id = self._id()
        planned = plan(values, create_features=create_features)
        write_values(self._spec.key, [record_id], planned, actor(run), replace=True)

    def get_values(self) -> dict[str, Any]:
        """``{feature name: value}``; a categorical value is its label's name (a sorted list
        of names when there are several)."""
        return values_of(self._spec.key, [self._id()])[self._id()]

    def remove_values(self, feature: Any, value: Any = None, *, run: Any = None) -> None:
        """Remove the value(s) of ``feature`` (a name or record); with ``value``, only that one."""
        removed = remove_values(self._spec.key, [self._id()], feature, value, run=run)
        if not removed:
            what = f"the value {value!r}" if value is not None else "a value"
            say(
                f"{self._spec.key} {self._record.uid} holds no {what} of '{feature}'; nothing removed"
            )

    def history(self) -> list[dict[str, Any]]:
        """Who added or removed which label or value, when and in which run; oldest first."""
        return history_of(self._spec.key, self._id())

    def __repr__(self) -> str:
        values = self.get_values()
        body = ", ".join(f"{k}={v!r}" for k, v in sorted(values.items()))
        return f"<features of {self._spec.key} {self._record.uid}: {body or 'none'}>"


def describe_lines(record: Any) -> list[tuple[str, str]]:
    """``describe()`` lines of a record's labels and feature values."""
    if record.__dict__.get("id") is None:
        return []
    from .labels import labels_of

    spec = _spec_of(record)
    plain = [x for x in labels_of(spec.key, [record.id])[record.id] if x["feature"] is None]
    detail = values_of(spec.key, [record.id], detailed=True)[record.id]
    lines = []
    if plain:
        lines.append(
            (
                "ulabels",
                ", ".join(f"{x['type']}/{x['name']}" if x["type"] else x["name"] for x in plain),
            )
        )
    for name in sorted(detail):
        entry = detail[name]
        value = entry["value"]
        text = ", ".join(map(as_text, value)) if isinstance(value, list) else as_text(value)
        unit = f" {entry['unit']}" if entry["unit"] else ""
        lines.append((name, f"{text}{unit} ({entry['dtype']})"))
    return lines


# ---------------------------------------------------------------- queries


def _feature_lookup(
    model: Model, head: str, rest: list[str], op: str, value: Any, path: str
) -> ColumnElement[bool] | None:
    spec = registry_of(model)
    if not spec.annotated or not NAME_RULE.fullmatch(head):
        return None
    feature = feature_named(head)
    if feature is None:
        return None
    values, links = _tables(spec)
    if feature.kind == "cat":
        fk = links.c[f"{spec.key}_id"]
        holders = select(fk).where(links.c.feature_id == feature.id)
        cond = _cat_condition(feature, links, rest, op, value, path)
        if cond is None:  # isnull
            has: ColumnElement[bool] = model.id.in_(holders)
            return ~has if _null_wanted(op, value) else has
        return ids_in(model, holders.where(cond))
    if rest:
        raise InvalidArgument(
            f"'{path}': feature '{feature.name}' is a {feature.dtype}; it has no field '{rest[0]}'."
        )
    fk = values.c[f"{spec.key}_id"]
    holders = select(fk).where(*_holding(values, feature.id, feature.dtype))
    if op == "isnull" or (op == "exact" and value is None):
        has = model.id.in_(holders)
        return ~has if _null_wanted(op, value) else has
    column = values.c[VALUE_COLUMN[feature.kind]]
    return ids_in(model, holders.where(_scalar_condition(feature, column, op, value, path)))


def _null_wanted(op: str, value: Any) -> bool:
    return bool(value) if op == "isnull" else True


def _cat_condition(
    feature: Feature, links: Any, rest: list[str], op: str, value: Any, path: str
) -> ColumnElement[bool] | None:
    """The condition on a link row of ``feature`` (None: the lookup asks about presence)."""
    if rest:
        inner = compile_lookup(ULabel, "__".join([*rest, op]), value)
        ids = select(ULabel.id).where(inner)
    elif op == "isnull" or (op == "exact" and value is None):
        return None
    elif op in ("exact", "in"):
        items = [value] if op == "exact" else _listed(value, path)
        # the label ids now, as literals: the planner then knows how many records hold them
        found = label_ids_matching(items, path, feature.type_id)
        label_ids: list[int] = read(
            lambda s: list(s.execute(found).scalars()), what="looking up labels"
        )
        return links.c.ulabel_id.in_(label_ids)
    elif op in (
        "iexact",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
    ):
        inner = compile_lookup(ULabel, f"name__{op}", value)
        ids = select(ULabel.id).where(inner)
    else:
        raise InvalidArgument(
            f"The lookup '{path}' orders the labels of feature '{feature.name}' ({feature.dtype}); "
            "labels compare by name: use exact, in, contains, startswith or isnull."
        )
    return links.c.ulabel_id.in_(ids)


def _listed(value: Any, path: str) -> list[Any]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise InvalidArgument(f"The lookup '{path}' needs a list of values.")
    return list(value)


def _scalar_condition(
    feature: Feature, column: Any, op: str, value: Any, path: str
) -> ColumnElement[bool]:
    kind = feature.kind

    def typed(v: Any) -> Any:
        if v is None:
            raise InvalidArgument(
                f"The lookup '{path}' cannot compare with None; use '__isnull=True'."
            )
        try:
            if kind == "int" and not isinstance(v, bool) and isinstance(_plain(v), float | str):
                number = _as_float(feature, v)  # 30.5 compares with ints as well
                return int(number) if number.is_integer() else number
            return _stored(kind, coerce(feature, v))
        except InvalidArgument:
            raise InvalidArgument(
                f"The lookup '{path}' got {v!r:.60}, which is not a {feature.dtype} (the dtype "
                f"of feature '{feature.name}')."
            ) from None

    if kind == "bool" and op not in ("exact", "in"):
        raise InvalidArgument(
            f"The lookup '{path}' orders a yes/no feature; use '__exact' instead."
        )
    if op == "exact":
        return column == typed(value)
    if op == "in":
        return column.in_([typed(v) for v in _listed(value, path)])
    if op == "range":
        try:
            low, high = value
        except (TypeError, ValueError):
            raise InvalidArgument(f"The lookup '{path}' needs a (low, high) pair.") from None
        return column.between(typed(low), typed(high))
    if op in ("gt", "gte", "lt", "lte"):
        bound = typed(value)
        return {
            "gt": column > bound,
            "gte": column >= bound,
            "lt": column < bound,
            "lte": column <= bound,
        }[op]
    if kind != "str":
        raise InvalidArgument(
            f"The lookup '{path}' compares text; feature '{feature.name}' is a {feature.dtype}."
        )
    if op == "iexact":
        return func.lower(column) == str(value).lower()
    text = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {"contains": f"%{text}%", "startswith": f"{text}%", "endswith": f"%{text}"}[
        op.lstrip("i")
    ]
    if op.startswith("i"):
        return func.lower(column).like(pattern.lower(), escape="\\")
    return column.like(pattern, escape="\\")


def _feature_names(model: type) -> list[str]:
    if not registry_of(model).annotated:
        return []
    stmt = select(F.name).order_by(F.name).limit(50)
    return list(read(lambda s: list(s.execute(stmt).scalars()), what="listing features"))


def _frame_columns(model: type, ids: list[int], names: list[str]) -> dict[str, dict[int, Any]]:
    spec = registry_of(model)
    if not spec.annotated:
        raise InvalidArgument(f"{spec.title} have no features.")
    known = _features_by_name(list(names))
    missing = [n for n in names if n not in known]
    if missing:
        listed = ", ".join(_feature_names(model)) or "none yet"
        raise InvalidArgument(
            f"There is no feature {', '.join(map(repr, missing))}; features: {listed}."
        )
    by_record = values_of(spec.key, ids, list(names))
    return {n: {i: v[n] for i, v in by_record.items() if n in v} for n in names}


register_extension(
    Extension(
        name="features",
        lookup=_feature_lookup,
        names=_feature_names,
        columns=_frame_columns,
    )
)
