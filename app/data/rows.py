"""Which rows a table shows (`TableQuery`) and where they come from (`RowSource`).

`CoreRowSource` reads them from the current instance through the gateway: filters, search
and order run in SQL, a page is a LIMIT/OFFSET of row ids and then the rows of those ids.
Versioned registries show one row per family by default (its latest version, with the size
of the family in `n_versions`); `TableQuery.latest_only=False` shows every version.
Every `RowSource` method runs on a worker thread. Tests pass their own source (a fake
registry in memory). No Qt here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any, Protocol

from labshelf.app import gateway
from labshelf.app.data import registries
from labshelf.app.data.formatting import format_value, version_text
from labshelf.app.data.registries import Column, RegistryView

Row = dict[str, Any]


@dataclass(frozen=True)
class TableQuery:
    """Everything that decides which rows a table shows, in which order."""

    registry: str = "Artifact"
    search: str = ""
    filters: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = ("-created_at",)
    trash: bool = False
    latest_only: bool = True  # versioned registries: one row per family, its latest


def _alone(row: Row) -> bool:
    return bool(row.get("is_latest")) and str(row.get("uid", "")).endswith("0000")


def lookups_of(query: TableQuery) -> dict[str, Any]:
    """The query's filters as core lookups, with "latest only" where it applies (not in the
    trash, where each trashed version is a row of its own)."""
    lookups = dict(query.filters)
    view = registries.loaded(query.registry)
    if query.latest_only and not query.trash and view is not None and view.versioned:
        lookups[gateway.LATEST_ONLY] = True
    return lookups


class RowSource(Protocol):
    """Where rows come from; every method runs on a worker thread."""

    def count(self, query: TableQuery) -> int: ...

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[Row]: ...

    def fingerprint(self, query: TableQuery) -> object: ...


class CoreRowSource:
    """Rows of the current instance through core's QuerySet (filter, search, order in SQL)."""

    def count(self, query: TableQuery) -> int:
        return self.count_capped(query)[0]

    def count_capped(self, query: TableQuery) -> tuple[int, bool]:
        """How many rows, and whether that is a lower bound (a search for a mistyped word
        looks for near misses among its best candidates only)."""
        registries.view(query.registry)  # core's spec (versioned?) is known from here on
        if not query.search:
            count = gateway.count_rows(
                query.registry, lookups_of(query), query.search, query.order, query.trash
            )
            return count, False
        return gateway.count_rows_capped(
            query.registry, lookups_of(query), query.search, query.order, query.trash
        )

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[Row]:
        view = registries.view(query.registry)
        ids = gateway.page_ids(
            query.registry,
            lookups_of(query),
            query.search,
            query.order,
            query.trash,
            offset,
            limit,
        )
        extra = ("stem_uid",) if view.versioned else ()
        rows = gateway.rows_by_id(query.registry, ids, (*view.fields, *extra))
        if view.versioned and rows:
            # A latest version with index 0 (uid …0000) is its family's only visible member
            # (the latest is the highest visible index): only the others are counted.
            asked = [r["stem_uid"] for r in rows if not _alone(r)]
            sizes = gateway.family_sizes(query.registry, asked)
            for row in rows:
                row["n_versions"] = sizes.get(row["stem_uid"], 1)
        return rows

    def fingerprint(self, query: TableQuery) -> object:
        """Changes when rows are added, removed or edited (cheap: a count and two rows)."""
        registries.view(query.registry)
        return gateway.fingerprint(query.registry, lookups_of(query), query.search, query.trash)


@dataclass
class Page:
    """One page of rows and their display texts (formatted on the worker)."""

    rows: list[Row]
    texts: list[list[str]]


def cell_text(column: Column, row: Row) -> str:
    """A cell's display text (a version reads with the size of its family: `v2 of 3`)."""
    if column.kind == "version":
        return version_text(row.get(column.field), row.get("n_versions"))
    if column.field == "suffix" and not row.get("suffix") and row.get("n_objects"):
        return "folder"
    return format_value(column.kind, row.get(column.field))


def make_page(view: RegistryView, rows: list[Row]) -> Page:
    return Page(rows, [[cell_text(c, row) for c in view.columns] for row in rows])


EXPORT_PAGE = 1000  # rows per query while exporting


def export_csv(query: TableQuery, path: str, source: RowSource | None = None) -> int:
    """Write every row of the table query as CSV (the table's columns); the row count."""
    source = source or CoreRowSource()
    fields = registries.view(query.registry).fields
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        while rows := source.fetch_page(query, written, EXPORT_PAGE):
            writer.writerows([row.get(f) for f in fields] for row in rows)
            written += len(rows)
    return written
