"""QuerySet: Django-style lookups compiled to SQLAlchemy, ranked search, DataFrames.

Everything filters, sorts, counts and pages in SQL; nothing walks a whole table
in Python. Trash (and records still being saved) are excluded unless the
lookup names ``visibility`` or selects by ``id``/``uid``.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    and_,
    bindparam,
    case,
    column,
    false,
    func,
    intersect,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    union,
)
from sqlalchemy import Text as SqlText
from sqlalchemy import text as sql_text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select, TableClause, TextClause
from sqlalchemy.sql.visitors import InternalTraversal

from .errors import DoesNotExist, InvalidArgument, MultipleResultsFound
from .humanize import nfc, text_forms, unsafe_char
from .instance import current
from .registry import REGISTRIES, registry_of
from .relations import Relation, columns_of, relations_of
from .schema import PENDING
from .session import read
from .textsim import word_similarity

if TYPE_CHECKING:
    import pandas as pd

HTML_ROWS = 20  # rows a QuerySet shows in Jupyter

# A mapped record class (Artifact, Collection, ...): its columns (``model.id``, ``model.uid``)
# are SQLAlchemy attributes added when the class is mapped, which mypy cannot see.
Model: TypeAlias = type[Any]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


OPS = [
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "isnull",
    "range",
]


SEARCH_MAX_CHARS = 200
# whitespace-like characters a pasted text may hold: searched for as a space
_SEARCH_SPACES = frozenset("\t\n\r\v\f\x85\u2028\u2029")


def clean_search_text(text: Any) -> str:
    """Search text as it is searched for: in NFC, tabs and line breaks as spaces, other control,
    text-direction and invisible characters (NUL, ESC, U+202E…) removed, at most
    ``SEARCH_MAX_CHARS`` characters; anything else raises ``InvalidArgument``."""
    if not isinstance(text, str):
        raise InvalidArgument(
            f"search() takes text, not {'None' if text is None else type(text).__name__}; "
            "e.g. search('DAPI')."
        )
    if len(text) > 10 * SEARCH_MAX_CHARS:  # far too long whatever it holds: say so at once
        raise _too_long(len(text))
    if not text.isprintable():
        text = "".join(
            " " if ch in _SEARCH_SPACES else ch
            for ch in text
            if ch in _SEARCH_SPACES or not unsafe_char(ch)
        )
    text = nfc(text)
    if len(text.strip()) > SEARCH_MAX_CHARS:
        raise _too_long(len(text.strip()))
    return text


def _too_long(n: int) -> InvalidArgument:
    return InvalidArgument(
        f"The search text is {n} characters long; a search takes at most {SEARCH_MAX_CHARS}: "
        "search for a shorter phrase, or filter() on a field."
    )


def _search_fields(model: Model) -> tuple[str, ...]:
    return registry_of(model).search_fields


def _fts_table(model: Model) -> str | None:
    return registry_of(model).fts_table


def _columns(model: Model) -> dict[str, Any]:
    return columns_of(model)


def _relations(model: Model) -> dict[str, Relation[Any]]:
    return relations_of(model)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _coerce_record(value: Any) -> Any:
    return value.id if hasattr(value, "__mapper__") and hasattr(value, "id") else value


def _python_type(col: Any) -> type | None:
    sql_type = getattr(col.type, "impl_instance", col.type)  # a TypeDecorator's underlying type
    try:
        return sql_type.python_type
    except (NotImplementedError, AttributeError):
        return None


def _coerce_value(col: Any, value: Any, path: str) -> Any:
    """A lookup value as the column's type, or one clear error (never a driver error)."""
    value = _coerce_record(value)
    kind = _python_type(col)
    if kind is None:
        return value
    if value is None:
        return value
    bad = InvalidArgument(f"The lookup '{path}' got {value!r:.60}, which is not a {kind.__name__}.")
    if kind is datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise bad from None
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if not isinstance(value, datetime):
            raise bad
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if kind is bool:
        if isinstance(value, bool | int) and value in (0, 1):
            return bool(value)
        raise bad
    if kind is int:
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
            value = int(value)
        if isinstance(value, int) and -(2**63) <= value < 2**63:
            return int(value)
        if isinstance(value, float) and abs(value) < 2**63:  # NaN compares false everywhere
            return value
        raise bad
    if kind is str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise bad
    return value


def _text_lookup(col: Any, op: str, value: Any, path: str) -> ColumnElement[bool] | None:
    """Text lookups compare in Unicode NFC, and match a value stored in NFD as well (an
    in-place key keeps a file's real name): "café" finds "café" whatever its form."""
    if _python_type(col) is not str:
        return None
    if op in ("exact", "iexact") and isinstance(value, str):
        forms = text_forms(value)
        if op == "iexact":
            return or_(*(func.lower(col) == f.lower() for f in forms))
        return col == forms[0] if len(forms) == 1 else col.in_(forms)
    if op == "in" and not isinstance(value, str) and hasattr(value, "__iter__"):
        values = list(value)
        if all(isinstance(v, str) for v in values):
            return col.in_([f for v in values for f in text_forms(v)])
    if op in ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"):
        if value is None:
            return None
        return or_(*(_op_expr(col, op, f, path, text_done=True) for f in text_forms(str(value))))
    if op in ("gt", "gte", "lt", "lte") and isinstance(value, str):
        return _op_expr(col, op, nfc(value), path, text_done=True)
    return None


def _op_expr(
    col: Any, op: str, value: Any, path: str, *, text_done: bool = False
) -> ColumnElement[bool]:
    if not text_done:
        text_cond = _text_lookup(col, op, value, path)
        if text_cond is not None:
            return text_cond
    if op in ("gt", "gte", "lt", "lte") and value is None:
        raise InvalidArgument(f"The lookup '{path}' cannot compare with None; use '__isnull=True'.")
    if op in ("gt", "gte", "lt", "lte", "range") and _python_type(col) is bool:
        raise InvalidArgument(f"The lookup '{path}' orders a yes/no field; use '__exact' instead.")
    if op in ("exact", "gt", "gte", "lt", "lte"):
        value = _coerce_value(col, value, path)
    if op == "exact":
        return col.is_(None) if value is None else col == _coerce_record(value)
    if op == "iexact":
        return func.lower(col) == str(value).lower()
    if op in ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"):
        if _python_type(col) not in (str, None):
            raise InvalidArgument(
                f"The lookup '{path}' compares text; the field is not a text field."
            )
        text = _escape_like(str(value))
        pattern = {
            "contains": f"%{text}%",
            "startswith": f"{text}%",
            "endswith": f"%{text}",
        }[op.lstrip("i")]
        if op.startswith("i"):
            return func.lower(col).like(pattern.lower(), escape="\\")
        return col.like(pattern, escape="\\")
    if op == "in":
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise InvalidArgument(f"The lookup '{path}' needs a list of values.")
        return col.in_([_coerce_value(col, v, path) for v in value])
    if op == "isnull":
        return col.is_(None) if value else col.is_not(None)
    if op == "range":
        try:
            low, high = value
        except (TypeError, ValueError):
            raise InvalidArgument(f"The lookup '{path}' needs a (low, high) pair.") from None
        if low is None or high is None:
            raise InvalidArgument(f"The lookup '{path}' cannot compare with None.")
        return col.between(_coerce_value(col, low, path), _coerce_value(col, high, path))
    return {"gt": col > value, "gte": col >= value, "lt": col < value, "lte": col <= value}[op]


@dataclass(frozen=True)
class Extension:
    """Lookups, search matches and DataFrame columns that a layer above adds to queries
    (labels and features: ``filter(ulabels=…)``, ``filter(temperature__gte=30)``), registered
    by that layer when it is imported (``register_extension``), so that this layer needs no
    import of it.

    ``lookup(model, head, rest, op, value, path)`` compiles a lookup whose first part ``head``
    is no field or relation of ``model`` (``rest``: the parts between it and the operator ``op``),
    or returns None when it does not know ``head``; ``names(model)`` lists the names it knows
    (for error messages); ``search(model, q)`` gives extra rows for a search (q lower-cased);
    ``columns(model, ids, names)`` gives ``{name: {id: value}}`` for ``to_dataframe(features=…)``.
    """

    name: str
    lookup: Callable[[type, str, list[str], str, Any, str], ColumnElement[bool] | None]
    names: Callable[[type], list[str]] = lambda model: []
    search: Callable[[type, str], ColumnElement[bool] | None] | None = None
    columns: Callable[[type, list[int], list[str]], dict[str, dict[int, Any]]] | None = None


_EXTENSIONS: dict[str, Extension] = {}


def register_extension(extension: Extension) -> None:
    """Add (or replace, by name) an extension of the lookups."""
    _EXTENSIONS[extension.name] = extension


def ids_in(model: Model, ids: Any) -> ColumnElement[bool]:
    """``model.id IN (ids)``, marked so that ``filter()`` intersects several such conditions
    in one subquery (``id IN (a INTERSECT b INTERSECT c)``): the database then combines the
    id sets before it reads any record, whatever it estimates their sizes to be (PostgreSQL
    underestimates feature values and would probe the records one by one)."""
    condition = model.id.in_(ids)
    condition._ls_ids = ids
    return condition


class _AnyOf(ColumnElement[bool]):
    """``column IN (subquery)``; on PostgreSQL ``column = ANY(ARRAY(subquery))``: see ``any_of``."""

    inherit_cache = True
    type = Boolean()
    # the cache key: both parts, their bound values included (SQLAlchemy reads it, never changes it)
    _traverse_internals = [  # noqa: RUF012
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, ids: Select) -> None:
        self.column = column
        self.ids = ids


@compiles(_AnyOf)
def _any_of_sql(element: _AnyOf, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.ids), **kw)


@compiles(_AnyOf, "postgresql")
def _any_of_pg(element: _AnyOf, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY({compiler.process(element.ids, **kw)}))"


def any_of(column: Any, ids: Select) -> ColumnElement[bool]:
    """``column IN (ids)`` for a condition ORed with indexed ones (a search's extra matches).

    PostgreSQL runs ``IN (subquery)`` as a hashed subplan tested row by row, and an OR holding
    one cannot be a BitmapOr of indexes: the whole OR becomes a scan of every row (200 ms at
    10^5 artifacts for a search that matches nothing). ``= ANY(ARRAY(subquery))`` runs the
    subquery once, first, and the primary-key index answers the array."""
    return _AnyOf(column, ids)


def _intersected(model: Model, conditions: list[Any]) -> list[Any]:
    """``conditions`` with their ``ids_in`` conditions merged into one."""
    marked = [c for c in conditions if getattr(c, "_ls_ids", None) is not None]
    if len(marked) < 2:
        return conditions
    parts = [part for c in marked for part in getattr(c, "_ls_parts", [c._ls_ids])]
    merged: Any = ids_in(model, intersect(*parts))  # marked with its parts below
    merged._ls_parts = parts  # a later filter() extends this INTERSECT (SQLite nests none)
    return [c for c in conditions if getattr(c, "_ls_ids", None) is None] + [merged]


def _extension_lookup(
    model: Model, head: str, rest: list[str], op: str, value: Any, path: str
) -> ColumnElement[bool] | None:
    for extension in _EXTENSIONS.values():
        found = extension.lookup(model, head, rest, op, value, path)
        if found is not None:
            return found
    return None


def _extension_names(model: Model) -> list[str]:
    return [n for extension in _EXTENSIONS.values() for n in extension.names(model)]


def _extension_search(model: Model, text: str) -> list[ColumnElement[bool]]:
    """The extra conditions of a search for ``text`` (rows carrying a matching label, …)."""
    found = []
    for extension in _EXTENSIONS.values():
        if extension.search is not None:
            cond = extension.search(model, text.lower())
            if cond is not None:
                found.append(cond)
    return found


def compile_lookup(model: Model, path: str, value: Any) -> ColumnElement[bool]:
    """``field__relation__op=value`` -> a SQL condition (EXISTS for relations; lookups on
    names the model has no field for go to the extensions, e.g. feature names)."""
    parts = path.split("__")
    op = "exact"
    if len(parts) > 1 and parts[-1] in OPS:
        op = parts.pop()
    head, rest = parts[0], parts[1:]
    cols, rels = _columns(model), _relations(model)
    if head in rels:
        rel = rels[head]
        target = rel.model
        if not rest:
            if op not in ("exact", "in", "isnull"):
                raise InvalidArgument(
                    f"The lookup '{path}' compares a relation; use '{head}__<field>'."
                )
            return _op_expr(getattr(model, rel.fk), op, value, path)
        inner = compile_lookup(target, "__".join([*rest, op]), value)
        return getattr(model, rel.fk).in_(select(target.id).where(inner))
    if head.endswith("_id") is False and f"{head}_id" in cols and not rest:
        return _op_expr(getattr(model, f"{head}_id"), op, value, path)
    if head not in cols or rest:
        extended = _extension_lookup(model, head, rest, op, value, path)
        if extended is not None:
            return extended
        valid = sorted(set(cols) | set(rels))
        extra = sorted(set(_extension_names(model)) - set(valid))
        others = f"; also {', '.join(extra)}" if extra else ""
        raise InvalidArgument(
            f"'{path}' is not a valid lookup on {model.__name__}: fields are {', '.join(valid)}"
            f"{others}; operators are {', '.join(OPS)}."
        )
    return _op_expr(getattr(model, head), op, value, path)


class QuerySet:
    """A lazy, chainable query over one registry."""

    def __init__(
        self,
        model: Model,
        *,
        conditions: tuple = (),
        order: tuple = (),
        limit: int | None = None,
        offset: int = 0,
        search: str | None = None,
        show_all: bool = False,
    ):
        self.model = model
        self._conditions = conditions
        self._order = order
        self._limit = limit
        self._offset = offset
        self._search = search
        self._show_all = show_all

    def _clone(self, **changes: Any) -> QuerySet:
        state: dict[str, Any] = dict(
            conditions=self._conditions,
            order=self._order,
            limit=self._limit,
            offset=self._offset,
            search=self._search,
            show_all=self._show_all,
        )
        state.update(changes)
        return QuerySet(self.model, **state)

    # -- building

    def filter(self, *conditions: ColumnElement[bool], **lookups: Any) -> QuerySet:
        for condition in conditions:
            if not isinstance(condition, ColumnElement):
                raise InvalidArgument(
                    f"{self.model.__name__}.filter() takes field lookups such as key='a.csv' "
                    f"(or SQL expressions); got {type(condition).__name__} {condition!r:.40}."
                )
        exprs = list(conditions) + [compile_lookup(self.model, k, v) for k, v in lookups.items()]
        show_all = self._show_all or any(
            k.split("__")[0] in ("visibility", "id", "uid") for k in lookups
        )
        combined = _intersected(self.model, [*self._conditions, *exprs])
        return self._clone(conditions=tuple(combined), show_all=show_all)

    def exclude(self, **lookups: Any) -> QuerySet:
        exprs = [compile_lookup(self.model, k, v) for k, v in lookups.items()]
        return self._clone(conditions=(*self._conditions, not_(and_(*exprs))))

    def order_by(self, *fields: str) -> QuerySet:
        cols = _columns(self.model)
        order = []
        for f in fields:
            name = f.lstrip("-")
            if name not in cols:
                raise InvalidArgument(
                    f"Cannot order {self.model.__name__} by '{name}': fields are {', '.join(sorted(cols))}."
                )
            col = getattr(self.model, name)
            order.append(col.desc() if f.startswith("-") else col.asc())
        return self._clone(order=tuple(order))

    def search(self, text: str) -> QuerySet:
        """Rows matching ``text`` (see ``clean_search_text`` for what ``text`` may be)."""
        return self._clone(search=clean_search_text(text))

    # -- SQL

    def _base_conditions(self) -> list[ColumnElement[bool]]:
        conds = list(self._conditions)
        if hasattr(self.model, "visibility"):
            conds.append(self.model.visibility != PENDING)
            if not self._show_all:
                conds.append(self.model.visibility >= 0)
        return conds

    def _search_terms(self, dialect: str) -> _Search | None:
        if not self._search or not self._search.strip():
            return None
        return _search_terms(self.model, self._search.strip(), dialect)

    def statement(
        self,
        columns: list[Any] | None = None,
        dialect: str = "sqlite",
        search: _Search | None = None,
    ) -> Select:
        stmt = select(*(columns or [self.model]))
        conds = self._base_conditions()
        search = search if search is not None else self._search_terms(dialect)
        order = list(self._order)
        if search is not None:
            conds.append(search.where)
            order = [search.rank, *order]
        if conds:
            stmt = stmt.where(and_(*conds))
        if not order:
            order = [self.model.id.desc()] if self._search is None else []
        order.append(self.model.id.desc())
        stmt = stmt.order_by(*order)
        if self._limit is not None:
            stmt = stmt.limit(self._limit)
        if self._offset:
            stmt = stmt.offset(self._offset)
        return stmt

    def _dialect(self) -> str:
        return current().dialect

    # -- evaluation

    def all(self) -> list[Any]:
        dialect = self._dialect()
        what = f"querying {self.model.__name__}"
        found: _Search | None = None
        if self._ranked_page_applies():
            assert self._search is not None  # a ranked page is a page of a search
            terms = found = self._search_terms(dialect)
            assert terms is not None  # the search text has 3 characters or more
            if dialect != "sqlite":  # as a short text's page, near misses as the last rank
                return read(lambda s: self._scanned_page(s, terms), what=what)
            if not terms.fuzzy:  # rank by rank from the FTS5 index
                return read(lambda s: self._tiered_page(s, terms), what=what)
        search = found if found is not None else self._search_terms(dialect)
        if self._short_page_applies():
            assert search is not None  # a short page is a page of a search
            return read(lambda s: self._scanned_page(s, search), what=what)
        stmt = self.statement(dialect=dialect, search=search).execution_options(
            populate_existing=True
        )
        return read(lambda s: list(s.scalars(stmt)), what=what)

    # -- a page of a ranked search without ranking every whole row

    def _ranked_page_applies(self) -> bool:
        """Whether this is a page (not everything) of a trigram-indexed search in the default
        order (rank, then newest first): what ``_tiered_page`` (SQLite) and ``_scanned_page``
        (PostgreSQL) serve."""
        text = (self._search or "").strip()
        return (
            len(text.lower()) >= 3
            and _fts_table(self.model) is not None
            and not self._order
            and self._limit is not None
            and self._limit > 0
            and self._offset + self._limit <= TIER_PROBE
        )

    def _tiered_page(self, s: Any, search: _Search) -> list[Any]:
        """SQLite: the rows ``statement()`` gives, fetched rank by rank.

        ORDER BY rank over every match of a common word decodes and ranks every matching row.
        Instead: the newest TIER_PROBE matches are read in id order, which FTS5 yields lazily;
        if that is all of them they are ranked as before. Otherwise the page is filled tier by
        tier (rank 0, 1, … ``RANKS - 1``), each newest first with a LIMIT: the exact matches
        cost one pass over the rows with a field that starts with the text or a path segment
        that does, the other tiers stop as soon as the page is full. Each tier tests
        ``rank = k`` with the very expression ``statement()`` sorts by, over a superset of the
        rows of that rank (``_tier_hint``).
        """
        model, base, rank = self.model, self._base_conditions(), search.rank
        assert self._limit is not None  # a page: see _ranked_page_applies/_short_page_applies
        need = self._offset + self._limit
        # the matches by uid (the FTS table knows no uids): the uid range, which holds the uid
        # equal to the text; where there is no range (no uid can equal such a text), that uid
        text = search.text
        if text.isalnum() and text.isascii():
            by_uid_cond = _uid_prefix(model, text)
        else:
            by_uid_cond = and_(model.uid == text, search.where)
        # rows the extensions add (a matching label) are no FTS hits either: found as the
        # uids are, each condition on its own (an OR of them would scan the table)
        by_uid_found: dict[int, int] = {}
        for cond in (by_uid_cond, *_extension_search(model, text)):
            by_uid_found.update(
                s.execute(
                    select(model.id, rank)
                    .where(*base, cond)
                    .order_by(rank, model.id.desc())
                    .limit(TIER_PROBE + 1)
                ).all()
            )
        by_uid = sorted(by_uid_found.items(), key=lambda ir: (ir[1], -ir[0]))[: TIER_PROBE + 1]

        def tier(k: int | None, limit: int) -> list[int]:
            """ids of the matches of rank k (of any rank if None), newest first, at most ``limit``."""
            # FTS5 hands out rowids newest first and stops at the LIMIT. Each tier asks the index
            # for its own candidates (``_tier_sources``: the right columns, word or trigram), so a
            # tier with no rows costs an index probe, not a pass over every row holding the text.
            found: set[int] = set()
            for name, hint, exact in _tier_sources(model, k, search.q):
                fts, match = _fts_source(model, hint, name)
                check = [] if exact or k is not None else [_substring_like(model, search.q)]
                stmt = (
                    select(model.id)
                    .select_from(fts)
                    .join(model, model.id == fts.c.rowid)
                    .where(match, *base, *check, *([] if k is None else [search.in_tier(k)]))
                    .order_by(fts.c.rowid.desc())
                    .limit(limit)
                )
                found.update(s.scalars(stmt))
            found.update(i for i, r in by_uid if k is None or r == k)
            return sorted(found, reverse=True)[:limit]

        newest = tier(None, TIER_PROBE + 1)
        if len(newest) <= TIER_PROBE and len(by_uid) <= TIER_PROBE:
            if not newest:
                return []
            stmt = (
                select(model)
                .where(model.id.in_(newest))
                .order_by(rank, model.id.desc())
                .offset(self._offset)
                .limit(self._limit)
            )
            return list(s.scalars(stmt.execution_options(populate_existing=True)))
        ids: list[int] = []
        for k in range(RANKS):
            if len(ids) >= need:
                break
            ids += tier(k, need - len(ids))
        page = ids[self._offset : need]
        if not page:
            return []
        stmt = select(model).where(model.id.in_(page)).execution_options(populate_existing=True)
        rows = {r.id: r for r in s.scalars(stmt)}
        return [rows[i] for i in page]

    def _short_page_applies(self) -> bool:
        """A page of a search too short for the trigram index (one or two characters), in the
        default order: what ``_scanned_page`` serves (on PostgreSQL, longer text too)."""
        text = (self._search or "").strip()
        return (
            0 < len(text) < 3
            and bool(_search_fields(self.model))
            and not self._order
            and self._limit is not None
            and self._limit > 0
            and self._offset + self._limit <= TIER_PROBE
        )

    def _scanned_page(self, s: Any, search: _Search) -> list[Any]:
        """The rows ``statement()`` gives, without ranking and sorting every match: on SQLite
        for one or two characters (such text is in most rows, and there is no trigram index),
        on PostgreSQL for any text (a common word is in most rows; near misses, when asked for,
        are the last rank: often many, a page of them is the newest few).

        The newest TIER_PROBE matches are read in id order, which stops early when matches are
        many; if that is all of them they are ranked here. Otherwise the page is filled rank by
        rank (``_ranking``'s tiers, near misses last), each newest
        first with a LIMIT, so a common rank stops as soon as the page is full, and a rank the
        probe holds enough rows of costs no query at all. On PostgreSQL (``search.sources``) a
        rank the probe holds no row of is read from the indexes (``_indexed_tiers``: an empty
        rank costs an index probe, not a pass over the table), and one it holds too few of from
        the primary-key range just below the probe that should hold them, then the indexes."""
        model, base, rank = self.model, self._base_conditions(), search.rank
        assert self._limit is not None  # a page: see _ranked_page_applies/_short_page_applies
        need = self._offset + self._limit
        # PostgreSQL reads the rest of a page from its indexes tier by tier (``sources``), so it
        # probes fewer rows: each costs its rank, and a near-miss test on every row read
        size = min(TIER_PROBE, max(need, PG_TIER_PROBE)) if search.sources else TIER_PROBE
        probe = s.execute(
            select(model.id, rank)
            .where(*base, search.where)
            .order_by(model.id.desc())
            .limit(size + 1)
        ).all()
        if len(probe) <= size:
            ids = [i for i, _ in sorted(probe, key=lambda r: (r[1], -r[0]))]
        else:
            # tier by tier (``_ranking``; no near misses here), each with its own cheaper
            # condition first. The probe holds every match newer than its oldest row, so its
            # rows of a tier are that tier's newest: only the rest is asked for, older ones.
            oldest, newest = probe[-1][0], probe[0][0]
            seen = Counter(r for _, r in probe)
            ids = []
            k = 0
            while k < RANKS and len(ids) < need:  # the last: near misses, label-only matches
                known = [i for i, r in probe if r == k][: need - len(ids)]
                ids += known
                if len(ids) >= need:
                    break
                if search.sources and not seen[k]:
                    # PostgreSQL, a tier the newest matches hold no row of: from the indexes,
                    # with the following such tiers (see ``_indexed_tiers``)
                    last = k
                    while last + 1 < RANKS and not seen[last + 1]:
                        last += 1
                    ids += self._indexed_tiers(s, search, k, last, oldest, need - len(ids))
                    k = last + 1
                    continue
                want = need - len(ids)
                # PostgreSQL: the ids just below the probe's, as many as should hold twice the
                # rows wanted at the tier's rate in the probe (a primary-key range, whatever
                # the planner estimates), the rest from the indexes
                below = (
                    oldest - (newest - oldest + 1) * 2 * want // seen[k] if search.sources else 0
                )
                found = s.scalars(
                    select(model.id)
                    .where(
                        *base,
                        model.id < oldest,
                        *([model.id >= below] if search.sources else []),
                        search.where,
                        *self._exact_candidates(k, search),
                        search.in_tier(k),
                    )
                    .order_by(model.id.desc())
                    .limit(want)
                ).all()
                if len(found) < want and below > 0:
                    found += self._indexed_tiers(s, search, k, k, below, want - len(found))
                ids += found
                k += 1
        page = ids[self._offset : need]
        if not page:
            return []
        stmt = select(model).where(model.id.in_(page)).execution_options(populate_existing=True)
        rows = {r.id: r for r in s.scalars(stmt)}
        return [rows[i] for i in page]

    def _indexed_tiers(
        self, s: Any, search: _Search, first: int, last: int, oldest: int, limit: int
    ) -> list[int]:
        """PostgreSQL: the ids of the rows of ranks ``first`` … ``last`` older than ``oldest``,
        in page order, at most ``limit``: for tiers that are rare among the matches (the page
        probe saw none of their rows, or too few), so that they are read from the indexes
        (``_Search.sources``) rather than found by reading the table newest first. A tier with
        no rows at all is the common case ("ple": no key holds it, no description has it as a
        word) and costs an index probe. The candidates are selected in a MATERIALIZED CTE
        with no ORDER BY or LIMIT, so that the planner cannot walk the primary key instead.
        The search's own condition is tested as ``IS TRUE`` (no index path), after the index."""
        model = self.model
        sources = [search.sources[k] for k in range(first, last + 1)]
        sources = [c for c in sources if c is not None]
        if not sources:
            return []
        hits = (
            select(model.id.label("id"), search.rank.label("rank"))
            .where(
                or_(*sources),
                model.id < oldest,
                *self._base_conditions(),
                search.where.is_(True),
                search.rank.between(first, last),
            )
            .cte("tier_hits")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        stmt = select(hits.c.id).order_by(hits.c.rank, hits.c.id.desc()).limit(limit)
        return list(s.scalars(stmt))

    def _exact_candidates(self, k: int, search: _Search) -> list[ColumnElement[bool]]:
        """SQLite, a tier of a scanned page: a superset of its rows from the word index, where
        the index can tell. ``EXACT``: the rows where a field may equal the text (its words
        begin the field) or the uid is it. For a text too short for the trigram index also
        ``NAME_WORD`` (a name holds it as a word, or the uid starts with it), ``NAME_PREFIX``
        (a name's first word starts with it) and ``TEXT_WORD`` (a description's first word
        starts with it, or it holds it as a word). Such tiers of a short, common text are
        mostly empty or rare, and proving that took a pass over every row for each ("00" in
        a few keys: ~40-50 ms a pass at 10^5 rows)."""
        words = _words_table(self.model)
        phrase = _word_phrase(search.q)
        if words is None or phrase is None or self._dialect() != "sqlite":
            return []

        def ids(match: str, n: int = 0) -> Select:
            fts, condition = _fts_source(self.model, match, words, param=f"words_match_{n}")
            return select(fts.c.rowid).select_from(fts).where(condition)

        def rows(*parts: Select) -> ColumnElement[bool]:
            # one IN list (of a UNION): SQLite looks each id up; an OR of two conditions
            # would make it pass over the rows again
            return self.model.id.in_(parts[0] if len(parts) == 1 else union(*parts))

        model = self.model
        if k == EXACT:
            return [or_(rows(ids(f"^{phrase}")), model.uid == search.text)]
        if len(search.q) >= 3:  # (a page of longer text is read from the indexes tier by tier)
            return []
        fields = _search_fields(self.model)
        names = _colspec([f for f in fields if f not in FREE_TEXT_FIELDS])
        texts = _colspec([f for f in fields if f in FREE_TEXT_FIELDS])
        if k == NAME_WORD and names != "{}":
            by_uid = select(model.id).where(_uid_range(model.uid, search.text))
            return [rows(ids(f"{names} : {phrase}"), by_uid)]
        if k == NAME_PREFIX and names != "{}":
            return [rows(ids(f"{names} : ^ {phrase} *"))]
        if k == TEXT_WORD and texts != "{}":
            return [rows(ids(f"{texts} : ^ {phrase} *"), ids(f"{texts} : {phrase}", 1))]
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item: int | slice) -> Any:
        """``qs[i]`` is a record; ``qs[a:b]`` a lazy QuerySet (LIMIT/OFFSET in SQL)."""
        if isinstance(item, slice):
            if (
                item.step not in (None, 1)
                or (item.start or 0) < 0
                or (item.stop is not None and item.stop < 0)
            ):
                raise InvalidArgument(
                    "QuerySet slices take non-negative start:stop without a step."
                )
            start = item.start or 0
            limit = None if item.stop is None else max(0, item.stop - start)
            if self._limit is not None:
                remaining = max(0, self._limit - start)
                limit = remaining if limit is None else min(limit, remaining)
            return self._clone(offset=self._offset + start, limit=limit)
        if item < 0:
            raise IndexError("QuerySets do not support negative indexing")
        rows = self._clone(offset=self._offset + item, limit=1).all()
        if not rows:
            raise IndexError(f"index {item} is out of range")
        return rows[0]

    def first(self) -> Any | None:
        rows = self._clone(limit=1).all()
        return rows[0] if rows else None

    def one_or_none(self) -> Any | None:
        rows = self._clone(limit=2).all()
        if len(rows) > 1:
            raise MultipleResultsFound(
                f"More than one {self.model.__name__} matches {self._describe()}."
            )
        return rows[0] if rows else None

    def one(self) -> Any:
        rec = self.one_or_none()
        if rec is None:
            raise DoesNotExist(f"No {self.model.__name__} matches {self._describe()}.")
        return rec

    def count(self) -> int:
        dialect = self._dialect()
        conds = self._base_conditions()
        search = self._search_terms(dialect)
        if search is not None:
            conds.append(search.where)
        stmt = select(func.count()).select_from(self.model)
        if conds:
            stmt = stmt.where(and_(*conds))
        if self._limit is not None or self._offset:
            inner = self.statement([self.model.id], dialect, search=search).subquery()
            stmt = select(func.count()).select_from(inner)
        elif search is not None and search.indexed:
            return read(lambda s: _count_from_indexes(s, stmt), what="counting")
        return read(lambda s: s.execute(stmt).scalar_one(), what="counting")

    def count_capped(self) -> tuple[int, bool]:
        """``(count(), capped)``; ``capped`` says the count is a lower bound: a search for a
        mistyped word on SQLite looks for near misses among its ``FUZZY_CANDIDATES`` best
        trigram candidates only, and when there were that many, more may exist (a front end
        shows "500+ — refine the search")."""
        n = self.count()
        dialect = self._dialect()
        search = self._search_terms(dialect)
        if search is None or not search.fuzzy or dialect != "sqlite":
            return n, False
        candidates = _fuzzy_candidates(self.model, search.q)
        if candidates is None:
            return n, False
        probe = select(func.count()).select_from(candidates.subquery())
        found = read(lambda s: s.execute(probe).scalar_one(), what="counting")
        return n, found >= FUZZY_CANDIDATES

    def exists(self) -> bool:
        return self.first() is not None

    def values(self, *fields: str) -> list[dict[str, Any]]:
        """Rows as dicts of the given fields (relation chains allowed, e.g. 'storage__root')."""
        fields = fields or tuple(_columns(self.model))
        cols, joins = _value_columns(self.model, fields)
        base = self.statement([self.model.id], self._dialect()).subquery()
        stmt = select(*cols).select_from(self.model)
        for target, onclause in joins:
            stmt = stmt.outerjoin(target, onclause)
        stmt = stmt.join(base, base.c.id == self.model.id)
        order = self.statement([self.model.id], self._dialect())._order_by_clauses
        stmt = stmt.order_by(*order)
        rows = read(lambda s: s.execute(stmt).all(), what="reading rows")
        return [dict(zip(fields, r, strict=True)) for r in rows]

    def values_list(self, field: str, flat: bool = True) -> list[Any]:
        rows = self.values(field)
        return [r[field] for r in rows] if flat else [(r[field],) for r in rows]

    def df(
        self, include: list[str] | None = None, features: list[str] | None = None
    ) -> pd.DataFrame:
        """The rows as a DataFrame indexed by ``id``; ``include`` adds field paths,
        ``features`` a column per feature name (its values; labels as names)."""
        import pandas as pd  # deferred: pandas costs ~200 ms to import

        fields = [f for f in _columns(self.model) if f not in ("source_code",)]
        fields += [f for f in (include or []) if f not in fields]
        rows = self.values(*fields)
        frame = pd.DataFrame(rows, columns=fields)
        if isinstance(features, str):
            raise InvalidArgument(f"features= takes a list of feature names, e.g. ['{features}'].")
        if features:
            extra = _extension_columns(self.model, [r["id"] for r in rows], list(features))
            for name in features:
                frame[name] = [extra.get(name, {}).get(r["id"]) for r in rows]
        return frame.set_index("id")

    def _describe(self) -> str:
        return f"the search '{self._search}'" if self._search else "the given lookups"

    def to_dataframe(
        self, include: list[str] | None = None, features: list[str] | None = None
    ) -> Any:
        """The rows as a DataFrame indexed by ``id`` (LaminDB 2's name for ``df()``)."""
        return self.df(include=include, features=features)

    def __repr__(self) -> str:
        rows = self._clone(limit=11).all() if self._limit is None else self.all()
        body = ",\n ".join(repr(r) for r in rows[:10])
        more = "\n ..." if len(rows) > 10 else ""
        return f"<QuerySet [{body}{more}]>"

    def _repr_html_(self) -> str:
        """A compact table in Jupyter: the registry's default columns, newest first, at most
        ``HTML_ROWS`` rows and a "… N more" line."""
        spec = registry_of(self.model)
        fields = [f for f in spec.columns if "__" not in f][:8]
        qs = self if self._order or self._search else self.order_by("-id")
        rows = qs._clone(limit=HTML_ROWS + 1, offset=self._offset).values(*fields)
        total = len(rows) if len(rows) <= HTML_ROWS else self.count()
        head = "".join(f"<th>{html.escape(f)}</th>" for f in fields)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(r[f]))}</td>" for f in fields) + "</tr>"
            for r in rows[:HTML_ROWS]
        )
        more = f"<p>… {total - HTML_ROWS} more</p>" if total > HTML_ROWS else ""
        return (
            f"<b>{spec.title}</b> ({total})<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{more}"
        )


def _extension_columns(model: Model, ids: list[int], names: list[str]) -> dict[str, dict[int, Any]]:
    for extension in _EXTENSIONS.values():
        if extension.columns is not None:
            return extension.columns(model, ids, names)
    raise InvalidArgument(f"{model.__name__} records have no features.")


def _value_columns(
    model: Model, fields: tuple[str, ...]
) -> tuple[list[Any], list[tuple[Any, Any]]]:
    cols, joins, aliases = [], [], {}
    for field in fields:
        parts = field.split("__")
        current, alias_path = model, ""
        current_alias: Any = model
        for rel_name in parts[:-1]:
            rels = _relations(current)
            if rel_name not in rels:
                raise InvalidArgument(f"'{field}' is not a valid field path on {model.__name__}.")
            rel = rels[rel_name]
            alias_path += "__" + rel_name
            if alias_path not in aliases:
                target = aliased(rel.model)
                joins.append((target, getattr(current_alias, rel.fk) == target.id))
                aliases[alias_path] = target
            current_alias, current = aliases[alias_path], rel.model
        if parts[-1] not in _columns(current):
            raise InvalidArgument(
                f"'{field}' is not a valid field of {model.__name__}: fields are "
                f"{', '.join(sorted(_columns(current)))}."
            )
        cols.append(getattr(current_alias, parts[-1]))
    return cols, joins


@dataclass(frozen=True)
class _Search:
    """A ranked search: ``where`` selects the rows, ``rank`` orders them (the tiers of
    ``_ranking``, 0 best)."""

    text: str
    q: str
    where: ColumnElement[bool]
    rank: Any
    fuzzy: bool  # whether ``where`` holds near misses
    tiers: tuple[Any, ...] = ()  # tier k's own condition (``rank == k`` needs it; cheaper first)
    # PostgreSQL: per tier, a condition an index answers that every row of the tier meets
    # (``_pg_tier_sources``); a tier the page probe saw no row of is read from it first
    sources: tuple[Any, ...] = ()
    # PostgreSQL: ``where`` is answered by indexes alone (the vocabulary's word arrays, the
    # uid and primary-key indexes), however many rows match: see ``_count_from_indexes``
    indexed: bool = False

    def in_tier(self, k: int) -> ColumnElement[bool]:
        """``rank = k``, after a cheaper condition every row of tier k meets (SQLite tests it
        first and skips the rank of most rows)."""
        own = self.tiers[k] if k < len(self.tiers) else None
        return self.rank == k if own is None else and_(own, self.rank == k)


def _search_clause(model: Model, text: str, dialect: str) -> tuple[ColumnElement[bool], Any]:
    """(WHERE, rank) of a ranked search: exact, prefix, substring, then fuzzy matches."""
    terms = _search_terms(model, text, dialect)
    return terms.where, terms.rank


def _search_terms(model: Model, text: str, dialect: str, few_hits: bool | None = None) -> _Search:
    """A ranked search: exact, prefix, substring, then fuzzy matches.

    Substring candidates come from the trigram index (FTS5 on SQLite, pg_trgm on
    PostgreSQL); fuzzy matches are looked for only when substrings are few, so a
    common word costs one index lookup and a sort, not a scan (and a page of a common
    word not even the sort: see ``QuerySet._tiered_page``). ``few_hits``: the answer of
    ``_few_substring_hits`` if known already.
    """
    names = _search_fields(model)
    q = text.lower()
    lowered = [func.lower(getattr(model, f)) for f in names]
    rank, substring, tiers = _ranking(q, text, model.uid, dict(zip(names, lowered, strict=True)))
    candidates = _substring_candidates(model, q, dialect)
    holding: dict[str, Any] = {}
    if dialect == "postgresql":
        holding, any_word = _pg_vocabulary_candidates(
            model, q, dict(zip(names, lowered, strict=True))
        )
        if holding and few_hits is None and not any_word:
            few_hits = True  # no word of the catalog holds it: proven without reading a row
        if holding:
            candidates = or_(*holding.values())
        elif len(q) >= PG_LENGTH_MIN_CHARS:
            candidates = _pg_long_text(q, lowered)
        else:
            candidates = _pg_short_text(q, [getattr(model, f) for f in names])
    if candidates is None:
        candidates = substring
    extra = _extension_search(model, text)
    where = or_(candidates, _uid_prefix(model, text), *extra)
    fuzzy: ColumnElement[bool] | None = None
    # near misses are for a mistyped word; a phrase with few hits is just rare
    if few_hits is None:
        few_hits = _few_substring_hits(model, q, dialect)
    if _wants_fuzzy(q) and few_hits:
        fuzzy = _fuzzy_clause(model, q, dialect, lowered)
        if fuzzy is not None:
            where = or_(where, fuzzy)
    sources: tuple[Any, ...] = ()
    if dialect == "postgresql":
        fields = dict(zip(names, lowered, strict=True))
        sources = _pg_tier_sources(q, text, model.uid, fields, tiers, [*extra, fuzzy], holding)
    # (near misses are too: rows holding a word near the text, see _pg_near_misses)
    indexed = bool(holding)
    return _Search(text, q, where, rank, fuzzy is not None, tiers, sources, indexed)


FUZZY_MAX_CHARS = 32  # a near miss is a mistyped word; longer text is not one


def _wants_fuzzy(q: str) -> bool:
    """Whether a search with few substring hits widens to near misses (see _few_substring_hits)."""
    return " " not in q and 4 <= len(q) <= FUZZY_MAX_CHARS


# Free-text fields: a match there ranks below any match in the fields that name a record.
FREE_TEXT_FIELDS = ("description",)
# Characters that separate the words of a key or name ("plate/raw/DAPI/Plate01_B02.tif").
WORD_SEPARATORS = "/_-. "
# The tiers of a ranked search, best first; a record is in the first one it fits.
EXACT = 0  # a field is the text, a key ends with "/" + text (a file name), or the uid is
NAME_WORD = 1  # the text is a whole word of a key or name ("dapi" in ".../DAPI/x.tif"); uid prefix
NAME_PREFIX = 2  # a key or name starts with the text
NAME_PART = 3  # a key or name contains it
TEXT_WORD = 4  # a description starts with it or has it as a whole word
TEXT_PART = 5  # a description contains it
RANKS = 7  # and the rest: near misses (mistyped words)


def _ranking(
    q: str, text: str, uid: Any, fields: dict[str, Any]
) -> tuple[Any, Any, tuple[Any, ...]]:
    """(rank, substring, tiers): the tier (``EXACT`` … ``RANKS - 1``) of a match of the
    lower-cased search text ``q`` over ``uid`` and the lower-cased search ``fields`` (name ->
    column), whether any field contains ``q``, and each tier's own condition (None where a
    registry has no field for it; a row is in the first tier whose condition holds).

    Every tier but the last holds only rows that contain the text (or have it as uid
    prefix): ``_tier_hint`` depends on it."""
    esc = _escape_like(q)
    names = [c for f, c in fields.items() if f not in FREE_TEXT_FIELDS]
    texts = [c for f, c in fields.items() if f in FREE_TEXT_FIELDS]
    substring_of = {id(c): c.like(f"%{esc}%", escape="\\") for c in fields.values()}
    tiers: list[tuple[Any, ...]] = [
        (
            EXACT,
            [c == q for c in fields.values()],
            [c.like(f"%/{esc}", escape="\\") for c in names if _names_a_file(q)],
            [uid == text],
        ),
        (
            NAME_WORD,
            [_whole_word(c, q, substring_of[id(c)]) for c in names],
            [_uid_range(uid, text)],
        ),
        (NAME_PREFIX, [c.like(f"{esc}%", escape="\\") for c in names]),
        (NAME_PART, [substring_of[id(c)] for c in names]),
        (
            TEXT_WORD,
            [c.like(f"{esc}%", escape="\\") for c in texts],
            [_whole_word(c, q, substring_of[id(c)]) for c in texts],
        ),
        (TEXT_PART, [substring_of[id(c)] for c in texts]),
    ]
    own: list[Any] = [None] * (RANKS - 1)
    for tier, *groups in tiers:
        conditions = [c for group in groups for c in group]
        if conditions:
            own[tier] = or_(*conditions)
    rank = case(*((c, k) for k, c in enumerate(own) if c is not None), else_=RANKS - 1)
    return rank, or_(*substring_of.values()), tuple(own)


def _pg_tier_sources(
    q: str,
    text: str,
    uid: Any,
    fields: dict[str, Any],
    tiers: tuple[Any, ...],
    last: list[ColumnElement[bool] | None],
    holding: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """PostgreSQL: per tier (``EXACT`` … ``RANKS - 1``), a condition that every row of that
    rank meets and that an index answers (migration 0010's head and word indexes, the trigram
    and uid indexes), or None for a tier no row can be in. ``last``: the conditions of the
    rows ranked last (extension matches, near misses; None where there are none).

    A trigram index names every row holding the text's trigrams, and each must then be read:
    "ple" is in every "sample", "microscopy" in a quarter of the keys. So a field equal to the
    text is looked up by its first ``PG_HEAD_CHARS`` characters, a field starting with it by
    that prefix, and whole words in the word index (or, for text without an ASCII letter or
    digit, ``_word_regex``); the substring tiers keep their own (trigram) conditions, or, where
    the vocabulary answers which rows hold the text (``holding``: field -> condition, see
    ``_pg_vocabulary_candidates``), those."""
    names = [c for f, c in fields.items() if f not in FREE_TEXT_FIELDS]
    texts = [c for f, c in fields.items() if f in FREE_TEXT_FIELDS]
    head = q[:PG_HEAD_CHARS]
    starts = f"{_escape_like(head)}%"

    def whole_words(column: Any) -> Any:
        """Holds every word of ``q`` (migration 0010's word index), or, where ``q`` has no
        ASCII letter or digit (its words then depend on the collation), ``_word_regex``."""
        if any(c.isascii() and c.isalnum() for c in q):
            return _pg_word_array(column).op("@>")(
                func.array_remove(_pg_words(literal(q)), literal_column("''"))
            )
        return column.op("~")(_word_regex(q))

    word = _word_regex(q) is not None  # q begins and ends with a letter or digit
    sources: list[Any] = list(tiers)
    file_name = [c.like(f"%/{_escape_like(q)}", escape="\\") for c in names if _names_a_file(q)]
    sources[EXACT] = or_(*(_pg_head(c) == head for c in fields.values()), *file_name, uid == text)
    name_words = [whole_words(c) for c in names] if word else []
    sources[NAME_WORD] = or_(*name_words, _uid_range(uid, text))
    if names:
        sources[NAME_PREFIX] = or_(*(_pg_head(c).like(starts, escape="\\") for c in names))
    text_words = [_pg_head(c).like(starts, escape="\\") for c in texts]
    text_words += [whole_words(c) for c in texts] if word else []
    sources[TEXT_WORD] = or_(*text_words) if text_words else None
    if holding:
        in_names = [c for f, c in holding.items() if f not in FREE_TEXT_FIELDS]
        in_texts = [c for f, c in holding.items() if f in FREE_TEXT_FIELDS]
        sources[NAME_PART] = or_(*in_names) if in_names else None
        sources[TEXT_PART] = or_(*in_texts) if in_texts else None
    ranked_last = [c for c in last if c is not None]
    sources.append(or_(*ranked_last) if ranked_last else None)
    return tuple(sources)


# Migration 0010's indexes (PostgreSQL): the words of a searched column, each cut to this
# many characters, and its first this many characters. The SQL must be the migration's own,
# character for character (constants inline, not bound), or the planner cannot use them.
PG_HEAD_CHARS = 64
_PG_LONG_WORD: Any = literal_column("'([[:alnum:]]{64})[[:alnum:]]*'")
_PG_NON_WORD: Any = literal_column("'[^[:alnum:]]+'")


def _pg_word_array(column: Any) -> Any:
    """The words of a lower-cased searched column (``_pg_words``): for the columns of
    ``PG_VOCABULARY``, migration 0011's stored word array, which their word index is on."""
    args: list[Any] = list(getattr(getattr(column, "clauses", None), "clauses", ()))
    if getattr(column, "name", None) == "lower" and len(args) == 1:
        table = getattr(args[0], "table", None)
        name = getattr(args[0], "name", None)
        if table is not None and name in PG_VOCABULARY.get(getattr(table, "name", ""), ()):
            return literal_column(f"{table.name}.{name}_words", type_=PG_TEXT_ARRAY)
    return _pg_words(column)


def _pg_words(column: Any) -> Any:
    """The words of a lower-cased column as migration 0010 indexes them (split at every
    character that is no letter or digit, in the database's collation), or of a search text,
    split by the same expression."""
    cut = func.regexp_replace(column, _PG_LONG_WORD, literal_column("'\\1'"), literal_column("'g'"))
    return func.regexp_split_to_array(cut, _PG_NON_WORD)


def _pg_head(column: Any) -> Any:
    """The first ``PG_HEAD_CHARS`` characters of a lower-cased column (migration 0010)."""
    return func.left(column, literal_column(str(PG_HEAD_CHARS)))


# Migration 0011 (PostgreSQL): ``search_words``, the vocabulary of the searched columns of
# these tables (the words of 0010's word indexes), and a length index on each such column
PG_VOCABULARY = {"artifacts": ("key", "description"), "collections": ("name", "description")}
# more vocabulary words than this hold a text: rows are found through the trigram index instead
PG_VOCABULARY_MAX_WORDS = 500
# a text this long that the vocabulary does not answer is looked for only in rows at least
# as long (migration 0011's length indexes): a long text of common words ("sample sample …")
# shares its trigrams with most rows, and testing each of them costs seconds
PG_LENGTH_MIN_CHARS = 16
PG_TEXT_ARRAY: Any = ARRAY(SqlText())
_ANY_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits (a word, as pg_trgm reads it)

_VOCABULARY_HOLDING: Any = sql_text(
    "SELECT word FROM search_words WHERE word LIKE :pattern ESCAPE '\\' LIMIT :cap"
)
# two characters have no trigram: migration 0012's index of each word's two-character parts,
# whose expression this must be, character for character
PG_WORD_PAIRS = (
    "array_remove(string_to_array(regexp_replace(word, '(..)|.', '\\1,', 'g') || "
    "regexp_replace(substr(word, 2), '(..)|.', '\\1,', 'g'), ','), '')"
)
_VOCABULARY_PAIR: Any = sql_text(
    "SELECT word FROM search_words WHERE "  # noqa: S608 (constants only; the text is bound)
    + PG_WORD_PAIRS
    + " @> ARRAY[CAST(:q AS text)] LIMIT :cap"
)
_VOCABULARY_CUT: Any = sql_text("SELECT word FROM search_words WHERE long LIMIT :cap")
_VOCABULARY_NEAR: Any = sql_text(
    "SELECT word FROM search_words WHERE :q <<% word "
    "AND strict_word_similarity(:q, word) >= :threshold "
    "ORDER BY strict_word_similarity(:q, word) DESC, word LIMIT :n"
)


def _has_pg_vocabulary(model: Model) -> bool:
    fields = PG_VOCABULARY.get(registry_of(model).table.name)
    return fields is not None and set(_search_fields(model)) <= set(fields)


def _pg_words_overlap(column: Any, words: list[str]) -> Any:
    """The lower-cased ``column`` holds one of ``words`` as a word (0010's word index)."""
    return _pg_word_array(column).op("&&")(bindparam(None, words, type_=PG_TEXT_ARRAY))


def _pg_vocabulary_candidates(
    model: Model, q: str, fields: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """PostgreSQL: per searched field (name -> lower-cased column), a condition that holds
    exactly where the field contains ``q`` and that the word indexes answer; empty where the
    vocabulary cannot say (``q`` is not ASCII letters and digits only, or too many words hold
    it: then the trigram index does, as before), and whether any word may hold it.

    Text of ASCII letters and digits lies inside one word of any text that holds it (a word is
    a run of letters and digits, as 0010 splits them), so a field holds ``q`` exactly when one
    of its words is a vocabulary word holding ``q`` — or a word longer than the index's 64
    characters holds it past its cut: the rows with a cut word (``long``) are tested with LIKE.
    A text that no word holds ("ts", a random string) costs one probe of the vocabulary: its
    trigram index, or for two characters (no trigram) migration 0012's index of the words'
    two-character parts; not used for one character, which most rows hold."""
    if not _has_pg_vocabulary(model) or len(q) < 2 or not _ASCII_WORDS.fullmatch(q):
        return {}, True  # (one letter is in most rows: the newest rows hold a page of it)
    cap = PG_VOCABULARY_MAX_WORDS + 1

    def lookup(s: Any) -> tuple[list[str], list[str]]:
        if len(q) == 2:
            # (the index, even where the planner expects LIMIT to stop a scan of the words
            # early: it reads them all when few or none hold the pair)
            with _index_scans(s) as conn:
                found = conn.execute(_VOCABULARY_PAIR, {"q": q, "cap": cap})
                holding = list(found.scalars())
        else:
            found = s.execute(_VOCABULARY_HOLDING, {"pattern": f"%{_escape_like(q)}%", "cap": cap})
            holding = list(found.scalars())
        cut = list(s.execute(_VOCABULARY_CUT, {"cap": cap}).scalars())
        return holding, cut

    holding, cut = read(lookup, what="searching")
    if len(holding) >= cap or len(cut) >= cap:
        return {}, True
    pattern = f"%{_escape_like(q)}%"
    out: dict[str, Any] = {}
    for name, col in fields.items():
        conds = [_pg_words_overlap(col, holding)] if holding else []
        if cut:
            conds.append(and_(_pg_words_overlap(col, cut), col.like(pattern, escape="\\")))
        out[name] = or_(*conds) if conds else false()
    return out, bool(holding or cut)


def _pg_long_text(q: str, lowered: list[Any]) -> ColumnElement[bool]:
    """PostgreSQL: a field contains the long text ``q``, tested only in fields at least as long
    (0011's length indexes; lower() keeps the number of characters)."""
    pattern = f"%{_escape_like(q)}%"
    return or_(
        *(
            and_(func.length(c) >= literal_column(str(len(q))), c.like(pattern, escape="\\"))
            for c in lowered
        )
    )


# one or two characters of these, on PostgreSQL, are looked for in the searched columns as
# they are, in each case (see _pg_short_text)
_PG_CASE_SAFE = re.compile(r"[0-9a-hjl-z]{1,2}")


def _pg_short_text(q: str, columns: list[Any]) -> ColumnElement[bool] | None:
    """PostgreSQL: a searched column holds the one- or two-character text ``q`` once
    lower-cased, tested without lower-casing it (``lower()`` of every row was half the cost
    of counting the ~10^5 rows holding "s"): as ``q`` in each of its case forms ("s", "S").

    Exact for ASCII letters but "i" and "k" and for digits: the only characters that
    lower-case to an ASCII letter are its capital and, in Unicode, U+0130 (to "i") and the
    Kelvin sign (to "k"); and a Turkish collation lower-cases "I" to a dotless i (U+0131).
    None for any other text (the caller keeps ``lower(column) LIKE``)."""
    if not _PG_CASE_SAFE.fullmatch(q):
        return None
    forms = [""]
    for ch in q:  # q itself first: most text is lower-case
        forms = [f + c for f in forms for c in dict.fromkeys((ch, ch.upper()))]
    return or_(*(c.like(f"%{form}%") for form in forms for c in columns))


def _count_from_indexes(s: Any, stmt: Select) -> int:
    """PostgreSQL: ``stmt``, the count of a search answered by indexes alone
    (``_Search.indexed``), counted from them: a bitmap of the matching rows from the word
    indexes, and each of its heap pages read once for the rows' visibility.

    The planner scans the whole table instead once most rows match ("sample" in 10^5 of
    1.1x10^5 rows), as it costs the test of a row's word arrays like that of an integer,
    and the test of every row's two word arrays then cost twice the bitmap (~50 vs ~28 ms
    at load 2-3); parallel workers do not help on a busy machine (35-42 ms)."""
    with _index_scans(s) as conn:
        return int(conn.execute(stmt).scalar_one())


@contextmanager
def _index_scans(s: Any) -> Iterator[Any]:
    """PostgreSQL: the session's connection, in one transaction whose queries read the
    indexes rather than every row of a table (``PG_INDEX_SCAN_SETTINGS``), for queries
    whose every condition an index answers. One transaction, so that the settings end with
    it (the reader sessions are in autocommit mode)."""
    conn = s.connection()
    conn.exec_driver_sql("BEGIN")
    try:
        for setting in PG_INDEX_SCAN_SETTINGS:
            conn.exec_driver_sql(f"SET LOCAL {setting}")
        yield conn
    except BaseException:
        with suppress(Exception):  # a lost connection is the error to report
            conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


PG_INDEX_SCAN_SETTINGS = ("enable_seqscan = off", "max_parallel_workers_per_gather = 0")


def _pg_near_misses(q: str, lowered: list[Any], similar: ColumnElement[bool]) -> Any:
    """PostgreSQL: the near misses of ``q``, a mistyped word: the rows holding one of the
    ``FUZZY_WORDS`` vocabulary words nearest to it (trigram similarity at least
    ``FUZZY_THRESHOLD``, as pg_trgm measures it), read from the word indexes; for text of
    several words (``plate_0l``), near its longest word and, among those rows, with pg_trgm's
    ``strict_word_similarity`` to the whole text. None when no word of the catalog is near:
    proving that by testing every row that shares a trigram with the typo took seconds."""
    words = _ANY_WORD.findall(q)
    if not words:
        return None
    longest = max(words, key=len)
    params = {"q": longest, "threshold": FUZZY_THRESHOLD, "n": FUZZY_WORDS}
    near = read(lambda s: list(s.execute(_VOCABULARY_NEAR, params).scalars()), what="searching")
    if not near:
        return None
    holding = or_(*(_pg_words_overlap(c, near) for c in lowered))
    return holding if longest == q else and_(holding, similar)


# A word of a key, name or description is delimited by these (``WORD_SEPARATORS``), as a
# bracket expression of a PostgreSQL regular expression
_REGEX_SEPARATORS = "[/_. -]"


def _word_regex(q: str) -> str | None:
    """A PostgreSQL regular expression that every lower-cased text holding ``q`` as whole
    words (``_whole_word``) matches, or None if ``q`` cannot be one (it does not begin and end
    with a letter or digit). pg_trgm reads a separator as a word break, so the index finds the
    rows with a word starting as ``q`` starts and one ending as it ends, not every row holding
    ``q`` inside a longer word."""
    if not (q[:1].isalnum() and q[-1:].isalnum()):
        return None
    # ASCII punctuation is escaped (a backslash before it is always a literal); no other
    # character is special, and a backslash before a letter would be an escape
    body = "".join(
        _REGEX_SEPARATORS
        if c in WORD_SEPARATORS
        else "\\" + c
        if c.isascii() and not c.isalnum()
        else c
        for c in q
    )
    return f"(^|{_REGEX_SEPARATORS}){body}($|{_REGEX_SEPARATORS})"


def _whole_word(column: Any, q: str, substring: Any) -> Any:
    """``column`` (lower-cased) holds ``q`` as whole words: between separators
    (``WORD_SEPARATORS``) or the ends, as in "plate01_b02" of "…/plate01_b02_dapi.tif"."""
    if not (q[:1].isalnum() and q[-1:].isalnum()):
        return literal(False)
    words = q
    spaced = column
    for sep in WORD_SEPARATORS[:-1]:
        words = words.replace(sep, " ")
        spaced = func.replace(spaced, sep, " ")
    padded = literal(" ") + spaced + literal(" ")
    return and_(substring, padded.like(f"% {_escape_like(words)} %", escape="\\"))


def _names_a_file(q: str) -> bool:
    """Whether a search text looks like a file name or path tail ("cell_counts.csv",
    "raw/DAPI"): then a key ending in "/" + text is an exact match. (Not for plain words: a
    common word would cost a pass over every key holding "/" + word.)"""
    return "." in q or "/" in q


def _tier_hint(k: int | None, q: str) -> str:
    """An FTS5 query matching every row of tier ``k`` (of any tier if None) that is not a uid
    match: the rows of ``EXACT`` have a column starting with the text or holding "/" + text,
    those of ``NAME_PREFIX`` a column starting with it; the others hold the text somewhere."""
    phrase = _fts_phrase(q)
    if k == EXACT and _names_a_file(q):
        return f"^{phrase} OR {_fts_phrase('/' + q)}"
    if k == EXACT:
        return f"^{phrase}"
    if k == NAME_PREFIX:
        return f"^{phrase}"
    return phrase


# A whole-word probe of the word index takes at most this many words of the text (a phrase
# of them is in every row that holds the whole text; more words only cost more postings)
WORD_PHRASE_MAX_WORDS = 4
_ASCII_WORDS = re.compile(r"[0-9a-z]+")


def _word_phrase(q: str) -> str | None:
    """The word-index (unicode61) phrase that every row holding ``q`` as whole words matches,
    or None where that index cannot answer: text beyond ASCII letters, digits and the word
    separators (unicode61 folds case and splits words its own way there: a Greek final sigma,
    combining marks), or text that does not begin and end with a letter or digit."""
    if not q or not (q[0].isalnum() and q[-1].isalnum()) or not q.isascii():
        return None
    if any(not (c.isalnum() or c in WORD_SEPARATORS) for c in q):
        return None
    words = _ASCII_WORDS.findall(q)[:WORD_PHRASE_MAX_WORDS]
    return _fts_phrase(" ".join(words)) if words else None


def _tier_sources(model: Model, k: int | None, q: str) -> list[tuple[str, str, bool]]:
    """(FTS table, MATCH query, exact) triples whose rows together hold every row of tier ``k``
    (of any tier if None) that is not a uid or label match; exact: every row they give holds
    the text (else check it). Column filters keep each tier to its own fields, so a text that
    is in every description ("ple" of "sample") costs nothing in the tiers of names, and the
    whole-word tiers ask the word index: "ple" is no word anywhere, found in one probe."""
    trigrams = _fts_table(model)
    assert trigrams is not None  # a tiered page is a page of a registry with an FTS table
    words = _words_table(model)
    fields = _search_fields(model)
    names = [f for f in fields if f not in FREE_TEXT_FIELDS]
    texts = [f for f in fields if f in FREE_TEXT_FIELDS]

    def trigram(columns: list[str], initial: bool = False) -> list[tuple[str, str, bool]]:
        if not columns:
            return []
        terms, exact = _fts_terms(q, initial)
        return [(trigrams, f"{_colspec(columns)} : ({terms})", exact)]

    def whole_words(columns: list[str]) -> list[tuple[str, str, bool]]:
        if not columns:
            return []
        phrase = _word_phrase(q)
        if words is None or phrase is None:  # the trigram index, with the tier's own check
            return trigram(columns) if q[:1].isalnum() and q[-1:].isalnum() else []
        return [(words, f"{_colspec(columns)} : {phrase}", False)]

    if k is None:
        return trigram(list(fields))
    if k == EXACT:  # a field starting with the text, or a name holding "/" + text
        if len(q) <= FTS_PHRASE_MAX_CHARS:
            return [(trigrams, _tier_hint(k, q), True)]
        return trigram(list(fields), initial=True) + (trigram(names) if _names_a_file(q) else [])
    if k == NAME_WORD:
        return whole_words(names)
    if k == NAME_PREFIX:
        return trigram(names, initial=True)
    if k == NAME_PART:
        return trigram(names)
    if k == TEXT_WORD:
        return trigram(texts, initial=True) + whole_words(texts)
    if k == TEXT_PART:
        return trigram(texts)
    return trigram(list(fields))  # near misses are not served here; any row with the text


def _colspec(columns: list[str]) -> str:
    return "{" + " ".join(columns) + "}"


def _words_table(model: Model) -> str | None:
    """The registry's word index (migration 0009), beside its trigram table on SQLite."""
    table = _fts_table(model)
    return None if table is None else table.removesuffix("_fts") + "_words"


def _uid_prefix(model: Model, text: str) -> ColumnElement[bool]:
    """uid starts with ``text``, as an index-friendly range (uids are base62, ASCII-ordered)."""
    return _uid_range(model.uid, text)


def _uid_range(uid: Any, text: str) -> ColumnElement[bool]:
    if not text.isalnum() or not text.isascii():
        return literal(False)
    return and_(uid >= text, uid < text + "{")


# A search widens to near misses only when fewer rows than this contain the text: a mistyped
# word finds nothing. Real hits are never padded with look-alikes ("Plate01_B02" finds its
# files, not 60 other wells that look like it).
FEW_HITS = 1
# a search page is ranked from at most this many matches, else fetched tier by tier
TIER_PROBE = 1000
PG_TIER_PROBE = 200  # PostgreSQL: the page probe reads at least this many, at most TIER_PROBE


def _few_substring_hits(model: Model, q: str, dialect: str, session: Any = None) -> bool:
    """Whether a search is worth widening to near misses (one bounded index probe)."""
    if not _wants_fuzzy(q):
        return False
    table = _fts_table(model)
    if table is None:
        return True

    if dialect == "sqlite":
        # driven by the FTS table, so that it stops after FEW_HITS rows
        terms, exact = _fts_terms(q)
        fts, match = _fts_source(model, terms)
        sample = (
            select(model.id)
            .select_from(fts)
            .join(model, model.id == fts.c.rowid)
            .where(match, *([] if exact else [_substring_like(model, q)]))
            .limit(FEW_HITS)
            .subquery()
        )
    else:
        pattern = f"%{_escape_like(q)}%"
        inner = or_(
            *(
                func.lower(getattr(model, f)).like(pattern, escape="\\")
                for f in _search_fields(model)
            )
        )
        sample = select(model.id).where(inner).limit(FEW_HITS).subquery()
    probe = select(func.count()).select_from(sample)
    if session is not None:
        hits = session.execute(probe).scalar_one()
    else:
        hits = read(lambda s: s.execute(probe).scalar_one(), what="searching")
    return hits < FEW_HITS


def _fts_phrase(q: str) -> str:
    return '"' + q.replace('"', '""') + '"'


# FTS5 reads the postings of every trigram of a phrase, repeated ones included: a phrase of
# 200 common letters costs a second at 10^5 rows. Longer text asks the index for a few of its
# distinct trigrams instead (a superset of the rows holding it) and LIKE checks those rows.
FTS_PHRASE_MAX_CHARS = 16
FTS_LONG_TRIGRAMS = 8


def _fts_terms(q: str, initial: bool = False) -> tuple[str, bool]:
    """(FTS5 query, exact): the phrase itself (exact), or for long text an AND of at most
    ``FTS_LONG_TRIGRAMS`` distinct trigrams spread over it (a superset: check the rows)."""
    if len(q) <= FTS_PHRASE_MAX_CHARS:
        return ("^" if initial else "") + _fts_phrase(q), True
    grams = list(dict.fromkeys(q[i : i + 3] for i in range(len(q) - 2)))
    step = max(1, len(grams) // FTS_LONG_TRIGRAMS)
    chosen = list(dict.fromkeys([grams[0], *grams[::step]]))[:FTS_LONG_TRIGRAMS]
    first = ("^" if initial else "") + _fts_phrase(q[:3])
    rest = [_fts_phrase(g) for g in chosen if g != q[:3]]
    return " AND ".join([first, *rest]), False


def _substring_like(model: Model, q: str) -> ColumnElement[bool]:
    """A lower-cased search field holds ``q`` (the check of an inexact FTS5 candidate)."""
    pattern = f"%{_escape_like(q)}%"
    return or_(
        *(func.lower(getattr(model, f)).like(pattern, escape="\\") for f in _search_fields(model))
    )


def _fts_source(
    model: Model, match: str, name: str | None = None, param: str = "fts_match"
) -> tuple[TableClause, TextClause]:
    """(the FTS table, its MATCH condition), to join the model to on ``rowid``; ``name``: which
    of the registry's FTS tables (default: the trigram table); ``param``: the name of the
    MATCH text's parameter (each of several in one statement needs its own)."""
    name = name or _fts_table(model)
    assert name is not None  # only asked of registries with an FTS table
    fts = table(name, column("rowid"))
    return fts, sql_text(f"{name} MATCH :{param}").bindparams(bindparam(param, match))


def _substring_candidates(model: Model, q: str, dialect: str) -> ColumnElement[bool] | None:
    """Substring matches answered from the trigram index (SQLite FTS5) when it can."""
    table = _fts_table(model)
    if dialect != "sqlite" or table is None or len(q) < 3:
        return None
    match, exact = _fts_terms(q)
    sub = (
        select(literal_column_rowid())
        .select_from(sql_text(table))
        .where(sql_text(f"{table} MATCH :phrase").bindparams(phrase=match))
    )
    return model.id.in_(sub) if exact else and_(model.id.in_(sub), _substring_like(model, q))


def literal_column_rowid() -> Any:
    return literal_column("rowid")


FUZZY_THRESHOLD = 0.5
FUZZY_CANDIDATES = 500  # SQLite: near misses are looked for among this many trigram candidates


def _fuzzy_clause(
    model: Model, q: str, dialect: str, lowered: list[Any]
) -> ColumnElement[bool] | None:
    """Near misses (typos): trigram word similarity, pg_trgm's on PostgreSQL and the same
    measure as a SQL function on SQLite, there over candidates from the FTS5 trigram index."""
    if len(q) < 4 or not lowered:
        return None
    if dialect == "postgresql":
        # `q <<% col` is strict_word_similarity >= 0.5 (pg_trgm's default)
        similar = or_(*(literal(q).op("<<%")(f) for f in lowered))
        if not _has_pg_vocabulary(model):
            return similar  # served by the trigram index
        return _pg_near_misses(q, lowered, similar)
    candidates = _fuzzy_candidates(model, q)
    if candidates is None:
        return None
    similar = or_(*(func.ls_word_similarity(q, f) >= FUZZY_THRESHOLD for f in lowered))
    return and_(model.id.in_(candidates), similar)


# Near misses come from the words of the catalog (the word index's vocabulary) that start
# with the text's first letter and are near it; at most this many such words are measured,
# and rows holding at most FUZZY_WORDS of the nearest are the candidates
FUZZY_VOCAB_SCAN = 5000
FUZZY_WORDS = 32


def _fuzzy_candidates(model: Model, q: str) -> Select | None:
    """SQLite: the rowids of the newest ``FUZZY_CANDIDATES`` rows holding a word of the catalog
    near ``q`` (near misses are measured among these only), or None if no word is near.

    The words come from the word index's vocabulary, a slice of it read in term order: words
    that start with the text's first letter and whose length allows a trigram similarity of
    ``FUZZY_THRESHOLD`` (a mistyped first letter of a short word is no near miss by that
    measure anyway). Unlike ranking every row that shares a trigram with the typo, this costs
    the same on a catalog of 10^6 rows as on one of 10^3."""
    words = _words_table(model)
    if words is None or not q:
        return None
    n = len(q)
    # trigram sets of padded words: a Jaccard similarity of 1/2 needs sizes within a factor 2
    shortest, longest = max(1, (n + 2) // 2 - 1), 2 * n + 1
    first = q[0]
    # the table is the registry's own, the text is bound
    vocab = sql_text(
        f"SELECT term FROM {words}_vocab WHERE term >= :lo AND term < :hi "  # noqa: S608
        "AND length(term) BETWEEN :shortest AND :longest LIMIT :cap"
    ).bindparams(
        lo=first, hi=chr(ord(first) + 1), shortest=shortest, longest=longest, cap=FUZZY_VOCAB_SCAN
    )
    terms = read(lambda s: list(s.execute(vocab).scalars()), what="searching")
    near = sorted(
        ((word_similarity(q, t), t) for t in terms),
        key=lambda st: (-st[0], st[1]),
    )
    chosen = [t for sim, t in near[:FUZZY_WORDS] if sim >= FUZZY_THRESHOLD]
    if not chosen:
        return None
    columns = _colspec(list(_search_fields(model)))
    expr = f"{columns} : (" + " OR ".join(_fts_phrase(t) for t in chosen) + ")"
    return (
        select(literal_column_rowid())
        .select_from(sql_text(words))
        .where(sql_text(f"{words} MATCH :fz").bindparams(fz=expr))
        .order_by(literal_column_rowid().desc())
        .limit(FUZZY_CANDIDATES)
    )


# ---------------------------------------------------------------- registry-level helpers


def get(model: Model, uid_or_prefix: str | None = None, **lookups: Any) -> Any:
    qs = QuerySet(model)
    if uid_or_prefix is not None:
        if not isinstance(uid_or_prefix, str):
            raise InvalidArgument(
                f"{model.__name__}.get() takes a uid (text), not {type(uid_or_prefix).__name__}; "
                "for other fields use lookups, e.g. get(key=...)."
            )
        if not re.fullmatch(r"[0-9A-Za-z]+", uid_or_prefix):
            raise DoesNotExist(
                f"No {model.__name__} has the uid '{uid_or_prefix[:80]}' (uids are base62: "
                "0-9, A-Z, a-z); for other fields use lookups, e.g. get(key=...)."
            )
        return _get_by_uid(model, uid_or_prefix, qs.filter(**lookups) if lookups else qs)
    if not lookups:
        raise InvalidArgument(f"{model.__name__}.get() needs a uid or lookups.")
    rows = qs.filter(**lookups)._clone(limit=2).all()
    if not rows:
        raise DoesNotExist(f"No {model.__name__} matches {_fmt(lookups)}.")
    if len(rows) > 1:
        raise MultipleResultsFound(
            f"Several {model.__name__} records match {_fmt(lookups)}; add lookups to narrow it down."
        )
    return rows[0]


def _fmt(lookups: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in lookups.items())


def _get_by_uid(model: Model, text: str, qs: QuerySet) -> Any:
    uid_col = model.uid
    full = uid_col.type.length
    if len(text) > full:
        raise DoesNotExist(f"No {model.__name__} has uid '{text}' (uids have {full} characters).")
    if len(text) == full:
        rows = qs.filter(uid_col == text)._clone(show_all=True).all()
    else:
        # LIKE ignores ASCII case on SQLite; uids are case-sensitive, so compare the prefix too
        rows = (
            qs.filter(
                uid_col.like(_escape_like(text) + "%", escape="\\"),
                func.substr(uid_col, 1, len(text)) == text,
            )
            ._clone(show_all=True, limit=50)
            .all()
        )
    if not rows:
        raise DoesNotExist(f"No {model.__name__} has a uid starting with '{text}'.")
    if len(rows) == 1:
        return rows[0]
    stems = {getattr(r, "stem_uid", r.uid) for r in rows}
    if len(stems) == 1 and hasattr(model, "is_latest"):
        latest = [r for r in rows if r.is_latest]
        return latest[0] if latest else max(rows, key=lambda r: r.uid)
    raise MultipleResultsFound(
        f"The uid prefix '{text}' matches {len(rows)} {model.__name__} records; give more characters."
    )


class Lookup:
    """Attribute access to records by name, for auto-complete (``ls.User.lookup().alice``)."""

    def __init__(self, records: dict[str, Any]):
        self._records = records

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_records"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(self._records)

    def __repr__(self) -> str:
        return f"Lookup({', '.join(sorted(self._records)[:20])})"


def lookup(model: Model, field: str | None = None) -> Lookup:
    field = field or registry_of(model).name_field
    records = QuerySet(model).order_by("-created_at")._clone(limit=10000).all()
    out: dict[str, Any] = {}
    for rec in records:
        value = getattr(rec, field)
        if not value:
            continue
        name = re.sub(r"\W+", "_", str(value)).strip("_").lower()
        if name and name[0].isdigit():
            name = f"_{name}"
        out.setdefault(name, rec)
    return Lookup(out)


def view(limit: int = 7) -> dict[str, Any]:
    """Print and return the newest rows of every registry."""
    frames = {}
    for name, spec in REGISTRIES.items():
        model = spec.model
        frame = QuerySet(model)._clone(limit=limit).df()
        frames[name] = frame
        print(f"{model.__name__}\n{'-' * len(model.__name__)}")
        print(frame.to_string() if len(frame) else "(none)")
        print()
    return frames


__all__ = ["QuerySet", "any_of", "get", "ids_in", "literal", "lookup", "view"]
