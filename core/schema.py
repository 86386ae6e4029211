"""The schema: the registries' tables and their link tables, nothing else.

Behaviour lives in the layers above: each registry's record class maps one of these tables
(``artifact.Artifact``, ``collection.Collection``, ``provenance.Transform``/``Run``,
``users.User``, ``storages.Storage``, ``labels.ULabel``, ``features.Feature``). Migrations
build exactly this metadata (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# visibility
VISIBLE, HIDDEN, TRASH, PENDING = 1, 0, -1, -2

metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def uid_type(length: int) -> String:
    """uids compare byte by byte on every backend (base62: '…000Z' < '…000a'): PostgreSQL
    columns get the "C" collation, whatever the database's (ICU locales order differently);
    SQLite compares bytes already."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


def _created_by() -> Column[int]:
    return Column("created_by_id", Integer, ForeignKey("users.id"), index=True)


def _created_at() -> Column[datetime]:
    return Column("created_at", UTCDateTime(), nullable=False, default=utcnow, index=True)


def _updated_at() -> Column[datetime]:
    return Column(
        "updated_at", UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow, index=True
    )


def _one_latest(table: str) -> Index:
    """At most one ``is_latest`` row per version family."""
    return Index(
        f"uq_{table}_one_latest",
        "stem_uid",
        unique=True,
        sqlite_where=text("is_latest"),
        postgresql_where=text("is_latest"),
    )


# Per-item lookups on hot paths, each served by one composite index whatever the planner's
# statistics say (migration 0007; tests/core/test_query_plans.py checks the plans). No
# single-column index on a low-cardinality column (``is_latest``: nearly every row is the
# latest) competes with them: SQLite without statistics took such an index for the
# latest-by-key probe and scanned the table.
HOT_PATH_INDEXES: dict[str, dict[str, tuple[str, ...]]] = {
    "artifacts": {
        # content probes (Artifact(), ls.save, ls.upload planning, publish's dedup)
        "ix_artifacts_hash_visibility": ("hash", "visibility"),
        # the latest version with a key (Artifact(key=…), from_dir, upload)
        "ix_artifacts_key_is_latest": ("key", "is_latest"),
        # a path registered in place in a storage (also the storage foreign key's index)
        "ix_artifacts_storage_id_key": ("storage_id", "key"),
        # a family's members and its highest uid (next_index, recompute_latest)
        "ix_artifacts_stem_uid_uid": ("stem_uid", "uid"),
    },
    "collections": {
        # the latest collection with a name (Collection(name=…) makes its next version)
        "ix_collections_name_is_latest": ("name", "is_latest"),
    },
}


def _hot_path_indexes(table: str) -> list[Index]:
    return [Index(name, *cols) for name, cols in HOT_PATH_INDEXES[table].items()]


users = Table(
    "users",
    metadata,
    _id(),
    Column("uid", uid_type(8), nullable=False, unique=True),
    Column("handle", String(100), nullable=False, unique=True),
    Column("name", String(200)),
    _created_at(),
)

storages = Table(
    "storages",
    metadata,
    _id(),
    Column("uid", uid_type(12), nullable=False, unique=True),
    Column("root", String(1000), nullable=False, unique=True),
    Column("description", Text),
    Column("type", String(20), nullable=False),
    Column("region", String(64)),
    _created_by(),
    _created_at(),
)

transforms = Table(
    "transforms",
    metadata,
    _id(),
    Column("uid", uid_type(16), nullable=False, unique=True),
    Column("stem_uid", uid_type(12), nullable=False, index=True),
    Column("name", String(300), nullable=False, index=True),
    Column("key", String(1000), index=True),
    Column("description", Text),
    Column("type", String(20), nullable=False, default="pipeline", index=True),
    Column("source_code", Text),
    Column("hash", String(30), index=True),
    Column("reference", String(1000)),
    Column("reference_type", String(100)),
    Column("version", String(50)),
    Column("is_latest", Boolean, nullable=False, default=True, index=True),
    _created_by(),
    _created_at(),
    _updated_at(),
    _one_latest("transforms"),
)

runs = Table(
    "runs",
    metadata,
    _id(),
    Column("uid", uid_type(20), nullable=False, unique=True),
    Column("transform_id", Integer, ForeignKey("transforms.id"), nullable=False, index=True),
    Column("started_at", UTCDateTime(), nullable=False, default=utcnow, index=True),
    Column("finished_at", UTCDateTime()),
    Column("is_consecutive", Boolean),
    Column("reference", String(1000)),
    Column("reference_type", String(100)),
    Column("params", JSON),
    # the versions of the packages a run imported (``run.environment`` unless an artifact is set)
    Column("environment", JSON, key="packages"),
    Column(
        "report_id",
        Integer,
        ForeignKey("artifacts.id", use_alter=True, name="fk_runs_report_id_artifacts"),
    ),
    Column(
        "environment_id",
        Integer,
        ForeignKey("artifacts.id", use_alter=True, name="fk_runs_environment_id_artifacts"),
    ),
    Column("parent_id", Integer, ForeignKey("runs.id")),
    _created_by(),
    _created_at(),
)

artifacts = Table(
    "artifacts",
    metadata,
    _id(),
    Column("uid", uid_type(20), nullable=False, unique=True),
    Column("stem_uid", uid_type(16), nullable=False),
    Column("key", String(1000)),
    Column("description", Text),
    Column("storage_id", Integer, ForeignKey("storages.id"), nullable=False),
    Column("suffix", String(30), nullable=False, default=""),
    Column("size", BigInteger),
    Column("hash", String(30)),
    Column("hash_type", String(20)),
    Column("n_objects", Integer),
    Column("n_observations", BigInteger),
    Column("accessor", String(64)),
    Column("visibility", SmallInteger, nullable=False, default=VISIBLE, index=True),
    Column("key_is_virtual", Boolean, nullable=False, default=True),
    Column("version", String(50)),
    Column("is_latest", Boolean, nullable=False, default=True),
    Column("transform_id", Integer, ForeignKey("transforms.id"), index=True),
    Column("run_id", Integer, ForeignKey("runs.id"), index=True),
    _created_by(),
    _created_at(),
    _updated_at(),
    _one_latest("artifacts"),
    *_hot_path_indexes("artifacts"),
)

collections = Table(
    "collections",
    metadata,
    _id(),
    Column("uid", uid_type(20), nullable=False, unique=True),
    Column("stem_uid", uid_type(16), nullable=False, index=True),
    Column("name", String(300), nullable=False),
    Column("description", Text),
    Column("hash", String(30), index=True),
    Column("reference", String(1000)),
    Column("reference_type", String(100)),
    Column("visibility", SmallInteger, nullable=False, default=VISIBLE, index=True),
    Column("version", String(50)),
    Column("is_latest", Boolean, nullable=False, default=True),
    Column("transform_id", Integer, ForeignKey("transforms.id"), index=True),
    Column("run_id", Integer, ForeignKey("runs.id"), index=True),
    Column("meta_artifact_id", Integer, ForeignKey("artifacts.id")),
    _created_by(),
    _created_at(),
    _updated_at(),
    _one_latest("collections"),
    *_hot_path_indexes("collections"),
)

collection_artifacts = Table(
    "collection_artifacts",
    metadata,
    _id(),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "artifact_id",
        Integer,
        ForeignKey("artifacts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("position", Integer, nullable=False),
    UniqueConstraint("collection_id", "position"),
)
"""Ordered membership of artifacts in a collection version."""

run_input_artifacts = Table(
    "run_input_artifacts",
    metadata,
    _id(),
    Column(
        "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column(
        "artifact_id",
        Integer,
        ForeignKey("artifacts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    UniqueConstraint("run_id", "artifact_id"),
)
"""An artifact a run read (``cache()``/``load()``)."""

run_input_collections = Table(
    "run_input_collections",
    metadata,
    _id(),
    Column(
        "run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column(
        "collection_id",
        Integer,
        ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    UniqueConstraint("run_id", "collection_id"),
)
"""A collection a run read."""

instance_meta = Table(
    "instance_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Facts about the instance kept in its database (name, default storage root)."""


# ---------------------------------------------------------------- labels and features

ulabels = Table(
    "ulabels",
    metadata,
    _id(),
    Column("uid", uid_type(8), nullable=False, unique=True),
    Column("name", String(150), nullable=False, index=True),
    # the type this label belongs to (a label with is_type), giving a tree
    Column("type_id", Integer, ForeignKey("ulabels.id"), index=True),
    Column("is_type", Boolean, nullable=False, default=False, index=True),
    Column("description", Text),
    _created_by(),
    _created_at(),
    _updated_at(),
    # names are unique within a type, and among the labels without one
    Index(
        "uq_ulabels_name_in_type",
        "type_id",
        "name",
        unique=True,
        sqlite_where=text("type_id IS NOT NULL"),
        postgresql_where=text("type_id IS NOT NULL"),
    ),
    Index(
        "uq_ulabels_name_untyped",
        "name",
        unique=True,
        sqlite_where=text("type_id IS NULL"),
        postgresql_where=text("type_id IS NULL"),
    ),
)
"""Labels (LaminDB's ULabel): a label with ``is_type`` groups others (``Stain`` -> ``DAPI``)."""

features = Table(
    "features",
    metadata,
    _id(),
    Column("uid", uid_type(12), nullable=False, unique=True),
    Column("name", String(150), nullable=False, unique=True),
    # str int float bool date datetime cat cat[TYPE]
    Column("dtype", String(200), nullable=False),
    # cat[TYPE]: the type whose labels are the values
    Column("type_id", Integer, ForeignKey("ulabels.id"), index=True),
    Column("unit", String(50)),
    Column("description", Text),
    _created_by(),
    _created_at(),
    _updated_at(),
)
"""Features: named, typed annotations (``temperature``: float in °C)."""


def _label_links(owner: str) -> Table:
    """The labels of a registry's records; ``feature_id`` is set when the label is the value
    of a categorical feature, NULL for a plain label."""
    table = f"{owner}_ulabels"
    return Table(
        table,
        metadata,
        _id(),
        Column(
            f"{owner}_id",
            Integer,
            ForeignKey(f"{owner}s.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("ulabel_id", Integer, ForeignKey("ulabels.id", ondelete="CASCADE"), nullable=False),
        Column("feature_id", Integer, ForeignKey("features.id", ondelete="CASCADE")),
        # filter(ulabels=…) and filter(<cat feature>=…): the records of a label, from the index
        Index(f"ix_{table}_label", "ulabel_id", f"{owner}_id"),
        _partial(
            f"ix_{table}_feature_label",
            "feature_id IS NOT NULL",
            "feature_id",
            "ulabel_id",
            f"{owner}_id",
        ),
        Index(
            f"uq_{table}_plain",
            f"{owner}_id",
            "ulabel_id",
            unique=True,
            sqlite_where=text("feature_id IS NULL"),
            postgresql_where=text("feature_id IS NULL"),
        ),
        Index(
            f"uq_{table}_value",
            f"{owner}_id",
            "feature_id",
            "ulabel_id",
            unique=True,
            sqlite_where=text("feature_id IS NOT NULL"),
            postgresql_where=text("feature_id IS NOT NULL"),
        ),
    )


def _feature_values(owner: str) -> Table:
    """One typed value per record and (non-categorical) feature: text in ``value_str``,
    int and bool in ``value_int``, float in ``value_float``, date and datetime in
    ``value_dt``; each indexed with the feature first, so that a lookup such as
    ``temperature__gte=30`` reads one index range (and the record ids from it). The indexes
    are partial (a row is in the one index of its filled column): a lookup names the column
    with a comparison or ``IS NOT NULL``, which selects that index on SQLite and PostgreSQL."""
    table = f"{owner}_feature_values"
    fk = f"{owner}_id"
    return Table(
        table,
        metadata,
        _id(),
        Column(fk, Integer, ForeignKey(f"{owner}s.id", ondelete="CASCADE"), nullable=False),
        Column(
            "feature_id",
            Integer,
            ForeignKey("features.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("value_str", String(500)),
        Column("value_int", BigInteger),
        Column("value_float", Double),
        Column("value_dt", UTCDateTime()),
        UniqueConstraint(fk, "feature_id"),
        *(
            _partial(
                f"ix_{table}_{kind}", f"value_{kind} IS NOT NULL", "feature_id", f"value_{kind}", fk
            )
            for kind in ("str", "int", "float", "dt")
        ),
    )


def _partial(name: str, where: str, *columns: str, unique: bool = False) -> Index:
    """An index of the rows ``where`` holds, on SQLite and PostgreSQL."""
    return Index(
        name,
        *columns,
        unique=unique,
        sqlite_where=text(where),
        postgresql_where=text(where),
    )


artifact_ulabels = _label_links("artifact")
collection_ulabels = _label_links("collection")
artifact_feature_values = _feature_values("artifact")
collection_feature_values = _feature_values("collection")

annotation_events = Table(
    "annotation_events",
    metadata,
    _id(),
    Column("artifact_id", Integer, ForeignKey("artifacts.id", ondelete="CASCADE"), index=True),
    Column("collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE"), index=True),
    Column("action", String(10), nullable=False),  # "add" or "remove"
    Column("ulabel_id", Integer, ForeignKey("ulabels.id", ondelete="SET NULL")),
    Column("feature_id", Integer, ForeignKey("features.id", ondelete="SET NULL")),
    # what was added or removed, as people read it (kept when the label or feature goes)
    Column("feature", String(150)),
    Column("value", Text),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("created_by_id", Integer, ForeignKey("users.id")),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    _partial("ix_annotation_events_artifact_id", "artifact_id IS NOT NULL", "artifact_id"),
    _partial("ix_annotation_events_collection_id", "collection_id IS NOT NULL", "collection_id"),
)
"""The audit trail of labels and feature values: who added or removed what, when, in which run."""
