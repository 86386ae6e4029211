"""How the app shows each registry: core's registry spec (`labshelf.registry`) extended with
presentation.

Core's spec says what a registry *is*: its default table columns, the field that names a
record, whether it has versions and a trash. The app adds only how it *looks* and what the
desktop can do with it: column titles, kinds and widths (`FIELDS`), the sidebar's label and
icon, which columns a scientist sees first (the others are in the column chooser), the
filter chips, the fields of the details panel and the app's capabilities (`LOOKS`). A
`RegistryView` joins the two.

Core's spec module loads SQLAlchemy, which the UI thread must not wait for while the first
window is drawn: `view()` loads it (call it on a worker, as the table model does with its
first page), `loaded()` only answers once a worker has. What the first frame needs — the
sidebar — comes from `LOOKS` alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from labshelf.app import gateway


@dataclass(frozen=True)
class FieldLook:
    """How a field reads in tables and the details: header, kind (how values are formatted:
    text, size, time, int, bool) and default column width in pixels (0: by kind)."""

    title: str
    kind: str = "text"
    width: int = 0


@dataclass(frozen=True)
class Column:
    """One table column: a `values()` field path, its header and how to format it; `shown`
    says whether the table shows it before the user picks columns."""

    field: str
    title: str
    kind: str = "text"
    width: int = 0
    shown: bool = True

    @property
    def default_width(self) -> int:
        widths = {"size": 90, "time": 130, "int": 60, "bool": 56, "version": 96}
        return self.width or widths.get(self.kind, 120)


FIELDS: dict[str, FieldLook] = {
    "uid": FieldLook("uid", width=120),
    "key": FieldLook("Key", width=320),
    "name": FieldLook("Name", width=220),
    "description": FieldLook("Description", width=220),
    "suffix": FieldLook("Type", width=60),
    "size": FieldLook("Size", "size"),
    "n_objects": FieldLook("Files", "int"),
    "version": FieldLook("Version", "version"),
    "is_latest": FieldLook("Latest", "bool"),
    "key_is_virtual": FieldLook("Virtual key", "bool"),
    "type": FieldLook("Type", width=80),
    "transform__name": FieldLook("Transform", width=220),
    "transform__type": FieldLook("Transform type"),
    "storage__root": FieldLook("Storage"),
    "hash": FieldLook("Hash"),
    "reference": FieldLook("Reference"),
    "handle": FieldLook("Handle"),
    "root": FieldLook("Root", width=320),
    "region": FieldLook("Region"),
    "started_at": FieldLook("Started", "time"),
    "finished_at": FieldLook("Finished", "time"),
    "created_by__handle": FieldLook("Created by"),
    "created_at": FieldLook("Created", "time"),
    "updated_at": FieldLook("Updated", "time"),
}


def field_look(field: str) -> FieldLook:
    """The look of `field`; a field core adds later reads as its name."""
    return FIELDS.get(field) or FieldLook(field.replace("__", " ").replace("_", " ").capitalize())


def column(field: str, shown: bool = True) -> Column:
    look = field_look(field)
    return Column(field, look.title, look.kind, look.width, shown)


@dataclass(frozen=True)
class RegistryLook:
    """The app's side of a registry: its sidebar label and icon, filter chips, the fields the
    details panel lists, and what the desktop does with its records."""

    label: str  # in the sidebar, drawn in the first frame (before core's spec is loaded)
    icon: str
    noun: tuple[str, str] = ("record", "records")  # one, many: "3 artifacts"
    columns: tuple[str, ...] = ()  # shown first, in this order; core's others are chosen
    filters: tuple[str, ...] = ()  # keys of FILTER_LOOKUPS
    detail_fields: tuple[str, ...] = ()
    content: bool = False  # records are files or folders: preview, open, export, thumbnails
    lineage: bool = False  # the details show a lineage tab
    collection_browser: bool = False  # a version timeline with members under the table


_CREATED = ("created_by__handle", "created_at")

LOOKS: dict[str, RegistryLook] = {
    "Artifact": RegistryLook(
        "Artifacts",
        "artifact",
        ("artifact", "artifacts"),
        columns=("key", "description", "size", "suffix", "version", *_CREATED),
        filters=("suffix", "created_by", "transform", "storage", "key_prefix", "date"),
        detail_fields=(
            "uid",
            "key",
            "description",
            "suffix",
            "size",
            "hash",
            "hash_type",
            "n_objects",
            "n_observations",
            "accessor",
            "version",
            "is_latest",
            "key_is_virtual",
            "storage__root",
            "run__uid",
            "created_at",
            "updated_at",
        ),
        content=True,
        lineage=True,
    ),
    "Collection": RegistryLook(
        "Collections",
        "collection",
        ("collection", "collections"),
        columns=("name", "description", "version", *_CREATED),
        filters=("created_by", "transform", "date"),
        detail_fields=(
            "uid",
            "name",
            "description",
            "hash",
            "version",
            "is_latest",
            "reference",
            "run__uid",
            "created_at",
            "updated_at",
        ),
        lineage=True,
        collection_browser=True,
    ),
    "Transform": RegistryLook(
        "Transforms",
        "transform",
        ("transform", "transforms"),
        columns=("name", "type", "version", "description", *_CREATED),
        filters=("created_by", "key_prefix", "date"),
        detail_fields=(
            "uid",
            "name",
            "key",
            "type",
            "version",
            "is_latest",
            "description",
            "hash",
            "reference",
            "created_at",
            "updated_at",
        ),
    ),
    "Run": RegistryLook(
        "Runs",
        "run",
        ("run", "runs"),
        columns=("transform__name", "transform__type", "started_at", "finished_at", *_CREATED),
        filters=("created_by", "transform", "date"),
        detail_fields=(
            "uid",
            "started_at",
            "finished_at",
            "is_consecutive",
            "reference",
            "created_at",
        ),
        lineage=True,  # a run's inputs and outputs (an upload run: what the drop made)
    ),
    "User": RegistryLook(
        "Users",
        "user",
        ("user", "users"),
        columns=("handle", "name", "created_at"),
        filters=("date",),
        detail_fields=("uid", "handle", "name", "created_at"),
    ),
    "Storage": RegistryLook(
        "Storage",
        "storage",
        ("storage location", "storage locations"),
        columns=("root", "type", "region", "description", "created_at"),
        filters=("created_by", "date"),
        detail_fields=("uid", "root", "type", "region", "description", "created_at"),
    ),
}

TRASH_PAGE = "Trash"  # the sidebar's last entry: the trash of the registries that have one

# Filter chip -> (label, lookup). `date` becomes a range over created_at; how typed values
# are read (".csv" from "csv", a user by name or handle) is `labshelf.app.data.filters`.
FILTER_LOOKUPS: dict[str, tuple[str, str]] = {
    "suffix": ("Type", "suffix"),
    "created_by": ("Created by", "created_by__handle"),
    "transform": ("Transform", "transform__name__icontains"),
    "storage": ("Storage", "storage__root"),
    "key_prefix": ("Key prefix", "key__startswith"),
    "date": ("Created", "created_at__range"),
}


@dataclass(frozen=True)
class RegistryView:
    """A registry as the browser shows it: core's facts with the app's look."""

    name: str  # the core class name, e.g. "Artifact"
    columns: tuple[Column, ...]  # core's default columns, as the app draws them
    name_field: str  # the field that names a record for people
    has_trash: bool
    look: RegistryLook
    versioned: bool = False

    @classmethod
    def of(cls, spec: Any, look: RegistryLook) -> RegistryView:
        """Join core's spec of one registry with the app's look of it: the look's columns
        first (those core has), then core's other default columns, not shown at first."""
        first = [f for f in look.columns if f in spec.columns]
        rest = [f for f in spec.columns if f not in first]
        return cls(
            name=spec.name,
            columns=(*(column(f) for f in first), *(column(f, shown=False) for f in rest)),
            name_field=spec.name_field,
            has_trash=bool(spec.has_trash),
            look=look,
            versioned=bool(spec.versioned),
        )

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    def column_index(self, field: str) -> int:
        return self.fields.index(field)


_views: dict[str, RegistryView] = {}
_lock = threading.Lock()


def view(name: str) -> RegistryView:
    """The view of registry `name`. The first call loads core's spec (SQLAlchemy): make it
    on a worker."""
    found = _views.get(name)
    if found is None:
        with _lock:
            if not _views:
                specs = gateway.registry_specs()
                _views.update({n: RegistryView.of(specs[n], look) for n, look in LOOKS.items()})
        found = _views[name]
    return found


def views() -> list[RegistryView]:
    """Every registry the app shows, in the sidebar's order (loads core's spec like `view`)."""
    return [view(name) for name in LOOKS]


def loaded(name: str) -> RegistryView | None:
    """The view of registry `name` if a worker has loaded core's spec already, else None
    (never loads it: safe on the UI thread)."""
    return _views.get(name)


def look(name: str) -> RegistryLook | None:
    """The app's look of registry `name` (None for pages that are no registry, the trash)."""
    return LOOKS.get(name)
