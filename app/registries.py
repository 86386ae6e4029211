"""What the app shows of each registry: its columns (like `df()`) and which filters apply."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One table column: a `values()` field path, a header and how to format it."""

    field: str
    title: str
    kind: str = "text"  # text, size, time, int, bool


@dataclass(frozen=True)
class RegistrySpec:
    """A registry as the browser shows it."""

    name: str  # the core class name, e.g. "Artifact"
    title: str  # plural, for the registry list
    columns: tuple[Column, ...]
    filters: tuple[str, ...] = ()
    has_trash: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    def column_index(self, field: str) -> int:
        return self.fields.index(field)


_CREATED = (Column("created_by__handle", "Created by"), Column("created_at", "Created", "time"))

ARTIFACT = RegistrySpec(
    "Artifact",
    "Artifacts",
    (
        Column("uid", "uid"),
        Column("key", "Key"),
        Column("description", "Description"),
        Column("suffix", "Suffix"),
        Column("size", "Size", "size"),
        Column("n_objects", "Files", "int"),
        Column("version", "Version"),
        Column("is_latest", "Latest", "bool"),
        Column("transform__name", "Transform"),
        Column("storage__root", "Storage"),
        Column("hash", "Hash"),
        *_CREATED,
    ),
    filters=("suffix", "created_by", "transform", "key_prefix", "date"),
    has_trash=True,
)
COLLECTION = RegistrySpec(
    "Collection",
    "Collections",
    (
        Column("uid", "uid"),
        Column("name", "Name"),
        Column("description", "Description"),
        Column("version", "Version"),
        Column("is_latest", "Latest", "bool"),
        Column("transform__name", "Transform"),
        Column("hash", "Hash"),
        *_CREATED,
    ),
    filters=("created_by", "transform", "date"),
    has_trash=True,
)
TRANSFORM = RegistrySpec(
    "Transform",
    "Transforms",
    (
        Column("uid", "uid"),
        Column("name", "Name"),
        Column("key", "Key"),
        Column("type", "Type"),
        Column("version", "Version"),
        Column("is_latest", "Latest", "bool"),
        Column("description", "Description"),
        *_CREATED,
    ),
    filters=("created_by", "key_prefix", "date"),
)
RUN = RegistrySpec(
    "Run",
    "Runs",
    (
        Column("uid", "uid"),
        Column("transform__name", "Transform"),
        Column("transform__type", "Type"),
        Column("started_at", "Started", "time"),
        Column("finished_at", "Finished", "time"),
        Column("reference", "Reference"),
        *_CREATED,
    ),
    filters=("created_by", "transform", "date"),
)
USER = RegistrySpec(
    "User",
    "Users",
    (
        Column("uid", "uid"),
        Column("handle", "Handle"),
        Column("name", "Name"),
        Column("created_at", "Created", "time"),
    ),
    filters=("date",),
)
STORAGE = RegistrySpec(
    "Storage",
    "Storage",
    (
        Column("uid", "uid"),
        Column("root", "Root"),
        Column("type", "Type"),
        Column("region", "Region"),
        Column("description", "Description"),
        *_CREATED,
    ),
    filters=("created_by", "date"),
)

REGISTRIES: tuple[RegistrySpec, ...] = (ARTIFACT, COLLECTION, TRANSFORM, RUN, USER, STORAGE)
BY_NAME: dict[str, RegistrySpec] = {spec.name: spec for spec in REGISTRIES}

# Filter chip -> (label, lookup). `date` becomes a range over created_at.
FILTER_LOOKUPS: dict[str, tuple[str, str]] = {
    "suffix": ("Suffix", "suffix"),
    "created_by": ("Created by", "created_by__handle"),
    "transform": ("Transform", "transform__name__icontains"),
    "key_prefix": ("Key prefix", "key__startswith"),
    "date": ("Created between", "created_at__range"),
}
