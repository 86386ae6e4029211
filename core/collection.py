"""Collections: ordered, versioned sets of artifacts with an order-independent hash.

``ls.Collection(artifacts, name=…)`` returns the existing collection with the same members
(any order) or a new, unsaved one; a name that is the latest of a family makes the new one
its next version. ``run=`` (or the active run) records the members as inputs of that run.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Mapped, Session

from . import schema
from .artifact import Artifact
from .describe import names, provenance_lines
from .errors import DatabaseError, IntegrityError, InvalidArgument
from .features import FeatureManager, describe_lines, inherit
from .hashing import hash_collection
from .humanize import nfc
from .labels import Actor, LabelManager, annotation_lock
from .lineage import HasLineage
from .log import say
from .query import QuerySet
from .records import (
    Base,
    TrashableRecord,
    as_saved,
    blank,
    checked_names,
    nfc_text,
    publish_lock,
    record_from_row,
    refresh_latest_flags,
    save_edits,
)
from .registry import REGISTRIES
from .relations import Relation
from .schema import PENDING, TRASH, VISIBLE, utcnow
from .session import current_run, note_input, read, user_id, write
from .uids import new_stem, versioned_uid
from .users import User
from .versioning import next_index, recompute_latest, version_label

if TYPE_CHECKING:
    from .provenance import Run, Transform  # noqa: F401 - named in Relation["..."] below

_C = TypeVar("_C", bound="Collection")  # save_new() returns the very object it saves

COLLECTION_UID = int(schema.collections.c.uid.type.length)  # type: ignore[attr-defined]
FIELDS = (
    "name",
    "description",
    "revises",
    "run",
    "version",
    "reference",
    "reference_type",
    "meta_artifact",
)


class Collection(HasLineage, TrashableRecord, Base):
    """An ordered, versioned set of artifacts."""

    __table__ = schema.collections

    id: Mapped[int]
    uid: Mapped[str]
    stem_uid: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None]
    hash: Mapped[str | None]
    reference: Mapped[str | None]
    reference_type: Mapped[str | None]
    visibility: Mapped[int]
    version: Mapped[str | None]
    is_latest: Mapped[bool]
    transform_id: Mapped[int | None]
    run_id: Mapped[int | None]
    meta_artifact_id: Mapped[int | None]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    transform = Relation["Transform"]("transform_id", "Transform")
    run = Relation["Run"]("run_id", "Run")
    meta_artifact = Relation[Artifact]("meta_artifact_id", "Artifact")
    created_by = Relation[User]("created_by_id", "User")

    def __new__(cls, *args: Any, **kwargs: Any) -> Collection:
        if not args and not kwargs:  # the ORM loading a row
            return super().__new__(cls)
        return prepare(cls, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any):
        init_fields(self, *args, **kwargs)

    def save(self) -> Self:
        members = self.__dict__.get("_ls_member_list")
        if self.__dict__.get("id") is not None or members is None:
            save_edits(self)
            return self
        return save_new(self, members)

    @property
    def artifacts(self) -> QuerySet:
        """The members, in order (reading them records the collection as a run input)."""
        return artifacts_of(self)

    @property
    def ulabels(self) -> LabelManager:
        """The collection's labels: ``.add(*labels)``, ``.remove``, ``.set([...])``, ``.all()``."""
        return LabelManager(self)

    @property
    def features(self) -> FeatureManager:
        """The collection's feature values (as ``artifact.features``)."""
        return FeatureManager(self)

    def _describe_annotations(self) -> list[tuple[str, str]]:
        return describe_lines(self)

    def make_latest(self) -> Collection:
        """This old version's members as a new latest version of this collection's family."""
        return make_latest(self)

    def _describe_provenance(self) -> list[tuple[str, str]]:
        members = self.artifacts.all()
        return [*provenance_lines(self), ("artifacts", names(members, len(members)))]


checked_names((Collection.name, "collection name"))
nfc_text(Collection.description)


def _members(artifacts: Any) -> list[Artifact]:
    if isinstance(artifacts, Artifact):
        artifacts = [artifacts]
    if isinstance(artifacts, str | bytes) or not hasattr(artifacts, "__iter__"):
        raise InvalidArgument(
            f"A collection is made of artifacts: ls.Collection([artifact, …], name=…); got "
            f"{type(artifacts).__name__}."
        )
    members = list(artifacts)
    if not members:
        raise InvalidArgument("A collection needs at least one artifact.")
    for a in members:
        if not isinstance(a, Artifact):
            raise InvalidArgument(f"Collections hold artifacts; got {type(a).__name__}.")
        if a.__dict__.get("id") is None:
            raise InvalidArgument(
                f"The artifact {a.uid} is not saved yet; save it (or use ls.save([...])) first."
            )
    return members


def prepare(cls: type[Collection], artifacts: Any = None, *args: Any, **kwargs: Any) -> Collection:
    if args:
        raise InvalidArgument(
            "Collection() takes the artifacts and keyword arguments, e.g. "
            "ls.Collection([a, b], name='study 1')."
        )
    unknown = set(kwargs) - set(FIELDS)
    if unknown:
        raise InvalidArgument(
            f"Collection() got unknown argument(s) {sorted(unknown)}; valid: {sorted(FIELDS)}."
        )
    members = _members(artifacts)
    hash_ = hash_collection(a.hash or "" for a in members)
    c = schema.collections
    row = read(
        lambda s: (
            s.execute(
                select(c)
                .where(c.c.hash == hash_)
                .order_by(c.c.visibility.desc(), c.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    )
    if row is not None:
        if row["visibility"] == TRASH:
            raise IntegrityError(
                f"A collection with the same artifacts is in the trash (uid {row['uid']}); "
                f"restore it with ls.Collection.get('{row['uid']}').restore()."
            )
        existing: Collection = record_from_row(cls, row)
        say(f"returning the existing collection {existing.uid} with the same artifacts")
        run = kwargs.get("run") or current_run()
        if run is not None:
            _record_inputs(run, members)
        return existing
    obj = object.__new__(cls)
    obj.__dict__["_ls_members"] = (members, hash_)
    return obj


def init_fields(
    obj: Collection,
    artifacts: Any = None,
    *,
    name: str | None = None,
    description: str | None = None,
    revises: Collection | None = None,
    run: Any = None,
    version: str | None = None,
    reference: str | None = None,
    reference_type: str | None = None,
    meta_artifact: Artifact | None = None,
) -> None:
    if obj.__dict__.get("id") is not None:  # an existing collection returned by prepare()
        return
    if "_ls_members" not in obj.__dict__:  # Collection() without artifacts
        raise InvalidArgument(
            "A collection is made of artifacts: ls.Collection([artifact, …], name=…)."
        )
    members, hash_ = obj.__dict__.pop("_ls_members")
    obj.__dict__["_ls_member_list"] = members
    name = nfc(name) if isinstance(name, str) else name  # as stored: one form
    if revises is None and name:
        c = schema.collections
        row = read(
            lambda s: (
                s.execute(
                    select(c).where(c.c.name == name, c.c.is_latest.is_(True), c.c.visibility >= 0)
                )
                .mappings()
                .first()
            )
        )
        revises = record_from_row(Collection, row) if row is not None else None
    if revises is not None:
        if not isinstance(revises, Collection) or revises.__dict__.get("id") is None:
            raise InvalidArgument("revises= must be a saved collection.")
        name = name or revises.name
        description = description if description is not None else revises.description
        obj.stem_uid = revises.stem_uid
        obj.uid = versioned_uid(obj.stem_uid, 1)  # the real index is taken when saving
        obj.__dict__["_ls_revises"] = revises
    else:
        obj.stem_uid = new_stem(COLLECTION_UID)
        obj.uid = versioned_uid(obj.stem_uid, 0)
    if not name or not isinstance(name, str):
        raise InvalidArgument(
            "A collection needs a name, e.g. ls.Collection([...], name='study 1')."
        )
    obj.name, obj.description, obj.hash = name, description, hash_
    obj.version, obj.reference, obj.reference_type = version, reference, reference_type
    if meta_artifact is not None and meta_artifact.__dict__.get("id") is None:
        raise InvalidArgument("meta_artifact= must be a saved artifact.")
    obj.meta_artifact_id = meta_artifact.id if meta_artifact is not None else None
    obj.visibility, obj.is_latest = VISIBLE, True
    run = run or current_run()
    if run is not None:
        if run.__dict__.get("id") is None:
            raise InvalidArgument("run= must be a saved run.")
        obj.run_id, obj.transform_id = run.id, run.transform_id
        obj.__dict__["_ls_input_run"] = run


def save_new(obj: _C, members: list[Artifact]) -> _C:
    """Insert a collection version with its members; a new version starts with the labels and
    feature values of the version it revises (in the same transaction)."""
    user = user_id()
    c, ca = schema.collections, schema.collection_artifacts
    values: dict[str, Any] = {}
    revised = obj.__dict__.get("_ls_revises")

    def run(s: Session) -> None:
        publish_lock(s)  # concurrent new versions of one collection take turns (PostgreSQL)
        # a member being deleted permanently (hidden, its object going) cannot join: its row
        # goes next, and would take the membership with it (after the same lock on PostgreSQL)
        a = schema.artifacts
        ids = [m.id for m in members] + [obj.__dict__.get("meta_artifact_id")]
        hidden = s.execute(
            select(a.c.id).where(a.c.id.in_([i for i in ids if i]), a.c.visibility == PENDING)
        ).first()
        if hidden is not None:
            raise _member_gone(obj, members, deleting={int(hidden[0])}) or IntegrityError(
                f"The collection '{obj.name}' cannot be saved: an artifact of it is being deleted."
            )
        index = next_index(s, Collection, obj.stem_uid)
        uid = versioned_uid(obj.stem_uid, index)
        now = utcnow()
        values.update(
            uid=uid,
            stem_uid=obj.stem_uid,
            name=obj.name,
            description=obj.description,
            hash=obj.hash,
            reference=obj.reference,
            reference_type=obj.reference_type,
            visibility=VISIBLE,
            version=obj.version or version_label(uid),
            is_latest=False,
            transform_id=obj.__dict__.get("transform_id"),
            run_id=obj.__dict__.get("run_id"),
            meta_artifact_id=obj.__dict__.get("meta_artifact_id"),
            created_by_id=user,
            created_at=now,
            updated_at=now,
        )
        new_id = s.execute(insert(c).returning(c.c.id).values(**values)).scalar_one()
        s.execute(
            insert(ca),
            [
                {"collection_id": new_id, "artifact_id": a.id, "position": i}
                for i, a in enumerate(members)
            ],
        )
        recompute_latest(s, Collection, [obj.stem_uid])
        latest = s.execute(select(c.c.is_latest).where(c.c.id == new_id)).scalar_one()
        values.update(id=new_id, is_latest=bool(latest))
        if revised is not None and revised.__dict__.get("id") is not None:
            annotation_lock(s)
            inherit(
                s, REGISTRIES["collection"], [(new_id, revised.id)], Actor(user, values["run_id"])
            )

    try:
        write(run, what=f"saving collection '{obj.name}'")
    except DatabaseError as exc:
        if isinstance(exc.__cause__, SAIntegrityError) and "foreign key" in str(exc).lower():
            gone = _member_gone(obj, members)
            if gone is not None:
                raise gone from None
        raise
    obj.__dict__.pop("_ls_member_list", None)
    as_saved(obj, values)
    revised = obj.__dict__.pop("_ls_revises", None)
    if revised is not None:
        refresh_latest_flags([revised])
    input_run = obj.__dict__.pop("_ls_input_run", None)
    if input_run is not None:
        _record_inputs(input_run, members)
    return obj


def _member_gone(
    obj: Collection, members: list[Artifact], deleting: set[int] | None = None
) -> IntegrityError | None:
    """Which artifact (a member, or the meta artifact) was permanently deleted while the
    collection was being saved (``deleting``: ids known to be going), as an error naming it;
    None if all are still there."""
    a = schema.artifacts
    meta = obj.__dict__.get("meta_artifact_id")
    ids = [m.id for m in members] + ([meta] if meta is not None else [])
    if deleting is not None:
        present = set(ids) - deleting
    else:
        present = set(
            read(lambda s: list(s.execute(select(a.c.id).where(a.c.id.in_(ids))).scalars()))
        )
    named = [
        f"the artifact {m.uid}" + (f" ('{m.key}')" if m.key else "")
        for m in members
        if m.id not in present
    ]
    if meta is not None and meta not in present:
        named.append("its meta artifact")
    if not named:
        return None
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return IntegrityError(
        f"The collection '{obj.name}' cannot be saved: {listed} was permanently deleted "
        "meanwhile (by another program or person); leave it out and save again."
    )


def _record_inputs(run: Any, members: list[Artifact]) -> None:
    """The members as inputs of ``run`` (not the ones the run made itself)."""
    link = schema.run_input_artifacts
    rows = [m for m in members if m.run_id != run.id]
    if not rows:
        return

    def add(s: Session) -> None:
        have = set(s.execute(select(link.c.artifact_id).where(link.c.run_id == run.id)).scalars())
        new = [{"run_id": run.id, "artifact_id": m.id} for m in rows if m.id not in have]
        if new:
            s.execute(insert(link), new)

    write(add, what=f"recording the inputs of run {run.uid}")


def make_latest(obj: Collection) -> Collection:
    """The same members again as the new latest version of this collection's family."""
    refresh_latest_flags([obj])
    if obj.is_latest:
        return obj
    new = blank(Collection)  # no dedup: same members on purpose
    for name in (
        "stem_uid",
        "name",
        "description",
        "hash",
        "reference",
        "reference_type",
        "meta_artifact_id",
    ):
        setattr(new, name, getattr(obj, name))
    new.uid = versioned_uid(obj.stem_uid, 1)
    new.visibility, new.is_latest, new.version = VISIBLE, True, None
    run = current_run()
    if run is not None:
        new.run_id, new.transform_id = run.id, run.transform_id
    new.__dict__["_ls_revises"] = obj
    return save_new(new, list(artifacts_of(obj)))


def artifacts_of(obj: Collection) -> QuerySet:
    if obj.__dict__.get("id") is None:
        raise InvalidArgument("The collection is not saved yet.")
    note_input(obj)
    ca = schema.collection_artifacts
    position = (
        select(ca.c.position)
        .where(ca.c.collection_id == obj.id, ca.c.artifact_id == Artifact.id)
        .scalar_subquery()
    )
    member_ids = select(ca.c.artifact_id).where(ca.c.collection_id == obj.id)
    return QuerySet(
        Artifact, conditions=(Artifact.id.in_(member_ids),), order=(position,), show_all=True
    )
