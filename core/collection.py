"""Collections: ordered, versioned sets of artifacts with an order-independent hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from . import context
from .errors import IntegrityError, InvalidArgument
from .hashing import hash_collection
from .log import say
from .models import TRASH, VISIBLE, Artifact, Collection, CollectionArtifact, utcnow
from .uids import UID_LENGTHS, new_stem, versioned_uid
from .versioning import next_index, recompute_latest, version_label


def _members(artifacts: Any) -> list[Artifact]:
    if isinstance(artifacts, Artifact):
        artifacts = [artifacts]
    members = list(artifacts)
    if not members:
        raise InvalidArgument("A collection needs at least one artifact.")
    for a in members:
        if not isinstance(a, Artifact):
            raise InvalidArgument(f"Collections hold artifacts; got {type(a).__name__}.")
        if a.id is None:
            raise InvalidArgument(
                f"The artifact {a.uid} is not saved yet; save it (or use ls.save([...])) first."
            )
    return members


def prepare(cls: type[Collection], artifacts: Any = None, **kwargs: Any) -> Collection:
    allowed = {
        "name",
        "description",
        "revises",
        "run",
        "version",
        "reference",
        "reference_type",
        "meta_artifact",
    }
    unknown = set(kwargs) - allowed
    if unknown:
        raise InvalidArgument(
            f"Collection() got unknown argument(s) {sorted(unknown)}; valid: {sorted(allowed)}."
        )
    members = _members(artifacts)
    hash_ = hash_collection(a.hash for a in members)
    existing = context.read(
        lambda s: s.scalars(
            select(Collection)
            .where(Collection.hash == hash_)
            .order_by(Collection.visibility.desc(), Collection.id.desc())
        ).first()
    )
    if existing is not None:
        if existing.visibility == TRASH:
            raise IntegrityError(
                f"A collection with the same artifacts is in the trash (uid {existing.uid}); "
                f"restore it with ls.Collection.get('{existing.uid}').restore()."
            )
        say(f"returning the existing collection {existing.uid} with the same artifacts")
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
    from sqlalchemy import inspect as sa_inspect

    if sa_inspect(obj).has_identity:
        return
    members, hash_ = obj.__dict__.pop("_ls_members")
    obj._ls_member_list = members
    if revises is None and name:
        revises = context.read(
            lambda s: s.scalars(
                select(Collection).where(
                    Collection.name == name,
                    Collection.is_latest.is_(True),
                    Collection.visibility >= 0,
                )
            ).first()
        )
    if revises is not None:
        if not isinstance(revises, Collection) or revises.id is None:
            raise InvalidArgument("revises= must be a saved collection.")
        name = name or revises.name
        description = description if description is not None else revises.description
        obj.stem_uid = revises.stem_uid
        obj.uid = versioned_uid(obj.stem_uid, 1)  # the real index is taken when saving
    else:
        obj.stem_uid = new_stem(UID_LENGTHS["collection"])
        obj.uid = versioned_uid(obj.stem_uid, 0)
    if not name:
        raise InvalidArgument("A collection needs a name.")
    obj.name, obj.description, obj.hash = name, description, hash_
    obj.version, obj.reference, obj.reference_type = version, reference, reference_type
    obj.meta_artifact_id = meta_artifact.id if meta_artifact is not None else None
    obj.visibility, obj.is_latest = VISIBLE, True
    from .artifact import _link_run

    _link_run(obj, run)


def save(obj: Collection) -> Collection:
    members = getattr(obj, "_ls_member_list", None)
    if obj.id is not None or members is None:
        from .artifact import save_edits

        return save_edits(obj)
    user = context.user_id()

    def run(s: Session) -> None:
        from .artifact import _publish_lock

        _publish_lock(s)  # concurrent new versions of one collection take turns (PostgreSQL)
        index = next_index(s, Collection, obj.stem_uid)
        obj.uid = versioned_uid(obj.stem_uid, index)
        if obj.version is None:
            obj.version = version_label(obj.uid)
        now = utcnow()
        obj.id = s.execute(
            insert(Collection)
            .returning(Collection.id)
            .values(
                uid=obj.uid,
                stem_uid=obj.stem_uid,
                name=obj.name,
                description=obj.description,
                hash=obj.hash,
                reference=obj.reference,
                reference_type=obj.reference_type,
                visibility=VISIBLE,
                version=obj.version,
                is_latest=False,
                transform_id=obj.transform_id,
                run_id=obj.run_id,
                meta_artifact_id=obj.meta_artifact_id,
                created_by_id=user,
                created_at=now,
                updated_at=now,
            )
        ).scalar_one()
        s.execute(
            insert(CollectionArtifact),
            [
                {"collection_id": obj.id, "artifact_id": a.id, "position": i}
                for i, a in enumerate(members)
            ],
        )
        recompute_latest(s, Collection, [obj.stem_uid])
        obj.is_latest = s.execute(
            select(Collection.is_latest).where(Collection.id == obj.id)
        ).scalar_one()
        obj.created_by_id, obj.created_at, obj.updated_at = user, now, now

    context.write(run, what=f"saving collection '{obj.name}'")
    del obj._ls_member_list
    s = context.session()
    make_transient_to_detached(obj)
    s.add(obj)
    from .artifact import refresh_latest_flags

    refresh_latest_flags([obj])
    return obj


def make_latest(obj: Collection) -> Collection:
    """The same members again as the new latest version of this collection's family."""
    from sqlalchemy.orm.instrumentation import manager_of_class

    from .artifact import refresh_latest_flags

    refresh_latest_flags([obj])
    if obj.is_latest:
        return obj
    new = manager_of_class(Collection).new_instance()  # no dedup: same members on purpose
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
    new.visibility, new.is_latest = VISIBLE, True
    new._ls_member_list = list(artifacts_of(obj))
    from .artifact import _link_run

    _link_run(new, None)
    return save(new)


def artifacts_of(obj: Collection):  # -> QuerySet in member order
    from .provenance import note_input
    from .query import QuerySet

    if obj.id is None:
        raise InvalidArgument("The collection is not saved yet.")
    note_input(obj)
    position = (
        select(CollectionArtifact.position)
        .where(
            CollectionArtifact.collection_id == obj.id,
            CollectionArtifact.artifact_id == Artifact.id,
        )
        .scalar_subquery()
    )
    member_ids = select(CollectionArtifact.artifact_id).where(
        CollectionArtifact.collection_id == obj.id
    )
    return QuerySet(
        Artifact, conditions=(Artifact.id.in_(member_ids),), order=(position,), show_all=True
    )
