"""What changed between two versions of a text or CSV/TSV file, read on a worker and
size-capped. No Qt here.

Text: a unified diff of the lines. Tables: the rows of both versions matched in order; rows
only in the old version are "removed", only in the new "added", and rows that replace each
other one for one are "changed", with the changed cells as "old → new".
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass, field
from pathlib import Path

from labshelf.app import gateway

DIFF_BYTES = 1024 * 1024  # of each version
DIFF_ROWS = 20_000  # of each version's table
SHOWN_LINES = 5_000  # of a text diff
ARROW = " → "

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", ""


@dataclass
class DiffData:
    """A diff: `kind` is text, table or message.

    Attributes:
        lines: (tag, text) of a text diff; tag "+" added, "-" removed, "@" a hunk, " " same.
        columns, rows, marks: a table diff's header (the new version's), its rows and each
            row's mark (`ADDED`, `REMOVED`, `CHANGED`, `SAME`).
        cells: (row, column) of the changed cells of changed rows.
        note: what changed, in numbers ("2 rows changed · 1 added").
    """

    kind: str
    title: str = ""
    note: str = ""
    lines: list[tuple[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    cells: set[tuple[int, int]] = field(default_factory=set)


def diffable(suffix: str) -> bool:
    """Whether versions of files with this suffix can be compared here."""
    return suffix.lower() in (".csv", ".tsv") or gateway.kind_of(suffix) in ("text", "json")


def load_diff(old: Path, new: Path, title: str = "") -> DiffData:
    """The diff of two local files (two versions of one artifact)."""
    if old.is_dir() or new.is_dir():
        return DiffData("message", title, "Folders are not compared here; compare their files.")
    suffix = new.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _table_diff(old, new, "\t" if suffix == ".tsv" else ",", title)
    return _text_diff(old, new, title)


def _head(path: Path) -> tuple[str, bool]:
    with path.open("rb") as handle:
        data = handle.read(DIFF_BYTES + 1)
    return data[:DIFF_BYTES].decode("utf-8", errors="replace"), len(data) > DIFF_BYTES


def _capped_note(*capped: bool) -> str:
    return f" (first {DIFF_BYTES // 1024**2} MB compared)" if any(capped) else ""


def _text_diff(old: Path, new: Path, title: str) -> DiffData:
    (a, a_cut), (b, b_cut) = _head(old), _head(new)
    if a == b:
        return DiffData(
            "message", title, "The two versions have the same text." + _capped_note(a_cut, b_cut)
        )
    lines: list[tuple[str, str]] = []
    added = removed = 0
    diff = difflib.unified_diff(a.splitlines(), b.splitlines(), "old", "new", lineterm="", n=3)
    for line in list(diff)[2:]:  # without the ---/+++ header
        tag = line[:1] if line[:1] in "+-@" else " "
        added += tag == "+"
        removed += tag == "-"
        if len(lines) < SHOWN_LINES:
            lines.append((tag, line[1:] if tag in "+- " else line))
    more = f" (first {SHOWN_LINES:,} lines of the diff shown)" if len(lines) == SHOWN_LINES else ""
    note = f"{_lines(added)} added · {removed:,} removed" + more + _capped_note(a_cut, b_cut)
    return DiffData("text", title, note, lines=lines)


def _read_table(path: Path, delimiter: str) -> tuple[list[str], list[list[str]], bool]:
    text, cut = _head(path)
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    header = next(reader, [])
    rows = [row for _, row in zip(range(DIFF_ROWS + 1), reader, strict=False)]
    return header, rows[:DIFF_ROWS], cut or len(rows) > DIFF_ROWS


def _table_diff(old: Path, new: Path, delimiter: str, title: str) -> DiffData:
    old_header, old_rows, old_cut = _read_table(old, delimiter)
    header, new_rows, new_cut = _read_table(new, delimiter)
    out = DiffData("table", title, columns=list(header))
    counts = {ADDED: 0, REMOVED: 0, CHANGED: 0}

    def add(row: list[str], mark: str) -> None:
        out.rows.append(row)
        out.marks.append(mark)
        if mark:
            counts[mark] += 1

    matcher = difflib.SequenceMatcher(
        None, [tuple(r) for r in old_rows], [tuple(r) for r in new_rows], autojunk=False
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for row in new_rows[j1:j2]:
                add(row, SAME)
        else:
            for before, after in _pairs(old_rows[i1:i2], new_rows[j1:j2]):
                if before is not None and after is not None:
                    add(_changed(before, after, len(out.rows), out.cells), CHANGED)
                else:
                    add(before or after or [], REMOVED if after is None else ADDED)
    parts = [f"{_rows(n)} {mark}" for mark, n in counts.items() if n]
    if old_header != header:
        parts.insert(0, f"columns were: {', '.join(old_header)}")
    if not parts:
        parts = ["the two versions have the same rows"]
    out.note = " · ".join(parts) + _capped_note(old_cut, new_cut)
    return out


Row = list[str]


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _lines(n: int) -> str:
    return f"{n:,} line" if n == 1 else f"{n:,} lines"


def _pairs(old: list[Row], new: list[Row]) -> list[tuple[Row | None, Row | None]]:
    """The rows of a changed stretch as (old, new) pairs: matched by their first cell (a well,
    a sample id) when that names each row once, else one for one when the counts agree;
    a row without partner is removed (None, …) or added (…, None)."""
    old_ids, new_ids = [r[0] if r else "" for r in old], [r[0] if r else "" for r in new]
    unique = len(set(old_ids)) == len(old) and len(set(new_ids)) == len(new)
    if unique and set(old_ids) & set(new_ids):
        partner = {row[0]: row for row in new if row}
        pairs: list[tuple[Row | None, Row | None]] = [
            (row, partner.get(row[0] if row else "")) for row in old
        ]
        matched = {row[0] for row in old if row and row[0] in partner}
        return pairs + [(None, row) for row in new if not row or row[0] not in matched]
    if len(old) == len(new):
        return list(zip(old, new, strict=True))
    return [(row, None) for row in old] + [(None, row) for row in new]


def _changed(
    before: list[str], after: list[str], row: int, cells: set[tuple[int, int]]
) -> list[str]:
    """`after` with each cell that differs from `before` as "old → new" (noted in `cells`)."""
    shown = []
    for column in range(max(len(before), len(after))):
        a = before[column] if column < len(before) else ""
        b = after[column] if column < len(after) else ""
        if a != b:
            cells.add((row, column))
            shown.append(f"{a}{ARROW}{b}")
        else:
            shown.append(b)
    return shown
