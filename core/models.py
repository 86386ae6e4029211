"""The six registries and their link tables (SQLAlchemy 2 declarative, typed).

The behaviour of records (save, versions, queries, …) lives in the modules that
stand on this one; they attach it through the ``Record`` mixin hooks, so this
file is only the schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VISIBLE, HIDDEN, TRASH, PENDING = 1, 0, -1, -2


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Record:
    """What every registry offers; the work is done by the modules above this one."""

    @classmethod
    def filter(cls, *conditions: Any, **lookups: Any):  # -> QuerySet
        from .query import QuerySet

        return QuerySet(cls).filter(*conditions, **lookups)

    @classmethod
    def exclude(cls, **lookups: Any):  # -> QuerySet
        from .query import QuerySet

        return QuerySet(cls).exclude(**lookups)

    @classmethod
    def get(cls, uid_or_prefix: str | None = None, **lookups: Any):
        from .query import get

        return get(cls, uid_or_prefix, **lookups)

    @classmethod
    def search(cls, text: str):  # -> QuerySet
        from .query import QuerySet

        return QuerySet(cls).search(text)

    @classmethod
    def df(cls, include: list[str] | None = None, limit: int = 100):  # -> pandas.DataFrame
        from .query import QuerySet

        return QuerySet(cls).order_by("-created_at")._clone(limit=limit).df(include=include)

    @classmethod
    def lookup(cls, field: str | None = None):
        from .query import lookup

        return lookup(cls, field)

    def save(self):
        from .records import save

        return save(self)

    def describe(self, print_it: bool = True) -> str:
        from .describe import describe

        return describe(self, print_it=print_it)

    def __repr__(self) -> str:
        from .describe import short_repr

        return short_repr(self)


class VersionedRecord(Record):
    """Registries with version families, trash and restore."""

    @property
    def versions(self):  # -> QuerySet, oldest first
        from .artifact import versions

        return versions(self)

    def delete(self, permanent: bool = False) -> None:
        from .artifact import delete_record

        delete_record(self, permanent=permanent)

    def restore(self):
        from .artifact import restore

        return restore(self)

    def view_lineage(self, path: Any = None, **kwargs: Any):
        from .lineage import view_lineage

        return view_lineage(self, path, **kwargs)


class User(Record, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(8), unique=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Storage(Record, Base):
    __tablename__ = "storages"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(12), unique=True)
    root: Mapped[str] = mapped_column(String(1000), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    created_by: Mapped[User | None] = relationship()


class Transform(VersionedRecord, Base):
    __tablename__ = "transforms"

    def __init__(self, **fields: Any):
        from .provenance import init_transform

        init_transform(self, **fields)

    def save(self) -> Transform:
        from .provenance import save_transform

        return save_transform(self)

    @property
    def runs(self):  # -> QuerySet, newest first
        from .provenance import transform_runs

        return transform_runs(self)

    @property
    def latest_run(self) -> Run | None:
        from .provenance import latest_run

        return latest_run(self)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True)
    stem_uid: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    key: Mapped[str | None] = mapped_column(String(1000), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20), default="pipeline", index=True)
    source_code: Mapped[str | None] = mapped_column(Text)
    hash: Mapped[str | None] = mapped_column(String(30), index=True)
    reference: Mapped[str | None] = mapped_column(String(1000))
    reference_type: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[str | None] = mapped_column(String(50))
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        Index(
            "uq_transforms_one_latest",
            "stem_uid",
            unique=True,
            sqlite_where=text("is_latest"),
            postgresql_where=text("is_latest"),
        ),
    )


class Run(Record, Base):
    __tablename__ = "runs"

    @property
    def inputs(self):  # -> QuerySet of the artifacts this run read
        from .provenance import run_inputs

        return run_inputs(self)

    @property
    def outputs(self):  # -> QuerySet of the artifacts this run created
        from .provenance import run_outputs

        return run_outputs(self)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    transform_id: Mapped[int] = mapped_column(ForeignKey("transforms.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()
    is_consecutive: Mapped[bool | None] = mapped_column(Boolean)
    reference: Mapped[str | None] = mapped_column(String(1000))
    reference_type: Mapped[str | None] = mapped_column(String(100))
    params: Mapped[dict[str, Any] | None] = mapped_column()
    environment: Mapped[dict[str, Any] | None] = mapped_column()
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifacts.id", use_alter=True, name="fk_runs_report_id_artifacts")
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    transform: Mapped[Transform] = relationship()
    report: Mapped[Artifact | None] = relationship(foreign_keys=[report_id], post_update=True)
    parent: Mapped[Run | None] = relationship(remote_side=[id])
    created_by: Mapped[User | None] = relationship()


class Artifact(VersionedRecord, Base):
    __tablename__ = "artifacts"

    def __new__(cls, *args: Any, **kwargs: Any):
        if not args and not kwargs:  # the ORM loading a row
            return super().__new__(cls)
        from .artifact import prepare

        return prepare(cls, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any):
        from .artifact import init_fields

        init_fields(self, *args, **kwargs)

    @property
    def path(self):  # -> UPath
        from .artifact import path_of

        return path_of(self)

    def cache(self):  # -> pathlib.Path
        from .artifact import cache

        return cache(self)

    def load(self, **kwargs: Any) -> Any:
        from .artifact import load

        return load(self, **kwargs)

    def replace(self, path: Any) -> Artifact:
        from .artifact import replace

        return replace(self, path)

    def make_latest(self) -> Artifact:
        """This old version's content as a new latest version of the family."""
        from .artifact import make_latest

        return make_latest(self)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    stem_uid: Mapped[str] = mapped_column(String(16), index=True)
    key: Mapped[str | None] = mapped_column(String(1000), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    storage_id: Mapped[int] = mapped_column(ForeignKey("storages.id"), index=True)
    suffix: Mapped[str] = mapped_column(String(30), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str | None] = mapped_column(String(30), index=True)
    hash_type: Mapped[str | None] = mapped_column(String(20))
    n_objects: Mapped[int | None] = mapped_column(Integer)
    n_observations: Mapped[int | None] = mapped_column(BigInteger)
    accessor: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[int] = mapped_column(SmallInteger, default=VISIBLE, index=True)
    key_is_virtual: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[str | None] = mapped_column(String(50))
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    transform_id: Mapped[int | None] = mapped_column(ForeignKey("transforms.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    storage: Mapped[Storage] = relationship()
    transform: Mapped[Transform | None] = relationship()
    run: Mapped[Run | None] = relationship(foreign_keys=[run_id])
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        Index(
            "uq_artifacts_one_latest",
            "stem_uid",
            unique=True,
            sqlite_where=text("is_latest"),
            postgresql_where=text("is_latest"),
        ),
    )


class Collection(VersionedRecord, Base):
    __tablename__ = "collections"

    def __new__(cls, *args: Any, **kwargs: Any):
        if not args and not kwargs:
            return super().__new__(cls)
        from .collection import prepare

        return prepare(cls, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any):
        from .collection import init_fields

        init_fields(self, *args, **kwargs)

    @property
    def artifacts(self):  # -> QuerySet, in member order
        from .collection import artifacts_of

        return artifacts_of(self)

    def make_latest(self) -> Collection:
        """This old version's members as a new latest version of the family."""
        from .collection import make_latest

        return make_latest(self)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    stem_uid: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    hash: Mapped[str | None] = mapped_column(String(30), index=True)
    reference: Mapped[str | None] = mapped_column(String(1000))
    reference_type: Mapped[str | None] = mapped_column(String(100))
    visibility: Mapped[int] = mapped_column(SmallInteger, default=VISIBLE, index=True)
    version: Mapped[str | None] = mapped_column(String(50))
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    transform_id: Mapped[int | None] = mapped_column(ForeignKey("transforms.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    meta_artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    transform: Mapped[Transform | None] = relationship()
    run: Mapped[Run | None] = relationship()
    meta_artifact: Mapped[Artifact | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        Index(
            "uq_collections_one_latest",
            "stem_uid",
            unique=True,
            sqlite_where=text("is_latest"),
            postgresql_where=text("is_latest"),
        ),
    )


class CollectionArtifact(Base):
    """Ordered membership of artifacts in a collection version."""

    __tablename__ = "collection_artifacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("collection_id", "position"),)


class RunInputArtifact(Base):
    """An artifact a run read (``cache()``/``load()``)."""

    __tablename__ = "run_input_artifacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )

    __table_args__ = (UniqueConstraint("run_id", "artifact_id"),)


class RunInputCollection(Base):
    """A collection a run read."""

    __tablename__ = "run_input_collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )

    __table_args__ = (UniqueConstraint("run_id", "collection_id"),)


class InstanceMeta(Base):
    """Facts about the instance kept in its database (name, default storage root)."""

    __tablename__ = "instance_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


REGISTRIES: dict[str, type[Base]] = {
    "artifact": Artifact,
    "collection": Collection,
    "transform": Transform,
    "run": Run,
    "user": User,
    "storage": Storage,
}
