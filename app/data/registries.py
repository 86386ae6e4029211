"""What the app shows of each registry: its columns (like `df()`) and which filters apply."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One table column: a `values()` field path, a header and how to format it."""

    field: str
    title: str
    kind: str = "text"  # text, size, time, int, bool
    width: int = 0  # default pixels; 0: by kind

    @property
    def default_width(self) -> int:
        return self.width or {"size": 80, "time": 130, "int": 60, "bool": 56}.get(self.kind, 120)


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
        Column("uid", "uid", width=110),
        Column("key", "Key", width=260),
        Column("description", "Description", width=200),
        Column("suffix", "Suffix", width=60),
        Column("size", "Size", "size"),
        Column("n_objects", "Files", "int"),
        Column("version", "Version", width=64),
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
        Column("uid", "uid", width=110),
        Column("name", "Name", width=200),
        Column("description", "Description", width=200),
        Column("version", "Version", width=64),
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
        Column("uid", "uid", width=110),
        Column("name", "Name", width=200),
        Column("key", "Key", width=260),
        Column("type", "Type", width=80),
        Column("version", "Version", width=64),
        Column("is_latest", "Latest", "bool"),
        Column("description", "Description", width=200),
        *_CREATED,
    ),
    filters=("created_by", "key_prefix", "date"),
)
RUN = RegistrySpec(
    "Run",
    "Runs",
    (
        Column("uid", "uid", width=110),
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
        Column("uid", "uid", width=110),
        Column("handle", "Handle"),
        Column("name", "Name", width=200),
        Column("created_at", "Created", "time"),
    ),
    filters=("date",),
)
STORAGE = RegistrySpec(
    "Storage",
    "Storage",
    (
        Column("uid", "uid", width=110),
        Column("root", "Root", width=320),
        Column("type", "Type", width=80),
        Column("region", "Region"),
        Column("description", "Description", width=200),
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
