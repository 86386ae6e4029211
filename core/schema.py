"""The schema: the six registries' tables and their link tables, nothing else.

Behaviour lives in the layers above: each registry's record class maps one of these tables
(``artifact.Artifact``, ``collection.Collection``, ``provenance.Transform``/``Run``,
``registries.User``/``Storage``). Migrations build exactly this metadata (a test compares them).
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
    return String(length).with_variant(String(length, collation="C"), "postgresql")  # type: ignore[return-value]


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
