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
    paths: Sequence[str], key_prefix: str | None, as_folder: bool
) -> list[dict[str, Any]]:
    """The items an upload of `paths` will have, as plain dicts (path, key, size, n_files,
    state, error), in the order the upload engine's progress refers to."""
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
        for i in plan(list(paths), key_prefix or None, as_folder)
    ]


DRY_RUN_BATCH = 500  # hashes per "already registered?" query
DRY_RUN_REPORT_S = 0.2  # the dialog's summary updates this often


def dry_run(
    paths: Sequence[str],
    key_prefix: str | None,
    as_folder: bool,
    report: Callable[[dict[str, int]], None],
    cancelled: Callable[[], bool],
) -> dict[str, int]:
    """Hash what an upload would store and count what is registered already; `report(summary)`
    gets the running totals, `cancelled()` stops early."""
    from labshelf.artifact import describe_source  # deferred: hashing and SQLAlchemy

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
