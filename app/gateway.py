"""The app's only door to core. Everything here runs on worker threads and returns plain data
(dicts, tuples, paths, DOT text): ORM records never leave the thread that loaded them.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import labshelf as ls
from labshelf.app.data.registries import BY_NAME
from labshelf.app.browser.table_model import TableQuery

TRASH = -1
DETAIL_FIELDS = {
    "Artifact": (
        "uid",
        "key",
        "description",
        "suffix",
        "size",
        "hash",
        "hash_type",
        "n_objects",
        "n_observations",
        "version",
        "is_latest",
        "visibility",
        "key_is_virtual",
        "storage__root",
        "transform__name",
        "transform__type",
        "run__uid",
        "created_by__handle",
        "created_at",
        "updated_at",
    ),
    "Collection": (
        "uid",
        "name",
        "description",
        "hash",
        "version",
        "is_latest",
        "visibility",
        "reference",
        "transform__name",
        "run__uid",
        "created_by__handle",
        "created_at",
    ),
    "Transform": (
        "uid",
        "name",
        "key",
        "type",
        "version",
        "is_latest",
        "description",
        "hash",
        "reference",
        "created_by__handle",
        "created_at",
    ),
    "Run": (
        "uid",
        "transform__name",
        "transform__type",
        "started_at",
        "finished_at",
        "is_consecutive",
        "reference",
        "created_by__handle",
        "created_at",
    ),
    "User": ("uid", "handle", "name", "created_at"),
    "Storage": ("uid", "root", "type", "region", "description", "created_by__handle", "created_at"),
}


_import_lock = threading.Lock()


def import_core() -> None:
    """Import core's database layer and Pillow, one thread at a time. Worker threads importing
    SQLAlchemy at once can be handed a partly initialised module; the UI thread never imports
    them, so the window paints before they are loaded."""
    with _import_lock:
        import labshelf.context
        import labshelf.query  # noqa: F401
        import PIL.Image  # noqa: F401


def release_thread_session() -> None:
    """Free the records this worker thread holds before it takes the next task."""
    from labshelf.context import release_session
    from labshelf.instance import is_configured

    if is_configured():
        release_session()


def registry(name: str) -> Any:
    return getattr(ls, name)


# -- tables ------------------------------------------------------------------------------
class CoreRowSource:
    """Rows of the current instance through core's QuerySet (filter, search, order in SQL)."""

    def _queryset(self, query: TableQuery) -> Any:
        lookups = dict(query.filters)
        if query.trash:
            lookups["visibility"] = TRASH
        qs = registry(query.registry).filter(**lookups)
        if query.search:
            qs = qs.search(query.search)
            return qs.order_by(*query.order) if query.order else qs
        return qs.order_by(*(query.order or ("-created_at",)))

    def count(self, query: TableQuery) -> int:
        return self._queryset(query).count()

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[dict]:
        ids = self._page_ids(query, offset, limit)
        if not ids:
            return []
        fields = BY_NAME[query.registry].fields
        # A lookup by id also finds rows trashed meanwhile: they keep their text until reload.
        rows = registry(query.registry).filter(id__in=ids).values("id", *fields)
        by_id = {row["id"]: row for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def _page_ids(self, query: TableQuery, offset: int, limit: int) -> list[int]:
        # Only ids: the query's own SQL (filters, search rank, order) with LIMIT/OFFSET, and no
        # ORM objects to build (pure Python time the UI thread would wait for).
        from labshelf.context import read
        from labshelf.instance import current

        qs = self._queryset(query)
        stmt = qs.statement([qs.model.id], current().dialect).limit(limit).offset(offset)
        return read(lambda s: list(s.execute(stmt).scalars()), what="reading a page")

    def fingerprint(self, query: TableQuery) -> object:
        """Changes when rows are added, removed or edited (cheap: a count and two rows)."""
        qs = self._queryset(query)
        stamp = (
            "updated_at"
            if query.registry in ("Artifact", "Collection", "Transform")
            else "created_at"
        )
        newest_id = qs.order_by("-id").first()
        newest_edit = registry(query.registry).filter(id__gte=0).order_by(f"-{stamp}").first()
        return (
            qs.count(),
            newest_id.id if newest_id else None,
            getattr(newest_edit, stamp, None),
        )


# -- instance ----------------------------------------------------------------------------
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


def open_instance(target: str) -> dict[str, str]:
    ls.connect(target)
    return instance_summary()


def create_instance(storage: str, db: str | None, name: str | None) -> dict[str, str]:
    ls.init(storage, db=db or None, name=name or None)
    return instance_summary()


def thumbnail_folder(size: int) -> Path:
    return Path(ls.settings.cache_dir) / "thumbnails" / str(size)


# -- records -----------------------------------------------------------------------------
def _get(name: str, uid: str) -> Any:
    return registry(name).get(uid)


def record_details(name: str, uid: str) -> dict[str, Any]:
    """The record's fields, its version family and describe() text, as plain data."""
    record = _get(name, uid)
    values = registry(name).filter(uid=uid).values(*DETAIL_FIELDS[name])
    details: dict[str, Any] = {"registry": name, "uid": uid, "fields": values[0] if values else {}}
    if hasattr(record, "versions"):
        details["versions"] = record.versions.values("uid", "version", "is_latest", "created_at")
    details["describe"] = str(record.describe(print_it=False))
    return details


def record_id(name: str, uid: str) -> int | None:
    """The row id of a record, or None."""
    ids = registry(name).filter(uid=uid).values_list("id", flat=True)
    return ids[0] if ids else None


def local_path(uid: str) -> Path:
    """A local path to the artifact's content (downloads cloud objects to the cache)."""
    return Path(ls.Artifact.get(uid).cache())


def is_local(uid: str) -> bool:
    return not str(ls.Artifact.get(uid).path).startswith(("s3://", "gs://"))


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
    return record.uid


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


def export_csv(query: TableQuery, path: str) -> int:
    """Write every row of the table query as CSV; the row count."""
    import csv

    source = CoreRowSource()
    fields = BY_NAME[query.registry].fields
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        while rows := source.fetch_page(query, written, 1000):
            writer.writerows([row.get(f) for f in fields] for row in rows)
            written += len(rows)
    return written


def lineage_dot(name: str, uid: str) -> tuple[str, str]:
    """The DOT text of the record's lineage graph (as `view_lineage` builds it) and the
    focal node's name."""
    graph = _get(name, uid).view_lineage(downstream=True)
    focal = next((str(n) for n in graph.nodes() if n.attr.get("uid") == uid or str(n) == uid), uid)
    return graph.string(), focal


# -- collections -------------------------------------------------------------------------
MEMBER_FIELDS = ("uid", "key", "hash", "suffix", "size")


def collection_versions(uid: str) -> list[dict[str, Any]]:
    """The family of collection `uid`, oldest first, with member counts."""
    family = ls.Collection.get(uid).versions
    return [
        dict(row, n_members=ls.Collection.get(row["uid"]).artifacts.count())
        for row in family.values("uid", "name", "version", "is_latest", "created_at")
    ]


def collection_members(uid: str) -> list[dict[str, Any]]:
    return ls.Collection.get(uid).artifacts.values(*MEMBER_FIELDS)


def collection_names() -> list[tuple[str, str]]:
    """(name, uid) of the latest version of every collection."""
    rows = ls.Collection.filter(is_latest=True).order_by("name").values("name", "uid")
    return [(r["name"], r["uid"]) for r in rows]


def create_collection(uids: Sequence[str], name: str) -> str:
    artifacts = [ls.Artifact.get(uid) for uid in uids]
    collection = ls.Collection(artifacts, name=name)
    collection.save()
    return collection.uid


def add_to_collection(collection_uid: str, uids: Sequence[str]) -> str:
    """A new version of the collection with `uids` appended (members already in it kept once)."""
    current = ls.Collection.get(collection_uid)
    members = list(current.artifacts)
    known = {a.uid for a in members}
    members += [ls.Artifact.get(uid) for uid in uids if uid not in known]
    collection = ls.Collection(members, name=current.name, revises=current)
    collection.save()
    return collection.uid


def artifact_path(uid: str) -> str:
    """Where the artifact is stored (local path or s3:// / gs:// URL)."""
    return str(ls.Artifact.get(uid).path)


def make_latest(uid: str) -> str:
    """Publish the content of version `uid` again as the family's new latest version."""
    return ls.Artifact.get(uid).make_latest().uid


# -- uploads (issue 6) ---------------------------------------------------------------------
def storage_roots() -> list[str]:
    """The instance's storages, the default first."""
    default = ls.settings.storage.root
    roots = [r["root"] for r in ls.Storage.filter().order_by("created_at").values("root")]
    return [default, *[r for r in roots if r != default]]


def dry_run(
    paths: Sequence[str], key_prefix: str | None, as_folder: bool, report: Any, cancelled: Any
) -> dict[str, int]:
    """Hash what an upload would store and count what is registered already; `report(summary)`
    gets the running totals, `cancelled()` stops early."""
    from labshelf.app.upload_worker import plan_upload
    from labshelf.artifact import describe_source

    items = plan_upload(paths, key_prefix, as_folder)
    summary = {
        "items": len(items),
        "files": sum(i["n_files"] for i in items),
        "bytes": sum(i["size"] for i in items),
        "hashed": 0,
        "registered": 0,
        "unreadable": sum(1 for i in items if i["state"] == "failed"),
    }
    report(dict(summary))
    batch: list[str] = []  # hashes not yet looked up: one query per batch, not per file
    last = time.monotonic()

    def look_up() -> None:
        if batch:
            known = {
                r["hash"]
                for r in ls.Artifact.filter(hash__in=batch, visibility__in=[0, 1]).values("hash")
            }
            summary["registered"] += sum(1 for h in batch if h in known)
            batch.clear()

    for item in items:
        if cancelled():
            break
        if item["state"] != "failed":
            batch.append(describe_source(item["path"])["hash"])
        summary["hashed"] += 1
        if len(batch) >= DRY_RUN_BATCH or time.monotonic() - last > DRY_RUN_REPORT_S:
            look_up()
            report(dict(summary))
            last = time.monotonic()
    look_up()
    report(dict(summary))
    return summary


DRY_RUN_BATCH = 500  # hashes per "already registered?" query
DRY_RUN_REPORT_S = 0.2  # the dialog's summary updates this often


def collection_choices() -> list[tuple[str, str]]:
    """(label, uid) of the latest version of each collection, for "new version of …"."""
    return [(f"{name} (new version)", uid) for name, uid in collection_names()]
