"""``describe()`` trees and short ``repr``s of records, for any registry.

The tree has a *General* section (the record's fields, sizes and times for people) and a
*Provenance* section, and for records with labels or feature values a *Labels & features*
section between them; each registry adds its own lines through three hooks of its record
class, ``_describe_general()``, ``_describe_annotations()`` and ``_describe_provenance()``.
"""

from __future__ import annotations

from typing import Any

from .humanize import human_size, printable
from .registry import registry_of

HIDDEN_FIELDS = ("id", "source_code", "stem_uid")
REPR_FIELDS = (
    "uid",
    "description",
    "suffix",
    "size",
    "hash",
    "type",
    "version",
    "is_latest",
    "visibility",
)


def short_repr(rec: Any) -> str:
    """``Artifact(uid='…', key='…', …)``: the fields that tell records apart."""
    spec = registry_of(rec)
    fields = dict.fromkeys(("uid", spec.name_field, *REPR_FIELDS))
    parts = []
    for f in fields:
        if f not in spec.fields:
            continue
        value = rec.__dict__.get(f)
        if value is None:
            continue
        parts.append(f"{f}={value!r}")
    return f"{type(rec).__name__}({', '.join(parts)})"


def _value(field: str, value: Any) -> Any:
    if field == "size":
        return f"{human_size(value)} ({value} bytes)"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return value


def general_lines(rec: Any) -> list[tuple[str, Any]]:
    """(field, value) of every set field a person reads (no ids, hashes of code, stems)."""
    spec = registry_of(rec)
    out = []
    for field in spec.fields:
        if field.endswith("_id") or field in HIDDEN_FIELDS:
            continue
        value = getattr(rec, field)
        if value is None or value == "":
            continue
        out.append((field, _value(field, value)))
    return out


def provenance_lines(rec: Any) -> list[tuple[str, str]]:
    """The transform and run that made an artifact or collection."""
    out = []
    transform = getattr(rec, "transform", None)
    if transform is not None:
        out.append(
            (
                "transform",
                f"{transform.name} ({transform.type}, v{transform.version or '?'}, "
                f"uid {transform.uid})",
            )
        )
    run = getattr(rec, "run", None)
    if run is not None:
        out.append(("run", f"{run.uid} started {run.started_at:%Y-%m-%d %H:%M:%S}"))
    return out


def names(records: list[Any], total: int, shown: int = 8) -> str:
    """``3: a.csv, b.csv, c.csv`` (with `` …`` when there are more than ``shown``)."""
    listed = ", ".join(r.key or r.uid for r in records[:shown])
    return f"{total}: {listed}" + (" …" if total > shown else "")


def _section(title: str, rows: list[tuple[str, Any]], last: bool) -> list[str]:
    lines = [f"{'└' if last else '├'}── {title}"]
    pad = "    " if last else "│   "
    for i, (k, v) in enumerate(rows):
        lines.append(f"{pad}{'└' if i == len(rows) - 1 else '├'}── .{k} = {printable(v)}")
    return lines


def describe(rec: Any, print_it: bool = True) -> str:
    """A tree of a record's fields and its provenance; every value is escaped for printing
    (control and bidi characters shown as ``\x1b``, ``\u202e``)."""
    spec = registry_of(rec)
    title = getattr(rec, spec.name_field, "") or ""
    general = general_lines(rec) + list(rec._describe_general())
    created_by = getattr(rec, "created_by", None)
    if created_by is not None:
        general.append(("created_by", created_by.handle))
    annotations = list(rec._describe_annotations())
    provenance = list(rec._describe_provenance())
    lines = [f"{type(rec).__name__}: {printable(title)}".rstrip()]
    lines += _section("General", general, last=not (annotations or provenance))
    if annotations:
        lines += _section("Labels & features", annotations, last=not provenance)
    if provenance:
        lines += _section("Provenance", provenance, last=True)
    text = "\n".join(lines)
    if print_it:
        print(text)
    return text
