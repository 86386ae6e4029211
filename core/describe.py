"""``describe()`` trees and short ``repr``s of records."""

from __future__ import annotations

from typing import Any

from .humanize import human_size
from .query import NAME_FIELD


def short_repr(rec: Any) -> str:
    cls = type(rec).__name__
    fields = [
        "uid",
        NAME_FIELD.get(type(rec), "uid"),
        "description",
        "suffix",
        "size",
        "hash",
        "type",
        "version",
        "is_latest",
        "visibility",
    ]
    parts = []
    for f in dict.fromkeys(fields):
        if not hasattr(type(rec), f):
            continue
        value = rec.__dict__.get(f)
        if value is None:
            continue
        parts.append(f"{f}={value!r}")
    return f"{cls}({', '.join(parts)})"


def describe(rec: Any, print_it: bool = True) -> str:
    """A tree of a record's fields, its provenance and (artifacts) where it is stored."""
    from .models import Artifact, Collection, Run

    cls = type(rec).__name__
    lines = [f"{cls}: {getattr(rec, NAME_FIELD.get(type(rec), 'uid'), '') or ''}".rstrip()]
    cols = [
        c.key
        for c in type(rec).__mapper__.column_attrs
        if not c.key.endswith("_id") and c.key not in ("id", "source_code", "stem_uid")
    ]
    general = []
    for c in cols:
        value = getattr(rec, c)
        if value is None or value == "":
            continue
        if c == "size":
            value = f"{human_size(value)} ({value} bytes)"
        elif hasattr(value, "isoformat"):
            value = value.strftime("%Y-%m-%d %H:%M:%S UTC")
        general.append((c, value))
    if isinstance(rec, Artifact):
        general.append(("storage", rec.storage.root))
        general.append(("path", str(rec.path)))
    if getattr(rec, "created_by", None) is not None:
        general.append(("created_by", rec.created_by.handle))
    lines.append("├── General")
    for i, (k, v) in enumerate(general):
        lines.append(f"│   {'└' if i == len(general) - 1 else '├'}── .{k} = {v}")
    prov = []
    if getattr(rec, "transform", None) is not None and not isinstance(rec, Run):
        t = rec.transform
        prov.append(("transform", f"{t.name} ({t.type}, v{t.version or '?'}, uid {t.uid})"))
    if isinstance(rec, Run):
        prov.append(
            ("transform", f"{rec.transform.name} ({rec.transform.type}, uid {rec.transform.uid})")
        )
        for label, qs in (("inputs", rec.inputs), ("outputs", rec.outputs)):
            records = qs[:9].all()
            if records:
                names = ", ".join(a.key or a.uid for a in records[:8]) + (
                    " …" if len(records) > 8 else ""
                )
                prov.append((label, f"{qs.count()}: {names}"))
    if getattr(rec, "run", None) is not None:
        r = rec.run
        prov.append(("run", f"{r.uid} started {r.started_at:%Y-%m-%d %H:%M:%S}"))
    if isinstance(rec, Collection):
        members = rec.artifacts.all()
        prov.append(
            (
                "artifacts",
                f"{len(members)}: "
                + ", ".join(m.key or m.uid for m in members[:8])
                + (" …" if len(members) > 8 else ""),
            )
        )
    if prov:
        lines.append("└── Provenance")
        for i, (k, v) in enumerate(prov):
            lines.append(f"    {'└' if i == len(prov) - 1 else '├'}── .{k} = {v}")
    else:
        lines[-1 - len(general)] = "└── General"
        lines = [lines[0]] + [
            ln.replace("│   ", "    ", 1) if ln.startswith("│") else ln for ln in lines[1:]
        ]
    text = "\n".join(lines)
    if print_it:
        print(text)
    return text
