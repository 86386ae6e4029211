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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import labshelf as ls
from labshelf.config import all_configs, config_dir, data_dir
from labshelf.errors import LabshelfError, NotConnected
from labshelf.filekinds import IMAGE_SUFFIXES, kind_of
from labshelf.humanize import human_size

__all__ = [
    "IMAGE_SUFFIXES",
    "LabshelfError",
    "NotConnected",
    "config_dir",
    "data_dir",
    "human_size",
    "kind_of",
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


def _queryset(
    registry: str, lookups: Lookups, search: str, order: Sequence[str], trash: bool
) -> Any:
    lookups = dict(lookups)
    if trash:
        from labshelf.models import TRASH  # deferred: SQLAlchemy

        lookups["visibility"] = TRASH
    qs = _registry(registry).filter(**lookups)
    if search:
        qs = qs.search(search)
        return qs.order_by(*order) if order else qs
    return qs.order_by(*(order or ("-created_at",)))


def count_rows(
    registry: str, lookups: Lookups, search: str, order: Sequence[str], trash: bool
) -> int:
    """How many records match (the same WHERE as the pages)."""
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


def fingerprint(registry: str, lookups: Lookups, search: str, trash: bool) -> object:
    """Changes when matching rows are added, removed or edited (cheap: a count and two rows)."""
    qs = _queryset(registry, lookups, search, (), trash)
    model = _registry(registry)
    stamp = "updated_at" if hasattr(model, "updated_at") else "created_at"
    newest_id = qs.order_by("-id").first()
    newest_edit = model.filter(id__gte=0).order_by(f"-{stamp}").first()
    return (
        qs.count(),
        newest_id.id if newest_id else None,
        getattr(newest_edit, stamp, None),
    )


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


def set_description(name: str, uid: str, text: str) -> None:
    record = _get(name, uid)
    record.description = text or None
    record.save()


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


def make_latest(uid: str) -> str:
    """Publish the content of version `uid` again as the family's new latest version."""
    return str(ls.Artifact.get(uid).make_latest().uid)


def export_to(uid: str, folder: str) -> Path:
    """Copy the artifact's content into `folder`; the path written."""
    record = ls.Artifact.get(uid)
    source = Path(record.cache())
    name = Path(record.key).name if record.key else f"{record.uid}{record.suffix}"
    target = Path(folder) / name
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)
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

    return [
        {
            "path": str(i.path),
            "key": i.key,
            "size": i.size,
            "n_files": i.n_files,
            "state": i.state,
            "error": i.error,
        }
        for i in plan(list(paths), key_prefix or None, as_folder, keys=keys, skipped=skipped)
    ]


def count_rows_capped(
    registry: str, lookups: Lookups, search: str, order: Sequence[str], trash: bool
) -> tuple[int, bool]:
    """How many records match, and whether that is a lower bound (a search for a mistyped
    word looked for near misses among its best candidates only: "500+ — refine the search")."""
    return _queryset(registry, lookups, search, order, trash).count_capped()  # type: ignore[no-any-return]


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
