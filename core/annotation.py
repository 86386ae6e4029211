"""``ls.annotate``: labels and feature values from the metadata table that sits next to the
data (a lab's ``meta.csv``).

``annotate(artifacts, table, on="file")`` reads ``table`` (a CSV, TSV, XLSX — with openpyxl —
or parquet file, a table artifact, or a DataFrame) and matches its rows to ``artifacts`` by the
column ``on``: a column the user names (its values are keys or file names), or ``"file"`` /
``"key"`` to let labshelf pick the column whose values match the most artifacts by file name
or by key. Every other column becomes a feature: an existing feature of that name keeps its
dtype; a new one gets a dtype inferred from the column (numbers, yes/no, ISO dates; text with
few distinct values becomes ``cat``, i.e. labels; longer or varied text ``str``), which
``dtypes={column: dtype}`` overrides.

A row whose file is inside a folder artifact annotates the folder: it gets the values that all
its matched files share, and the per-file values are stored as a parquet table artifact whose
uid the folder holds in the feature ``file_annotations``.

Values are checked before anything is written: a refused value (``"5,1"`` for a float) is
reported and left out, the rest is written in one transaction. ``dry_run=True`` writes nothing
and reports the same. The report lists matched rows, unmatched rows (with the reason), the
artifacts without a row, the refused values and the features used.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .artifact import Artifact, folder_files
from .errors import DoesNotExist, InvalidArgument
from .features import (
    Feature,
    Planned,
    Planner,
    check_feature_name,
    kind_of,
    normalize_name,
    parse_dtype,
    write_many,
)
from .labels import ULabel, actor
from .log import say
from .provenance import record_inputs
from .query import QuerySet
from .session import current_run

if TYPE_CHECKING:
    import pandas as pd

FEW_DISTINCT = 50  # at most this many distinct texts make a column categorical
LONG_TEXT = 100  # text longer than this is never a label
TABLE_FEATURE = "file_annotations"  # a folder's per-file table artifact (its uid)
READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".parquet": "parquet",
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
YES_NO = {"true", "false", "yes", "no"}
INT = re.compile(r"[-+]?\d{1,18}")


@dataclass
class AnnotateReport:
    """What ``ls.annotate`` did (or, with ``dry_run``, would do).

    ``matched``: ``{"row", "value", "artifacts": [uid, …]}`` (a folder's uid for a row of a
    file in it); ``unmatched``: ``{"row", "value", "reason"}``; ``without_row``: ``{"uid",
    "key"}`` of the artifacts no row matched; ``refused``: ``{"row", "column", "value",
    "reason"}``; ``features``: ``{"column", "feature", "dtype", "new"}``; ``skipped``:
    ``{"column", "reason"}`` (columns that became no feature); ``tables``: ``{"folder",
    "table"}`` (per-file tables; ``table`` None in a dry run). Rows count from 1 (the first row
    under the header)."""

    table: str
    on: str
    rows: int
    dry_run: bool
    matched: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    without_row: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    annotated: int = 0  # artifacts given values

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "on": self.on,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "annotated": self.annotated,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "without_row": self.without_row,
            "refused": self.refused,
            "features": self.features,
            "skipped": self.skipped,
            "tables": self.tables,
        }

    def summary(self) -> str:
        """One line: rows matched, unmatched, artifacts without a row, values refused."""
        verb = "would annotate" if self.dry_run else "annotated"
        return (
            f"{self.table} on '{self.on}': {len(self.matched)} of {self.rows} row(s) matched, "
            f"{len(self.unmatched)} unmatched; {verb} {self.annotated} artifact(s); "
            f"{len(self.without_row)} artifact(s) without a row; "
            f"{len(self.refused)} value(s) refused"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.features:
            lines.append(
                "features: "
                + ", ".join(
                    f"{f['feature']} ({f['dtype']}{', new' if f['new'] else ''})"
                    for f in self.features
                )
            )
        lines += [f"column {s['column']!r} skipped: {s['reason']}" for s in self.skipped]
        lines += [f"row {u['row']} ({u['value']!r}): {u['reason']}" for u in self.unmatched[:20]]
        lines += [f"row {r['row']}, {r['column']}: {r['reason']}" for r in self.refused[:20]]
        lines += [
            f"no row for artifact {w['uid']} ({w['key'] or 'no key'})"
            for w in self.without_row[:20]
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------- the table


def read_table(table: Any) -> tuple[pd.DataFrame, str]:
    """(DataFrame, name for people) of a table given as a path, a table artifact or a
    DataFrame."""
    if type(table).__name__ == "DataFrame" and hasattr(table, "columns"):
        return _named(table.copy()), "the table"
    if isinstance(table, Artifact):
        loaded = table.load()
        if type(loaded).__name__ != "DataFrame":
            raise InvalidArgument(f"Artifact {table.uid} is not a table (csv, tsv or parquet).")
        return _named(loaded), table.key or table.uid
    if not isinstance(table, str | os.PathLike):
        raise InvalidArgument(
            f"annotate() takes a table as a path (CSV, TSV, XLSX, parquet), a table artifact or "
            f"a DataFrame, not {type(table).__name__}."
        )
    path = Path(table).expanduser()
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InvalidArgument(
            f"{path} is not a table labshelf reads: use .csv, .tsv, .xlsx or .parquet."
        )
    if not path.is_file():
        raise DoesNotExist(f"The table {path} does not exist.")
    return _named(_read(path, kind)), path.name


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """Column headers as text (a spreadsheet's may be numbers)."""
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read(path: Path, kind: str) -> pd.DataFrame:
    import pandas as pd  # deferred: pandas costs ~200 ms to import

    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "tsv":
            return pd.read_csv(path, sep="\t")
        if kind == "parquet":
            return pd.read_parquet(path)
        try:
            import openpyxl  # type: ignore[import-untyped]  # noqa: F401 - pandas reads .xlsx through it
        except ImportError:
            raise InvalidArgument(
                f"Reading {path.name} needs openpyxl (pip install openpyxl); or save it as CSV."
            ) from None
        return pd.read_excel(path)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"The table {path} cannot be read: {first}") from None


def _cell(value: Any) -> Any:
    """A cell as a Python value; None when empty (NaN, NaT, blank text)."""
    if value is None:
        return None
    if type(value).__module__.split(".")[0] in ("numpy", "pandas"):
        if str(value) in ("NaT", "nan", "<NA>"):
            return None
        value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text(value: Any) -> str | None:
    """A cell of the ``on`` column as text (``3.0`` -> ``"3"``)."""
    value = _cell(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def infer_column_dtype(series: pd.Series) -> str | None:
    """The dtype a new feature gets from a column (None: the column is empty)."""
    values = [v for v in (_cell(x) for x in series.tolist()) if v is not None]
    if not values:
        return None
    kind = series.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int"
    if kind == "f":
        whole = all(float(v).is_integer() for v in values)
        return "int" if whole and len(values) < len(series) else "float"  # ints upcast by NaN
    if kind == "M":
        return "date" if all(_midnight(v) for v in values) else "datetime"
    texts = [str(v) for v in values]
    # a column mostly of numbers, dates or yes/no is one, with typos to be refused
    for dtype, fits in (
        ("int", lambda t: INT.fullmatch(t) is not None),
        ("float", _is_number),
        ("date", lambda t: ISO_DATE.fullmatch(t) is not None),
        ("datetime", lambda t: ISO_DATETIME.fullmatch(t) is not None),
        ("bool", lambda t: t.lower() in YES_NO),
    ):
        hits = sum(1 for t in texts if fits(t))
        if hits * 2 > len(texts) and (dtype != "int" or hits == _numbers(texts)):
            return dtype
    distinct = len(set(texts))
    long = max(len(t) for t in texts) > LONG_TEXT or any("\n" in t for t in texts)
    few = distinct <= FEW_DISTINCT and (distinct * 2 <= len(texts) or len(texts) <= 10)
    return "cat" if few and not long else "str"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _numbers(texts: list[str]) -> int:
    return sum(1 for t in texts if _is_number(t))


def _midnight(value: Any) -> bool:
    return all(getattr(value, a, 0) == 0 for a in ("hour", "minute", "second", "microsecond"))


# ---------------------------------------------------------------- the artifacts


@dataclass
class _Target:
    id: int
    uid: str
    key: str | None
    is_folder: bool
    record: Any = None


@dataclass
class _Index:
    """The artifacts by key, by file name, and (once listed) the files in their folders."""

    targets: dict[int, _Target]
    by_key: dict[str, list[int]] = field(default_factory=dict)
    by_name: dict[str, list[int]] = field(default_factory=dict)
    by_file: dict[str, list[tuple[int, str]]] | None = (
        None  # name or relative path -> (folder, rel)
    )

    @classmethod
    def of(cls, targets: list[_Target]) -> _Index:
        index = cls({t.id: t for t in targets})
        for t in targets:
            if t.key:
                index.by_key.setdefault(t.key, []).append(t.id)
                if not t.is_folder:
                    index.by_name.setdefault(PurePosixPath(t.key).name, []).append(t.id)
        return index

    @property
    def has_folders(self) -> bool:
        return any(t.is_folder for t in self.targets.values())

    def files(self) -> dict[str, list[tuple[int, str]]]:
        """The files of the folder artifacts, by relative path and by name (listed once, when
        first asked for)."""
        if self.by_file is None:
            self.by_file = {}
            for t in self.targets.values():
                if not t.is_folder:
                    continue
                record = t.record if t.record is not None else Artifact.get(t.uid)
                for rel in folder_files(record):
                    self.by_file.setdefault(rel, []).append((t.id, rel))
                    name = PurePosixPath(rel).name
                    if name != rel:
                        self.by_file.setdefault(name, []).append((t.id, rel))
        return self.by_file


def _targets(artifacts: Any) -> list[_Target]:
    if isinstance(artifacts, Artifact):
        artifacts = [artifacts]
    if isinstance(artifacts, QuerySet):
        if artifacts.model is not Artifact:
            raise InvalidArgument(
                "annotate() annotates artifacts; got a query of another registry."
            )
        rows = artifacts.values("id", "uid", "key", "n_objects")
        return [_Target(r["id"], r["uid"], r["key"], r["n_objects"] is not None) for r in rows]
    if isinstance(artifacts, str | bytes) or not isinstance(artifacts, Iterable):
        raise InvalidArgument(
            "annotate() takes artifacts (a list or a query such as ls.Artifact.filter(…)), "
            f"not {type(artifacts).__name__}."
        )
    out = []
    for a in artifacts:
        if not isinstance(a, Artifact) or a.__dict__.get("id") is None:
            raise InvalidArgument(f"annotate() takes saved artifacts; got {a!r:.60}.")
        out.append(_Target(a.id, a.uid, a.key, a.n_objects is not None, a))
    return list({t.id: t for t in out}.values())


# ---------------------------------------------------------------- matching rows


@dataclass
class _Match:
    artifacts: list[int] = field(default_factory=list)  # file artifacts (or by key)
    files: list[tuple[int, str]] = field(default_factory=list)  # (folder id, relative path)
    reason: str = ""


def _match(value: str, index: _Index, mode: str) -> _Match:
    """The artifacts (and files in folders) a cell of the ``on`` column names. ``mode``:
    "key" (keys only), "file" (file names), "any" (a key, else a file name)."""
    if mode in ("key", "any") and value in index.by_key:
        return _Match(artifacts=index.by_key[value])
    if mode == "key":
        return _Match(reason="no artifact has this key")
    found = index.by_name.get(value, [])
    keys = {index.targets[i].key for i in found}
    if len(keys) > 1:
        listed = ", ".join(sorted(k or "" for k in keys)[:4])
        return _Match(reason=f"several artifacts have this file name ({listed}); match on keys")
    files = index.files().get(value, [])
    folders: dict[int, list[str]] = {}
    for folder, rel in files:
        folders.setdefault(folder, []).append(rel)
    clash = [f for f, rels in folders.items() if len(set(rels)) > 1]
    if clash:
        rels = sorted(set(folders[clash[0]]))[:3]
        return _Match(
            reason=f"several files in folder {index.targets[clash[0]].uid} have this name "
            f"({', '.join(rels)}); give their paths in the folder"
        )
    match = _Match(artifacts=found, files=[(f, rels[0]) for f, rels in folders.items()])
    if not match.artifacts and not match.files:
        match.reason = "no artifact (or file in a folder artifact) has this name"
    return match


def _on_column(frame: pd.DataFrame, on: str, index: _Index) -> tuple[str, str]:
    """(column, match mode) of ``on``: a column of the table, or "file"/"key" for the column
    whose values match the most artifacts."""
    columns = [str(c) for c in frame.columns]
    if on in columns:
        return on, "any"
    if on not in ("file", "key"):
        raise InvalidArgument(
            f"The table has no column '{on}'; its columns are {', '.join(columns)} (or use "
            "on='file' or on='key' to pick the column that matches)."
        )
    best, hits = "", 0
    for column in columns:
        texts = {t for t in (_text(v) for v in frame[column].tolist()) if t is not None}
        if on == "key":
            found = sum(1 for t in texts if t in index.by_key)
        else:
            found = sum(1 for t in texts if t in index.by_name)
            if index.has_folders:
                found += sum(1 for t in texts if t in index.files())
        if found > hits:
            best, hits = column, found
    if not hits:
        what = "keys" if on == "key" else "file names"
        raise InvalidArgument(
            f"No column of the table holds {what} of these artifacts (columns: "
            f"{', '.join(columns)}); name the column with on=COLUMN."
        )
    return best, on


# ---------------------------------------------------------------- columns -> features


@dataclass
class _Column:
    column: str
    feature: str
    dtype: str
    new: bool


def _feature_columns(
    frame: pd.DataFrame,
    on: str,
    planner: Planner,
    dtypes: Mapping[str, Any],
    report: AnnotateReport,
) -> list[_Column]:
    out: list[_Column] = []
    taken: set[str] = set()
    names = {str(c): normalize_name(str(c)) for c in frame.columns if str(c) != on}
    planner.load(n for n in names.values() if n)
    for column, name in names.items():
        try:
            name = check_feature_name(name)
        except InvalidArgument as exc:
            report.skipped.append({"column": column, "reason": str(exc)})
            continue
        if name in taken:
            report.skipped.append(
                {"column": column, "reason": f"another column is feature '{name}' already"}
            )
            continue
        existing = planner.features.get(name)
        if existing is not None:
            dtype, new = existing.dtype, False
        else:
            wanted = dtypes.get(column) or dtypes.get(name)
            inferred = parse_dtype(wanted)[0] if wanted else infer_column_dtype(frame[column])
            new = True
            if inferred is None:
                report.skipped.append({"column": column, "reason": "the column is empty"})
                continue
            dtype = inferred
            planner.dtypes[name] = dtype  # a dry run plans with it (a new cat's type is to be)
            if dtype == "cat":
                dtype = f"cat[{name}]"  # its labels get a type of the feature's name
        taken.add(name)
        out.append(_Column(column, name, dtype, new))
        report.features.append({"column": column, "feature": name, "dtype": dtype, "new": new})
    return out


# ---------------------------------------------------------------- annotate


def annotate(
    artifacts: Any,
    table: Any,
    on: str = "file",
    *,
    dtypes: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    run: Any = None,
) -> AnnotateReport:
    """Labels and feature values for ``artifacts`` from the rows of ``table`` matched by the
    column ``on`` (see the module docstring); returns an ``AnnotateReport``."""
    frame, name = read_table(table)
    return _annotate(frame, name, _targets(artifacts), on, dtypes, dry_run, run)


def preview(
    table: Any, files: Iterable[str], on: str = "file", *, dtypes: Mapping[str, Any] | None = None
) -> AnnotateReport:
    """What ``annotate`` would do with files not registered yet (an import's dry run): each
    path in ``files`` (relative, as its key would end) stands for an artifact, so the report's
    ``artifacts`` and ``without_row`` name paths instead of uids. Nothing is written."""
    frame, name = read_table(table)
    paths = list(dict.fromkeys(str(PurePosixPath(f)) for f in files))
    targets = [_Target(-i, path, path, False) for i, path in enumerate(paths, start=1)]
    return _annotate(frame, name, targets, on, dtypes, True, None)


def _annotate(
    frame: pd.DataFrame,
    name: str,
    targets: list[_Target],
    on: str,
    dtypes: Mapping[str, Any] | None,
    dry_run: bool,
    run: Any,
) -> AnnotateReport:
    if not isinstance(on, str) or not on.strip():
        raise InvalidArgument(
            "on= names the column that matches rows to artifacts, e.g. on='file'."
        )
    index = _Index.of(targets)
    column, mode = _on_column(frame, on.strip(), index)
    report = AnnotateReport(table=name, on=column, rows=len(frame), dry_run=dry_run)
    planner = Planner(create_features=True, dtypes={})
    columns = _feature_columns(frame, column, planner, dtypes or {}, report)
    if not dry_run:
        _create_features(columns, planner)
        dtype_of = {c.feature: c.dtype for c in columns}
        for entry in report.features:
            entry["dtype"] = dtype_of[entry["feature"]]
    per_artifact: dict[int, dict[str, Planned]] = {}
    per_folder: dict[int, list[tuple[int, str, dict[str, Planned]]]] = {}
    for position, row in enumerate(frame.to_dict(orient="records"), start=1):
        value = _text(row[column])
        if value is not None and "\\" in value:
            value = value.replace("\\", "/")  # a path written on Windows
        if value is None:
            report.unmatched.append({"row": position, "value": None, "reason": "the cell is empty"})
            continue
        match = _match(value, index, mode)
        if match.reason:
            report.unmatched.append({"row": position, "value": value, "reason": match.reason})
            continue
        values = _row_values(position, row, columns, planner, report)
        for artifact_id in match.artifacts:
            per_artifact.setdefault(artifact_id, {}).update(values)
        for folder, rel in match.files:
            per_folder.setdefault(folder, []).append((position, rel, values))
        uids = [index.targets[i].uid for i in [*match.artifacts, *(f for f, _ in match.files)]]
        report.matched.append({"row": position, "value": value, "artifacts": sorted(set(uids))})
    for folder, rows in per_folder.items():
        per_artifact.setdefault(folder, {}).update(_shared(rows))
    hit = set(per_artifact) | set(per_folder)
    report.without_row = [{"uid": t.uid, "key": t.key} for t in targets if t.id not in hit]
    report.annotated = sum(1 for values in per_artifact.values() if values)
    tables = _per_file_tables(frame, column, per_folder, index, report, dry_run, run)
    if tables:
        planner.features[TABLE_FEATURE] = Feature(
            TABLE_FEATURE, "str", description="the uid of the folder's per-file table artifact"
        ).save()
        for folder, table_uid in tables.items():
            per_artifact.setdefault(folder, {})[TABLE_FEATURE] = planner.one(
                TABLE_FEATURE, table_uid
            )
    if not dry_run:
        planned = {i: list(v.values()) for i, v in per_artifact.items() if v}
        write_many("artifact", planned, actor(run), replace=True)
        say(report.summary())
    return report


def _create_features(columns: list[_Column], planner: Planner) -> None:
    """The new features of the table's columns; a new categorical one's labels go into a
    label type of its name (``species`` -> ``setosa``, ``versicolor``, …), unless a plain label
    has that name already."""
    for col in columns:
        if not col.new:
            continue
        dtype = col.dtype
        if dtype.startswith("cat["):
            try:
                ULabel(col.feature, is_type=True).save()
            except InvalidArgument:  # a label (not a type) of that name exists
                dtype = "cat"
        col.dtype = dtype
        planner.features[col.feature] = Feature(col.feature, dtype).save()


def _row_values(
    position: int, row: Any, columns: list[_Column], planner: Planner, report: AnnotateReport
) -> dict[str, Planned]:
    """The row's validated values by feature name; refused ones are reported and left out."""
    values: dict[str, Planned] = {}
    for col in columns:
        cell = _cell(row[col.column])
        if cell is None:
            continue
        if kind_of(col.dtype) in ("str", "cat") and not isinstance(cell, str):
            cell = _text(cell)
        try:
            values[col.feature] = planner.one(col.feature, cell)
        except InvalidArgument as exc:
            report.refused.append(
                {"row": position, "column": col.column, "value": _text(cell), "reason": str(exc)}
            )
    return values


def _same(a: Planned, b: Planned) -> bool:
    return a.scalar == b.scalar and a.labels == b.labels


def _shared(rows: list[tuple[int, str, dict[str, Planned]]]) -> dict[str, Planned]:
    """The values all of a folder's matched rows hold alike."""
    first = rows[0][2]
    return {
        name: planned
        for name, planned in first.items()
        if all(name in values and _same(values[name], planned) for _, _, values in rows[1:])
    }


def _per_file_tables(
    frame: pd.DataFrame,
    column: str,
    per_folder: dict[int, list[tuple[int, str, dict[str, Planned]]]],
    index: _Index,
    report: AnnotateReport,
    dry_run: bool,
    run: Any,
) -> dict[int, str]:
    """Save each folder's rows (those whose values differ between its files) as a parquet
    table artifact; {folder id: table uid}."""
    made: dict[int, str] = {}
    for folder, rows in per_folder.items():
        shared = _shared(rows)
        if all(set(values) <= set(shared) for _, _, values in rows):
            continue  # every value is the folder's own: no per-file table needed
        target = index.targets[folder]
        if dry_run:
            report.tables.append({"folder": target.uid, "table": None})
            continue
        part = frame.iloc[[position - 1 for position, _, _ in rows]].copy()
        part.insert(0, "file", [rel for _, rel, _ in rows])
        if column != "file":
            part = part.drop(columns=[column])
        table = _save_table(part, target, run)
        made[folder] = table.uid
        report.tables.append({"folder": target.uid, "table": table.uid})
        active = run if run is not None else current_run()
        if active is not None:  # lineage: folder -> run -> its table
            record_inputs(active, [target.record or Artifact.get(target.uid)])
    return made


def _save_table(part: pd.DataFrame, folder: _Target, run: Any) -> Artifact:
    key = f"{folder.key.rstrip('/')}.annotations.parquet" if folder.key else None
    handle, name = tempfile.mkstemp(suffix=".parquet")
    os.close(handle)
    try:
        part.astype({c: "string" for c in part.columns if part[c].dtype == object}).to_parquet(
            name, index=False
        )
        table = Artifact(
            name,
            key=key,
            description=f"Per-file annotations of folder artifact {folder.uid} (ls.annotate)",
            run=run,
        )
        if table.__dict__.get("id") is None:
            table.save()
        return table
    finally:
        Path(name).unlink(missing_ok=True)


__all__ = ["AnnotateReport", "annotate", "infer_column_dtype", "read_table"]
