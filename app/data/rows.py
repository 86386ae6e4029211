"""Which rows a table shows (`TableQuery`) and where they come from (`RowSource`).

`CoreRowSource` reads them from the current instance through the gateway: filters, search
and order run in SQL, a page is a LIMIT/OFFSET of row ids and then the rows of those ids.
Every `RowSource` method runs on a worker thread. Tests pass their own source (a fake
registry in memory). No Qt here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any, Protocol

from labshelf.app import gateway
from labshelf.app.data import registries
from labshelf.app.data.formatting import format_value
from labshelf.app.data.registries import RegistryView

Row = dict[str, Any]


@dataclass(frozen=True)
class TableQuery:
    """Everything that decides which rows a table shows, in which order."""

    registry: str = "Artifact"
    search: str = ""
    filters: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = ("-created_at",)
    trash: bool = False


class RowSource(Protocol):
    """Where rows come from; every method runs on a worker thread."""

    def count(self, query: TableQuery) -> int: ...

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[Row]: ...

    def fingerprint(self, query: TableQuery) -> object: ...


class CoreRowSource:
    """Rows of the current instance through core's QuerySet (filter, search, order in SQL)."""

    def count(self, query: TableQuery) -> int:
        return gateway.count_rows(
            query.registry, dict(query.filters), query.search, query.order, query.trash
        )

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[Row]:
        ids = gateway.page_ids(
            query.registry,
            dict(query.filters),
            query.search,
            query.order,
            query.trash,
            offset,
            limit,
        )
        return gateway.rows_by_id(query.registry, ids, registries.view(query.registry).fields)

    def fingerprint(self, query: TableQuery) -> object:
        """Changes when rows are added, removed or edited (cheap: a count and two rows)."""
        return gateway.fingerprint(query.registry, dict(query.filters), query.search, query.trash)


@dataclass
class Page:
    """One page of rows and their display texts (formatted on the worker)."""

    rows: list[Row]
    texts: list[list[str]]


def make_page(view: RegistryView, rows: list[Row]) -> Page:
    return Page(
        rows, [[format_value(c.kind, row.get(c.field)) for c in view.columns] for row in rows]
    )


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
