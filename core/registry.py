"""One spec per registry: the facts the rest of labshelf asks about a registry, in one place.

The query layer, the CLI and the app read a registry's name, people-facing name field, search
fields, capabilities (versions, trash) and default columns from here; the app and CLI add only
presentation (titles, widths, icons) on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Artifact, Base, Collection, Run, Storage, Transform, User


@dataclass(frozen=True)
class Registry:
    """What every layer may ask about one registry."""

    key: str  # "artifact": CLI name, settings key, lower-case class name
    model: type[Base]
    title: str  # plural, for lists and headings: "Artifacts"
    name_field: str  # the field that names a record for people
    search_fields: tuple[str, ...]  # what ``search()`` ranks over, best first
    columns: tuple[str, ...]  # ``values()`` paths a table shows by default, in order
    fts_table: str | None = None  # SQLite FTS5 trigram table over the search fields
    versioned: bool = False  # version families: stem_uid, version, is_latest
    has_trash: bool = False  # visibility: 1 default, 0 hidden, -1 trash

    @property
    def name(self) -> str:
        """The class name: "Artifact"."""
        return self.model.__name__

    @property
    def uid_length(self) -> int:
        return int(self.model.__table__.c.uid.type.length)  # type: ignore[attr-defined]


_CREATED = ("created_by__handle", "created_at")

REGISTRIES: dict[str, Registry] = {
    r.key: r
    for r in (
        Registry(
            "artifact",
            Artifact,
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
        ),
        Registry(
            "collection",
            Collection,
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
        ),
        Registry(
            "transform",
            Transform,
            "Transforms",
            "name",
            ("name", "key", "description"),
            ("uid", "name", "key", "type", "version", "is_latest", "description", *_CREATED),
            versioned=True,
        ),
        Registry(
            "run",
            Run,
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
            User,
            "Users",
            "handle",
            ("handle", "name"),
            ("uid", "handle", "name", "created_at"),
        ),
        Registry(
            "storage",
            Storage,
            "Storage",
            "root",
            ("root", "description"),
            ("uid", "root", "type", "region", "description", *_CREATED),
        ),
    )
}
BY_MODEL: dict[type, Registry] = {r.model: r for r in REGISTRIES.values()}


def registry_of(model_or_record: Any) -> Registry:
    """The spec of a registry class, a record, or a registry name ("artifact", "Artifacts")."""
    if isinstance(model_or_record, str):
        key = model_or_record.lower().removesuffix("s")
        if key in REGISTRIES:
            return REGISTRIES[key]
        raise KeyError(model_or_record)
    model = model_or_record if isinstance(model_or_record, type) else type(model_or_record)
    return BY_MODEL[model]
