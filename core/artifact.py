"""Artifacts: construction (hash, dedup, in-place or copy), saving, versions,
access (path, cache, load), trash and restore.

Saving a new artifact is three short steps so that a failure at any point
leaves nothing visible: (1) insert the record as *pending* (invisible to every
query), (2) store the object under a temporary name, verify it, move it to its
final key, (3) publish the record (visible, ``is_latest`` flipped) in one
transaction. A crash between the steps leaves a pending record and/or a
temporary object, which ``doctor`` reports and removes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from . import context
from .db import RawStatement, retrying
from .errors import IntegrityError, InvalidArgument, StorageError
from .hashing import hash_file, hash_files, hash_folder_from_hashes
from .instance import current
from .log import say
from .models import PENDING, TRASH, VISIBLE, Artifact, Storage, utcnow
from .storage import (
    LocalFile,
    check_local_source,
    is_cloud,
    object_key,
    relative_key,
    store_local,
    suffix_of,
    validate_key,
    walk_folder,
)
from .uids import UID_LENGTHS, new_stem, split_uid, versioned_uid
from .versioning import next_index, recompute_latest, version_label

if TYPE_CHECKING:
    from .models import Run


@dataclass
class Source:
    """Where a not-yet-saved artifact's bytes come from."""

    path: Path | str
    is_dir: bool
    files: list[LocalFile] | None = None
    notes: list[str] = field(default_factory=list)
    in_place: bool = False
    cloud: Any = None  # cloud source description (labshelf.cloud), when the path is a URL


# ---------------------------------------------------------------- construction

# Built once: constructing statements costs more than running them on an index.
_BY_HASH = RawStatement(
    select(Artifact.id)
    .where(Artifact.hash == bindparam("hash"), Artifact.visibility != PENDING)
    .order_by(Artifact.visibility.desc(), Artifact.is_latest.desc(), Artifact.id.desc())
    .limit(1)
)
_BY_KEY = RawStatement(
    select(Artifact.stem_uid, Artifact.key, Artifact.description)
    .where(Artifact.key == bindparam("key"), Artifact.is_latest.is_(True), Artifact.visibility >= 0)
    .limit(1)
)


def prepare(cls: type[Artifact], path: Any = None, **kwargs: Any) -> Artifact:
    """``Artifact(path, …)``: an existing record with the same content, or a new one."""
    if path is None:
        raise InvalidArgument("Artifact() needs a path: a local file or folder, s3://… or gs://….")
    allowed = {"key", "description", "revises", "run", "version", "storage", "follow_symlinks"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise InvalidArgument(
            f"Artifact() got unknown argument(s) {sorted(unknown)}; valid: {sorted(allowed)}."
        )
    facts = describe_source(path, follow_symlinks=kwargs.get("follow_symlinks", False))
    key = kwargs.get("key")
    existing, facts["family"] = find_by_hash(facts["hash"], validate_key(key) if key else None)
    if existing is not None:
        say(f"returning the existing artifact {existing.uid} with the same content as {path}")
        return existing
    obj = object.__new__(cls)
    obj.__dict__["_ls_facts"] = facts
    return obj


def from_facts(facts: dict[str, Any], **kwargs: Any) -> Artifact:
    """A new, unsaved artifact from ``describe_source`` facts, without hashing again or
    looking for duplicates (the upload engine has done both)."""
    key = kwargs.get("key")
    facts["family"] = _latest_with_key(validate_key(key)) if key else None
    obj = object.__new__(Artifact)
    obj.__dict__["_ls_facts"] = facts
    obj.__init__(facts["source"].path, **kwargs)
    return obj


def describe_source(path: Any, *, follow_symlinks: bool = False) -> dict[str, Any]:
    """Hash, size, suffix and file list of a local file/folder or a cloud object."""
    text = os.fspath(path) if not isinstance(path, str) else path
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("s3", "gs", "gcs"):
            from .cloud import describe_cloud_source

            return describe_cloud_source(text)
        if scheme != "file":
            raise InvalidArgument(
                f"The URL '{text}' has the unsupported scheme '{scheme}://'; "
                "use a local path, s3:// or gs://."
            )
        text = text.split("://", 1)[1]
    local = Path(text).expanduser()
    st = check_local_source(local)
    is_dir = os.path.isdir(local)
    if text.endswith("/") and not is_dir:
        raise InvalidArgument(f"The path {text} ends with '/' but is a file, not a folder.")
    absolute = Path(os.path.abspath(local))
    if not is_dir:
        if st.st_size == 0:
            raise InvalidArgument(
                f"The file {local} is empty (0 bytes); there is nothing to register."
            )
        try:
            hash_, hash_type = hash_file(absolute, st.st_size)
        except PermissionError:
            raise StorageError(f"The file {local} cannot be read: permission denied.") from None
        source = Source(absolute, False)
        return dict(
            source=source,
            hash=hash_,
            hash_type=hash_type,
            size=st.st_size,
            suffix=suffix_of(local.name),
            n_objects=None,
        )
    files, notes = walk_folder(absolute, follow_outside_symlinks=follow_symlinks)
    for note in notes:
        say(f"skipped {note}")
    if not files:
        raise InvalidArgument(
            f"The folder {local} contains no files; there is nothing to register."
        )
    try:
        hashes = [h for h, _ in hash_files([f.path for f in files])]
    except PermissionError as exc:
        raise StorageError(f"The file {exc.filename} cannot be read: permission denied.") from None
    hash_, hash_type = hash_folder_from_hashes(hashes)
    source = Source(absolute, True, files, notes)
    return dict(
        source=source,
        hash=hash_,
        hash_type=hash_type,
        size=sum(f.size for f in files),
        suffix="",
        n_objects=len(files),
    )


def find_by_hash(hash_: str, key: str | None = None) -> tuple[Artifact | None, Family | None]:
    """The visible artifact with this content (raises if only a trashed one has it), and
    the family of the latest artifact with ``key``, in one round trip."""

    def probe() -> tuple[int | None, Any]:
        # bare probes first: in bulk registration almost every hash is new
        engine = current().engine()
        found = _BY_HASH.rows(engine, hash=hash_)
        if found or not key:
            return (found[0][0] if found else None), None
        family = _BY_KEY.rows(engine, key=key)
        return None, (family[0] if family else None)

    found_id, family_row = retrying(probe, what="looking up content by hash")
    if found_id is None:
        return None, Family(*family_row) if family_row is not None else None
    found = context.read(
        lambda s: s.get(Artifact, found_id, populate_existing=True), what="loading an artifact"
    )
    if found.visibility == TRASH:
        raise IntegrityError(
            f"An artifact with the same content is in the trash (uid {found.uid}); "
            f"restore it with ls.Artifact.get('{found.uid}').restore() instead of saving a duplicate."
        )
    return found, None


def init_fields(
    obj: Artifact,
    path: Any = None,
    *,
    key: str | None = None,
    description: str | None = None,
    revises: Artifact | None = None,
    run: Run | None = None,
    version: str | None = None,
    storage: Storage | None = None,
    follow_symlinks: bool = False,
) -> None:
    """Fill a new artifact's fields from its source (``Artifact.__init__``)."""
    from sqlalchemy import inspect as sa_inspect

    if sa_inspect(obj).has_identity:  # an existing record returned by prepare()
        return
    facts = obj.__dict__.pop("_ls_facts")
    source: Source = facts["source"]
    obj._ls_source = source
    obj.hash, obj.hash_type, obj.size = facts["hash"], facts["hash_type"], facts["size"]
    obj.suffix, obj.n_objects = facts["suffix"], facts["n_objects"]
    obj.description = description
    obj.visibility = VISIBLE
    if version is not None:
        obj.version = str(version)
    if key is not None:
        key = validate_key(key)
    place = _in_place(str(source.path))
    if place is not None:
        storage_rec, rel = place
        rel = validate_key(
            rel
        )  # a file name that cannot be a key (not UTF-8, a newline) is refused
        if key is not None and key != rel:
            raise InvalidArgument(
                f"{source.path} lies inside storage {storage_rec.root} and is registered in "
                f"place under the key '{rel}'; it cannot take the key '{key}'."
            )
        source.in_place = True
        obj.storage_id, obj.key, obj.key_is_virtual = storage_rec.id, rel, False
    else:
        target_id = storage.id if storage is not None else context.default_storage_id()
        obj.storage_id, obj.key, obj.key_is_virtual = target_id, key, True
    family = _family_of(revises) if revises is not None else None
    if family is None and obj.key is not None:
        # the key's family was probed with the hash, unless the key is the in-place one
        family = facts["family"] if obj.key == key else _latest_with_key(obj.key)
    _set_family(obj, family)
    _link_run(obj, run)


def _in_place(path: str) -> tuple[Any, str] | None:
    """The registered storage (id, root) containing ``path`` and the path's key in it."""
    best: tuple[Any, str] | None = None
    for st in context.storage_roots():
        rel = relative_key(st.root, path)
        if rel is not None and (best is None or len(st.root) > len(best[0].root)):
            best = (st, rel)
    if best is not None and best[1].split("/")[0] == ".labshelf":
        return None
    return best


@dataclass
class Family:
    """What a new version takes from its family's latest member."""

    stem_uid: str
    key: str | None
    description: str | None


def _family_of(revises: Any) -> Family:
    if not isinstance(revises, Artifact) or revises.id is None:
        raise InvalidArgument("revises= must be a saved artifact.")
    return Family(revises.stem_uid, revises.key, revises.description)


def _latest_with_key(key: str) -> Family | None:
    rows = retrying(
        lambda: _BY_KEY.rows(current().engine(), key=key), what=f"looking up key '{key}'"
    )
    return Family(*rows[0]) if rows else None


def _set_family(obj: Artifact, family: Family | None) -> None:
    if family is not None:
        obj.stem_uid = family.stem_uid
        if obj.key is None and obj.key_is_virtual:
            obj.key = family.key
        if obj.description is None:
            obj.description = family.description
        index = context.read(lambda s: next_index(s, Artifact, family.stem_uid))
    else:
        obj.stem_uid = new_stem(UID_LENGTHS["artifact"])
        index = 0
    from .uids import versioned_uid

    obj.uid = versioned_uid(obj.stem_uid, index)


def _link_run(obj: Any, run: Run | None) -> None:
    from .provenance import current_run

    run = run or current_run()
    if run is not None:
        obj.run_id, obj.transform_id = run.id, run.transform_id


# ---------------------------------------------------------------- saving


def save(obj: Artifact) -> Artifact:
    if getattr(obj, "_ls_source", None) is None or obj.id is not None:
        return save_edits(obj)
    failures = save_new([obj])
    if failures:
        raise failures[0][1]
    return obj


def save_edits(obj: Any) -> Any:
    """Persist attribute edits of an existing record."""
    if getattr(obj, "key", None) is not None and hasattr(obj, "key_is_virtual"):
        obj.key = validate_key(obj.key)

    from sqlalchemy import inspect as sa_inspect

    state = sa_inspect(obj)
    if obj.id is None:
        return insert_record(obj)
    changes = {
        attr.key: attr.value
        for attr in state.attrs
        if attr.key in state.mapper.column_attrs and attr.history.has_changes()
    }
    if not changes:
        return obj
    if hasattr(type(obj), "updated_at"):
        changes["updated_at"] = utcnow()
    model = type(obj)
    context.write(
        lambda s: s.execute(update(model).where(model.id == obj.id).values(**changes)),
        what=f"saving {model.__name__.lower()} {obj.uid}",
    )
    _sync(obj, **changes)
    return obj


def insert_record(obj: Any) -> Any:
    """Insert a new plain record (transform, run, user, storage) and keep it usable."""
    from .uids import UID_LENGTHS, base62, new_stem, versioned_uid

    model = type(obj)
    length = UID_LENGTHS[model.__name__.lower()]
    if getattr(obj, "uid", None) is None:
        obj.uid = (
            versioned_uid(new_stem(length), 0) if hasattr(model, "stem_uid") else base62(length)
        )
    if hasattr(model, "stem_uid") and getattr(obj, "stem_uid", None) is None:
        obj.stem_uid = obj.uid[:-4]
    if hasattr(model, "created_by_id") and obj.created_by_id is None:
        obj.created_by_id = context.user_id()

    def run(s: Session) -> None:
        s.add(obj)
        s.flush()
        if hasattr(model, "is_latest"):
            recompute_latest(s, model, [obj.stem_uid])

    context.write(run, what=f"saving {model.__name__.lower()}")
    home = context.session()
    home.add(obj)
    home.expire(obj, [r.key for r in model.__mapper__.relationships])  # load them lazily
    if hasattr(model, "is_latest"):
        latest = context.read(
            lambda s: s.execute(select(model.is_latest).where(model.id == obj.id)).scalar()
        )
        _sync(obj, is_latest=bool(latest))
    return obj


def _row_of(obj: Artifact, uid_: int) -> dict[str, Any]:
    now = utcnow()
    return dict(
        uid=obj.uid,
        stem_uid=obj.stem_uid,
        key=obj.key,
        description=obj.description,
        storage_id=obj.storage_id,
        suffix=obj.suffix or "",
        size=obj.size,
        hash=obj.hash,
        hash_type=obj.hash_type,
        n_objects=obj.n_objects,
        n_observations=obj.n_observations,
        accessor=obj.accessor,
        visibility=PENDING,
        key_is_virtual=obj.key_is_virtual,
        version=obj.version,
        is_latest=False,
        transform_id=obj.transform_id,
        run_id=obj.run_id,
        created_by_id=uid_,
        created_at=now,
        updated_at=now,
    )


def insert_pending(objs: list[Artifact]) -> None:
    """Step 1: insert pending rows (ids assigned); re-number versions that collide."""
    user = context.user_id()

    def run(s: Session) -> None:
        if any(split_uid(o.uid)[1] > 0 for o in objs):
            # concurrent new versions of one family take turns for the next free index
            # (on PostgreSQL both would read the same max(uid) and one would fail)
            _publish_lock(s)
        for obj in objs:
            if split_uid(obj.uid)[1] > 0:  # a new version: take the next free index now
                from .uids import versioned_uid

                obj.uid = versioned_uid(obj.stem_uid, next_index(s, Artifact, obj.stem_uid))
            if obj.version is None:
                obj.version = version_label(obj.uid)
        rows = [_row_of(o, user) for o in objs]
        # plain executemany, then ids by uid: INSERT ... RETURNING in parameter order
        # falls back to one statement per row on SQLite
        s.connection().execute(Artifact.__table__.insert(), rows)  # Core: no ORM bulk layer
        by_uid = {o.uid: o for o in objs}
        uids = list(by_uid)
        for start in range(0, len(uids), 500):
            found = s.execute(
                select(Artifact.uid, Artifact.id).where(Artifact.uid.in_(uids[start : start + 500]))
            ).all()
            for uid_, id_ in found:
                by_uid[uid_].id = id_
        for obj in objs:
            obj.created_by_id = user

    context.write(run, what="registering artifacts")


def store_object(obj: Artifact, **progress: Any) -> None:
    """Step 2: copy the bytes of a virtual-key artifact into its storage, verified."""
    source: Source = obj._ls_source
    if source.in_place:
        return
    root = _storage_root(obj.storage_id)
    final_key = object_key(obj.uid, obj.suffix or "")
    if is_cloud(root) or source.cloud is not None:
        from .cloud import store_cloud

        store_cloud(source, root, final_key, obj.hash, obj.hash_type, **progress)
        return
    store_local(
        Path(source.path), source.files, root, final_key, obj.hash, obj.hash_type, **progress
    )


def _storage_root(storage_id: int) -> str:
    """The root of a storage row (cached per instance: roots never change)."""
    from .instance import current

    roots = current().storage_roots
    root = roots.get(storage_id)
    if root is None:
        root = context.read(lambda s: s.get(Storage, storage_id).root)
        roots[storage_id] = root
    return root


def publish(objs: list[Artifact]) -> list[Artifact]:
    """Step 3: make pending rows visible in one transaction; returns the duplicates.

    A row whose content became visible meanwhile (a concurrent save of the same
    bytes) is dropped instead, so content is never registered twice. Rows of the
    same version family do not count: ``make_latest`` republishes old content on
    purpose.
    """
    ids = [o.id for o in objs]

    def run(s: Session) -> list[Artifact]:
        _publish_lock(s)
        dup_ids = set()
        by_hash = {o.hash: o for o in objs}
        hashes = list(by_hash)
        for i in range(0, len(hashes), 500):
            rows = s.execute(
                select(Artifact.hash, Artifact.id, Artifact.stem_uid).where(
                    Artifact.hash.in_(hashes[i : i + 500]), Artifact.visibility >= TRASH
                )
            ).all()
            dup_ids.update(
                by_hash[h].id
                for h, other, stem in rows
                if by_hash[h].id != other and stem != by_hash[h].stem_uid
            )
        keep = [i for i in ids if i not in dup_ids]
        now = utcnow()
        for i in range(0, len(keep), 500):
            s.execute(
                update(Artifact)
                .where(Artifact.id.in_(keep[i : i + 500]))
                .values(visibility=VISIBLE, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        if dup_ids:
            s.execute(delete(Artifact).where(Artifact.id.in_(dup_ids)))
        kept_objs = [o for o in objs if o.id not in dup_ids]
        recompute_latest(s, Artifact, [o.stem_uid for o in kept_objs])
        return [o for o in objs if o.id in dup_ids]

    return context.write(run, what="publishing artifacts")


def _publish_lock(s: Session) -> None:
    """Serialize publishes across processes (SQLite's BEGIN IMMEDIATE already does)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        s.execute(text("SELECT pg_advisory_xact_lock(7231)"))


def discard_pending(objs: list[Artifact]) -> None:
    """Remove the pending rows of items whose object could not be stored."""
    ids = [o.id for o in objs if o.id is not None]
    if not ids:
        return

    def run(s: Session) -> None:
        for i in range(0, len(ids), 500):
            s.execute(
                delete(Artifact).where(
                    Artifact.id.in_(ids[i : i + 500]), Artifact.visibility == PENDING
                )
            )

    context.write(run, what="cleaning up after a failed save")
    for o in objs:
        o.id = None


def attach(objs: list[Artifact]) -> None:
    """Turn saved transient objects into persistent records of this thread's session."""
    s = context.session()
    for obj in objs:
        obj.visibility = VISIBLE
        if obj not in s:
            make_transient_to_detached(obj)
            s.add(obj)
        _sync(obj, visibility=VISIBLE, version=obj.version)
    refresh_latest_flags(objs)


def refresh_latest_flags(objs: list[Any]) -> None:
    """Bring ``is_latest`` of the saved records, and of the family members this thread
    holds, in line with the database after a publish."""
    if not objs:
        return
    model = type(objs[0])
    stems = list({o.stem_uid for o in objs})
    flags: dict[int, bool] = {}

    def q(s: Session) -> None:
        for i in range(0, len(stems), 500):
            flags.update(
                s.execute(
                    select(model.id, model.is_latest).where(model.stem_uid.in_(stems[i : i + 500]))
                ).all()
            )

    context.read(q)
    for o in objs:
        if o.id in flags:
            _sync(o, is_latest=flags[o.id])
    # Other family members this thread holds, looked up by id: walking the whole identity map
    # would cost a bulk upload time proportional to everything it published so far.
    others = flags.keys() - {o.id for o in objs}
    if others:
        identity_map = context.session().identity_map
        for id_ in others:
            o = identity_map.get(identity_key(model, id_))
            if o is not None:
                _sync(o, is_latest=flags[id_])


def save_new(objs: list[Artifact], max_workers: int = 8) -> list[tuple[Artifact, Exception]]:
    """Save new artifacts: pending rows, objects stored in parallel, one publish."""
    unique: dict[str, Artifact] = {}
    for obj in objs:
        first = unique.setdefault(obj.hash, obj)
        if first is not obj:
            say(
                f"{obj._ls_source.path} has the same content as {first._ls_source.path}; saved once"
            )
    todo = list(unique.values())
    insert_pending(todo)
    failures: list[tuple[Artifact, Exception]] = []
    stored: list[Artifact] = []
    try:
        if len(todo) == 1 or max_workers <= 1:
            results = [_try_store(o) for o in todo]
        else:
            with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ls-store") as pool:
                results = list(pool.map(_try_store, todo))
    except BaseException:
        discard_pending(todo)
        raise
    for obj, err in zip(todo, results, strict=True):
        (failures.append((obj, err)) if err is not None else stored.append(obj))
    discard_pending([o for o, _ in failures])
    duplicates = publish(stored) if stored else []
    if duplicates:
        for dup in duplicates:
            say(f"{dup._ls_source.path}: the same content was registered meanwhile; skipped")
        _remove_objects(duplicates)
        for d in duplicates:
            d.id = None
    saved = [o for o in stored if o not in duplicates]
    attach(saved)
    return failures


def _try_store(obj: Artifact) -> Exception | None:
    try:
        store_object(obj)
    except (StorageError, InvalidArgument, OSError) as exc:
        return exc if isinstance(exc, StorageError | InvalidArgument) else StorageError(str(exc))
    return None


def _remove_objects(objs: list[Artifact]) -> None:
    from .storage import remove_local

    for obj in objs:
        if obj._ls_source.in_place:
            continue
        root = _storage_root(obj.storage_id)
        key = object_key(obj.uid, obj.suffix or "")
        if is_cloud(root):
            from .cloud import remove_object

            remove_object(root, key)
        else:
            remove_local(Path(root) / key)


def save_many(records: list[Any], max_workers: int = 8) -> list[Any]:
    """``ls.save([...])``: new artifacts in bulk; other records one by one."""
    from .runtime import gc_paused

    new = [
        r
        for r in records
        if isinstance(r, Artifact) and r.id is None and getattr(r, "_ls_source", None)
    ]
    with gc_paused():
        failures = save_new(new, max_workers=max_workers) if new else []
    for rec in records:
        if rec not in new:
            rec.save()
    if failures:
        first = failures[0][1]
        raise StorageError(
            f"{len(failures)} of {len(new)} artifacts could not be saved; the first: {first}"
        ) from first
    return records


# ---------------------------------------------------------------- access


def path_of(obj: Artifact):  # -> UPath
    from .paths import UPath

    root = _storage_root(obj.storage_id)
    key = obj.key if not obj.key_is_virtual else object_key(obj.uid, obj.suffix or "")
    return UPath(f"{root.rstrip('/')}/{key}")


def cache(obj: Artifact) -> Path:
    root = _storage_root(obj.storage_id)
    _note_input(obj)
    if is_cloud(root):
        from .cloud import cache_object

        return cache_object(obj)
    local = Path(str(path_of(obj)))
    if not local.exists():
        raise StorageError(f"The object of artifact {obj.uid} is missing at {local}.")
    return local


def load(obj: Artifact, **kwargs: Any) -> Any:
    from .loaders import load_path

    return load_path(cache(obj), obj.suffix or "", uid=obj.uid, **kwargs)


def _note_input(obj: Artifact) -> None:
    from .provenance import note_input

    note_input(obj)


def versions(obj: Any):  # -> QuerySet
    model = type(obj)
    return model.filter(stem_uid=obj.stem_uid, visibility__in=[0, 1]).order_by("uid")


def replace(obj: Artifact, path: Any) -> Artifact:
    """A new version of ``obj`` with the content at ``path`` (same key and description)."""
    facts = describe_source(path)
    if obj.n_objects is not None and not facts["source"].is_dir:
        raise InvalidArgument(f"Artifact {obj.uid} is a folder; {path} is a file.")
    if obj.n_objects is None and facts["source"].is_dir:
        raise InvalidArgument(f"Artifact {obj.uid} is a file; {path} is a folder.")
    new = Artifact(path, revises=obj)
    return new.save() if new.id is None else new


def make_latest(obj: Artifact) -> Artifact:
    """Publish an old version's content again as the new latest version of its family."""
    refresh_latest_flags([obj])
    if obj.is_latest:
        return obj
    if not obj.key_is_virtual:
        raise InvalidArgument(
            f"Artifact {obj.uid} is registered in place at {obj.path}; labshelf does not keep "
            "its old content, so it cannot become the latest version again."
        )
    local = _stored_copy(obj)
    is_dir = obj.n_objects is not None
    files = walk_folder(local)[0] if is_dir else None
    return _save_copy(obj, Source(local, is_dir, files))


def _stored_copy(obj: Artifact) -> Path:
    root = _storage_root(obj.storage_id)
    if is_cloud(root):
        from .cloud import cache_object

        return cache_object(obj)
    local = Path(str(path_of(obj)))
    if not local.exists():
        raise StorageError(f"The object of artifact {obj.uid} is missing at {local}.")
    return local


def _save_copy(old: Artifact, source: Source) -> Artifact:
    from sqlalchemy.orm.instrumentation import manager_of_class

    new = manager_of_class(Artifact).new_instance()  # an ORM instance without the dedup constructor
    for name in (
        "key",
        "description",
        "storage_id",
        "suffix",
        "size",
        "hash",
        "hash_type",
        "n_objects",
        "n_observations",
        "accessor",
        "stem_uid",
    ):
        setattr(new, name, getattr(old, name))
    new.key_is_virtual, new.visibility = True, VISIBLE
    new.uid = versioned_uid(old.stem_uid, 1)  # the free index is taken in insert_pending
    new._ls_source = source
    _link_run(new, None)
    failures = save_new([new])
    if failures:
        raise failures[0][1]
    return new


# ---------------------------------------------------------------- trash


def delete_record(obj: Any, permanent: bool = False) -> None:
    model = type(obj)
    if not hasattr(model, "visibility"):
        _delete_transform(obj, permanent)
        return
    if not permanent:

        def trash(s: Session) -> None:
            _publish_lock(s)  # is_latest moves: take turns with publishes of the same family
            s.execute(
                update(model).where(model.id == obj.id).values(visibility=TRASH, is_latest=False)
            )
            recompute_latest(s, model, [obj.stem_uid])

        context.write(trash, what=f"moving {obj.uid} to the trash")
        _sync(obj, visibility=TRASH, is_latest=False)
        refresh_latest_flags([obj])
        say(f"moved {model.__name__.lower()} {obj.uid} to the trash; restore() brings it back")
        return
    if isinstance(obj, Artifact) and obj.key_is_virtual:
        root = _storage_root(obj.storage_id)
        key = object_key(obj.uid, obj.suffix or "")
        from .storage import remove_local

        if is_cloud(root):
            from .cloud import remove_object

            remove_object(root, key)
        else:
            remove_local(Path(root) / key)

    def purge(s: Session) -> None:
        from .models import Run

        _publish_lock(s)
        if isinstance(obj, Artifact):
            s.execute(update(Run).where(Run.report_id == obj.id).values(report_id=None))
        s.execute(delete(model).where(model.id == obj.id))
        recompute_latest(s, model, [obj.stem_uid])

    context.write(purge, what=f"deleting {obj.uid}")
    s = context.session()
    if obj in s:
        s.expunge(obj)
    say(f"deleted {model.__name__.lower()} {obj.uid} permanently")


def _delete_transform(obj: Any, permanent: bool) -> None:
    """Transforms have no trash: they go for good, and only while no run uses them."""
    from .models import Run

    if not permanent:
        raise InvalidArgument(
            f"Transforms have no trash; delete(permanent=True) removes {obj.uid} for good."
        )
    runs = context.read(
        lambda s: s.execute(select(func.count()).where(Run.transform_id == obj.id)).scalar_one()
    )
    if runs:
        raise IntegrityError(
            f"Transform {obj.uid} has {runs} run(s) whose provenance depends on it; it cannot be deleted."
        )

    def purge(s: Session) -> None:
        s.execute(update(Artifact).where(Artifact.transform_id == obj.id).values(transform_id=None))
        s.execute(delete(type(obj)).where(type(obj).id == obj.id))
        recompute_latest(s, type(obj), [obj.stem_uid])

    context.write(purge, what=f"deleting transform {obj.uid}")
    s = context.session()
    if obj in s:
        s.expunge(obj)


def restore(obj: Any) -> Any:
    model = type(obj)

    def run(s: Session) -> None:
        _publish_lock(s)
        s.execute(update(model).where(model.id == obj.id).values(visibility=VISIBLE))
        recompute_latest(s, model, [obj.stem_uid])

    context.write(run, what=f"restoring {obj.uid}")
    _sync(obj, visibility=VISIBLE)
    refresh_latest_flags([obj])
    return obj


def _sync(obj: Any, **values: Any) -> None:
    from sqlalchemy.orm.attributes import set_committed_value

    for k, v in values.items():
        set_committed_value(obj, k, v)
