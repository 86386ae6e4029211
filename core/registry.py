"""One spec per registry: the facts the rest of labshelf asks about a registry, in one place.

The query layer, ``describe()``, the CLI and the app read a registry's name, its table, the
field that names a record for people, its search fields, capabilities (versions, trash) and
default columns from here; the CLI and the app add only presentation (titles, widths, icons).
The record classes themselves live in the layers above (``labshelf.models`` gathers them).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from sqlalchemy import Table

from . import schema


@dataclass(frozen=True)
class Registry:
    """What every layer may ask about one registry."""

    key: str  # "artifact": CLI name, settings key, lower-case class name
    name: str  # the record class's name: "Artifact"
    table: Table
    title: str  # plural, for lists and headings: "Artifacts"
    name_field: str  # the field that names a record for people
    search_fields: tuple[str, ...]  # what ``search()`` ranks over, best first
    columns: tuple[str, ...]  # ``values()`` paths a table shows by default, in order
    fts_table: str | None = None  # SQLite FTS5 trigram table over the search fields
    versioned: bool = False  # version families: stem_uid, version, is_latest
    has_trash: bool = False  # visibility: 1 default, 0 hidden, -1 trash
    # labels and feature values of the records (``ulabels``/``features``), if they take them
    label_links: Table | None = None
    feature_values: Table | None = None
    # the vocabulary records are annotated with (labels, features), not records of the
    # catalog itself: front ends show them in views of their own (a label tree), not as tables
    vocabulary: bool = False

    @property
    def annotated(self) -> bool:
        """Whether the records take labels and feature values."""
        return self.label_links is not None

    @property
    def model(self) -> type[Any]:
        """The record class (registered by the layer that defines it, see ``bind``)."""
        if self.name not in _CLASSES:
            # The classes live in the layers above and register themselves when imported;
            # loading them by name keeps this layer from importing upwards.
            import_module("labshelf.models")
        return _CLASSES[self.name]

    @property
    def uid_length(self) -> int:
        return int(self.table.c.uid.type.length)  # type: ignore[attr-defined]

    @property
    def fields(self) -> tuple[str, ...]:
        """The table's column names (``id`` included), in table order."""
        return tuple(self.table.c.keys())


_CREATED = ("created_by__handle", "created_at")

REGISTRIES: dict[str, Registry] = {
    r.key: r
    for r in (
        Registry(
            "artifact",
            "Artifact",
            schema.artifacts,
            "Artifacts",
            "key",
            ("key", "description"),
            (
                "uid",
                "key",
                "description",
                "suffix",
                "size",
                "n_objects",
                "version",
                "is_latest",
                "transform__name",
                "storage__root",
                "hash",
                *_CREATED,
            ),
            fts_table="artifacts_fts",
            versioned=True,
            has_trash=True,
            label_links=schema.artifact_ulabels,
            feature_values=schema.artifact_feature_values,
        ),
        Registry(
            "collection",
            "Collection",
            schema.collections,
            "Collections",
            "name",
            ("name", "description"),
            (
                "uid",
                "name",
                "description",
                "version",
                "is_latest",
                "transform__name",
                "hash",
                *_CREATED,
            ),
            fts_table="collections_fts",
            versioned=True,
            has_trash=True,
            label_links=schema.collection_ulabels,
            feature_values=schema.collection_feature_values,
        ),
        Registry(
            "transform",
            "Transform",
            schema.transforms,
            "Transforms",
            "name",
            ("name", "key", "description"),
            ("uid", "name", "key", "type", "version", "is_latest", "description", *_CREATED),
            versioned=True,
        ),
        Registry(
            "run",
            "Run",
            schema.runs,
            "Runs",
            "uid",
            ("reference",),
            (
                "uid",
                "transform__name",
                "transform__type",
                "started_at",
                "finished_at",
                "reference",
                *_CREATED,
            ),
        ),
        Registry(
            "user",
            "User",
            schema.users,
            "Users",
            "handle",
            ("handle", "name"),
            ("uid", "handle", "name", "created_at"),
        ),
        Registry(
            "storage",
            "Storage",
            schema.storages,
            "Storage",
            "root",
            ("root", "description"),
            ("uid", "root", "type", "region", "description", *_CREATED),
        ),
        Registry(
            "ulabel",
            "ULabel",
            schema.ulabels,
            "Labels",
            "name",
            ("name", "description"),
            ("uid", "name", "type__name", "is_type", "description", *_CREATED),
            vocabulary=True,
        ),
        Registry(
            "feature",
            "Feature",
            schema.features,
            "Features",
            "name",
            ("name", "description"),
            ("uid", "name", "dtype", "unit", "description", *_CREATED),
            vocabulary=True,
        ),
    )
}
BY_NAME: dict[str, Registry] = {r.name: r for r in REGISTRIES.values()}
_CLASSES: dict[str, type[Any]] = {}


def bind(cls: type[Any]) -> None:
    """Record the class of a registry (called as each record class is defined)."""
    if cls.__name__ in BY_NAME:
        _CLASSES[cls.__name__] = cls


def registry_of(what: Any) -> Registry:
    """The spec of a record class, a record, or a registry name ("artifact", "Artifacts",
    "Artifact"); ``KeyError`` for anything else."""
    if isinstance(what, str):
        if what in BY_NAME:
            return BY_NAME[what]
        key = what.lower()
        key = key if key in REGISTRIES else key.removesuffix("s")
        return REGISTRIES[key]
    cls = what if isinstance(what, type) else type(what)
    for klass in cls.__mro__:
        if klass.__name__ in BY_NAME:
            return BY_NAME[klass.__name__]
    raise KeyError(cls.__name__)
