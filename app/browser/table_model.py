"""The registry table model: a row count and a few pages of plain rows, fetched on a worker.

Sorting, filtering and search are part of the `TableQuery` and run in SQL (through core's
QuerySet, see `labshelf.app.data.rows.CoreRowSource`): COUNT with the query's WHERE, then
OFFSET/LIMIT pages of `PAGE_SIZE` rows. The model never holds more than `MAX_PAGES` pages,
so memory stays bounded whatever the table's size.

A reload keeps what the user sees where it can: the same number of rows refreshes values in
place; rows added at the top (what another window or user saved, in the default newest-first
order) are inserted, so that views keep their selection and the rows they show; anything
else resets the model (the window then selects the same records again, by id).

The columns are core's default columns of the registry (`labshelf.app.data.registries`).
Core's spec is loaded by the worker that fetches the first page, so the very first table of
a session gets its columns together with its first rows (`columns_changed`); the UI thread
never waits for it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.data import registries
from labshelf.app.data.registries import RegistryView
from labshelf.app.data.rows import Page, Row, RowSource, TableQuery, make_page
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

PAGE_SIZE = 200
MAX_PAGES = 40  # pages kept in memory (8,000 rows)
MAX_INFLIGHT = 2  # page fetches running at once
KEEP_WANTED = 4  # pending page requests kept while fetches run
FLUSH_MS = 15  # page requests are coalesced for this long

ID_ROLE = Qt.ItemDataRole.UserRole + 1
UID_ROLE = Qt.ItemDataRole.UserRole + 2
RECORD_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex
ANNOTATED = ("Artifact", "Collection")  # registries with feature values (feature columns)


def with_features(registry: str, page: Page, names: tuple[str, ...]) -> Page:
    """`page` with the feature columns `names` appended to its texts (read on the worker,
    with `gateway.feature_values`; a missing value is empty)."""
    if not names or registry not in ANNOTATED or not page.rows:
        return page
    values = gateway.feature_values(registry, [r["id"] for r in page.rows], list(names))
    texts = [
        [*texts, *(values.get(row["id"], {}).get(n, "") for n in names)]
        for row, texts in zip(page.rows, page.texts, strict=True)
    ]
    return Page(page.rows, texts)


class RegistryTableModel(QAbstractTableModel):
    """A lazily paged table over one registry query (COUNT, then OFFSET/LIMIT pages).

    Signals:
        loaded(row count): after every (re)load.
        page_loaded(page number): a page of rows arrived.
        columns_changed(): the columns are those of another registry (or arrived).
        failed(message): a load failed.
    """

    loaded = Signal(int)
    page_loaded = Signal(int)
    columns_changed = Signal()
    failed = Signal(str)

    def __init__(self, source: RowSource, runner: TaskRunner, parent: Any = None) -> None:
        super().__init__(parent)
        self._source = source
        self._runner = runner
        self._query = TableQuery()
        self._spec = registries.loaded(self._query.registry)
        self._count = 0
        self.count_is_lower_bound = False  # the count is "N+" (a near-miss search)
        self._pages: OrderedDict[int, Page] = OrderedDict()
        self._wanted: dict[int, int] = {}
        self._inflight: set[int] = set()
        self._stamp = 0
        self._generation = 0
        self._features: tuple[str, ...] = ()  # feature columns shown after core's columns
        self._fingerprint: object = None
        self._checking = False  # a fingerprint is being read
        self._recheck = False  # ... and another change was heard meanwhile
        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush_requests)

    # -- query ---------------------------------------------------------------------------
    @property
    def query(self) -> TableQuery:
        return self._query

    @property
    def spec(self) -> RegistryView | None:
        """The registry shown, with its columns; None until core's spec has been loaded."""
        return self._spec

    def set_query(self, query: TableQuery) -> None:
        """Show the rows of `query`; the count and first page arrive from a worker
        (`loaded` fires)."""
        registry_changed = query.registry != self._query.registry
        self._query = query
        if registry_changed:
            self.beginResetModel()
            self._spec = registries.loaded(query.registry)
            self._count = 0
            self._drop_pages()
            self.endResetModel()
            if self._spec is not None:
                self.columns_changed.emit()
        self._reload()

    @property
    def feature_columns(self) -> tuple[str, ...]:
        return self._features

    def set_feature_columns(self, names: tuple[str, ...]) -> None:
        """Show these features as columns after the registry's own (their values are read
        with each page, on the worker)."""
        if names == self._features:
            return
        self.beginResetModel()
        self._features = tuple(names)
        self._drop_pages()
        self.endResetModel()
        self.columns_changed.emit()
        self._reload()

    def update_query(self, **changes: Any) -> None:
        self.set_query(replace(self._query, **changes))

    def refresh(self) -> None:
        """Re-read the count and the rows (F5, or after a write)."""
        self._reload()

    def check_stale(self) -> None:
        """Reload if the data changed since the last load (e.g. another process wrote); one
        check at a time, and one more if asked again meanwhile."""
        if self._checking:
            self._recheck = True
            return
        self._checking = True
        query, source = self._query, self._source
        self._runner.submit(
            lambda ctx: source.fingerprint(query),
            done=lambda fp: self._on_fingerprint(query, fp),
            error=lambda msg, _d: self._checked(),
            name="fingerprint",
        )

    def _on_fingerprint(self, query: TableQuery, fp: object) -> None:
        if query == self._query and fp != self._fingerprint:
            self._reload()
        self._checked()

    def _checked(self) -> None:
        self._checking = False
        if self._recheck:
            self._recheck = False
            self.check_stale()

    def _reload(self) -> None:
        self._generation += 1
        gen, query, source = self._generation, self._query, self._source
        features = self._features

        def work(ctx: TaskContext) -> tuple[RegistryView, int, bool, Page, object]:
            # The fingerprint is read first: a write landing after it shows as a change at the
            # next check (one extra reload), never as a missed one. The first page comes with
            # the count: one round trip to the first rows.
            spec = registries.view(query.registry)  # loads core's spec the first time
            fingerprint = source.fingerprint(query)
            first = make_page(spec, source.fetch_page(query, 0, PAGE_SIZE))
            first = with_features(query.registry, first, features)
            capped = getattr(source, "count_capped", None)  # a lower bound? ("500+")
            count, at_least = capped(query) if capped else (source.count(query), False)
            return spec, count, at_least, first, fingerprint

        self._runner.submit(
            work,
            done=lambda result: self._on_loaded(gen, *result),
            error=lambda msg, _details: self._on_error(gen, msg),
            name="count rows",
            priority=1,
        )

    def _on_error(self, gen: int, message: str) -> None:
        if gen == self._generation:
            if self._spec is None:  # the worker may have loaded core's spec before failing
                spec = registries.loaded(self._query.registry)
                if spec is not None:
                    self._show_columns(spec, 0, None)
            self.failed.emit(message)

    def _show_columns(self, spec: RegistryView, count: int, first: Page | None) -> None:
        self.beginResetModel()
        self._spec = spec
        self._count = count
        self._drop_pages()
        if first is not None:
            self._pages[0] = first
        self.endResetModel()
        self.columns_changed.emit()

    def _on_loaded(
        self,
        gen: int,
        spec: RegistryView,
        count: int,
        at_least: bool,
        first: Page,
        fingerprint: object,
    ) -> None:
        if gen != self._generation:
            return
        self.count_is_lower_bound = at_least
        self._fingerprint = fingerprint
        added = self._added_on_top(count, first)
        if spec is not self._spec:  # the first load of a session brings the columns
            self._show_columns(spec, count, first)
        elif added:
            # the old rows stay readable until the views have moved their selections
            self.beginInsertRows(QModelIndex(), 0, added - 1)
            self._drop_pages()
            self._count = count
            self._pages[0] = first
            self.endInsertRows()
        elif count == self._count:
            # Same size: refresh values in place, keeping selection and scroll position.
            self._drop_pages()
            self._pages[0] = first
            if count:
                self.dataChanged.emit(
                    self.index(0, 0), self.index(count - 1, self.columnCount() - 1)
                )
        else:
            self.beginResetModel()
            self._count = count
            self._drop_pages()
            self._pages[0] = first
            self.endResetModel()
        self.loaded.emit(count)

    def _added_on_top(self, count: int, first: Page) -> int:
        """How many rows a reload added above the rows shown before (0: not just that)."""
        old = self._pages.get(0)
        grown = count - self._count
        if old is None or not old.rows or grown <= 0 or grown >= len(first.rows):
            return 0
        old_ids = [r.get("id") for r in old.rows]
        new_ids = [r.get("id") for r in first.rows]
        kept = new_ids[grown:]
        return grown if kept == old_ids[: len(kept)] else 0

    def _drop_pages(self) -> None:
        self._pages.clear()
        self._wanted.clear()
        self._inflight.clear()

    # -- rows ----------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid() or self._spec is None:
            return 0
        return len(self._spec.columns) + len(self._features)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:  # noqa: N802
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and self._spec is not None
            and section < len(self._spec.columns)
        ):
            return self._spec.columns[section].title
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and self._spec is not None
            and 0 <= section - len(self._spec.columns) < len(self._features)
        ):
            return self._features[section - len(self._spec.columns)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(index.row(), index.column())
        record = self.record(index.row())
        if record is None:
            return None
        if role == RECORD_ROLE:
            return record
        if role == UID_ROLE:
            return record.get("uid")
        if role == ID_ROLE:
            return record.get("id")
        return self._cell(record, index.column(), role)

    def _cell(self, record: Row, column: int, role: int) -> Any:
        if self._spec is None or column >= len(self._spec.columns):
            return None
        spec = self._spec.columns[column]
        if role == Qt.ItemDataRole.ToolTipRole and spec.kind == "text":
            value = record.get(spec.field)
            return None if value is None else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and spec.kind in ("size", "int"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _page(self, row: int) -> tuple[Page | None, int]:
        page_no, offset = divmod(row, PAGE_SIZE)
        page = self._pages.get(page_no)
        if page is None:
            self._request_page(page_no)
        else:
            self._pages.move_to_end(page_no)
        return page, offset

    def _text(self, row: int, column: int) -> str:
        page, offset = self._page(row)
        if page is None:
            return "…" if column == 0 else ""
        return page.texts[offset][column] if offset < len(page.texts) else ""

    def record(self, row: int) -> Row | None:
        """The row's plain data, or None while its page is loading (it is then requested)."""
        page, offset = self._page(row)
        if page is None:
            return None
        return page.rows[offset] if offset < len(page.rows) else {}

    def loaded_row_ids(self) -> dict[int, int]:
        """Row id -> row, of the loaded pages."""
        return {
            record["id"]: page_no * PAGE_SIZE + offset
            for page_no, page in self._pages.items()
            for offset, record in enumerate(page.rows)
            if "id" in record
        }

    def row_of_id(self, row_id: int) -> int:
        """The row showing `row_id` among the loaded pages, or -1."""
        for page_no, page in self._pages.items():
            for offset, record in enumerate(page.rows):
                if record.get("id") == row_id:
                    return page_no * PAGE_SIZE + offset
        return -1

    # -- paging --------------------------------------------------------------------------
    def _request_page(self, page_no: int) -> None:
        if page_no in self._inflight:
            return
        self._stamp += 1
        self._wanted[page_no] = self._stamp
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush_requests(self) -> None:
        # Newest requests first; older ones are forgotten, so when scrolling fast the pages
        # scrolled past are never fetched (a row still visible asks again when painted).
        newest = sorted(self._wanted, key=self._wanted.__getitem__, reverse=True)
        self._wanted = {p: self._wanted[p] for p in newest[:KEEP_WANTED]}
        while self._wanted and len(self._inflight) < MAX_INFLIGHT:
            page_no = max(self._wanted, key=self._wanted.__getitem__)
            del self._wanted[page_no]
            self._fetch_page(page_no)

    def _fetch_page(self, page_no: int) -> None:
        self._inflight.add(page_no)
        gen, query, source = self._generation, self._query, self._source
        features = self._features

        def work(ctx: TaskContext) -> Page:
            rows = source.fetch_page(query, page_no * PAGE_SIZE, PAGE_SIZE)
            page = make_page(registries.view(query.registry), rows)
            return with_features(query.registry, page, features)

        self._runner.submit(
            work,
            done=lambda rows: self._on_page(gen, page_no, rows),
            error=lambda msg, _details: self._on_page_error(gen, page_no, msg),
            name="fetch page",
            priority=2,
        )

    def _on_page_error(self, gen: int, page_no: int, message: str) -> None:
        if gen == self._generation:
            self._inflight.discard(page_no)
            self.failed.emit(message)

    def _on_page(self, gen: int, page_no: int, rows: Page) -> None:
        if gen != self._generation:
            return
        self._inflight.discard(page_no)
        self._pages[page_no] = rows
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        first = page_no * PAGE_SIZE
        last = min(first + PAGE_SIZE, self._count) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, self.columnCount() - 1))
        self.page_loaded.emit(page_no)
        if self._wanted and not self._flush_timer.isActive():
            self._flush_timer.start()

    # -- sorting -------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if self._spec is None or not 0 <= column < len(self._spec.columns):
            return
        field = self._spec.columns[column].field
        if "__" in field:
            return  # relations are shown by name but core orders by own fields only
        sign = "-" if order == Qt.SortOrder.DescendingOrder else ""
        self.update_query(order=(f"{sign}{field}", "id"))
