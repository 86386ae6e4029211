"""The desktop app's one door to core.

Every other module of the desktop app reaches labshelf's core through the functions here
(the command line, `labshelf.app.cli`, and the upload worker process,
`labshelf.app.upload_worker`, are the only other modules that import core). They take and
return plain data — dicts, tuples, paths, DOT text — so ORM records never leave the thread
that loaded them; most of them run on worker threads (`labshelf.app.base.tasks`).

Importing this module is cheap: it loads core's small modules (instance settings, file
kinds, sizes). Core's database layer and what builds on it (SQLAlchemy, the models, the
upload engine, the cloud libraries) is imported inside the functions that need it, which run
on workers, so that the UI thread never waits for it while the first window is drawn. The
function-level imports below are all of that kind.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import labshelf as ls
from labshelf.config import all_configs, config_dir, data_dir
from labshelf.errors import InvalidArgument, LabshelfError, NotConnected
from labshelf.filekinds import IMAGE_SUFFIXES, kind_of
from labshelf.humanize import human_size, printable
from labshelf.states import FINAL_STATES, ItemState

__all__ = [
    "FINAL_STATES",
    "IMAGE_SUFFIXES",
    "ItemState",
    "LabshelfError",
    "NotConnected",
    "config_dir",
    "data_dir",
    "human_size",
    "kind_of",
    "printable",
]

_import_lock = threading.Lock()


def import_core() -> None:
    """Import core's database layer and Pillow, one thread at a time. Worker threads importing
    SQLAlchemy at once can be handed a partly initialised module; the UI thread never imports
    them, so the window paints before they are loaded."""
    with _import_lock:
        import labshelf.models  # deferred: SQLAlchemy (see the module docstring)
        import labshelf.query  # noqa: F401
        import PIL.Image  # noqa: F401


def current() -> Any:
    """The current instance (opens its database: call it on a worker)."""
    from labshelf.instance import current as current_instance  # deferred: SQLAlchemy

    return current_instance()


def _registry(name: str) -> Any:
    return getattr(ls, name)


def _get(name: str, uid: str) -> Any:
    return _registry(name).get(uid)


# -- registries ----------------------------------------------------------------------------
def registry_specs() -> dict[str, Any]:
    """Core's registry specs (`labshelf.registry`) by class name ("Artifact"): fields,
    columns, name field, versions, trash. Loads SQLAlchemy: call it on a worker."""
    from labshelf.registry import REGISTRIES  # deferred: SQLAlchemy and the models

    return {spec.name: spec for spec in REGISTRIES.values()}


# -- tables --------------------------------------------------------------------------------
Lookups = Mapping[str, Any]


LATEST_ONLY = "latest_only"  # a lookup of the app's: one row per version family, its latest


def _queryset(
    registry: str, lookups: Lookups, search: str, order: Sequence[str], trash: bool
) -> Any:
    lookups = dict(lookups)
    if trash:
        from labshelf.models import TRASH  # deferred: SQLAlchemy

        lookups["visibility"] = TRASH
    model = _registry(registry)
    conditions = []
    if lookups.pop(LATEST_ONLY, False):
        from sqlalchemy import false, func  # deferred: SQLAlchemy

        # is_latest wrapped in a function: without table statistics SQLite would read every
        # latest row through the is_latest index and sort them all (~300 ms at 10^5 rows)
        # instead of walking the created_at index until the page is full (what it does for
        # a plain table); PostgreSQL plans by its statistics either way.
        conditions.append(func.coalesce(model.is_latest, false()).is_(True))
    qs = model.filter(*conditions, **lookups)
    if search:
        qs = qs.search(search)
        return qs.order_by(*order) if order else qs
    return qs.order_by(*(order or ("-created_at",)))


def count_rows(
    registry: str, lookups: Lookups, search: str, order: Sequence[str], trash: bool
) -> int:
    """How many records match (the same WHERE as the pages)."""
    if lookups.get(LATEST_ONLY) and not search:
        # All matching rows less the few that are not their family's latest: two counts an
        # index answers, where "latest only" itself means reading every row.
        rest = {k: v for k, v in lookups.items() if k != LATEST_ONLY}
        every = _queryset(registry, rest, "", order, trash)
        return int(every.count()) - int(every.filter(is_latest=False).count())
    return int(_queryset(registry, lookups, search, order, trash).count())


def page_ids(
    registry: str,
    lookups: Lookups,
    search: str,
    order: Sequence[str],
    trash: bool,
    offset: int,
    limit: int,
) -> list[int]:
    """The row ids of one page: the query's own SQL (filters, search rank, order) with
    LIMIT/OFFSET, and no ORM objects to build (pure Python time a table would wait for)."""
    from labshelf.session import read  # deferred: SQLAlchemy

    qs = _queryset(registry, lookups, search, order, trash)
    stmt = qs.statement([qs.model.id], current().dialect).limit(limit).offset(offset)
    return read(lambda s: list(s.execute(stmt).scalars()), what="reading a page")


def rows_by_id(registry: str, ids: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
    """`fields` (and `id`) of the records with these ids, in the order of `ids`. A lookup by id
    also finds rows trashed meanwhile: they keep their text until the table reloads."""
    if not ids:
        return []
    rows = _registry(registry).filter(id__in=list(ids)).values("id", *fields)
    by_id = {row["id"]: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def family_sizes(registry: str, stems: Sequence[str]) -> dict[str, int]:
    """How many versions (trash excluded) each of these version families has (those not
    asked about have one: see `labshelf.app.data.rows`)."""
    if not stems:
        return {}
    from labshelf.registry import registry_of  # deferred: SQLAlchemy and the models
    from labshelf.session import read
    from sqlalchemy import func, select

    table = registry_of(registry).table
    visible = [table.c.visibility >= 0] if "visibility" in table.c else []
    stmt = (
        select(table.c.stem_uid, func.count())
        .where(table.c.stem_uid.in_(sorted(set(stems))), *visible)
        .group_by(table.c.stem_uid)
    )
    return read(lambda s: {str(a): int(b) for a, b in s.execute(stmt)}, what="counting versions")


def filter_choices(registry: str, kind: str) -> list[dict[str, Any]]:
    """The values a filter chip can take, from the data, most used first: file types
    (`suffix`), users (`created_by`, with their names), transform names (`transform`),
    storage roots (`storage`); each a dict of label, value, aliases and count."""
    from labshelf import schema  # deferred: SQLAlchemy and the models
    from labshelf.registry import registry_of
    from labshelf.session import read
    from sqlalchemy import func, select

    table = registry_of(registry).table
    visible = [table.c.visibility >= 0] if "visibility" in table.c else []
    if kind == "suffix":
        stmt = (
            select(table.c.suffix, func.count())
            .where(*visible)
            .group_by(table.c.suffix)
            .order_by(func.count().desc())
            .limit(200)
        )
        rows = read(lambda s: s.execute(stmt).all(), what="listing file types")
        return [
            {"label": suffix or "(folder)", "value": suffix, "aliases": [], "count": int(n)}
            for suffix, n in rows
        ]
    if kind == "created_by":
        users = schema.users
        stmt = select(users.c.handle, users.c.name).order_by(users.c.handle).limit(500)
        rows = read(lambda s: s.execute(stmt).all(), what="listing users")
        return [
            {
                "label": f"{name} ({handle})" if name else handle,
                "value": handle,
                "aliases": [name] if name else [],
                "count": None,
            }
            for handle, name in rows
        ]
    if kind == "transform":
        t = schema.transforms
        stmt = select(t.c.name).where(t.c.is_latest.is_(True)).order_by(t.c.name).limit(500)
        names = read(lambda s: list(s.execute(stmt).scalars()), what="listing transforms")
        return [{"label": n, "value": n, "aliases": [], "count": None} for n in names]
    if kind == "storage":
        return [{"label": r, "value": r, "aliases": [], "count": None} for r in storage_roots()]
    return []


def fingerprint(registry: str, lookups: Lookups, search: str, trash: bool) -> object:
    """Changes whenever the registry's rows change: added (the highest id), edited or
    published (the latest time stamps), trashed, restored or deleted (the count by
    visibility). Independent of the table's search and filters, so that it costs a few index
    lookups however expensive the search (any change re-runs the table's query)."""
    from labshelf.registry import registry_of  # deferred: SQLAlchemy and the models
    from labshelf.session import read
    from sqlalchemy import func, select

    table = registry_of(registry).table
    # one statement of scalar subqueries, each a single step down an index
    parts = [
        select(func.max(table.c[c])).scalar_subquery()
        for c in ("id", "updated_at", "finished_at", "created_at")
        if c in table.c
    ]
    if "visibility" in table.c:
        for condition in (table.c.visibility >= 0, table.c.visibility == -1):
            parts.append(select(func.count()).where(condition).scalar_subquery())
    else:
        parts.append(select(func.count()).select_from(table).scalar_subquery())
    stmt = select(*parts)

    def probe(s: Any) -> object:
        return tuple(s.execute(stmt).one())

    return read(probe, what="checking for changes")


# -- instance ------------------------------------------------------------------------------
def instance_configured() -> bool:
    """Whether an instance is set up (cheap: reads one small file, opens no database)."""
    if os.environ.get("LABSHELF_INSTANCE"):
        return True
    try:
        return bool((config_dir() / "current_instance").read_text().strip())
    except OSError:
        return False


def instance_summary() -> dict[str, str]:
    """Name, database backend and default storage root of the current instance."""
    settings = ls.settings
    db = settings.db
    return {
        "name": settings.instance,
        "backend": "PostgreSQL" if db.startswith("postgresql") else "SQLite",
        "db": db,
        "storage": settings.storage.root,
    }


CHANGE_WAIT_S = 0.5  # how long one wait for a change lasts (how soon a cancel is noticed)
RECONNECT_S = 2.0  # between two tries to follow a database that went away


def follow_changes(changed: Callable[[], None], cancelled: Callable[[], bool]) -> None:
    """Call `changed()` whenever the current instance's database may have changed (another
    window, process or user wrote), until `cancelled()`: PostgreSQL's LISTEN/NOTIFY, SQLite's
    data_version (core's `ChangeFeed`). Runs for the window's lifetime on a worker of its own;
    after a lost connection it follows again (and calls `changed()`: it may have missed one)."""
    from labshelf.db import ChangeFeed  # deferred: SQLAlchemy

    feed = None
    while not cancelled():
        try:
            if feed is None:
                feed = ChangeFeed(current().url)
            if feed.wait(CHANGE_WAIT_S):
                changed()
        except LabshelfError:
            if feed is not None:
                feed.close()
                feed = None
                changed()
            deadline = time.monotonic() + RECONNECT_S
            while time.monotonic() < deadline and not cancelled():
                time.sleep(0.1)
    if feed is not None:
        feed.close()


def app_version() -> str:
    from labshelf.version import __version__

    return __version__


def current_instance_name() -> str:
    return str(ls.settings.instance)


def default_storage_root() -> str:
    return str(ls.settings.storage.root)


def open_instance(target: str) -> dict[str, str]:
    """Make the instance `target` (name, storage or URL) current; its summary."""
    ls.connect(target)
    return instance_summary()


def create_instance(storage: str, db: str | None, name: str | None) -> dict[str, str]:
    """Create an instance and make it current; its summary."""
    ls.init(storage, db=db or None, name=name or None)
    return instance_summary()


def create_demo_instance(name: str) -> dict[str, str]:
    """A local instance `name` under the user data dir holding the iris studies (the
    tutorial's runs, versions, a collection and lineage); its summary."""
    from labshelf.demo import load_demo  # deferred: writes and registers with SQLAlchemy

    root = data_dir() / "demo"
    ls.init(root / "storage", name=name)
    load_demo(root / "iris_studies")
    return instance_summary()


def configured_instances() -> list[tuple[str, str]]:
    """(name, storage) of every instance configured on this machine."""
    return [(c.name, c.storage) for c in all_configs()]


def check_bucket(url: str) -> None:
    """Raise `LabshelfError` saying why the bucket of `url` cannot be used."""
    from labshelf.storage.remote import check_bucket as check  # deferred: fsspec, s3fs/gcsfs

    check(url, {})


def read_cache_settings() -> dict[str, Any] | None:
    """The current instance's cache folder (effective and configured) and size cap; None
    when no instance is configured."""
    try:
        instance = current()
    except NotConnected:
        return None
    return {
        "name": instance.name,
        "cache_dir": instance.config.cache_dir or "",
        "effective": str(instance.cache_dir()),
        "cache_max_bytes": instance.config.cache_max_bytes,
    }


def write_cache_settings(cache_dir: str, cache_max_bytes: int | None) -> None:
    """Store the cache folder and cap in the current instance's settings file."""
    config = current().config
    config.cache_dir = cache_dir or None
    config.cache_max_bytes = cache_max_bytes
    config.write()


def thumbnail_folder(size: int) -> Path:
    return Path(ls.settings.cache_dir) / "thumbnails" / str(size)


# -- records -------------------------------------------------------------------------------
def record_details(name: str, uid: str, fields: Sequence[str]) -> dict[str, Any]:
    """The record's `fields`, its version family and describe() text, as plain data."""
    from labshelf.registry import registry_of  # deferred: SQLAlchemy and the models

    record = _get(name, uid)
    values = _registry(name).filter(uid=uid).values(*fields)
    details: dict[str, Any] = {"registry": name, "uid": uid, "fields": values[0] if values else {}}
    if registry_of(name).versioned:
        details["versions"] = record.versions.values("uid", "version", "is_latest", "created_at")
    details["describe"] = str(record.describe(print_it=False))
    return details


def record_summary(name: str, uid: str, fields: Sequence[str]) -> dict[str, Any]:
    """What the details panel shows of a record, as plain data: its `fields`, where it sits
    in its version family, who made it and with what (transform, run), the collections an
    artifact is in, counts that say what a run, transform, user or storage is about, and
    the describe() tree."""
    details = record_details(name, uid, fields)
    record = _get(name, uid)
    details["visibility"] = getattr(record, "visibility", 1)
    details["creator"] = _creator(record)
    details["made_by"] = _made_by(record)
    details["collections"] = _collections_of(record) if name == "Artifact" else []
    details["counts"] = _counts(name, record)
    return details


def _creator(record: Any) -> dict[str, Any] | None:
    user = getattr(record, "created_by", None)
    if user is None:
        return None
    return {"handle": user.handle, "name": user.name or "", "uid": user.uid}


def _made_by(record: Any) -> dict[str, Any] | None:
    """The transform and run that made a record (an artifact or collection), in words."""
    run = getattr(record, "run", None)
    transform = getattr(record, "transform", None) or (run.transform if run else None)
    if transform is None:
        return None
    made: dict[str, Any] = {
        "transform": transform.name,
        "transform_uid": transform.uid,
        "type": transform.type,
        "version": transform.version or "",
    }
    if run is not None:
        made.update(run_uid=run.uid, started_at=run.started_at, finished_at=run.finished_at)
    return made


def _collections_of(artifact: Any) -> list[dict[str, Any]]:
    from labshelf import schema  # deferred: SQLAlchemy and the models
    from labshelf.session import read
    from sqlalchemy import select

    ca, c = schema.collection_artifacts, schema.collections
    stmt = (
        select(c.c.uid, c.c.name, c.c.version, c.c.is_latest)
        .join(ca, ca.c.collection_id == c.c.id)
        .where(ca.c.artifact_id == artifact.id, c.c.visibility >= 0)
        .distinct()
        .order_by(c.c.name, c.c.uid)
        .limit(50)
    )
    rows = read(lambda s: s.execute(stmt).all(), what="listing collections")
    return [
        {"uid": u, "name": n, "version": v, "is_latest": bool(latest)} for u, n, v, latest in rows
    ]


def _counts(name: str, record: Any) -> dict[str, Any]:
    """A few counts that say what a record is about (and the first names, for runs)."""
    if name == "Collection":
        return {"members": record.artifacts.count()}
    if name == "Transform":
        latest = record.latest_run
        return {"runs": record.runs.count(), "latest_run": latest.started_at if latest else None}
    if name == "Run":
        inputs, outputs = record.inputs, record.outputs
        return {
            "inputs": inputs.count(),
            "outputs": outputs.count(),
            "input_keys": [a.key or a.uid for a in inputs[:5].all()],
            "output_keys": [a.key or a.uid for a in outputs[:5].all()],
            "transform": _made_by_run(record),
        }
    if name == "User":
        return {"artifacts": ls.Artifact.filter(created_by=record).count()}
    if name == "Storage":
        return {"artifacts": ls.Artifact.filter(storage=record).count()}
    return {}


def _made_by_run(run: Any) -> dict[str, Any] | None:
    transform = run.transform
    if transform is None:
        return None
    return {
        "transform": transform.name,
        "transform_uid": transform.uid,
        "type": transform.type,
        "version": transform.version or "",
    }


def record_id(name: str, uid: str) -> int | None:
    """The row id of a record, or None."""
    ids = _registry(name).filter(uid=uid).values_list("id", flat=True)
    return ids[0] if ids else None


def newest_artifact_uid() -> str | None:
    artifact = ls.Artifact.filter().order_by("-created_at").first()
    return None if artifact is None else str(artifact.uid)


def local_path(uid: str) -> Path:
    """A local path to the artifact's content (downloads cloud objects to the cache)."""
    return Path(ls.Artifact.get(uid).cache())


def artifact_path(uid: str) -> str:
    """Where the artifact is stored (local path or s3:// / gs:// URL)."""
    return str(ls.Artifact.get(uid).path)


def artifact_paths(uids: Sequence[str]) -> list[dict[str, str]]:
    """Key and storage URL of each artifact, in the order of `uids`."""
    found = {a.uid: a for a in ls.Artifact.filter(uid__in=list(uids))}
    return [
        {"uid": uid, "key": found[uid].key or "", "url": str(found[uid].path)}
        for uid in uids
        if uid in found
    ]


def read_only_copies(uids: Sequence[str], cancelled: Callable[[], bool] = bool) -> list[Path]:
    """Read-only local copies named after the keys (`Artifact.read_only_copy`), to open,
    reveal or drag out; cloud objects are downloaded to the cache first."""
    paths = []
    for uid in uids:
        if cancelled():
            break
        paths.append(ls.Artifact.get(uid).read_only_copy())
    return paths


def set_description(name: str, uid: str, text: str) -> str:
    """Store a record's description; the one it had before (for undo)."""
    record = _get(name, uid)
    before = record.description or ""
    record.description = text or None
    record.save()
    return before


def undo_after(name: str, uids: Sequence[str], what: str) -> None:
    """Reverse `what` ("trash" or "restore") of these records."""
    {"trash": restore, "restore": trash}[what](name, uids)


def trash(name: str, uids: Sequence[str]) -> None:
    for uid in uids:
        _get(name, uid).delete()


def restore(name: str, uids: Sequence[str]) -> None:
    for uid in uids:
        _get(name, uid).restore()


def delete_permanently(name: str, uids: Sequence[str]) -> None:
    for uid in uids:
        _get(name, uid).delete(permanent=True)


def new_version(uid: str, path: str) -> str:
    """Register `path` as the next version of the artifact; the new uid."""
    record = ls.Artifact(path, revises=ls.Artifact.get(uid))
    record.save()
    return str(record.uid)


def make_latest(name: str, uid: str) -> str:
    """Publish version `uid` (its content, or a collection's members) again as its family's
    new latest version; the new uid."""
    return str(_get(name, uid).make_latest().uid)


def discard_new_version(name: str, uid: str) -> None:
    """Undo a version made a moment ago (make-latest, new version from file): delete it
    permanently, so that its family's latest is the one before again."""
    record = _get(name, uid)
    if not record.is_latest:
        raise LabshelfError(
            f"Version {uid} is no longer the latest of its family (a newer one was saved), so "
            "it was kept; move it to the trash yourself if it should go."
        )
    record.delete(permanent=True)


def version_facts(name: str, uid: str) -> dict[str, Any]:
    """The version label of `uid` and of its family's latest (for a confirmation)."""
    record = _get(name, uid)
    latest = record.versions.filter(is_latest=True).first()
    return {
        "version": record.version or "",
        "latest": latest.version if latest is not None else "",
        "n_versions": record.versions.count(),
        "title": getattr(record, "key", None) or getattr(record, "name", None) or uid,
    }


def export_many(
    uids: Sequence[str],
    folder: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
    cancelled: Callable[[], bool] = bool,
) -> dict[str, Any]:
    """Copy the artifacts into `folder` keeping their key structure
    (`folder/plate/raw/A01.tif`); a name taken already gets ` (2)`, ` (3)`… rather than
    being overwritten. Returns the paths written and what could not be exported."""
    from labshelf.keys import safe_relative  # deferred with the rest of core's key rules

    written: list[str] = []
    failed: list[str] = []
    for done, uid in enumerate(uids):
        if cancelled():
            break
        record = ls.Artifact.get(uid)
        rel = record.key or f"{record.uid}{record.suffix or ''}"
        try:
            target = _free_name(Path(folder) / safe_relative(rel, "the export"))
            written.append(str(_copy_out(Path(record.cache()), target)))
        except (OSError, LabshelfError) as exc:
            failed.append(f"{rel}: {exc}")
        progress(done + 1, len(uids))
    return {
        "written": written,
        "failed": failed,
        "cancelled": len(written) + len(failed) < len(uids),
    }


def _free_name(target: Path) -> Path:
    """`target`, or `name (2).ext`, `name (3).ext`… if it is taken."""
    if not target.exists():
        return target
    stem, suffix = (target.stem, target.suffix) if target.suffix else (target.name, "")
    n = 2
    while (candidate := target.with_name(f"{stem} ({n}){suffix}")).exists():
        n += 1
    return candidate


def _copy_out(source: Path, target: Path) -> Path:
    """Copy a file or folder to `target` as ordinary, writable files (labshelf's stored and
    viewed copies are read-only; an export is the user's to edit)."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def copy(src: str, dst: str) -> str:
        shutil.copyfile(src, dst)
        shutil.copystat(src, dst)
        os.chmod(dst, 0o644)
        return dst

    if source.is_dir():
        shutil.copytree(source, target, copy_function=copy)
        for dirpath, _dirs, _files in os.walk(target):
            os.chmod(dirpath, 0o755)
    else:
        copy(str(source), str(target))
    return target


def lineage_dot(name: str, uid: str) -> tuple[str, str]:
    """The DOT text of the record's lineage graph (as `view_lineage` builds it) and the
    focal node's name."""
    graph = _get(name, uid).view_lineage(downstream=True)
    focal = next((str(n) for n in graph.nodes() if n.attr.get("uid") == uid or str(n) == uid), uid)
    return graph.string(), focal


# -- collections ---------------------------------------------------------------------------
MEMBER_FIELDS = ("uid", "key", "hash", "suffix", "size")


def collection_versions(uid: str) -> list[dict[str, Any]]:
    """The family of collection `uid`, oldest first, with member counts."""
    family = ls.Collection.get(uid).versions
    return [
        dict(row, n_members=ls.Collection.get(row["uid"]).artifacts.count())
        for row in family.values("uid", "name", "version", "is_latest", "created_at")
    ]


def collection_members(uid: str) -> list[dict[str, Any]]:
    """`MEMBER_FIELDS` of the collection's artifacts, in order."""
    return list(ls.Collection.get(uid).artifacts.values(*MEMBER_FIELDS))


def collection_names() -> list[tuple[str, str]]:
    """(name, uid) of the latest version of every collection."""
    rows = ls.Collection.filter(is_latest=True).order_by("name").values("name", "uid")
    return [(r["name"], r["uid"]) for r in rows]


def create_collection(uids: Sequence[str], name: str) -> str:
    artifacts = [ls.Artifact.get(uid) for uid in uids]
    collection = ls.Collection(artifacts, name=name)
    collection.save()
    return str(collection.uid)


def add_to_collection(collection_uid: str, uids: Sequence[str]) -> str:
    """A new version of the collection with `uids` appended (members already in it kept once)."""
    latest = ls.Collection.get(collection_uid)
    members = list(latest.artifacts)
    known = {a.uid for a in members}
    members += [ls.Artifact.get(uid) for uid in uids if uid not in known]
    collection = ls.Collection(members, name=latest.name, revises=latest)
    collection.save()
    return str(collection.uid)


# -- uploads -------------------------------------------------------------------------------
def storage_roots() -> list[str]:
    """The instance's storages, the default first."""
    default = ls.settings.storage.root
    roots = [r["root"] for r in ls.Storage.filter().order_by("created_at").values("root")]
    return [default, *[r for r in roots if r != default]]


def plan_upload(
    paths: Sequence[str],
    key_prefix: str | None,
    as_folder: bool,
    keys: Mapping[str, str] | None = None,
    skipped: list[Path] | None = None,
) -> list[dict[str, Any]]:
    """The items an upload of `paths` will have, as plain dicts (path, key, size, n_files,
    state, error), in the order the upload engine's progress refers to. `keys`: chosen keys
    by path; operating-system clutter is left out (and added to `skipped`, if given)."""
    from labshelf.transfer import plan  # deferred: the upload engine (SQLAlchemy)

    return planned_items(
        plan(
            list(paths),
            key_prefix or None,
            as_folder,
            # plan() only reads the mapping; str keys are among the paths it accepts
            keys=cast("Mapping[str | os.PathLike[Any], str] | None", keys),
            skipped=skipped,
        )
    )


def planned_items(items: Iterable[Any]) -> list[dict[str, Any]]:
    """`labshelf.transfer.UploadItem`s as the plain dicts `plan_upload` returns (what the
    upload worker sends the app as its plan: `ls.upload`'s `on_plan` gives it the items)."""
    return [
        {
            "path": str(i.path),
            "key": i.key,
            "size": i.size,
            "n_files": i.n_files,
            "state": i.state,
            "error": i.error,
        }
        for i in items
    ]


def count_rows_capped(
    registry: str, lookups: Lookups, search: str, order: Sequence[str], trash: bool
) -> tuple[int, bool]:
    """How many records match, and whether that is a lower bound (a search for a mistyped
    word looked for near misses among its best candidates only: "500+ — refine the search")."""
    return _queryset(registry, lookups, search, order, trash).count_capped()


# -- the import dialog's dry run -------------------------------------------------------------
DRY_RUN_BATCH = 500  # hashes or keys per query
DRY_RUN_REPORT_S = 0.2  # the dialog's rows and summary update this often
NAME_CANDIDATES = 10  # artifacts offered as the family of a dropped file with a known name

# What the dry run says of an item (`status` of its row).
CHECKING, NEW, VERSION, REGISTERED, IN_TRASH, UNREADABLE, SKIPPED = (
    "checking",
    "new",
    "version",
    "registered",
    "trash",
    "unreadable",
    "skipped",
)


def _next_versions(stems: Sequence[str]) -> dict[str, str]:
    """The version label the next member of each family gets ("3" after v1, v2)."""
    from labshelf.uids import SUFFIX_LEN, decode_index  # deferred with the models

    top: dict[str, int] = {}
    for start in range(0, len(stems), DRY_RUN_BATCH):
        rows = ls.Artifact.filter(
            stem_uid__in=list(stems[start : start + DRY_RUN_BATCH]), visibility__in=[-1, 0, 1]
        ).values("stem_uid", "uid")
        for row in rows:
            index = decode_index(row["uid"][-SUFFIX_LEN:])
            top[row["stem_uid"]] = max(top.get(row["stem_uid"], -1), index)
    return {stem: str(index + 2) for stem, index in top.items()}


def _families(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` (key, uid, version, stem_uid of latest artifacts) as families: key, uid, version
    and the next version's label."""
    following = _next_versions(sorted({r["stem_uid"] for r in rows}))
    return [
        {
            "key": r["key"],
            "uid": r["uid"],
            "version": r["version"] or "1",
            "next": following.get(r["stem_uid"], str(int(r["version"] or 1) + 1)),
        }
        for r in rows
    ]


FAMILY_FIELDS = ("key", "uid", "version", "stem_uid")


def families_by_key(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The latest visible artifact of each key that has one, as a family (see `_families`)."""
    found: list[dict[str, Any]] = []
    unique = sorted(set(keys))
    for start in range(0, len(unique), DRY_RUN_BATCH):
        found += ls.Artifact.filter(
            key__in=unique[start : start + DRY_RUN_BATCH], is_latest=True
        ).values(*FAMILY_FIELDS)
    return {f["key"]: f for f in _families(found)}


def families_named(name: str) -> list[dict[str, Any]]:
    """Latest artifacts whose key's file name is `name` ("plate/analysis/cell_counts.csv"
    for "cell_counts.csv"), newest first: the families a dropped file may continue."""
    rows = (
        ls.Artifact.filter(is_latest=True)
        .search(name)[: NAME_CANDIDATES * 3]
        .values(*FAMILY_FIELDS)
    )
    named = [r for r in rows if r["key"] and r["key"].rsplit("/", 1)[-1] == name]
    return _families(named[:NAME_CANDIDATES])


def _registered(hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """uid, key and visibility of the registered artifact of each hash (visible first)."""
    found: dict[str, dict[str, Any]] = {}
    rows = (
        ls.Artifact.filter(hash__in=list(hashes), visibility__in=[-1, 0, 1])
        .order_by("visibility")
        .values("hash", "uid", "key", "visibility")
    )
    for row in rows:  # ascending visibility: a visible or hidden record wins over the trash
        found[row["hash"]] = row
    return found


class _DryRun:
    """The rows of one dry run and what changed since the last report."""

    def __init__(self, report: Callable[[dict[str, Any]], None]) -> None:
        self.report = report
        self.rows: list[dict[str, Any]] = []
        self.changed: set[int] = set()
        self.summary: dict[str, int] = {}
        self.last = time.monotonic()

    def set(self, index: int, **fields: Any) -> None:
        self.rows[index].update(fields)
        self.changed.add(index)

    def count(self) -> None:
        items = [r for r in self.rows if r["status"] != SKIPPED]
        by_status: dict[str, int] = {}
        for row in self.rows:
            by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        self.summary = {
            "items": len(items),
            "files": sum(r["n_files"] for r in items),
            "bytes": sum(r["size"] for r in items),
            "hashed": sum(1 for r in items if r["status"] != CHECKING),
            "registered": by_status.get(REGISTERED, 0),
            "in_trash": by_status.get(IN_TRASH, 0),
            "new": by_status.get(NEW, 0),
            "versions": by_status.get(VERSION, 0),
            "unreadable": by_status.get(UNREADABLE, 0),
            "skipped": by_status.get(SKIPPED, 0),
        }

    def send(self, first: bool = False) -> None:
        self.count()
        indices = range(len(self.rows)) if first else sorted(self.changed)
        self.report(
            {
                "summary": dict(self.summary),
                "rows": {i: dict(self.rows[i]) for i in indices},
                "total": len(self.rows),
            }
        )
        self.changed.clear()
        self.last = time.monotonic()


def _status_by_key(
    row: dict[str, Any], families: dict[str, dict[str, Any]], propose: bool
) -> dict[str, Any]:
    """A new item's status from its key: a new version of the family with that key, or, for
    a file dropped by itself, new with the families that have its file name as candidates
    (`propose`: when there is one, its next version is proposed)."""
    family = families.get(row["key"] or "")
    if family is not None:
        return {"status": VERSION, "family": family, "candidates": [family]}
    name = Path(row["path"]).name
    top_file = row["top"] and "." in name and row["n_files"] == 1
    candidates = families_named(name) if top_file else []
    if propose and len(candidates) == 1:  # one family has this file name: its next version
        return {
            "status": VERSION,
            "family": candidates[0],
            "candidates": candidates,
            "key": candidates[0]["key"],
            "proposed": True,
        }
    return {"status": NEW, "family": None, "candidates": candidates}


def dry_run(
    paths: Sequence[str],
    key_prefix: str | None,
    as_folder: bool,
    report: Callable[[dict[str, Any]], None],
    cancelled: Callable[[], bool],
    keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What an upload of `paths` would do, item by item: hash each item and say whether it
    is registered already (uid), a new version of an artifact with its key (or of the one
    artifact with its file name, for a file dropped by itself and not given a key in `keys`),
    new, unreadable, or clutter that is skipped. `report({"summary", "rows", "total"})` gets
    every row first, then the
    rows that changed, a few times a second; `cancelled()` stops early. Returns the last
    report (every row)."""
    from labshelf.artifact import describe_source  # deferred: hashing and SQLAlchemy

    skipped: list[Path] = []
    run = _DryRun(report)
    planned = plan_upload(paths, key_prefix, as_folder, keys=keys, skipped=skipped)
    dropped = {os.path.abspath(p) for p in paths}
    chosen = {os.path.abspath(p) for p in keys or {}}  # the user's choice stands
    for item in planned:
        failed = item["state"] == "failed"
        run.rows.append(
            dict(
                item,
                default_key=item["key"],
                status=UNREADABLE if failed else CHECKING,
                top=item["path"] in dropped,
                chosen=item["path"] in chosen,
                uid=None,
                family=None,
                candidates=[],
            )
        )
    for path in skipped:
        run.rows.append(
            {"path": str(path), "key": None, "default_key": None, "size": 0, "n_files": 0}
            | {"status": SKIPPED, "error": "operating-system clutter", "top": False}
            | {"uid": None, "family": None, "candidates": []}
        )
    families = families_by_key([r["key"] for r in run.rows if r["key"]])
    run.send(first=True)
    batch: list[tuple[int, str]] = []  # (row, hash) not yet looked up: one query per batch

    def look_up() -> None:
        known = _registered([h for _, h in batch]) if batch else {}
        for index, hash_ in batch:
            row, found = run.rows[index], known.get(hash_)
            if found is not None:
                trashed = found["visibility"] < 0
                run.set(index, status=IN_TRASH if trashed else REGISTERED, uid=found["uid"])
                run.rows[index]["registered_key"] = found["key"]
            else:
                run.set(index, **_status_by_key(row, families, row["path"] not in chosen))
        batch.clear()

    for index, row in enumerate(run.rows):
        if cancelled():
            return {"summary": run.summary, "rows": dict(enumerate(run.rows))}
        if row["status"] != CHECKING:
            continue
        try:
            batch.append((index, describe_source(row["path"], skip_junk=True)["hash"]))
        except LabshelfError as exc:
            run.set(index, status=UNREADABLE, error=str(exc))
        if len(batch) >= DRY_RUN_BATCH or time.monotonic() - run.last > DRY_RUN_REPORT_S:
            look_up()
            run.send()
    look_up()
    run.send()
    run.count()
    return {"summary": run.summary, "rows": dict(enumerate(run.rows)), "total": len(run.rows)}


def key_family(key: str) -> dict[str, Any] | None:
    """The family a new item under `key` would continue (the import dialog's key edits), or
    None; `InvalidArgument` if `key` cannot be a key."""
    from labshelf.keys import validate_key  # deferred with the models

    key = validate_key(key)
    return families_by_key([key]).get(key)


# -- labels and features (issue 17) -------------------------------------------------------
# Plain data for the details panel (label chips, feature table), bulk "Label selected…" /
# "Set feature…", the sidebar's label tree, feature columns, filter chips and the import
# dialog's "Read metadata from meta.csv". Registries are named by class ("Artifact",
# "Collection"); records by uid. Every write is one transaction and returns what it changed,
# so that the app can undo it.
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".xlsx", ".parquet")
TABLE_SCAN_MAX_BYTES = 20 * 1024 * 1024  # larger tables in a drop are not read for an offer


def _key(registry: str) -> str:
    return registry.lower()


def _ids(registry: str, uids: Sequence[str]) -> dict[int, str]:
    """{row id: uid} of the records `uids` (trashed ones included)."""
    rows = _registry(registry).filter(uid__in=list(uids)).values("id", "uid")
    return {r["id"]: r["uid"] for r in rows}


def _actor(run_uid: str | None) -> Any:
    from labshelf.labels import actor  # deferred: SQLAlchemy

    return actor(ls.Run.get(run_uid) if run_uid else None)


def label_tree(registry: str = "Artifact") -> list[dict[str, Any]]:
    """Every label as a tree of types, each node `{"uid", "name", "is_type", "description",
    "count", "children"}` with `count` the records of `registry` carrying it (trash excluded;
    a type counts the records carrying any of its labels), sorted by name."""
    from labshelf.labels import label_tree as tree  # deferred: SQLAlchemy

    return tree(_key(registry))


def search_labels(text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Labels whose name contains `text` (for autocomplete), best first: `{"uid", "name",
    "type", "is_type"}` (`type`: the type's name or None)."""
    rows = ls.ULabel.search(text)[:limit].values("uid", "name", "type__name", "is_type")
    return [
        {"uid": r["uid"], "name": r["name"], "type": r["type__name"], "is_type": r["is_type"]}
        for r in rows
    ]


def record_annotations(registry: str, uid: str) -> dict[str, Any]:
    """A record's labels and feature values:
    `{"labels": [{"uid", "name", "type", "feature"}], "features": [{"feature", "dtype",
    "unit", "value", "text", "labels": [{"uid", "name"}]}]}`; `labels` lists plain labels and
    the labels that are feature values (`feature` names the feature, else None); `value` is
    the typed value (a label name, or a list of names, for a categorical feature) and `text`
    how it reads, with its unit."""
    from labshelf.features import as_text, values_of  # deferred: SQLAlchemy
    from labshelf.labels import labels_of

    record = _get(registry, uid)
    key = _key(registry)
    detail = values_of(key, [record.id], detailed=True)[record.id]
    features = []
    for name in sorted(detail):
        entry = detail[name]
        value = entry["value"]
        text = ", ".join(map(as_text, value)) if isinstance(value, list) else as_text(value)
        features.append(
            {
                "feature": name,
                "dtype": entry["dtype"],
                "unit": entry["unit"],
                "value": value,
                "text": f"{text} {entry['unit']}" if entry["unit"] else text,
                "labels": entry["labels"],
            }
        )
    return {"labels": labels_of(key, [record.id])[record.id], "features": features}


def annotation_history(registry: str, uid: str) -> list[dict[str, Any]]:
    """Who added or removed which label or value, when and in which run (oldest first):
    `{"action" ("add", "remove", "inherit"), "feature", "value", "user", "at", "run"}`."""
    from labshelf.features import history_of  # deferred: SQLAlchemy

    return history_of(_key(registry), _get(registry, uid).id)


def add_labels(
    registry: str,
    uids: Sequence[str],
    labels: Sequence[str],
    type_name: str | None = None,
    run_uid: str | None = None,
) -> list[tuple[str, str]]:
    """Put labels on many records in one transaction. `labels` are label uids or names (a
    name is the one label of that name — of type `type_name` if given — created when there is
    none; several of that name are refused, naming them). Returns the (record uid, label uid)
    pairs added (pairs present already are not), which `remove_label_links` undoes."""
    from labshelf.labels import add_labels as add  # deferred: SQLAlchemy
    from labshelf.labels import label_by_name

    by_uid = {x.uid: x for x in ls.ULabel.filter(uid__in=list(labels))}
    found = [by_uid.get(x) or label_by_name(x, type=type_name) for x in labels]
    ids = _ids(registry, uids)
    made = add(_key(registry), list(ids), found, _actor(run_uid))
    label_uids = {x.id: x.uid for x in found}
    return [(ids[r], label_uids[lab]) for r, lab in made]


def remove_labels(
    registry: str, uids: Sequence[str], label_uids: Sequence[str], run_uid: str | None = None
) -> list[tuple[str, str, str | None]]:
    """Take labels off many records in one transaction (also where they are a feature's
    value). Returns the (record uid, label uid, feature name or None) links removed."""
    from labshelf.labels import remove_labels as remove  # deferred: SQLAlchemy

    found = list(ls.ULabel.filter(uid__in=list(label_uids)))
    ids = _ids(registry, uids)
    removed = remove(_key(registry), list(ids), found, _actor(run_uid))
    return _named_links(ids, removed)


def _named_links(
    ids: dict[int, str], links: list[tuple[int, int, int | None]]
) -> list[tuple[str, str, str | None]]:
    label_uids = {
        r["id"]: r["uid"]
        for r in ls.ULabel.filter(id__in=[lab for _, lab, _ in links]).values("id", "uid")
    }
    features = {
        r["id"]: r["name"]
        for r in ls.Feature.filter(id__in=[f for _, _, f in links if f]).values("id", "name")
    }
    return [(ids[r], label_uids[lab], features.get(f) if f else None) for r, lab, f in links]


def remove_label_links(
    registry: str, links: Sequence[tuple[str, str]], run_uid: str | None = None
) -> int:
    """Undo `add_labels`: remove exactly these (record uid, label uid) plain links, in one
    transaction; the number removed."""
    from labshelf.labels import remove_labels as remove  # deferred: SQLAlchemy

    by_label: dict[str, list[str]] = {}
    for record_uid, label_uid in links:
        by_label.setdefault(label_uid, []).append(record_uid)
    removed = 0
    for label_uid, record_uids in by_label.items():
        label = ls.ULabel.get(label_uid)
        removed += len(
            remove(_key(registry), list(_ids(registry, record_uids)), [label], _actor(run_uid))
        )
    return removed


def set_feature(
    registry: str,
    uids: Sequence[str],
    feature: str,
    value: Any,
    run_uid: str | None = None,
) -> dict[str, Any]:
    """Give many records the same value of `feature` in one transaction (a categorical
    feature's labels replace its old ones; `value` may be text, as typed, or a typed value; a
    list for several labels). Refused as a whole, with one sentence naming feature, value and
    dtype, when the value does not fit. Returns the previous values, `{record uid: value or
    None}`, for an undo (`restore_feature`)."""
    from labshelf.features import Planner, values_of, write_values  # deferred: SQLAlchemy

    planned = Planner().plan({feature: value})
    ids = _ids(registry, uids)
    before = values_of(_key(registry), list(ids), [feature])
    write_values(_key(registry), list(ids), planned, _actor(run_uid), replace=True)
    return {ids[i]: before[i].get(feature) for i in ids}


def restore_feature(
    registry: str, feature: str, previous: Mapping[str, Any], run_uid: str | None = None
) -> None:
    """Undo `set_feature`: give each record its previous value back (None: none)."""
    from labshelf.features import Planner, remove_values, write_many  # deferred: SQLAlchemy

    by_uid = {uid: i for i, uid in _ids(registry, list(previous)).items()}
    planner = Planner()
    planned = {by_uid[u]: [planner.one(feature, v)] for u, v in previous.items() if v is not None}
    empty = [by_uid[u] for u, v in previous.items() if v is None and u in by_uid]
    write_many(_key(registry), planned, _actor(run_uid), replace=True)
    if empty:
        remove_values(_key(registry), empty, feature)


def remove_feature(
    registry: str, uids: Sequence[str], feature: str, run_uid: str | None = None
) -> int:
    """Remove the values of `feature` from many records in one transaction; how many."""
    from labshelf.features import remove_values  # deferred: SQLAlchemy

    ids = _ids(registry, uids)
    return remove_values(
        _key(registry), list(ids), feature, run=ls.Run.get(run_uid) if run_uid else None
    )


def feature_list(registry: str = "Artifact") -> list[dict[str, Any]]:
    """The features, for the column chooser and the feature editors: `{"uid", "name",
    "dtype", "unit", "description", "count"}` (`count`: records of `registry` holding a
    value), sorted by name."""
    from labshelf.features import feature_usage  # deferred: SQLAlchemy

    rows = (
        ls.Feature.filter()
        .order_by("name")
        .values("id", "uid", "name", "dtype", "unit", "description")
    )
    for row in rows:
        row["count"] = feature_usage(row.pop("id"))[_key(registry)]
    return rows


def feature_values(
    registry: str, ids: Sequence[int], names: Sequence[str]
) -> dict[int, dict[str, str]]:
    """The feature columns `names` of the rows `ids` (a table page), as display text with the
    unit: `{id: {name: text}}` (a missing value is absent)."""
    from labshelf.features import as_text, values_of  # deferred: SQLAlchemy

    out: dict[int, dict[str, str]] = {}
    for row_id, values in values_of(_key(registry), list(ids), list(names), detailed=True).items():
        cells = {}
        for name, entry in values.items():
            value = entry["value"]
            text = ", ".join(map(as_text, value)) if isinstance(value, list) else as_text(value)
            cells[name] = f"{text} {entry['unit']}" if entry["unit"] else text
        out[row_id] = cells
    return out


def label_lookups(label_uids: Sequence[str]) -> dict[str, Any]:
    """Lookups for a label chip or a click in the label tree (merge them into the table's
    lookups): records carrying any of these labels; for a type, any label of that type."""
    rows = ls.ULabel.filter(uid__in=list(label_uids)).values("uid", "is_type")
    types = [r["uid"] for r in rows if r["is_type"]]
    plain = [r["uid"] for r in rows if not r["is_type"]]
    lookups: dict[str, Any] = {}
    if plain:
        lookups["ulabels__uid__in"] = plain
    if types:
        lookups["ulabels__type__uid__in"] = types
    return lookups


def feature_lookup(registry: str, feature: str, op: str, text: str) -> dict[str, Any]:
    """The lookup of a feature condition chip (`temperature`, `gte`, `"30"` ->
    `{"temperature__gte": "30"}`), checked now: a bad feature, operator or value raises
    `LabshelfError` with one sentence. `in` and `range` take comma-separated values; `isnull`
    takes yes/no."""
    key = feature if op in ("", "exact") else f"{feature}__{op}"
    value: Any = text
    if op in ("in", "range"):
        value = [v.strip() for v in text.split(",")]
    elif op == "isnull":
        value = text.strip().lower() in ("1", "true", "yes")
    _registry(registry).filter(**{key: value})  # compiles the lookup: refuses what is wrong
    return {key: value}


def find_metadata_tables(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Tables in dropped folders whose column matches the dropped files' names, for the import
    dialog's "Read metadata from …" offer: `{"table" (path), "column", "matches", "rows"}`,
    most matches first (reads tables of at most `TABLE_SCAN_MAX_BYTES`)."""
    from labshelf.annotation import read_table  # deferred: pandas

    files = _dropped_files(paths)
    names = {Path(f).name for f in files} | set(files)
    offers = []
    for folder in (Path(p) for p in paths):
        if not folder.is_dir():
            continue
        for table in sorted(folder.rglob("*")):
            if table.suffix.lower() not in TABLE_SUFFIXES or not table.is_file():
                continue
            if table.stat().st_size > TABLE_SCAN_MAX_BYTES:
                continue
            try:
                frame, _ = read_table(table)
            except LabshelfError:
                continue
            best = max(
                (
                    (c, sum(1 for v in frame[c].astype(str) if v.strip() in names))
                    for c in frame.columns
                ),
                key=lambda pair: pair[1],
                default=("", 0),
            )
            if best[1]:
                offers.append(
                    {"table": str(table), "column": best[0], "matches": best[1], "rows": len(frame)}
                )
    return sorted(offers, key=lambda o: -o["matches"])


def _dropped_files(paths: Sequence[str]) -> list[str]:
    """Every file of a drop, relative to the folder it was dropped from (as keys end)."""
    out = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += [
                f.relative_to(path.parent).as_posix()
                for f in sorted(path.rglob("*"))
                if f.is_file()
            ]
        elif path.is_file():
            out.append(path.name)
    return out


def preview_metadata(
    table: str, paths: Sequence[str], on: str = "file", dtypes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The dry run of reading `table` for the files of a drop (before they are registered):
    `labshelf.annotation.AnnotateReport.as_dict()`, where artifacts are named by their paths
    relative to the dropped folder; its `matched`/`unmatched` lengths are the dialog's counts."""
    from labshelf.annotation import preview  # deferred: pandas and SQLAlchemy

    return preview(table, _dropped_files(paths), on=on, dtypes=dtypes).as_dict()


def latest_uids_of_keys(keys: Sequence[str]) -> list[str]:
    """The uids of the latest artifacts with these keys (a finished drop's items, to read
    its metadata table for), trash excluded."""
    rows = ls.Artifact.filter(key__in=list(keys), is_latest=True).values("uid")
    return [r["uid"] for r in rows]


def annotate_uploaded(
    uids: Sequence[str],
    table: str,
    on: str = "file",
    run_uid: str | None = None,
    dtypes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read `table` for the artifacts `uids` (a finished drop) and write their labels and
    values in one transaction, as part of the run `run_uid`; the report as plain data."""
    artifacts = ls.Artifact.filter(uid__in=list(uids))
    run = ls.Run.get(run_uid) if run_uid else None
    return ls.annotate(artifacts, table, on=on, dtypes=dtypes, run=run).as_dict()


# -- watch folders -------------------------------------------------------------------------
# Watchers (labshelf.watch) by the id the app knows them by. A watch is driven through these
# functions only; its events reach `on_event` as plain dicts (WatchEvent.as_dict() plus
# "text", the line the command line prints), called from the watcher's own thread.
_watchers: dict[int, Any] = {}
_watch_ids = iter(range(1, 1 << 62))
_watch_lock = threading.Lock()


def host_name() -> str:
    """This machine's name (a watch's default instrument name says where it runs)."""
    import socket

    return socket.gethostname()


def _watch_options(options: Mapping[str, Any]) -> Any:
    from labshelf.watch import WatchOptions  # deferred: watchdog and the upload engine

    return WatchOptions(
        folder=Path(options["folder"]),
        instrument=str(options["instrument"]),
        key_prefix=options.get("key_prefix") or None,
        unit=str(options.get("unit", "file")),
        settle=float(options.get("settle", 10.0)),
        marker=options.get("marker") or None,
        include=tuple(options.get("include", ())),
        exclude=tuple(options.get("exclude", ())),
        collection=options.get("collection") or None,
    )


def check_watch(options: Mapping[str, Any]) -> None:
    """Raise a LabshelfError (one sentence) if a watch with these options cannot start:
    a missing folder, a bad key prefix, a marker without folder units, … (reads the disk)."""
    from labshelf.watch import Watcher  # deferred: the upload engine (SQLAlchemy)

    folder = Path(options["folder"]).expanduser()
    if not folder.is_dir():
        raise InvalidArgument(f"The folder {folder} does not exist or is no folder.")
    Watcher(_watch_options(options))  # checks the options; starts nothing


def start_watch(options: Mapping[str, Any], on_event: Callable[[dict[str, Any]], None]) -> int:
    """Start watching (records the instrument's transform and the session's run, starts the
    watcher's thread); the watch's id. Raises a LabshelfError if it cannot start, and then
    nothing was started."""
    from labshelf.watch import Watcher  # deferred: the upload engine (SQLAlchemy)

    with _watch_lock:
        watch_id = next(_watch_ids)

    def relay(event: Any) -> None:
        on_event({**event.as_dict(), "text": str(event)})

    watcher = Watcher(_watch_options(options), on_event=relay)
    watcher.start()
    with _watch_lock:
        _watchers[watch_id] = watcher
    return watch_id


def _watcher(watch_id: int) -> Any:
    with _watch_lock:
        watcher = _watchers.get(watch_id)
    if watcher is None:
        raise InvalidArgument("That watch has stopped; start it again to resume it.")
    return watcher


def pause_watch(watch_id: int) -> None:
    """Register nothing until resumed (arrivals are still noted)."""
    _watcher(watch_id).pause()


def resume_watch(watch_id: int) -> None:
    _watcher(watch_id).resume()


def stop_watch(watch_id: int, timeout: float | None = 30.0) -> bool:
    """End the watch (its state is written, its run finished; the next start catches up);
    whether its thread has ended within `timeout` (0: only ask it to stop)."""
    with _watch_lock:
        watcher = _watchers.get(watch_id)
    if watcher is None:  # stopped and waited for already
        return True
    watcher.stop(timeout)
    ended = not watcher.running
    if ended:
        with _watch_lock:
            _watchers.pop(watch_id, None)
    return ended


def wait_watch(watch_id: int, timeout: float | None) -> bool:
    """Wait for a stopped watch's thread to end; whether it has."""
    with _watch_lock:
        watcher = _watchers.get(watch_id)
    if watcher is None or watcher.wait(timeout):
        with _watch_lock:
            _watchers.pop(watch_id, None)
        return True
    return False
