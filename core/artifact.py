"""Artifacts: construction (hash, dedup, in place or copied), saving, versions, access
(path, cache, load), key edits, trash and permanent delete.

Saving a new artifact is three short steps so that a failure at any point leaves nothing
visible: (1) insert the record as *pending* (invisible to every query), (2) store the object
under a temporary name, verify it, move it to its final key, (3) publish the record
(visible, ``is_latest`` flipped) in one transaction. A crash between the steps leaves a
pending record and/or a temporary object, which ``doctor`` reports and removes.

A path inside a registered storage is registered *in place, by its path*: nothing is copied,
its key is the path relative to the root, and there is no content lookup (two identical
files at two paths are two artifacts; the same path again gives that path's record, or its
next version when the content changed).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached
from sqlalchemy.orm.base import instance_state

from . import schema, statcache
from .config import default_cache_dir
from .db import RawStatement, retrying
from .describe import provenance_lines
from .errors import IntegrityError, InvalidArgument, LabshelfError, StorageError
from .features import FeatureManager, apply, describe_lines, inherit, plan, write_values
from .hashing import (
    CHUNK_THRESHOLD,
    cached_batch,
    forget_cached_hashes,
    hash_file,
    hash_files,
    hash_folder_from_hashes,
    reads_serially,
)
from .humanize import nfc
from .instance import current
from .keys import OBJECTS_DIR, is_cloud, object_key, suffix_of, validate_key
from .labels import Actor, LabelManager, actor, annotation_lock
from .lineage import HasLineage
from .loaders import load_path
from .log import say
from .paths import UPath
from .records import (
    Base,
    TrashableRecord,
    as_saved,
    blank,
    delete_row,
    nfc_text,
    pending_edits,
    publish_lock,
    record_from_row,
    refresh_latest_flags,
    save_edits,
    sync,
)
from .relations import Relation, columns_of
from .runtime import gc_paused
from .schema import PENDING, TRASH, VISIBLE, utcnow
from .session import current_run, note_input, read, storage_root, storage_roots, user_id, write
from .storage import Backend, Expected, LocalFile, Progress, Reuse, Source, local
from .storage.remote import bucket_root, object_hash, split_url
from .storage.sources import check_local_source, walk_folder
from .storage.views import VIEWS_DIR, read_only_view
from .storages import (
    Storage,
    check_not_storage,
    ensure_bucket_storage,
    in_place_key,
    storage_holding,
)
from .uids import new_stem, split_uid, versioned_uid
from .users import User
from .versioning import next_index, recompute_latest, version_label

if TYPE_CHECKING:
    import pandas as pd

    from .provenance import Run, Transform  # noqa: F401 - Transform: named in Relation["..."]

_FIRST_SUFFIX = versioned_uid("", 0)  # "0000"
ARTIFACT_UID = int(schema.artifacts.c.uid.type.length)  # type: ignore[attr-defined]
A = schema.artifacts.c
FIELDS = (
    "key",
    "description",
    "revises",
    "run",
    "version",
    "storage",
    "follow_symlinks",
    "features",
)


class Artifact(HasLineage, TrashableRecord, Base):
    """A file or folder with its content hash, where it is stored and what made it."""

    __table__ = schema.artifacts

    id: Mapped[int]
    uid: Mapped[str]
    stem_uid: Mapped[str]
    key: Mapped[str | None]
    description: Mapped[str | None]
    storage_id: Mapped[int]
    suffix: Mapped[str]
    size: Mapped[int | None]
    hash: Mapped[str | None]
    hash_type: Mapped[str | None]
    n_objects: Mapped[int | None]
    n_observations: Mapped[int | None]
    accessor: Mapped[str | None]
    visibility: Mapped[int]
    key_is_virtual: Mapped[bool]
    version: Mapped[str | None]
    is_latest: Mapped[bool]
    transform_id: Mapped[int | None]
    run_id: Mapped[int | None]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    storage = Relation[Storage]("storage_id", "Storage")
    transform = Relation["Transform"]("transform_id", "Transform")
    run = Relation["Run"]("run_id", "Run")
    created_by = Relation[User]("created_by_id", "User")

    def __new__(cls, *args: Any, **kwargs: Any) -> Artifact:
        if not args and not kwargs:  # the ORM loading a row
            return super().__new__(cls)
        return prepare(cls, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any):
        init_fields(self, *args, **kwargs)

    # -- saving

    def save(self) -> Self:
        """Save a new artifact (stored and verified first, its ``features=`` values written
        when it is published), or this artifact's edits (and ``features=`` values given when
        the constructor returned this existing artifact)."""
        if self.__dict__.get("id") is not None or getattr(self, "_ls_source", None) is None:
            save_artifact_edits(self)
            planned = self.__dict__.pop("_ls_features", None)
            if planned:
                write_values("artifact", [self.id], planned, actor(self.run), replace=True)
            return self
        failures = save_new([self])
        if failures:
            raise failures[0][1]
        return self

    # -- labels and features

    @property
    def ulabels(self) -> LabelManager:
        """The artifact's labels: ``.add(*labels)``, ``.remove``, ``.set([...])``, ``.all()``."""
        return LabelManager(self)

    @property
    def features(self) -> FeatureManager:
        """The artifact's feature values: ``.add_values({...})``, ``.get_values()``,
        ``.remove_values(feature)``, ``.history()``."""
        return FeatureManager(self)

    # -- access

    @property
    def path(self) -> Any:  # -> UPath
        """Where the bytes are: the stored object, or the local source before ``save()``."""
        source: Source | None = getattr(self, "_ls_source", None)
        if self.__dict__.get("id") is None and source is not None:
            return UPath(str(source.path))
        return UPath(_backend(self).url(stored_key(self)))

    def cache(
        self,
        *,
        max_workers: int = 8,
        on_progress: Callable[[int, int, int, int], None] | None = None,
    ) -> Path:
        """A local path to the bytes (cloud objects are downloaded once to the cache, a
        folder's files ``max_workers`` at a time; ``on_progress(files, files_total, bytes,
        bytes_total)`` hears after each file)."""
        source: Source | None = getattr(self, "_ls_source", None)
        if self.__dict__.get("id") is None:
            if source is not None and source.cloud is None:
                return Path(source.path)
            if source is None:
                raise InvalidArgument("This artifact has no content to read.")
        note_input(self)
        return local_copy(self, max_workers=max_workers, on_progress=on_progress)

    def read_only_copy(self) -> Path:
        """A read-only local copy of the content named after the key,
        ``<cache dir>/read-only/<uid>/<key>``, to hand to other applications (saving over it
        is refused, so a verified artifact never changes behind labshelf's back)."""
        path = self.cache()
        return read_only_copy(self, path)

    def load(self, **kwargs: Any) -> Any:
        """The content as a Python object (image, DataFrame, JSON, text) by its suffix."""
        return load_path(self.cache(), self.suffix or "", uid=self.uid or "", **kwargs)

    def replace(self, path: Any) -> Artifact:
        """A new version of this artifact with the content at ``path``."""
        return replace(self, path)

    def make_latest(self) -> Artifact:
        """This old version's content as a new latest version of the family."""
        return make_latest(self)

    def delete(self, permanent: bool = False) -> None:
        if permanent:
            delete_permanently(self)
        else:
            super().delete()

    # -- notebooks

    @classmethod
    def from_dataframe(
        cls, df: pd.DataFrame, key: str | None = None, description: str | None = None, **kwargs: Any
    ) -> Artifact:
        """An artifact of a DataFrame, stored as parquet."""
        return cls(df, key=key, description=description, **kwargs)

    @classmethod
    def from_dir(cls, path: Any, key: str | None = None, **kwargs: Any) -> list[Artifact]:
        """One unsaved artifact per file of a folder, keyed ``key/relative/path`` (for
        ``ls.save``); files registered already come back as their records."""
        folder = Path(os.path.abspath(Path(os.fspath(path)).expanduser()))
        check_local_source(folder)
        if not folder.is_dir():
            raise InvalidArgument(f"{folder} is not a folder; use ls.Artifact(path) for a file.")
        check_not_storage(str(folder))
        files, notes = walk_folder(folder, skip_junk=True)
        for note in notes:
            say(f"skipped {note}")
        prefix = validate_key(key) if key else None
        unknown = set(kwargs) - set(FIELDS)
        if unknown:
            raise InvalidArgument(
                f"Artifact.from_dir() got unknown argument(s) {sorted(unknown)}; "
                f"valid: {sorted(FIELDS)}."
            )
        kwargs.pop("follow_symlinks", None)
        keys = [None if prefix is None else f"{prefix}/{f.rel}" for f in files]
        return artifacts_of_files(files, keys, **kwargs)

    # -- describe()

    def _describe_general(self) -> list[tuple[str, str]]:
        return [("storage", _root(self)), ("path", str(self.path))]

    def _describe_annotations(self) -> list[tuple[str, str]]:
        return describe_lines(self)

    def _describe_provenance(self) -> list[tuple[str, str]]:
        return provenance_lines(self)


nfc_text(Artifact.description)  # search finds it whatever form it came in


# ---------------------------------------------------------------- construction

# Built once: constructing statements costs more than running them on an index.
_BY_HASH = RawStatement(
    select(A.id)
    .where(A.hash == bindparam("hash"), A.visibility != PENDING)
    .order_by(A.visibility.desc(), A.is_latest.desc(), A.id.desc())
    .limit(1)
)
_BY_KEY = RawStatement(
    select(A.stem_uid, A.key, A.description)
    .where(A.key == bindparam("key"), A.is_latest == true(), A.visibility >= 0)
    .limit(1)
)
_BY_PATH = RawStatement(
    select(A.id)
    .where(
        A.storage_id == bindparam("storage"),
        A.key == bindparam("key"),
        A.key_is_virtual == false(),
        A.visibility != PENDING,
    )
    .order_by(A.visibility.desc(), A.is_latest.desc(), A.id.desc())
    .limit(1)
)


# Both probes of ``Artifact(path, key=…)`` in one round trip: the content's row (kind 0) and
# the latest row with the key (kind 1); each part is its own indexed lookup.
_by_hash = _BY_HASH.statement.subquery()
_by_key = _BY_KEY.statement.subquery()
_BY_HASH_AND_KEY = RawStatement(
    union_all(
        select(literal(0).label("kind"), _by_hash.c.id, null(), null(), null()),
        select(
            literal(1).label("kind"),
            null(),
            _by_key.c.stem_uid,
            _by_key.c.key,
            _by_key.c.description,
        ),
    )
)


@dataclass
class Family:
    """What a new version takes from its family's latest member."""

    stem_uid: str
    key: str | None
    description: str | None


def prepare(cls: type[Artifact], path: Any = None, *args: Any, **kwargs: Any) -> Artifact:
    """``Artifact(path, …)``: an existing record with the same content, or a new one."""
    if args:
        raise InvalidArgument(
            "Artifact() takes one path (or DataFrame) and keyword arguments, e.g. "
            "ls.Artifact('data.csv', key='tables/data.csv')."
        )
    unknown = set(kwargs) - set(FIELDS)
    if unknown:
        raise InvalidArgument(
            f"Artifact() got unknown argument(s) {sorted(unknown)}; valid: {sorted(FIELDS)}."
        )
    key = kwargs.get("key")
    if key is not None:
        key = artifact_key(key)  # before hashing: a bad key fails at once
    path = _dataframe_file(path, key)
    facts = describe_source(path, follow_symlinks=bool(kwargs.get("follow_symlinks", False)))
    place = in_place(facts["source"])
    facts["place"] = place
    if place is not None:
        existing = _same_path(place, facts["hash"])
        if existing is not None:
            return existing
    elif facts["size"] > 0 or facts["n_objects"]:  # empty files all share one hash: no lookup
        existing, facts["family"] = find_by_hash(facts["hash"], key)
        if existing is not None:
            say(f"returning the existing artifact {existing.uid} with the same content as {path}")
            return existing
    obj = object.__new__(cls)
    obj.__dict__["_ls_facts"] = facts
    return obj


def _dataframe_file(value: Any, key: Any) -> Any:
    """A DataFrame as a parquet file in the cache dir (its artifact is a copy of it)."""
    if type(value).__name__ != "DataFrame" or not hasattr(value, "to_parquet"):
        if value is None:
            raise InvalidArgument(
                "Artifact() needs a path: a local file or folder, s3://… or gs://…, or a DataFrame."
            )
        if not isinstance(value, str | os.PathLike):
            raise InvalidArgument(
                f"Artifact() takes a path or a DataFrame, not {type(value).__name__}."
            )
        return value
    if key is not None and not str(key).endswith(".parquet"):
        raise InvalidArgument(
            f"A DataFrame is stored as parquet; its key must end in .parquet, not '{key}'."
        )
    folder = _staging_dir()
    handle, name = tempfile.mkstemp(suffix=".parquet", dir=folder)
    os.close(handle)
    try:
        value.to_parquet(name)
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many kinds
        Path(name).unlink(missing_ok=True)
        raise InvalidArgument(f"The DataFrame cannot be written as parquet: {exc}") from None
    return name


def _staging_dir() -> Path:
    try:
        base = current().cache_dir()
    except LabshelfError:
        base = default_cache_dir()
    folder = base / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def from_facts(facts: dict[str, Any], **kwargs: Any) -> Artifact:
    """A new, unsaved artifact from ``describe_source`` facts, without hashing again or
    looking for duplicates (the upload engine has done both)."""
    key = kwargs.get("key")
    facts.setdefault("place", in_place(facts["source"]))
    facts["family"] = _latest_with_key(validate_key(key)) if key else None
    obj = object.__new__(Artifact)
    obj.__dict__["_ls_facts"] = facts
    obj.__init__(facts["source"].path, **kwargs)  # type: ignore[misc]
    return obj


def describe_source(
    path: Any, *, follow_symlinks: bool = False, skip_junk: bool = False
) -> dict[str, Any]:
    """Hash, size, suffix and file list of a local file/folder or a cloud object."""
    text = os.fspath(path) if not isinstance(path, str) else path
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in ("s3", "gs", "gcs"):
            check_not_storage(text)
            return describe_cloud_source(text)
        if scheme != "file":
            raise InvalidArgument(
                f"The URL '{text}' has the unsupported scheme '{scheme}://'; "
                "use a local path, s3:// or gs://."
            )
        text = text.split("://", 1)[1]
    if text and not text.startswith("~"):
        facts = _describe_regular_file(text)
        if facts is not None:
            return facts
    local = Path(text).expanduser()
    st = check_local_source(local)
    is_dir = os.path.isdir(local)
    if is_dir:  # a file can be no storage root, nor hold one
        check_not_storage(str(local))
    if text.endswith("/") and not is_dir:
        raise InvalidArgument(f"The path {text} ends with '/' but is a file, not a folder.")
    absolute = Path(os.path.abspath(local))
    if not is_dir:
        return _file_facts(absolute, st.st_size, local)
    files, notes = walk_folder(
        absolute, follow_outside_symlinks=follow_symlinks, skip_junk=skip_junk
    )
    for note in notes:
        say(f"skipped {note}")
    if not files:
        raise InvalidArgument(
            f"The folder {local} contains no files; there is nothing to register."
        )
    # per-file hashes stay with the files: a new version of a folder shares the unchanged ones
    hash_local_files(files)
    hash_, hash_type = hash_folder_from_hashes(f.hash or "" for f in files)
    return dict(
        source=Source(absolute, True, files, notes),
        hash=hash_,
        hash_type=hash_type,
        size=sum(f.size for f in files),
        suffix="",
        n_objects=len(files),
    )


def _describe_regular_file(text: str) -> dict[str, Any] | None:
    """``describe_source`` of a path that is a regular file (not a symlink): what its checks
    find, from one ``lstat`` and with string paths (many files are described one by one);
    None for anything else (a folder, a link, a missing path: the checks say what)."""
    try:
        st = os.lstat(text)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return _file_facts(os.path.abspath(text), st.st_size, text)


def _file_facts(absolute: str | Path, size: int, given: str | Path) -> dict[str, Any]:
    """``describe_source``'s facts of the regular file at ``absolute`` (``given``: the path
    as the caller wrote it, for the message)."""
    try:
        hash_, hash_type = hash_file(absolute, size, cache=True)
    except PermissionError:
        raise StorageError(f"The file {Path(given)} cannot be read: permission denied.") from None
    return dict(
        source=Source(absolute, False),
        hash=hash_,
        hash_type=hash_type,
        size=size,
        suffix=suffix_of(os.path.basename(given)),
        n_objects=None,
    )


def describe_cloud_source(url: str) -> dict[str, Any]:
    """Hash, size, suffix and object count of an existing cloud object or prefix, from one
    listing; the bucket is registered as a storage if no registered root contains it."""
    url = url.replace("gcs://", "gs://", 1)
    scheme = split_url(url)[0]
    backend = current().backend(bucket_root(url))
    entries, is_dir = backend.describe(url)  # type: ignore[attr-defined]
    ensure_bucket_storage(url)
    source = Source(path=url.rstrip("/"), is_dir=is_dir, cloud=entries)
    if not is_dir:
        hash_, hash_type = object_hash(scheme, entries[0].tag, url)
        return dict(
            source=source,
            hash=hash_,
            hash_type=hash_type,
            size=entries[0].size,
            suffix=suffix_of(url.rstrip("/").rsplit("/", 1)[-1]),
            n_objects=None,
        )
    if any(e.tag is None for e in entries):
        raise StorageError(
            f"The storage does not report content hashes for the objects under {url}."
        )
    hash_, hash_type = hash_folder_from_hashes(e.tag or "" for e in entries)
    return dict(
        source=source,
        hash=hash_,
        hash_type=hash_type,
        size=sum(e.size for e in entries),
        suffix="",
        n_objects=len(entries),
    )


def in_place(source: Source) -> tuple[int, str, str] | None:
    """(storage id, root, key) when ``source`` lies inside a registered storage root."""
    if source.cloud is None:  # a local path: string prefixes, no pathlib per file
        return _places([str(source.path)])[0]
    place = storage_holding(str(source.path))
    if place is None:
        return None
    storage_id, root, rel = place
    if rel.split("/")[0] == OBJECTS_DIR:
        raise InvalidArgument(
            f"{source.path} lies inside labshelf's own folder of storage {root} "
            f"({OBJECTS_DIR}/), where it keeps its objects; it cannot be registered."
        )
    return storage_id, root, in_place_key(root, rel)


def _same_path(place: tuple[int, str, str], hash_: str) -> Artifact | None:
    """The record of an in-place path when its content is unchanged (else None: a new
    version of that path's family is made)."""
    storage_id, _, key = place
    rows = retrying(
        lambda: _BY_PATH.rows(current().engine(), storage=storage_id, key=key),
        what=f"looking up {key}",
    )
    if not rows:
        return None
    found = _load(rows[0][0])
    if found.hash != hash_:
        return None
    if found.visibility == TRASH:
        raise IntegrityError(
            f"The artifact of {key} is in the trash (uid {found.uid}); restore it with "
            f"ls.Artifact.get('{found.uid}').restore()."
        )
    say(f"returning the existing artifact {found.uid} registered at {key}")
    return found


def _path_family(place: tuple[int, str, str]) -> Family | None:
    storage_id, _, key = place
    a = schema.artifacts
    row = read(
        lambda s: s.execute(
            select(a.c.stem_uid, a.c.key, a.c.description)
            .where(
                a.c.storage_id == storage_id,
                a.c.key == key,
                a.c.key_is_virtual == false(),
                a.c.visibility >= 0,
            )
            .order_by(a.c.is_latest.desc(), a.c.id.desc())
            .limit(1)
        ).first(),
        what=f"looking up {key}",
    )
    return Family(*row) if row is not None else None


def _load(artifact_id: int) -> Artifact:
    a = schema.artifacts
    row = read(
        lambda s: s.execute(select(a).where(a.c.id == artifact_id)).mappings().one(),
        what="loading an artifact",
    )
    return record_from_row(Artifact, row)


def find_by_hash(hash_: str, key: str | None = None) -> tuple[Artifact | None, Family | None]:
    """The visible artifact with this content (raises if only a trashed one has it), and
    the family of the latest artifact with ``key``, in one round trip."""

    def probe() -> tuple[int | None, Any]:
        # bare probes: in bulk registration almost every hash is new
        engine = current().engine()
        if not key:
            found = _BY_HASH.rows(engine, hash=hash_)
            return (found[0][0] if found else None), None
        rows = _BY_HASH_AND_KEY.rows(engine, hash=hash_, key=key)
        found_id = next((r[1] for r in rows if r[0] == 0), None)
        family = next((r[2:] for r in rows if r[0] == 1), None)
        return found_id, (None if found_id is not None else family)

    found_id, family_row = retrying(probe, what="looking up content by hash")
    if found_id is None:
        return None, Family(*family_row) if family_row is not None else None
    found = _load(found_id)
    if found.visibility == TRASH:
        raise IntegrityError(
            f"An artifact with the same content is in the trash (uid {found.uid}); "
            f"restore it with ls.Artifact.get('{found.uid}').restore() instead of saving a "
            "duplicate."
        )
    return found, None


# ---------------------------------------------------------------- many files at once

PROBE_CHUNK = 500  # values per IN list of a bulk probe
HASH_CHUNK = 64  # files hashed per pool task


def hash_probe(hashes: list[str]) -> Any:
    """Every registered (not pending) row with one of these hashes."""
    return select(schema.artifacts).where(A.hash.in_(hashes), A.visibility != PENDING)


def key_probe(keys: list[str]) -> Any:
    """The latest visible or hidden row of each of these keys."""
    return select(A.key, A.stem_uid, A.description).where(
        A.key.in_(keys), A.is_latest == true(), A.visibility >= 0
    )


def path_probe(storage_id: int, keys: list[str]) -> Any:
    """The rows of paths registered in place in a storage (not pending)."""
    return select(schema.artifacts).where(
        A.storage_id == storage_id,
        A.key.in_(keys),
        A.key_is_virtual == false(),
        A.visibility != PENDING,
    )


def publish_probe(hashes: list[str]) -> Any:
    """Registered rows (visible, hidden or trashed) with one of these hashes."""
    return select(A.hash, A.id, A.stem_uid).where(A.hash.in_(hashes), A.visibility >= TRASH)


def pending_probe(hashes: list[str], storage_id: int) -> Any:
    """Pending rows of interrupted uploads of these contents to a storage."""
    return select(schema.artifacts).where(
        A.hash.in_(hashes),
        # ``+ 0``: the indexes on visibility and storage_id must not serve this (SQLite
        # without statistics preferred them to the hash index, yet one storage may hold
        # every row); the hash index is selective whatever the statistics say
        A.visibility + 0 == PENDING,
        A.storage_id + 0 == storage_id,
        A.key_is_virtual == true(),
    )


def top_uid_probe(stems: list[str]) -> Any:
    """The highest uid of each of these families."""
    return select(A.stem_uid, func.max(A.uid)).where(A.stem_uid.in_(stems)).group_by(A.stem_uid)


def _chunked(values: Iterable[Any], size: int = PROBE_CHUNK) -> Iterable[list[Any]]:
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _rank(row: Any) -> tuple[int, bool, int]:
    """The order of the single-file probes: visible first, then latest, then newest."""
    return (row["visibility"], bool(row["is_latest"]), row["id"])


def _best_rows(rows: Iterable[Any], field: str) -> dict[Any, Any]:
    best: dict[Any, Any] = {}
    for row in rows:
        key = row[field]
        if key not in best or _rank(row) > _rank(best[key]):
            best[key] = row
    return best


def hash_local_files(files: list[LocalFile], max_workers: int = 8) -> list[str]:
    """Hash the files that have no hash yet (in the pool, several per task); their hash types.
    Through the stat cache: these are sources being described, not stored bytes checked."""
    todo = [f for f in files if f.hash is None]
    types: dict[int, str] = {}

    def part(chunk: list[LocalFile]) -> None:
        for f in chunk:
            try:
                f.hash, types[id(f)] = hash_file(f.fspath, f.size, cache=True)
            except PermissionError:
                raise StorageError(
                    f"The file {f.path} cannot be read: permission denied."
                ) from None
            except FileNotFoundError:
                raise InvalidArgument(f"The path {f.path} does not exist.") from None

    chunks = list(_chunked(todo, HASH_CHUNK))
    max_workers = local_workers(max_workers)  # local files (see ``local_workers``)
    with cached_batch(f.fspath for f in todo if statcache.worth(f.size)):
        if len(chunks) < 2 or max_workers <= 1 or _hash_serially(todo):
            for chunk in chunks:
                part(chunk)
        else:
            with ThreadPoolExecutor(max_workers, thread_name_prefix="ls-hash") as pool:
                list(pool.map(part, chunks))
    return [types.get(id(f)) or ("md5" if f.size <= CHUNK_THRESHOLD else "sha1-fl") for f in files]


def _hash_serially(files: list[LocalFile]) -> bool:
    """``hashing.reads_serially`` of these files (small ones on a local disk: one thread)."""
    return reads_serially((f.fspath for f in files), (f.size for f in files))


_sorted_roots: tuple[Any, list[tuple[int, str]]] = (None, [])


def _local_roots_innermost_first() -> list[tuple[int, str]]:
    """The local storage roots, longest first; sorted again only when ``storage_roots()``
    gives a new list (it is cached per instance: one ``Artifact()`` per file asks often)."""
    global _sorted_roots
    listed = storage_roots()
    if _sorted_roots[0] is not listed:
        local_roots = [(i, r) for i, r in listed if not is_cloud(r)]
        _sorted_roots = (listed, sorted(local_roots, key=lambda x: -len(x[1])))
    return _sorted_roots[1]


def _places(paths: list[str]) -> list[tuple[int, str, str] | None]:
    """``in_place`` of many local paths (the registered roots are read once)."""
    roots = _local_roots_innermost_first()
    out: list[tuple[int, str, str] | None] = []
    for path in paths:
        found = None
        for storage_id, root in roots:  # the innermost root first
            prefix = root.rstrip(os.sep) + os.sep
            if path.startswith(prefix):
                rel = path[len(prefix) :].replace(os.sep, "/")
                if rel.split("/")[0] == OBJECTS_DIR:
                    raise InvalidArgument(
                        f"{path} lies inside labshelf's own folder of storage {root} "
                        f"({OBJECTS_DIR}/), where it keeps its objects; it cannot be registered."
                    )
                found = (storage_id, root, in_place_key(root, rel))
                break
        out.append(found)
    return out


def artifacts_of_files(
    files: list[LocalFile], keys: list[str | None], *, max_workers: int = 8, **kwargs: Any
) -> list[Artifact]:
    """``[Artifact(f.path, key=k, **kwargs) …]`` for many local files, with the same results
    (a registered content or path gives its record; a trashed one raises) but batched: files
    hashed in the pool, and one ``IN`` query per few hundred hashes, keys or paths instead
    of several queries per file."""
    keys = [artifact_key(k) if k is not None else None for k in keys]
    types = hash_local_files(files, max_workers)
    places = _places([f.fspath for f in files])
    facts: list[dict[str, Any]] = [
        dict(
            source=Source(f.fspath, False),  # (a string: no Path per file)
            hash=f.hash,
            hash_type=t,
            size=f.size,
            suffix=suffix_of(f.rel.rpartition("/")[2]),
            n_objects=None,
            place=p,
        )
        for f, t, p in zip(files, types, places, strict=True)
    ]
    by_path: dict[tuple[int, str], Any] = {}
    by_hash: dict[str, Any] = {}
    in_place_keys: dict[int, set[str]] = {}
    for fact in facts:
        if fact["place"] is not None:
            in_place_keys.setdefault(fact["place"][0], set()).add(fact["place"][2])
    content = {f["hash"] for f in facts if f["place"] is None and f["size"] > 0}

    def probe(s: Session) -> None:
        for storage_id, names in in_place_keys.items():
            for chunk in _chunked(sorted(names)):
                rows = s.execute(path_probe(storage_id, chunk)).mappings().all()
                for key, row in _best_rows(rows, "key").items():
                    by_path[(storage_id, key)] = row
        for chunk in _chunked(sorted(content)):
            by_hash.update(_best_rows(s.execute(hash_probe(chunk)).mappings().all(), "hash"))

    read(probe, what="looking up content by hash")
    out: list[Artifact | None] = [None] * len(files)
    new: list[int] = []
    for n, fact in enumerate(facts):
        place = fact["place"]
        if place is not None:
            row = by_path.get((place[0], place[2]))
            if row is not None and row["hash"] == fact["hash"]:
                if row["visibility"] == TRASH:
                    raise IntegrityError(
                        f"The artifact of {place[2]} is in the trash (uid {row['uid']}); "
                        f"restore it with ls.Artifact.get('{row['uid']}').restore()."
                    )
                out[n] = record_from_row(Artifact, row)
                continue
            fact["family"] = (
                Family(row["stem_uid"], row["key"], row["description"])
                if row is not None and row["visibility"] >= 0
                else None
            )
        elif fact["hash"] in by_hash and fact["size"] > 0:
            row = by_hash[fact["hash"]]
            if row["visibility"] == TRASH:
                raise IntegrityError(
                    f"An artifact with the same content as {fact['source'].path} is in the "
                    f"trash (uid {row['uid']}); restore it with "
                    f"ls.Artifact.get('{row['uid']}').restore() instead of saving a duplicate."
                )
            out[n] = record_from_row(Artifact, row)
            continue
        new.append(n)
    if len(new) < len(files):
        say(f"{len(files) - len(new)} of {len(files)} file(s) are registered already")
    built = build_new([facts[n] for n in new], [keys[n] for n in new], **kwargs)
    for n, obj in zip(new, built, strict=True):
        out[n] = obj
    return out  # type: ignore[return-value]


def build_new(facts: list[dict[str, Any]], keys: list[str | None], **kwargs: Any) -> list[Artifact]:
    """New, unsaved artifacts from ``describe_source``-like facts (hashed, no duplicate):
    the latest version of each key and each family's next index in one query per few
    hundred, no query per file."""
    missing = [f for f in facts if "place" not in f]
    for fact, place in zip(missing, _places([str(f["source"].path) for f in missing]), strict=True):
        fact["place"] = place
    families: dict[str, Family] = {}
    wanted = {k for f, k in zip(facts, keys, strict=True) if k is not None and not f["place"]}

    def probe(s: Session) -> None:
        for chunk in _chunked(sorted(wanted)):
            for key, stem, description in s.execute(key_probe(chunk)).all():
                families[key] = Family(stem, key, description)

    if wanted:
        read(probe, what="looking up keys")
    for fact, key in zip(facts, keys, strict=True):
        if "family" not in fact:
            fact["family"] = families.get(key) if key is not None else None
    stems = {f["family"].stem_uid for f in facts if f.get("family") is not None}
    top: dict[str, int] = {}

    def indexes(s: Session) -> None:
        for chunk in _chunked(sorted(stems)):
            for stem, uid in s.execute(top_uid_probe(chunk)).all():
                top[stem] = split_uid(uid)[1] + 1

    if stems:
        read(indexes, what="looking up versions")
    out = []
    for fact, key in zip(facts, keys, strict=True):
        family = fact.get("family")
        if family is not None:
            fact["index"] = top.get(family.stem_uid, 0)
        obj = object.__new__(Artifact)
        obj.__dict__["_ls_facts"] = fact
        obj.__init__(fact["source"].path, key=key, **kwargs)  # type: ignore[misc]
        out.append(obj)
    return out


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
    features: Any = None,
) -> None:
    """Fill a new artifact's fields from its source (``Artifact.__init__``); ``features``
    are validated now and written when the artifact is saved."""
    planned = plan(features) if features is not None else None
    if obj.__dict__.get("id") is not None:  # an existing record returned by prepare()
        if planned:
            obj.__dict__["_ls_features"] = planned  # written by save()
        return
    if "_ls_facts" not in obj.__dict__:  # Artifact() without a path
        raise InvalidArgument(
            "Artifact() needs a path: a local file or folder, s3://… or gs://…, or a DataFrame."
        )
    facts = obj.__dict__.pop("_ls_facts")
    source: Source = facts["source"]
    # A new object's fields go straight into its __dict__: the ORM's attribute events (history
    # for edits of saved records) cost more than the rest of construction, and nothing reads
    # a new record's history (``attach`` makes it a saved record with all fields committed).
    d = obj.__dict__
    d["_ls_source"] = source
    d["hash"], d["hash_type"], d["size"] = facts["hash"], facts["hash_type"], facts["size"]
    d["suffix"], d["n_objects"] = facts["suffix"], facts["n_objects"]
    d["description"] = nfc(description) if isinstance(description, str) else description
    d["visibility"] = VISIBLE
    d["version"] = str(version) if version is not None else None
    if key is not None:
        key = artifact_key(key)
    place = facts.get("place")
    family: Family | None
    if place is not None:
        storage_id, root, rel = place
        if key is not None and key != nfc(rel):
            raise InvalidArgument(
                f"{source.path} lies inside storage {root} and is registered in "
                f"place under the key '{rel}'; it cannot take the key '{key}'."
            )
        source.in_place = True
        d["storage_id"], d["key"], d["key_is_virtual"] = storage_id, rel, False
        family = facts["family"] if "family" in facts else _path_family(place)
    else:
        if storage is not None and storage.__dict__.get("id") is None:
            raise InvalidArgument("storage= must be a saved ls.Storage.")
        d["storage_id"] = storage.id if storage is not None else _default_storage_id()
        d["key"], d["key_is_virtual"] = key, True
        family = facts.get("family") if key is not None else None
    if key is not None:
        _check_suffix(key, obj.suffix, source)
    index = facts.get("index")  # the family's next free index, when looked up in bulk
    if revises is not None:
        family, index = _family_of(revises), None
        obj.__dict__["_ls_revises"] = revises
    _set_family(obj, family, index)
    _link_run(obj, run)
    if planned:
        obj.__dict__["_ls_features"] = planned


def artifact_key(key: Any) -> str:
    """A key a user gives an artifact: a valid key outside labshelf's own folder."""
    key = validate_key(key)
    if key.split("/")[0] == OBJECTS_DIR:
        raise InvalidArgument(
            f"The key '{key}' lies inside {OBJECTS_DIR}/, the folder where labshelf keeps its "
            "objects; choose another key."
        )
    return key


def _check_suffix(key: str, suffix: str, source: Source) -> None:
    if suffix and not key.lower().endswith(suffix.lower()):
        raise InvalidArgument(
            f"The key '{key}' does not end in '{suffix}', the suffix of {source.path}; "
            f"give a key ending in '{suffix}'."
        )


def _default_storage_id() -> int:
    storage_id = current().default_storage_id
    assert storage_id is not None  # set when the instance was opened
    return storage_id


def _family_of(revises: Any) -> Family:
    if not isinstance(revises, Artifact) or revises.__dict__.get("id") is None:
        raise InvalidArgument("revises= must be a saved artifact.")
    return Family(revises.stem_uid, revises.key, revises.description)


def _latest_with_key(key: str) -> Family | None:
    rows = retrying(
        lambda: _BY_KEY.rows(current().engine(), key=key), what=f"looking up key '{key}'"
    )
    return Family(*rows[0]) if rows else None


def _set_family(obj: Artifact, family: Family | None, index: int | None = None) -> None:
    d = obj.__dict__  # a new object (see init_fields)
    if family is not None:
        d["stem_uid"] = family.stem_uid
        if d.get("key") is None and d.get("key_is_virtual"):
            d["key"] = family.key
        if d.get("description") is None:
            d["description"] = family.description
        if index is None:
            index = read(lambda s: next_index(s, Artifact, family.stem_uid))
    else:
        d["stem_uid"] = new_stem(ARTIFACT_UID)
        index = 0
    d["uid"] = versioned_uid(d["stem_uid"], index)
    d["is_latest"] = True


def _link_run(obj: Any, run: Any) -> None:
    run = run or current_run()
    if run is not None:
        if run.__dict__.get("id") is None:
            raise InvalidArgument("run= must be a saved run.")
        obj.run_id, obj.transform_id = run.id, run.transform_id


# ---------------------------------------------------------------- storage access


def _root(obj: Artifact) -> str:
    return storage_root(obj.storage_id)


def _backend(obj: Artifact) -> Backend:
    return current().backend(_root(obj))


def stored_key(obj: Artifact) -> str:
    """The key of the artifact's object under its storage root."""
    if obj.key_is_virtual:
        return object_key(obj.uid, obj.suffix or "")
    assert obj.key is not None  # in-place artifacts always have their path as key
    return obj.key


def folder_files(obj: Artifact) -> list[str]:
    """The paths of a saved folder artifact's files, relative to the folder (from the
    storage's listing: nothing is downloaded)."""
    if obj.n_objects is None:
        raise InvalidArgument(f"Artifact {obj.uid} is a file, not a folder.")
    return [entry.rel for entry in _backend(obj).list(stored_key(obj))]


def expected(obj: Artifact) -> Expected:
    return Expected(obj.hash, obj.hash_type, obj.size, obj.n_objects, not obj.key_is_virtual)


def read_only_copy(obj: Artifact, local: Path) -> Path:
    """The read-only view of a saved artifact whose bytes are at ``local``: hard links to
    labshelf's own objects (copied objects, the download cache), copies of a user's own files
    (registered in place on a local disk)."""
    if obj.__dict__.get("id") is None:
        raise InvalidArgument("Save the artifact first; it has no stored copy to open yet.")
    own_bytes = obj.key_is_virtual or "://" in _root(obj)
    rel = obj.key or f"{obj.uid}{obj.suffix or ''}"
    folder = current().cache_dir() / VIEWS_DIR / str(obj.uid)
    return read_only_view(local, folder, rel, link=own_bytes)


def local_copy(obj: Artifact, **download: Any) -> Path:
    inst = current()
    return _backend(obj).local_copy(
        stored_key(obj), inst.cache_dir(), expected(obj), inst.config.cache_max_bytes, **download
    )


# ---------------------------------------------------------------- saving


def save_artifact_edits(obj: Artifact) -> Artifact:
    """Write an artifact's edited fields; a new key of an in-place artifact moves its file."""
    edits = pending_edits(obj)
    if "key" in edits:
        new_key = edits["key"]
        if new_key is None:
            raise InvalidArgument(f"The key of artifact {obj.uid} cannot be removed (key=None).")
        new_key = artifact_key(new_key)
        _check_suffix(new_key, obj.suffix or "", Source(obj.uid, False))
        if not obj.key_is_virtual:
            return _move_in_place(obj, new_key)
        obj.key = new_key
    for name in ("hash", "size", "suffix", "storage_id", "key_is_virtual", "n_objects", "stem_uid"):
        if name in edits:
            raise InvalidArgument(
                f"The {name} of artifact {obj.uid} follows from its content and cannot be set."
            )
    save_edits(obj)
    return obj


def _move_in_place(obj: Artifact, new_key: str) -> Artifact:
    """Move an in-place artifact's file within its storage, then record the new key; if the
    record cannot be written the file is moved back."""
    old_key = _committed(obj, "key")
    backend = _backend(obj)
    backend.move(old_key, new_key)
    try:
        save_edits(obj)
    except BaseException:
        try:
            backend.move(new_key, old_key)
        finally:
            sync(obj, key=old_key)
        raise
    say(f"moved {old_key} to {new_key} in {backend.root}")
    return obj


def _committed(obj: Any, name: str) -> Any:
    history = instance_state(obj).attrs[name].history
    return (history.deleted or history.unchanged or [None])[0]


_ROW_FIELDS = (
    "uid",
    "stem_uid",
    "key",
    "description",
    "storage_id",
    "suffix",
    "size",
    "hash",
    "hash_type",
    "n_objects",
    "key_is_virtual",
    "version",
)


def _field(obj: Any, name: str) -> Any:
    """A column of a record read from its ``__dict__`` (the ORM's attribute descriptor costs
    ~1 µs a read: ~70 reads per artifact of a bulk save); through the descriptor if the
    field is not loaded (expired)."""
    d = obj.__dict__
    return d[name] if name in d else getattr(obj, name)


def _row_of(obj: Artifact, user: int, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    d = obj.__dict__
    row = {name: d[name] if name in d else getattr(obj, name) for name in _ROW_FIELDS}
    row["suffix"] = row["suffix"] or ""
    row.update(
        n_observations=d.get("n_observations"),
        accessor=d.get("accessor"),
        visibility=PENDING,
        is_latest=False,
        transform_id=d.get("transform_id"),
        run_id=d.get("run_id"),
        created_by_id=user,
        created_at=now,
        updated_at=now,
    )
    return row


def _first_version(uid: str) -> bool:
    """Whether a uid is its family's first version (index 0): ``split_uid(uid)[1] == 0``."""
    return uid.endswith(_FIRST_SUFFIX)


def insert_pending(objs: list[Artifact]) -> None:
    """Step 1: insert pending rows (ids assigned); re-number versions that collide; a new
    family whose key another save registered meanwhile (or is registering) joins that
    family instead, as its next version: one key, one family."""
    user = user_id()
    table = schema.artifacts

    def run(s: Session) -> None:
        new_keys = {_field(o, "key") for o in objs if _starts_family(o)}
        if new_keys or not all(_first_version(_field(o, "uid")) for o in objs):
            # concurrent new versions of one family (and new families of one key) take
            # turns (on PostgreSQL both would read the same max(uid) and one would fail)
            publish_lock(s)
        families = _families_of_keys(s, new_keys)
        for obj in objs:
            if _starts_family(obj):
                family = families.setdefault(obj.key, Family(obj.stem_uid, obj.key, None))
                if family.stem_uid != obj.stem_uid:
                    obj.stem_uid, obj.uid = family.stem_uid, versioned_uid(family.stem_uid, 1)
                    if obj.description is None:
                        obj.description = family.description
        # new versions take the next free index now, one query per few hundred families
        later = [o for o in objs if not _first_version(_field(o, "uid"))]
        stems = {o.stem_uid for o in later}
        top: dict[str, int] = {}
        for chunk in _chunked(sorted(stems)):
            for stem, uid in s.execute(top_uid_probe(chunk)).all():
                top[stem] = split_uid(uid)[1] + 1
        if stems:
            for obj in objs:  # a family's first version in this very batch holds index 0
                if obj.stem_uid in stems and _first_version(obj.uid):
                    top[obj.stem_uid] = max(top.get(obj.stem_uid, 0), 1)
        for obj in later:
            index = top.get(obj.stem_uid, 0)
            top[obj.stem_uid] = index + 1  # two new versions of one family in a batch
            obj.uid = versioned_uid(obj.stem_uid, index)
        for obj in objs:
            d = obj.__dict__
            if d.get("version") is None or d.get("_ls_auto_version"):
                if "version" in d and instance_state(obj).key is None:
                    d["version"] = version_label(d["uid"])  # a new object (see init_fields)
                else:
                    obj.version = version_label(obj.uid)
                d["_ls_auto_version"] = True
        # INSERT ... RETURNING uid, id of many rows: SQLAlchemy sends them as multi-row
        # VALUES statements ("insertmanyvalues"), ids matched by uid (rows come back in no
        # set order; in parameter order SQLite would need one statement per row). One
        # statement per row would cost ~4x more on SQLite: each row's triggers (the FTS5
        # search tables, see migrations 0001 and 0009) flush their index per statement.
        # A few hundred rows at a time (the rows of 10^5 artifacts at once would be
        # hundreds of MB).
        now = utcnow()
        returning = table.insert().returning(table.c.uid, table.c.id)
        for part in _chunked(objs, PROBE_CHUNK):
            rows = [_row_of(obj, user, now) for obj in part]
            by_uid = {row["uid"]: o for row, o in zip(rows, part, strict=True)}
            found = s.connection().execute(returning, rows).all()
            for uid_, id_ in found:
                by_uid[uid_].__dict__["_ls_row"] = (id_, now)
            if len(found) != len(part):  # (never: each row is inserted or the insert fails)
                raise LabshelfError("Registering artifacts failed: not every row was inserted.")
        for obj in objs:
            d = obj.__dict__
            if "id" not in d and instance_state(obj).key is None:  # a new object
                d["id"], d["created_by_id"] = d["_ls_row"][0], user
            else:
                obj.id = d["_ls_row"][0]
                obj.created_by_id = user

    write(run, what="registering artifacts")


def _starts_family(obj: Artifact) -> bool:
    """A new artifact with a key of its own that starts a version family."""
    return bool(
        _field(obj, "key_is_virtual") and _field(obj, "key") and _first_version(_field(obj, "uid"))
    )


def _families_of_keys(s: Session, keys: set[str | None]) -> dict[str | None, Family]:
    """The family each key names now: its visible latest, else a save of it in flight."""
    a = schema.artifacts.c
    found: dict[str | None, Family] = {}
    wanted = sorted(k for k in keys if k)
    for i in range(0, len(wanted), 500):
        rows = s.execute(
            select(a.key, a.stem_uid, a.description)
            .where(
                a.key.in_(wanted[i : i + 500]),
                a.key_is_virtual.is_(True),
                or_(and_(a.visibility >= 0, a.is_latest.is_(True)), a.visibility == PENDING),
            )
            .order_by(a.visibility.desc(), a.id)
        ).all()
        for key, stem, description in rows:
            found.setdefault(key, Family(stem, key, description))
    return found


def store_object(obj: Artifact, backend: Backend | None = None, **progress: Any) -> None:
    """Step 2: copy the bytes of a virtual-key artifact into its storage, verified; a new
    version of a folder shares the previous version's unchanged files (``Reuse``).
    ``backend``: the artifact's storage backend, if the caller has it (bulk saves)."""
    d = obj.__dict__
    source: Source = d["_ls_source"]
    if source.in_place:
        return
    reuse = d.get("_ls_reuse")
    uid = _field(obj, "uid")
    if reuse is None and source.is_dir and not _first_version(uid):
        reuse = _reusable(obj)
    virtual = _field(obj, "key_is_virtual")
    key = object_key(uid, _field(obj, "suffix") or "") if virtual else stored_key(obj)
    hash_, hash_type, size, n_objects = (
        _field(obj, n) for n in ("hash", "hash_type", "size", "n_objects")
    )
    want = Expected(hash_, hash_type, size, n_objects, not virtual)
    try:
        (backend or _backend(obj)).put(source, key, want, Progress(**progress), reuse)
    except StorageError:
        if source.cloud is None:  # e.g. "changed after it was hashed": hash it anew next time
            forget_cached_hashes(source.path)
        raise


_EARLIER_FOLDER = RawStatement(
    select(A.uid)
    .where(
        A.stem_uid == bindparam("stem"),
        A.uid < bindparam("uid"),
        A.storage_id == bindparam("storage"),
        A.key_is_virtual == true(),
        A.n_objects.is_not(None),
        A.visibility >= TRASH,
    )
    .order_by(A.uid.desc())
    .limit(1)
)


def _reusable(obj: Artifact) -> Reuse | None:
    """The stored folder of this artifact's nearest earlier version in the same storage,
    whose unchanged files the new version shares."""
    rows = retrying(
        lambda: _EARLIER_FOLDER.rows(
            current().engine(), stem=obj.stem_uid, uid=obj.uid, storage=obj.storage_id
        ),
        what="looking up the previous version",
    )
    return Reuse(object_key(rows[0][0], "")) if rows else None


def publish(objs: list[Artifact]) -> list[Artifact]:
    """Step 3: make pending rows visible in one transaction; returns the duplicates.

    A row whose content became visible meanwhile (a concurrent save of the same
    bytes) is dropped instead, so content is never registered twice. ``make_latest``'s
    row does not count (it republishes old content of its family on purpose), nor do
    in-place rows (registered by path) and empty files.
    """
    table = schema.artifacts
    user = user_id() if objs else 0

    def run(s: Session) -> list[Artifact]:
        publish_lock(s)
        dup_ids: set[int] = set()
        # (a row with no hash matches no probe: IN never holds for NULL)
        by_hash = {
            _field(o, "hash"): o
            for o in objs
            if _field(o, "key_is_virtual") and _field(o, "size") and _field(o, "hash") is not None
        }
        hashes = list(by_hash)
        for i in range(0, len(hashes), 500):
            rows = s.execute(publish_probe(hashes[i : i + 500])).all()
            dup_ids.update(
                by_hash[h].id
                for h, other, stem in rows
                if by_hash[h].id != other
                and (stem != by_hash[h].stem_uid or not by_hash[h].__dict__.get("_ls_republish"))
            )
        ids = {id(o): _field(o, "id") for o in objs}
        kept_objs = [o for o in objs if ids[id(o)] not in dup_ids]
        # the first version of a new family (a fresh random stem) is its only member, so it
        # is the latest: set at once — unless a save of the same new key in another process
        # joined the family meanwhile (it became the next version, see insert_pending);
        # other families' latest is recomputed
        firsts = [o for o in kept_objs if _first_version(_field(o, "uid"))]
        joined = _stems_with_others(s, firsts)
        first = [ids[id(o)] for o in firsts if _field(o, "stem_uid") not in joined]
        fresh = set(first)
        later = [ids[id(o)] for o in kept_objs if ids[id(o)] not in fresh]
        now = utcnow()
        for ids_, latest in ((first, {"is_latest": True}), (later, {})):
            for chunk in _chunked(ids_):
                s.execute(
                    update(table)
                    .where(table.c.id.in_(chunk))
                    .values(visibility=VISIBLE, updated_at=now, **latest)
                )
        if dup_ids:
            s.execute(delete(table).where(table.c.id.in_(dup_ids)))
        recompute_latest(s, Artifact, [o.stem_uid for o in kept_objs if ids[id(o)] not in fresh])
        _annotate_published(s, kept_objs, user)
        return [o for o in objs if ids[id(o)] in dup_ids]

    return write(run, what="publishing artifacts")


def _stems_with_others(s: Session, firsts: list[Artifact]) -> set[str]:
    """The families of these first versions that hold another row already (one query per
    few hundred)."""
    a = schema.artifacts.c
    found: set[str] = set()
    for chunk in _chunked(firsts):
        ours = {_field(o, "uid") for o in chunk}  # (filtered here: one IN list, not two)
        rows = s.execute(
            select(a.stem_uid, a.uid).where(a.stem_uid.in_([_field(o, "stem_uid") for o in chunk]))
        )
        found.update(stem for stem, uid in rows if uid not in ours)
    return found


def _annotate_published(s: Session, objs: list[Artifact], user: int) -> None:
    """In the publish transaction: new versions start with the labels and feature values of
    the version they revise (``revises=``, else the family's previous version), then the
    values given as ``features=`` replace theirs."""
    from .registry import REGISTRIES

    spec = REGISTRIES["artifact"]
    sources = _previous_versions(s, objs)
    given = [o for o in objs if o.__dict__.get("_ls_features")]
    if not sources and not given:
        return
    annotation_lock(s)
    by_run: dict[int | None, list[Artifact]] = {}
    for o in objs:
        by_run.setdefault(o.__dict__.get("run_id"), []).append(o)
    for run_id, group in by_run.items():
        who = Actor(user, run_id)
        inherit(s, spec, [(o.id, sources[o.id]) for o in group if o.id in sources], who)
        for o in group:
            planned = o.__dict__.pop("_ls_features", None)
            if planned:
                apply(s, spec, [o.id], planned, who, replace=True)


def _previous_versions(s: Session, objs: list[Artifact]) -> dict[int, int]:
    """new id -> the id of the version it continues, for the new versions among ``objs``."""
    out: dict[int, int] = {}
    stems: dict[str, list[Artifact]] = {}
    for o in objs:
        revised = o.__dict__.get("_ls_revises")
        if revised is not None and revised.__dict__.get("id") is not None:
            out[o.id] = revised.id
        elif not _first_version(_field(o, "uid")):
            stems.setdefault(o.stem_uid, []).append(o)
    new_ids = {_field(o, "id") for o in objs}
    names = list(stems)
    for i in range(0, len(names), 500):
        part = names[i : i + 500]
        rows = s.execute(
            select(A.id, A.uid, A.stem_uid).where(A.stem_uid.in_(part), A.visibility >= 0)
        ).all()
        family: dict[str, list[tuple[str, int]]] = {}
        for row_id, uid, stem in rows:
            if row_id not in new_ids:
                family.setdefault(stem, []).append((uid, row_id))
        for stem in part:
            for o in stems[stem]:
                older = [m for m in family.get(stem, []) if m[0] < o.uid]
                if older:
                    out[o.id] = max(older)[1]
    return out


def discard_pending(objs: list[Artifact]) -> None:
    """Remove the pending rows of items whose object could not be stored."""
    ids = [o.id for o in objs if o.__dict__.get("id") is not None]
    if not ids:
        return
    table = schema.artifacts

    def run(s: Session) -> None:
        for i in range(0, len(ids), 500):
            s.execute(
                delete(table).where(table.c.id.in_(ids[i : i + 500]), table.c.visibility == PENDING)
            )

    write(run, what="cleaning up after a failed save")
    for o in objs:
        o.id = None  # type: ignore[assignment]


def attach(objs: list[Artifact]) -> None:
    """Turn published new objects into saved records (and the versions they revised)."""
    names = columns_of(Artifact)
    for obj in objs:
        created_by = _field(obj, "created_by_id")
        row = _row_of(obj, created_by or 0)
        row_id, created = obj.__dict__.pop("_ls_row", None) or (obj.id, utcnow())
        row.update(id=row_id, visibility=VISIBLE, created_at=created, updated_at=created)
        row["created_by_id"] = created_by
        if _first_version(row["uid"]) and instance_state(obj).key is None:
            # a new object becomes a saved record: its fields as committed values at once
            # (``as_saved`` sets them one by one through the ORM's events: ~5x slower)
            row["is_latest"] = True  # the only member of its family (see publish)
            obj.__dict__.update(row)
            for name in names:
                obj.__dict__.setdefault(name, None)
            make_transient_to_detached(obj)
        else:
            as_saved(obj, row)
    refresh_latest_flags([o for o in objs if not _first_version(o.uid)])
    revised = [o.__dict__.pop("_ls_revises") for o in objs if "_ls_revises" in o.__dict__]
    refresh_latest_flags(revised)


def save_new(objs: list[Artifact], max_workers: int = 8) -> list[tuple[Artifact, Exception]]:
    """Save new artifacts: pending rows, objects stored in parallel, one publish."""
    unique: dict[tuple[str | None, str | None], Artifact] = {}
    for obj in objs:
        # the same content twice in one batch is saved once (in-place paths and empty files
        # are registered by path, not by content)
        d = obj.__dict__
        if "hash" in d and "key_is_virtual" in d and "size" in d:  # (a new object: no ORM read)
            marker = (
                (d["hash"], None) if d["key_is_virtual"] and d["size"] else (d["uid"], d["key"])
            )
        else:
            marker = (obj.hash, None) if obj.key_is_virtual and obj.size else (obj.uid, obj.key)
        first = unique.setdefault(marker, obj)
        if first is not obj:
            say(f"{_source(obj)} has the same content as {_source(first)}; saved once")
    todo = list(unique.values())
    insert_pending(todo)
    failures: list[tuple[Artifact, Exception]] = []
    stored: list[Artifact] = []
    try:
        backends = StorageBackends()
        workers = store_workers(
            max_workers, {_field(o, "storage_id") for o in todo}, [_field(o, "size") for o in todo]
        )
        if len(todo) == 1 or workers <= 1:
            results = [_try_store(o, backends) for o in todo]
        else:
            # tasks of several objects: a pool task per small file costs more than its copy
            size = max(1, min(STORE_CHUNK, len(todo) // (workers * 4)))
            chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ls-store") as pool:
                parts = pool.map(lambda part: [_try_store(o, backends) for o in part], chunks)
                results = [r for part in parts for r in part]
    except BaseException:
        discard_pending(todo)
        raise
    for obj, err in zip(todo, results, strict=True):
        (failures.append((obj, err)) if err is not None else stored.append(obj))
    discard_pending([o for o, _ in failures])
    duplicates = publish(stored) if stored else []
    if duplicates:
        for dup in duplicates:
            say(f"{_source(dup)}: the same content was registered meanwhile; skipped")
        remove_objects(duplicates)
        _become_winners(duplicates)
    saved = [o for o in stored if o not in duplicates]
    attach(saved)
    return failures


def _become_winners(duplicates: list[Artifact]) -> None:
    """Each duplicate becomes the record whose content won (its id, uid and fields), as if
    its constructor had found it: ``save()`` returns a record that is in the database."""
    a = schema.artifacts
    hashes = list({d.hash for d in duplicates})
    rows = read(
        lambda s: {
            r["hash"]: r
            for r in s.execute(
                select(a)
                .where(a.c.hash.in_(hashes), a.c.visibility >= 0, a.c.key_is_virtual.is_(True))
                .order_by(a.c.visibility, a.c.is_latest, a.c.id)  # the best one last
            ).mappings()
        },
        what="reading the records that were saved meanwhile",
    )
    for d in duplicates:
        row = rows.get(d.hash)
        for name in ("_ls_row", "_ls_revises", "_ls_auto_version"):
            d.__dict__.pop(name, None)
        if row is None:  # the winner went again meanwhile (trashed or deleted)
            d.id = None  # type: ignore[assignment]
            continue
        as_saved(d, dict(row))


def _source(obj: Artifact) -> str:
    return str(obj._ls_source.path)  # type: ignore[attr-defined]


STORE_CHUNK = 32


class StorageBackends:
    """The storage backends of one bulk save, by storage id (made once, not per object)."""

    def __init__(self) -> None:
        self.by_id: dict[int, Backend] = {}

    def of(self, obj: Artifact) -> Backend:
        storage_id = _field(obj, "storage_id")
        found = self.by_id.get(storage_id)
        if found is None:
            found = self.by_id[storage_id] = _backend(obj)
        return found


def local_workers(max_workers: int) -> int:
    """Threads for copying to local storage: no more than the machine's CPUs. A small file's
    copy is mostly Python holding the GIL; more threads than cores only queue for it (on 2
    cores, 8 threads were ~25% slower than 2); the cloud keeps ``max_workers`` (its threads
    mostly wait on the network)."""
    return max(1, min(max_workers, os.cpu_count() or 1))


def copy_serially(root: str, sizes: Iterable[int | None]) -> bool:
    """Whether copies of files of these sizes into the storage ``root`` go best one after
    the other, in one thread (small files into a local disk: ``local.copies_serially``)."""
    return not is_cloud(root) and local.copies_serially(root, sizes)


def store_workers(
    max_workers: int, storage_ids: Iterable[int], sizes: Iterable[int | None] = ()
) -> int:
    """The threads a bulk save copies with: the cloud's ``max_workers``; into local storage
    one thread for small files on a local disk (``copy_serially``), else ``local_workers``."""
    roots = [storage_root(i) for i in set(storage_ids)]
    if any(is_cloud(r) for r in roots):
        return max_workers
    sizes = list(sizes)
    if roots and all(copy_serially(r, sizes) for r in roots):
        return 1
    return local_workers(max_workers)


def _try_store(obj: Artifact, backends: StorageBackends | None = None) -> Exception | None:
    try:
        store_object(obj, backends.of(obj) if backends is not None else None)
    except (StorageError, InvalidArgument, OSError) as exc:
        return exc if isinstance(exc, StorageError | InvalidArgument) else StorageError(str(exc))
    return None


def remove_objects(objs: Iterable[Artifact]) -> None:
    """Remove the stored objects of unpublished or deleted copies (never in-place files)."""
    for obj in objs:
        source = getattr(obj, "_ls_source", None)
        if (source is not None and source.in_place) or not obj.key_is_virtual:
            continue
        _backend(obj).remove(object_key(obj.uid, obj.suffix or ""))


def save_many(records: list[Any], max_workers: int = 8) -> list[Any]:
    """``ls.save([...])``: new artifacts in bulk; other records one by one."""
    new = [
        r
        for r in records
        if isinstance(r, Artifact)
        and r.__dict__.get("id") is None
        and getattr(r, "_ls_source", None)
    ]
    with gc_paused():
        failures = save_new(new, max_workers=max_workers) if new else []
    ids = {id(r) for r in new}
    for rec in records:
        if id(rec) not in ids:
            rec.save()
    if failures:
        first = failures[0][1]
        raise StorageError(
            f"{len(failures)} of {len(new)} artifacts could not be saved; the first: {first}"
        ) from first
    return records


# ---------------------------------------------------------------- versions


def replace(obj: Artifact, path: Any) -> Artifact:
    """A new version of ``obj`` with the content at ``path`` (same key and description)."""
    facts = describe_source(path)
    if obj.n_objects is not None and not facts["source"].is_dir:
        raise InvalidArgument(f"Artifact {obj.uid} is a folder; {path} is a file.")
    if obj.n_objects is None and facts["source"].is_dir:
        raise InvalidArgument(f"Artifact {obj.uid} is a file; {path} is a folder.")
    new = Artifact(path, revises=obj)
    return new.save() if new.__dict__.get("id") is None else new


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
    local = local_copy(obj)
    is_dir = obj.n_objects is not None
    files = walk_folder(local)[0] if is_dir else None
    if files:  # with their hashes, the new version shares the old one's files
        for f, (h, _) in zip(files, hash_files([f.fspath for f in files]), strict=True):
            f.hash = h
    return _save_copy(obj, Source(local, is_dir, files))


def _save_copy(old: Artifact, source: Source) -> Artifact:
    new = blank(Artifact)  # without the dedup constructor
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
    new.key_is_virtual, new.visibility, new.version = True, VISIBLE, None
    new.uid = versioned_uid(old.stem_uid, 1)  # the free index is taken in insert_pending
    new.__dict__["_ls_republish"] = True  # old content again, on purpose: no duplicate
    new._ls_source = source
    if old.n_objects is not None and old.storage_id == new.storage_id:
        new.__dict__["_ls_reuse"] = Reuse(object_key(old.uid, ""))
    new.__dict__["_ls_revises"] = old
    _link_run(new, None)
    failures = save_new([new])
    if failures:
        raise failures[0][1]
    return new


# ---------------------------------------------------------------- permanent delete


def delete_permanently(obj: Artifact) -> None:
    """Remove the record and, for a copied object, the object: the row goes first (in its
    transaction), the object after the commit, so a failure never leaves a record without
    its object. A member of collections is refused (they would no longer match their hash);
    in-place files are never deleted.

    For a copied object the first transaction only hides the row (``PENDING``, out of its
    family); the row is deleted once the object is gone. A crash or a storage error in
    between leaves a pending row naming the object, which ``doctor --fix`` can prove is this
    catalog's own leftover and removes."""
    ca, runs, colls = schema.collection_artifacts, schema.runs, schema.collections

    def check_and_unlink(s: Session) -> None:
        members = s.execute(
            select(colls.c.uid, colls.c.name)
            .join(ca, ca.c.collection_id == colls.c.id)
            .where(ca.c.artifact_id == obj.id)
            .distinct()
        ).all()
        metas = s.execute(
            select(colls.c.uid, colls.c.name).where(colls.c.meta_artifact_id == obj.id)
        ).all()
        if members or metas:
            listed = ", ".join(f"'{n}' ({u})" for u, n in [*members, *metas][:5])
            raise IntegrityError(
                f"Artifact {obj.uid} belongs to {len(members) + len(metas)} collection "
                f"version(s): {listed}; delete those collections permanently first (their "
                "saved versions would no longer hold what they were saved with)."
            )
        s.execute(update(runs).where(runs.c.report_id == obj.id).values(report_id=None))
        s.execute(update(runs).where(runs.c.environment_id == obj.id).values(environment_id=None))

    if not obj.key_is_virtual:
        delete_row(obj, check_and_unlink, what=f"deleting {obj.uid}")
    else:
        table = schema.artifacts

        def hide(s: Session) -> None:
            publish_lock(s)
            check_and_unlink(s)
            s.execute(
                update(table)
                .where(table.c.id == obj.id)
                .values(visibility=PENDING, is_latest=False, updated_at=utcnow())
            )
            recompute_latest(s, Artifact, [obj.stem_uid])

        write(hide, what=f"deleting {obj.uid}")
        try:
            _backend(obj).remove(stored_key(obj))
            write(
                lambda s: s.execute(
                    delete(table).where(table.c.id == obj.id, table.c.visibility == PENDING)
                ),
                what=f"deleting {obj.uid}",
            )
        except LabshelfError as exc:
            say(
                f"the record of {obj.uid} is deleted, but its object or row could not be removed "
                f"yet ({exc}); `labshelf doctor --fix` removes them later"
            )
    sync(obj, visibility=TRASH, is_latest=False)
    say(f"deleted artifact {obj.uid} permanently")
