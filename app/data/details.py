"""What the details panel says about a record, in words a scientist reads: a title, a line
saying what it is, and sections (what it is, where it came from, technical internals),
made from the gateway's `record_summary`. No Qt here: the panel only lays these out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labshelf.app.data.formatting import count_of, human_size, human_time, version_text
from labshelf.app.data.registries import LOOKS

Line = tuple[str, str]  # (label, text)

TITLE_FIELDS = ("key", "name", "handle", "root", "transform__name")  # the first one set
# A transform is known by its name (its key is often a long script path).
TITLE_FIELDS_OF = {"Transform": ("name", "key")}
KIND_WORDS = {
    "image": "image",
    "table": "table",
    "json": "JSON",
    "text": "text",
}
VISIBILITY = {1: "visible", 0: "hidden", -1: "in the trash", -2: "being saved"}
# Fields the Technical section lists (internals a scientist rarely needs), in this order.
TECHNICAL = (
    "uid",
    "hash",
    "hash_type",
    "key_is_virtual",
    "storage__root",
    "run__uid",
    "transform__uid",
    "reference",
    "accessor",
    "updated_at",
)
TECHNICAL_TITLES = {
    "uid": "uid",
    "hash": "Content hash",
    "hash_type": "Hash type",
    "key_is_virtual": "Stored as",
    "storage__root": "Storage",
    "run__uid": "Run uid",
    "transform__uid": "Transform uid",
    "reference": "Reference",
    "accessor": "Accessor",
    "updated_at": "Updated",
}


@dataclass
class DetailsView:
    """Everything the panel shows of one record."""

    registry: str
    uid: str
    title: str
    subtitle: str
    overview: list[Line] = field(default_factory=list)
    provenance: list[Line] = field(default_factory=list)
    technical: list[Line] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    has_description: bool = False
    versioned: bool = False
    can_make_latest: bool = False
    in_trash: bool = False
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (registry, uid)


def _when(value: Any) -> str:
    return human_time(value) if isinstance(value, datetime) else str(value or "")


def _person(creator: dict[str, Any] | None) -> str:
    if not creator:
        return ""
    name, handle = creator.get("name"), creator.get("handle", "")
    return f"{name} ({handle})" if name and name != handle else str(handle)


def _duration(start: Any, end: Any) -> str:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _made_by_text(made: dict[str, Any] | None) -> str:
    if not made:
        return ""
    version = made.get("version")
    label = f" {version_text(version)}" if version else ""
    return f"{made.get('type', 'transform')} “{made['transform']}”{label}"


def _run_text(made: dict[str, Any] | None) -> str:
    if not made or not made.get("run_uid"):
        return ""
    start, end = made.get("started_at"), made.get("finished_at")
    if end:
        took = _duration(start, end)
        return f"started {_when(start)}, finished after {took}" if took else _when(start)
    return f"started {_when(start)}, not finished"


def _kind(fields: dict[str, Any], kind_of: Any) -> str:
    suffix = str(fields.get("suffix") or "")
    if not suffix:
        n = fields.get("n_objects")
        return f"folder of {count_of(n, 'file')}" if isinstance(n, int) else "folder"
    word = KIND_WORDS.get(kind_of(suffix), "file") if kind_of else "file"
    return f"{word} ({suffix})"


def _version_line(summary: dict[str, Any]) -> str:
    versions = summary.get("versions") or []
    uid = summary["uid"]
    if not versions:
        return ""
    position = next((i for i, v in enumerate(versions) if v["uid"] == uid), None)
    this = versions[position] if position is not None else {}
    label = version_text(this.get("version")) or "this version"
    latest = " (the latest)" if this.get("is_latest") else ""
    if len(versions) == 1:
        return f"{label}, the only version"
    return f"{label} of {len(versions)}{latest}"


def _technical(fields: dict[str, Any], summary: dict[str, Any]) -> list[Line]:
    lines: list[Line] = [("uid", summary["uid"])]
    for name in TECHNICAL[1:]:
        value = fields.get(name)
        if value in (None, ""):
            continue
        if name == "key_is_virtual":
            text = "a copy in the storage" if value else "registered in place (the user's file)"
        elif name == "updated_at":
            text = _when(value)
        else:
            text = str(value)
        lines.append((TECHNICAL_TITLES[name], text))
    made = summary.get("made_by") or {}
    if made.get("run_uid") and "run__uid" not in fields:
        lines.append(("Run uid", made["run_uid"]))
    if made.get("transform_uid"):
        lines.append(("Transform uid", made["transform_uid"]))
    visibility = summary.get("visibility")
    if visibility is not None and visibility != 1:
        lines.append(("Visibility", VISIBILITY.get(visibility, str(visibility))))
    return lines


def details_view(summary: dict[str, Any], kind_of: Any = None) -> DetailsView:
    """The panel's view of a record from the gateway's `record_summary`; `kind_of` names a
    suffix's file kind (the gateway's, from core)."""
    registry, uid = summary["registry"], summary["uid"]
    fields: dict[str, Any] = summary.get("fields") or {}
    look = LOOKS[registry]
    title_fields = TITLE_FIELDS_OF.get(registry, TITLE_FIELDS)
    title = next((str(fields[f]) for f in title_fields if fields.get(f)), uid)
    run_of = ((summary.get("counts") or {}).get("transform") or {}).get("transform")
    if registry == "Run" and run_of:
        title = f"Run of “{run_of}”"
    kind_line = look.noun[0].capitalize()
    version_line = _version_line(summary)
    in_trash = summary.get("visibility") == -1
    subtitle = " · ".join(
        p for p in (kind_line, version_line, "in the trash" if in_trash else "") if p
    )
    view = DetailsView(
        registry,
        uid,
        title,
        subtitle,
        description=str(fields.get("description") or ""),
        has_description="description" in fields,
        versioned="versions" in summary,
        can_make_latest=registry in ("Artifact", "Collection") and not in_trash,
        in_trash=in_trash,
        collections=list(summary.get("collections") or []),
    )
    view.overview = _overview(registry, fields, summary, kind_of)
    view.provenance = _provenance(registry, fields, summary)
    view.technical = _technical(fields, summary)
    view.links = _links(registry, summary)
    return view


def _links(registry: str, summary: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Lines that lead to another record when clicked (what made this one)."""
    links: dict[str, tuple[str, str]] = {}
    made = summary.get("made_by") or {}
    if registry in ("Artifact", "Collection") and made.get("transform_uid"):
        links["Made by"] = ("Transform", made["transform_uid"])
        if made.get("run_uid"):
            links["Run"] = ("Run", made["run_uid"])
    run_transform = (summary.get("counts") or {}).get("transform") or {}
    if registry == "Run" and run_transform.get("transform_uid"):
        links["Transform"] = ("Transform", run_transform["transform_uid"])
    creator = summary.get("creator") or {}
    if creator.get("uid"):
        links["Created"] = ("User", creator["uid"])
    return links


def _overview(
    registry: str, fields: dict[str, Any], summary: dict[str, Any], kind_of: Any
) -> list[Line]:
    counts = summary.get("counts") or {}
    lines: list[Line] = []
    if registry == "Artifact":
        lines += [("Key", str(fields.get("key") or "")), ("Type", _kind(fields, kind_of))]
        lines.append(("Size", human_size(fields.get("size"))))
        if fields.get("n_observations"):
            lines.append(("Observations", f"{fields['n_observations']:,}"))
    elif registry == "Collection":
        lines += [("Name", str(fields.get("name") or ""))]
        lines.append(("Members", count_of(counts.get("members", 0), "artifact")))
    elif registry == "Transform":
        lines += [
            ("Name", str(fields.get("name") or "")),
            ("Key", str(fields.get("key") or "")),
            ("Type", str(fields.get("type") or "")),
            ("Runs", count_of(counts.get("runs", 0), "run")),
        ]
        if not summary.get("versions"):  # else the family's line below says it
            lines.insert(3, ("Version", version_text(fields.get("version"))))
        if counts.get("latest_run"):
            lines.append(("Latest run", _when(counts["latest_run"])))
    elif registry == "Run":
        lines += _run_overview(fields, counts)
    elif registry == "User":
        lines += [
            ("Handle", str(fields.get("handle") or "")),
            ("Name", str(fields.get("name") or "")),
            ("Artifacts", count_of(counts.get("artifacts", 0), "artifact") + " created"),
        ]
    elif registry == "Storage":
        lines += [
            ("Root", str(fields.get("root") or "")),
            ("Type", str(fields.get("type") or "")),
            ("Region", str(fields.get("region") or "")),
            ("Artifacts", count_of(counts.get("artifacts", 0), "artifact") + " stored here"),
        ]
    if summary.get("versions"):
        lines.append(("Version", _version_line(summary)))
    return [(label, text) for label, text in lines if text]


def _run_overview(fields: dict[str, Any], counts: dict[str, Any]) -> list[Line]:
    start, end = fields.get("started_at"), fields.get("finished_at")
    lines = [
        ("Transform", _made_by_text(counts.get("transform"))),
        ("Started", _when(start)),
        ("Finished", f"{_when(end)} (after {_duration(start, end)})" if end else "not finished"),
    ]
    for key, label in (("inputs", "Read"), ("outputs", "Made")):
        n = counts.get(key, 0)
        listed = ", ".join(counts.get(f"{key[:-1]}_keys") or [])
        more = " …" if n > len(counts.get(f"{key[:-1]}_keys") or []) else ""
        text = count_of(n, "artifact") + (f": {listed}{more}" if listed else "")
        lines.append((label, text))
    return lines


def _provenance(registry: str, fields: dict[str, Any], summary: dict[str, Any]) -> list[Line]:
    lines: list[Line] = []
    who, when = _person(summary.get("creator")), _when(fields.get("created_at"))
    if registry == "User":
        return [("Joined", when)] if when else []
    if who or when:
        lines.append(("Created", " on ".join(p for p in (f"by {who}" if who else "", when) if p)))
    made = summary.get("made_by")
    if made and registry in ("Artifact", "Collection"):
        lines.append(("Made by", _made_by_text(made)))
        run = _run_text(made)
        if run:
            lines.append(("Run", run))
    return [(label, text) for label, text in lines if text]
