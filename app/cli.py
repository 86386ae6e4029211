"""The ``labshelf`` command line: instances, artifacts, queries, watch folders, the GUI.

Start-up is kept short: ``labshelf`` (core) is imported only inside the commands and is cheap
itself (SQLAlchemy loads on the first database access); Qt only by ``labshelf gui``; tqdm,
shtab and watchdog only by the commands that use them. Every failure ends as one line on
stderr (``labshelf: error: …``) and a distinct exit code; ``--debug`` adds the traceback.

Exit codes (one mapping, :data:`ERROR_EXITS`):

====  ==========================================================================
code  meaning
====  ==========================================================================
0     ok
1     error (anything not below; also ``doctor`` finding problems)
2     usage: a bad option, argument or value (argparse, ``ls.InvalidArgument``,
      an ambiguous uid prefix)
3     not found: no record with that uid, no such path, no instance set up
4     conflict: the same content is in the trash (``ls.IntegrityError``)
5     the storage or the database cannot be reached (``ls.StorageError``,
      ``ls.DatabaseError``)
130   interrupted (Ctrl+C)
====  ==========================================================================

``--json`` (every command that prints) writes one JSON document to stdout; ``watch --json``
writes one JSON object per line. Field names are stable:

==================  ==========================================================================
command             JSON
==================  ==========================================================================
info, init,         ``{"instance", "storage", "database" (password masked), "cache", "user",
connect             "counts": {"artifact", "collection", "transform", "run"},
                    "other_instances": [names]}``
ls                  ``[{…}]``: one object per record with the registry's ``df()`` columns
                    (``id`` first; times in ISO 8601)
describe            ``{"registry", …}``: the record's ``df()`` columns
save                ``{"run", "collection", "seconds", "counts": {state: n}, "items": [{"path",
                    "key", "state" (done, duplicate, failed, cancelled), "uid", "version",
                    "error", "error_type"}]}``
cache               ``{"uid", "path", "files", "bytes"}``
load                ``{"uid", "path"}``
delete              ``{"registry", "uid", "permanent"}``
demo                ``{"path", "collection", "table"}`` (uids; null without ``--load``)
migrate             ``{"instance", "revision", "up_to_date"}``
doctor              ``{"checked", "ok", "problems": [{"kind", "storage", "key", "uid",
                    "detail", "fixed"}]}``
label add, rm,      ``{"uid", "labels": [{"uid", "name", "type", "feature"}]}`` (the record's
ls UID              labels; ``feature`` names the feature a label is a value of)
label ls            ``[{"uid", "name", "is_type", "description", "count", "children": […]}]``
label new           ``[{"uid", "name", "type", "is_type"}]``
label delete        ``{"deleted": [uid, …]}``
feature set, rm,    ``{"uid", "features": {name: {"value", "dtype", "unit"}}}``
ls UID
feature ls          ``[{"uid", "name", "dtype", "unit", "description", "count"}]``
feature new         ``{"uid", "name", "dtype", "unit"}``
feature history     ``[{"action" (add, remove, inherit), "feature", "value", "user", "at", "run"}]``
annotate            ``{"table", "on", "rows", "dry_run", "annotated", "matched", "unmatched",
                    "without_row", "refused", "features", "skipped", "tables"}`` (see
                    ``labshelf.annotation.AnnotateReport``)
watch               one line per event: ``{"event", "time", "path", "key", "uid", "version",
                    "message", "count", "bytes", "catchup"}`` (absent fields left out; see
                    ``labshelf.watch.WatchEvent``)
==================  ==========================================================================

Progress (files and bytes done/total, rate, ETA) is drawn on stderr by tqdm for ``save``,
``cache``, ``doctor`` and the catch-up of ``watch`` when both stdout and stderr are terminals
and ``--quiet`` is not given; it is redrawn at most four times a second.

Commands that write (``save``, ``delete``, ``doctor --fix``, ``demo --load``, and ``label``,
``feature`` and ``annotate`` except their listings and dry runs) are recorded as a run of
``Transform(type="upload", key="labshelf-cli")`` with their arguments as params (passwords in
URLs masked). ``watch`` records its own run of the instrument's transform.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

REGISTRIES = ("artifact", "collection", "transform", "run", "user", "storage")
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "artifact": (
        "uid",
        "key",
        "description",
        "suffix",
        "size",
        "version",
        "is_latest",
        "created_at",
    ),
    "collection": ("uid", "name", "description", "version", "is_latest", "created_at"),
    "transform": ("uid", "name", "key", "type", "version", "is_latest", "created_at"),
    "run": (
        "uid",
        "transform__name",
        "transform__type",
        "started_at",
        "finished_at",
        "created_by__handle",
    ),
    "user": ("uid", "handle", "name", "created_at"),
    "storage": ("uid", "root", "type", "region", "created_at"),
}
CELL_WIDTH = 44
OK, FAILED, USAGE, NOT_FOUND, CONFLICT, UNREACHABLE, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
# error class name -> exit code; an error takes the code of the first class in its MRO listed
ERROR_EXITS: dict[str, int] = {
    "DoesNotExist": NOT_FOUND,
    "NotConnected": NOT_FOUND,
    "MultipleResultsFound": USAGE,
    "InvalidArgument": USAGE,
    "IntegrityError": CONFLICT,
    "StorageError": UNREACHABLE,
    "DatabaseError": UNREACHABLE,
}
CLI_TRANSFORM_KEY = "labshelf-cli"
PROGRESS_INTERVAL = 0.25  # seconds between progress redraws
COMPLETION_LIMIT = 50  # uids offered per registry


# ---------------------------------------------------------------- output helpers


def out(text: str = "") -> None:
    print(text, file=sys.stdout)


def out_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default), file=sys.stdout)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if column == "size":
        from labshelf.humanize import human_size

        return human_size(value)
    from labshelf.humanize import printable

    # a description may hold ESC or U+202E: shown as escapes, never sent raw to the terminal
    text = printable(str(value).replace("\n", " "))
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """Rows as left-aligned columns under a header."""
    header = [c.replace("__", ".") for c in columns]
    cells = [[_cell(row[c], c) for c in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    for line in [header, *cells]:
        out("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _json_safe(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """``text`` with the password of any URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def say_error(message: str) -> None:
    print(f"labshelf: error: {message}", file=sys.stderr)


# ---------------------------------------------------------------- exit codes


def exit_code_for(error: BaseException | str | None) -> int:
    """The exit code of an exception, or of an error class name (``UploadItem.error_type``)."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    names = [c.__name__ for c in type(error).__mro__] if isinstance(error, BaseException) else []
    if isinstance(error, str):
        names = _mro_names(error)
    return next((ERROR_EXITS[n] for n in names if n in ERROR_EXITS), FAILED)


def _mro_names(class_name: str) -> list[str]:
    """The MRO names of the labshelf error class called ``class_name`` ([name] if unknown)."""
    from labshelf.errors import LabshelfError

    todo, seen = [LabshelfError], {}
    while todo:
        cls = todo.pop()
        seen[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    found = seen.get(class_name)
    return [c.__name__ for c in found.__mro__] if found is not None else [class_name]


class CommandFailed(Exception):
    """A command that reported its failures itself and ends with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------- progress


def progress_wanted(args: argparse.Namespace) -> bool:
    """Progress is drawn on a terminal only: stdout and stderr both ttys, no ``--quiet``."""
    if getattr(args, "quiet", False):
        return False
    try:
        return sys.stderr.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """Files and bytes done/total, rate and ETA on stderr (tqdm), redrawn at most every
    ``PROGRESS_INTERVAL`` seconds; callable from any thread; does nothing when disabled.
    ``count_bytes=False`` counts files only (the bar's rate is then files per second)."""

    def __init__(
        self, description: str, enabled: bool, *, count_bytes: bool = True, file: Any = None
    ) -> None:
        self.count_bytes = count_bytes
        self._lock = threading.Lock()
        self._bar: Any = None
        self._last = 0.0
        self._latest: tuple[int, int, int, int] | None = None
        if enabled:
            from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

            self._bar = tqdm(
                desc=description,
                total=0,
                unit="B" if count_bytes else " files",
                unit_scale=count_bytes,
                unit_divisor=1024,
                mininterval=PROGRESS_INTERVAL,
                file=file or sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )

    def update(
        self,
        files_done: int,
        files_total: int,
        bytes_done: int = 0,
        bytes_total: int = 0,
        force: bool = False,
    ) -> None:
        if self._bar is None:
            return
        self._latest = (files_done, files_total, bytes_done, bytes_total)
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        with self._lock:
            self._last = now
            self._draw(*self._latest)

    def _draw(self, files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> None:
        bar = self._bar
        if bar is None:
            return
        done, total = (bytes_done, bytes_total) if self.count_bytes else (files_done, files_total)
        bar.total = max(total, done)
        if self.count_bytes:
            bar.set_postfix_str(f"{files_done}/{files_total} files", refresh=False)
        bar.update(done - bar.n)

    def write(self, text: str) -> None:
        """A line of output that does not break the bar."""
        if self._bar is None:
            out(text)
            return
        with self._lock:
            self._bar.write(text, file=sys.stdout)

    def close(self) -> None:
        if self._bar is not None:
            with self._lock:
                if self._latest is not None:
                    self._draw(*self._latest)
                self._bar.refresh()
                self._bar.close()
                self._bar = None


# ---------------------------------------------------------------- record lookup


def registry(name: str) -> type[Any]:
    """The registry class for a (possibly plural, any case) registry name."""
    import labshelf as ls

    key = name.lower()
    key = key[:-1] if key.endswith("s") and key[:-1] in REGISTRIES else key
    if key not in REGISTRIES:
        raise ls.InvalidArgument(f"'{name}' is not a registry; use one of {', '.join(REGISTRIES)}.")
    return getattr(ls, key.capitalize())


def find_record(uid: str, registries: tuple[str, ...] = REGISTRIES) -> Any:
    """The one record of ``registries`` whose uid is (or starts with) ``uid``; else the latest
    artifact with that key, else the latest collection with that name (what people remember)."""
    import labshelf as ls

    found = []
    for name in registries:
        try:
            found.append(registry(name).get(uid))
        except ls.DoesNotExist:
            continue
    kinds = " or ".join(registries) if len(registries) < len(REGISTRIES) else "record"
    if not found:
        by_name = _latest_by_key_or_name(uid, registries)
        if by_name is not None:
            return by_name
        raise ls.DoesNotExist(
            f"No {kinds} has a uid starting with '{uid}'"
            + (", and no artifact has that key." if "artifact" in registries else ".")
        )
    if len(found) > 1:
        raise ls.MultipleResultsFound(
            f"The uid '{uid}' matches records in several registries "
            f"({', '.join(type(r).__name__ for r in found)}); give more characters."
        )
    return found[0]


def _latest_by_key_or_name(text: str, registries: tuple[str, ...]) -> Any:
    """The latest artifact whose key is ``text``, else the latest collection named ``text``."""
    import labshelf as ls

    if "artifact" in registries:
        hit = ls.Artifact.filter(key=text, is_latest=True).first()
        if hit is not None:
            return hit
    if "collection" in registries:
        return ls.Collection.filter(name=text, is_latest=True).first()
    return None


def record_row(record: Any) -> dict[str, Any]:
    """A record's ``df()`` columns as a JSON-ready dict."""
    from labshelf.query import _columns

    model = type(record)
    fields = [f for f in _columns(model) if f != "source_code"]
    rows = model.filter(id=record.id).values(*fields)
    row = rows[0] if rows else {"uid": record.uid}
    return {k: _json_safe(v) for k, v in row.items()}


# ---------------------------------------------------------------- lookups from text


def _field_type(model: type[Any], parts: list[str]) -> type | None:
    """The Python type of the field a lookup path ends on (None when unknown)."""
    current = model
    for i, part in enumerate(parts):
        relations = {r.key: r for r in current.__mapper__.relationships}
        columns = {c.key: c for c in current.__mapper__.column_attrs}
        if part in relations:
            if i == len(parts) - 1:
                return int  # a record is matched by its id
            current = relations[part].mapper.class_
        elif part in columns:
            try:
                return columns[part].columns[0].type.python_type
            except NotImplementedError:
                return None
        else:
            return None
    return None


def _convert(raw: str, kind: type | None) -> Any:
    import labshelf as ls

    if raw.lower() in ("none", "null"):
        return None
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        if kind is datetime:
            return datetime.fromisoformat(raw)
        return kind(raw) if kind in (int, float) else raw
    except ValueError:
        assert kind is not None  # only the typed conversions above raise ValueError
        raise ls.InvalidArgument(f"'{raw}' is not a valid {kind.__name__} value.") from None


def parse_filter(model: type[Any], text: str) -> tuple[str, Any]:
    """``field__op=value`` from the command line, with the value typed like its field."""
    import labshelf as ls
    from labshelf.query import OPS

    if "=" not in text:
        raise ls.InvalidArgument(f"The filter '{text}' needs the form field=value.")
    key, raw = text.split("=", 1)
    parts = key.strip().split("__")
    op = parts.pop() if len(parts) > 1 and parts[-1] in OPS else "exact"
    kind = _field_type(model, parts)
    if op == "isnull":
        return key, _convert(raw, bool)
    if op in ("in", "range"):
        return key, [_convert(v.strip(), kind) for v in raw.split(",")]
    return key, _convert(raw, kind)


# ---------------------------------------------------------------- provenance of CLI work

_OWN_OPTIONS = {"func", "debug", "json", "quiet", "qt_args", "command"}


def cli_params(args: argparse.Namespace) -> dict[str, Any]:
    """A command's arguments as run params: JSON-ready, URL passwords masked."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return mask_secrets(value)
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    params = {k: clean(v) for k, v in vars(args).items() if k not in _OWN_OPTIONS}
    return {"command": args.command, **params}


@contextmanager
def cli_run(args: argparse.Namespace) -> Iterator[Any]:
    """A run of the CLI's transform for a command that writes; finished however it ends."""
    import labshelf as ls
    from labshelf.log import quiet
    from labshelf.provenance import finish_run, start_run

    with quiet():  # the command line's own bookkeeping: no "returning the existing transform"
        transform = ls.Transform(
            key=CLI_TRANSFORM_KEY,
            name="labshelf command line",
            type="upload",
            version=ls.__version__,
            description="work done with the labshelf command",
        ).save()
    run = start_run(transform, params=cli_params(args))
    try:
        yield run
    finally:
        try:
            finish_run(run)
        except ls.LabshelfError as exc:  # the work itself is done; say why the run is open
            print(f"labshelf: the run {run.uid} stays unfinished: {exc}", file=sys.stderr)


# ---------------------------------------------------------------- instance commands


def cmd_init(args: argparse.Namespace) -> int:
    import labshelf as ls

    ls.init(args.storage, db=args.db, name=args.name, read_only_storage=args.read_only_storage)
    return cmd_info(args)


def cmd_connect(args: argparse.Namespace) -> int:
    import labshelf as ls

    ls.connect(args.instance)
    return cmd_info(args)


def cmd_info(args: argparse.Namespace) -> int:
    import labshelf as ls
    from labshelf.config import all_configs

    settings = ls.settings
    counts = {n: registry(n).filter().count() for n in REGISTRIES[:4]}
    others = [c.name for c in all_configs() if c.name != settings.instance]
    if args.json:
        out_json(
            {
                "instance": settings.instance,
                "storage": settings.storage.root,
                "database": settings.db,
                "cache": str(settings.cache_dir),
                "user": settings.user,
                "counts": counts,
                "other_instances": others,
            }
        )
        return OK
    rows = [
        ("instance", settings.instance),
        ("storage", settings.storage.root),
        ("database", settings.db),
        ("cache", str(settings.cache_dir)),
        ("user", settings.user),
        ("records", ", ".join(f"{n} {k}s" for k, n in counts.items())),
    ]
    if others:
        rows.append(("other instances", ", ".join(others)))
    for name, value in rows:
        out(f"{name:<16}{value}")
    return OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from labshelf.instance import current
    from labshelf.migrations import HEAD, current_revision

    instance = current()  # opening an instance upgrades its schema when needed
    with instance.engine().connect() as conn:
        revision = current_revision(conn)
    if args.json:
        out_json({"instance": instance.name, "revision": revision, "up_to_date": revision == HEAD})
        return OK
    out(
        f"instance '{instance.name}': schema revision {revision}"
        + (" (up to date)" if revision == HEAD else "")
    )
    return OK


# ---------------------------------------------------------------- the GUI

# Qt's own options that take a value (`labshelf gui -platform offscreen FILE`)
QT_VALUE_OPTIONS = {
    "-platform",
    "-platformpluginpath",
    "-platformtheme",
    "-plugin",
    "-qmljsdebugger",
    "-qwindowgeometry",
    "-qwindowicon",
    "-qwindowtitle",
    "-style",
    "-stylesheet",
    "-session",
    "-display",
    "-geometry",
    "-title",
    "-name",
}


def split_gui_args(raw: list[str]) -> tuple[list[str], list[str]]:
    """(Qt arguments, paths to import) of ``labshelf gui …``."""
    qt, paths = [], []
    takes_value = False
    for arg in raw:
        if takes_value:
            qt.append(arg)
            takes_value = False
        elif arg.startswith("-") and arg != "-":
            qt.append(arg)
            takes_value = arg in QT_VALUE_OPTIONS
        else:
            paths.append(str(Path(arg).expanduser().absolute()))
    return qt, paths


def cmd_gui(args: argparse.Namespace) -> int:
    from labshelf.app.__main__ import main as gui_main

    qt, paths = split_gui_args(args.qt_args)
    if paths:
        return gui_main(["labshelf", *qt], paths=paths)
    return gui_main(["labshelf", *qt])


# ---------------------------------------------------------------- save


def cmd_save(args: argparse.Namespace) -> int:
    import labshelf as ls

    _check_save_args(args)
    labels = _labels(args.label)
    missing = [p for p in args.path if "://" not in p and not os.path.lexists(p)]
    if missing:
        raise ls.DoesNotExist(f"The path {missing[0]} does not exist; nothing was saved.")
    with cli_run(args) as run:
        if args.key or args.revises or any("://" in p for p in args.path):
            items = _save_one_by_one(args, run)
            result: dict[str, Any] = {"run": run.uid, "collection": None, "items": items}
        else:
            result = _save_with_upload(args, run)
        uids = [i["uid"] for i in result["items"] if i["state"] in ("done", "duplicate")]
        if labels and uids:
            from labshelf.labels import actor, add_labels

            ids = ls.Artifact.filter(uid__in=uids).values_list("id")
            add_labels("artifact", ids, labels, actor(run))
    return _report_save(args, result)


def _check_save_args(args: argparse.Namespace) -> None:
    import labshelf as ls

    if (args.key or args.revises) and len(args.path) > 1:
        raise ls.InvalidArgument("--key and --revises name one artifact: give one path.")
    if args.key and (args.key_prefix or args.per_file):
        raise ls.InvalidArgument("--key sets the whole key: leave out --key-prefix and --per-file.")
    if args.revises and args.per_file:
        raise ls.InvalidArgument("--revises makes one new version: leave out --per-file.")
    if any("://" in p for p in args.path) and (args.per_file or args.key_prefix):
        raise ls.InvalidArgument(
            "Cloud paths are registered as they are: --per-file and --key-prefix apply to "
            "local files and folders only."
        )
    if args.collection is not None and not args.collection.strip():
        raise ls.InvalidArgument("--collection needs a name.")


def _labels(names: list[str]) -> list[Any]:
    """The labels to add: a name is the one label of that name, created when there is none
    (several labels of that name are refused, naming them)."""
    if not names:
        return []
    from labshelf.labels import resolve_labels

    return resolve_labels(names)


def _save_with_upload(args: argparse.Namespace, run: Any) -> dict[str, Any]:
    import labshelf as ls

    bar = ProgressBar("save", progress_wanted(args))
    try:
        report = ls.upload(
            args.path,
            key_prefix=args.key_prefix,
            description=args.description,
            as_folder=not args.per_file,
            collection=args.collection,
            run=run,
            on_progress=lambda p: bar.update(
                p.files_done, p.files_total, p.bytes_done, p.bytes_total, force=p.finished
            ),
        )
    finally:
        bar.close()
    items = [
        {
            "path": str(i.path),
            "key": i.artifact.key if i.artifact is not None else i.key,
            "state": i.state,
            "uid": i.uid if i.state in ("done", "duplicate") else None,
            "version": (
                i.artifact.version
                if i.artifact is not None and i.state in ("done", "duplicate")
                else None
            ),
            "error": i.error,
            "error_type": i.error_type,
        }
        for i in report.items
    ]
    return {
        "run": run.uid,
        "collection": report.collection.uid if report.collection is not None else None,
        "seconds": round(report.seconds, 3),
        "items": items,
    }


def _save_one_by_one(args: argparse.Namespace, run: Any) -> list[dict[str, Any]]:
    """Cloud paths, ``--key`` and ``--revises``: one ``ls.Artifact`` each (no bulk upload)."""
    import labshelf as ls

    revises = find_record(args.revises, ("artifact",)) if args.revises else None
    items = []
    for path in args.path:
        try:
            artifact = ls.Artifact(
                path, key=args.key, description=args.description, revises=revises, run=run
            )
            saved_id: int | None = artifact.id  # None until saved (the mapping types it int)
            state = "done" if saved_id is None else "duplicate"
            if saved_id is None:
                artifact.save()
        except ls.LabshelfError as exc:
            items.append(_failed_item(path, exc))
            continue
        items.append(
            {
                "path": path,
                "key": artifact.key,
                "state": state,
                "uid": artifact.uid,
                "version": artifact.version,
                "error": None,
                "error_type": None,
            }
        )
    if args.collection:
        saved = [ls.Artifact.get(i["uid"]) for i in items if i["uid"]]
        if saved:
            ls.Collection(saved, name=args.collection, run=run).save()
    return items


def _failed_item(path: str, exc: BaseException) -> dict[str, Any]:
    return {
        "path": path,
        "key": None,
        "state": "failed",
        "uid": None,
        "version": None,
        "error": str(exc),
        "error_type": type(exc).__name__,
    }


def _report_save(args: argparse.Namespace, result: dict[str, Any]) -> int:
    items = result["items"]
    counts: dict[str, int] = {}
    for item in items:
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    result["counts"] = counts
    if args.json:
        out_json(result)
    else:
        for item in items:
            if item["uid"]:
                note = "  (registered already)" if item["state"] == "duplicate" else ""
                out(f"{item['uid']}  {item['key'] or ''}  version {item['version']}{note}")
    failed = [i for i in items if i["state"] not in ("done", "duplicate")]
    for item in failed:
        error = item["error"] or item["state"]
        say_error(error if item["path"] in error else f"{item['path']}: {error}")
    if not failed:
        return OK
    if len(items) > 1:
        print(f"labshelf: {len(failed)} of {len(items)} item(s) not saved", file=sys.stderr)
    raise CommandFailed(exit_code_for(failed[0]["error_type"] or ""))


# ---------------------------------------------------------------- queries


def label_condition(name: str) -> dict[str, Any]:
    """The lookup of `ls --label NAME`: records carrying a label of that name (of any type), or,
    for `Type/Name` as `label ls` shows typed labels, that label of that type."""
    import labshelf as ls

    if "/" not in name or ls.ULabel.filter(name=name).exists():
        return {"ulabels__name": name}
    from labshelf.labels import label_by_name

    return {"ulabels": label_by_name(name, create=False)}


def cmd_ls(args: argparse.Namespace) -> int:
    from labshelf.query import _columns

    model = registry(args.registry)
    qs = model.filter(**dict(parse_filter(model, f) for f in args.filter))
    for label in args.label:
        qs = qs.filter(**label_condition(label))
    for condition in args.feature:
        qs = qs.filter(**dict([parse_filter(model, condition)]))
    qs = qs.search(args.search) if args.search else qs.order_by("-created_at")
    if args.limit >= 0:
        qs = qs._clone(limit=args.limit)
    if args.json:
        fields = [f for f in _columns(model) if f != "source_code"]  # the df() columns
        rows = [{k: _json_safe(v) for k, v in r.items()} for r in qs.values(*fields)]
        out(json.dumps(rows, indent=2))
        return OK
    columns = TABLE_COLUMNS[model.__name__.lower()]
    rows = qs.values(*columns)
    if not rows:
        print(f"no {model.__name__.lower()}s match", file=sys.stderr)
        return OK
    print_table(rows, columns)
    return OK


def cmd_describe(args: argparse.Namespace) -> int:
    record = find_record(args.uid)
    if args.json:
        out_json({"registry": type(record).__name__.lower(), **record_row(record)})
        return OK
    out(record.describe(print_it=False))
    return OK


# ---------------------------------------------------------------- cache, load, delete


def cmd_cache(args: argparse.Namespace) -> int:
    artifact = find_record(args.uid, ("artifact",))
    if str(artifact.path).startswith(("s3://", "gs://")):
        bar = ProgressBar("cache", progress_wanted(args))
        try:
            path = artifact.cache(
                on_progress=lambda f, ft, b, bt: bar.update(f, ft, b, bt, f == ft)
            )
        finally:
            bar.close()
    else:  # local storage: the stored object is the local path already
        path = artifact.cache()
    if args.json:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        out_json(
            {
                "uid": artifact.uid,
                "path": str(path),
                "files": len(files),
                "bytes": sum(p.stat().st_size for p in files),
            }
        )
        return OK
    out(str(path))
    return OK


def cmd_load(args: argparse.Namespace) -> int:
    import labshelf as ls

    transform = find_record(args.uid, ("transform",))
    report = _notebook_report(transform)
    if report is None and not transform.source_code:
        raise ls.InvalidArgument(
            f"Transform {transform.uid} ('{transform.name}', a {transform.type}) has no "
            "source code recorded."
        )
    data = report.cache().read_bytes() if report else transform.source_code.encode("utf-8")
    target = Path(args.output) if args.output else Path(_source_name(transform, report))
    if target.exists() and target.read_bytes() != data and not args.force:
        raise ls.InvalidArgument(f"{target} exists and differs; pass --force to overwrite it.")
    target.write_bytes(data)
    if args.json:
        out_json({"uid": transform.uid, "path": str(target.absolute())})
        return OK
    out(str(target.absolute()))
    return OK


def _notebook_report(transform: Any) -> Any:
    """The ``.ipynb`` report of a notebook transform's latest finished run, if any."""
    import labshelf as ls

    if transform.type != "notebook":
        return None
    run = (
        ls.Run.filter(transform=transform, report_id__isnull=False).order_by("-started_at").first()
    )
    return run.report if run is not None else None


def _source_name(transform: Any, report: Any) -> str:
    name = Path(transform.key or "").name
    if report is None and name.endswith(".ipynb"):
        name = name[: -len(".ipynb")] + ".py"
    return name or f"{transform.uid}.py"


def cmd_delete(args: argparse.Namespace) -> int:
    record = find_record(args.uid, ("artifact", "collection"))
    with cli_run(args):
        record.delete(permanent=args.permanent)
    kind = type(record).__name__.lower()
    if args.json:
        out_json({"registry": kind, "uid": record.uid, "permanent": args.permanent})
        return OK
    done = "deleted permanently" if args.permanent else "moved to the trash"
    out(f"{kind} {record.uid} {done}")
    return OK


# ---------------------------------------------------------------- demo, doctor


def cmd_demo(args: argparse.Namespace) -> int:
    from labshelf.demo import load_demo, write_demo

    records: dict[str, Any] = {}
    if args.load:
        from labshelf.instance import current

        current()  # fail early and clearly when there is no instance
        with cli_run(args):
            records = load_demo(args.dir) or {}
        if records and not args.json:
            out(
                f"loaded the iris studies into instance '{current().name}'; "
                f"collection {records['collection'].uid}, table {records['table'].uid}"
            )
    path = write_demo(args.dir)
    if args.json:
        out_json(
            {
                "path": str(path),
                "collection": records["collection"].uid if records else None,
                "table": records["table"].uid if records else None,
            }
        )
        return OK
    out(str(path))
    return OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from labshelf.doctor import doctor

    bar = ProgressBar("doctor", progress_wanted(args))
    try:
        if args.fix:
            with cli_run(args):
                report = doctor(fix=True, on_progress=bar.update)
        else:
            report = doctor(fix=False, on_progress=bar.update)
    finally:
        bar.close()
    if args.json:
        from dataclasses import asdict

        out_json(
            {
                "checked": report.checked,
                "ok": report.ok,
                "problems": [asdict(p) for p in report.problems],
            }
        )
    else:
        out(str(report))
    return OK if report.ok else FAILED


# ---------------------------------------------------------------- labels and features


def _annotated_record(uid: str) -> Any:
    return find_record(uid, ("artifact", "collection"))


def _cli_labels(names: list[str], type_name: str | None, *, create: bool) -> list[Any]:
    from labshelf.labels import label_by_name

    return [label_by_name(n, create=create, type=type_name) for n in names]


def label_usage(label_id: int) -> dict[str, int]:
    from labshelf.labels import usage

    return usage(label_id)


def _label_rows(record: Any) -> list[dict[str, Any]]:
    from labshelf.labels import labels_of

    kind = type(record).__name__.lower()
    return labels_of(kind, [record.id])[record.id]


def cmd_label(args: argparse.Namespace) -> int:
    return {
        "add": _label_add,
        "rm": _label_rm,
        "ls": _label_ls,
        "new": _label_new,
        "delete": _label_delete,
    }[args.action](args)


def _check_type(name: str | None) -> None:
    """A label type named on the command line exists (checked before a run is recorded)."""
    import labshelf as ls

    if name is not None and not ls.ULabel.filter(name=name, is_type=True).exists():
        raise ls.InvalidArgument(
            f"There is no label type '{name}'; make it with `labshelf label new {name} --is-type`."
        )


def _label_add(args: argparse.Namespace) -> int:
    record = _annotated_record(args.uid)
    _check_type(args.type)
    with cli_run(args) as run:
        labels = _cli_labels(args.labels, args.type, create=True)
        record.ulabels.add(*labels, run=run)
    return _print_record_labels(args, record)


def _label_rm(args: argparse.Namespace) -> int:
    record = _annotated_record(args.uid)
    labels = _cli_labels(args.labels, args.type, create=False)
    with cli_run(args) as run:
        record.ulabels.remove(*labels, run=run)
    return _print_record_labels(args, record)


def _print_record_labels(args: argparse.Namespace, record: Any) -> int:
    rows = _label_rows(record)
    if args.json:
        out_json({"uid": record.uid, "labels": rows})
        return OK
    if not rows:
        out(f"{record.uid}: no labels")
    for row in rows:
        name = f"{row['type']}/{row['name']}" if row["type"] else row["name"]
        note = f"  (value of {row['feature']})" if row["feature"] else ""
        out(f"{record.uid}  {name}{note}")
    return OK


def _label_ls(args: argparse.Namespace) -> int:
    from labshelf.labels import label_tree

    if args.uid:
        return _print_record_labels(args, _annotated_record(args.uid))
    tree = label_tree("artifact", type=args.type)
    if args.json:
        out_json(tree)
        return OK
    if not tree:
        print("no labels", file=sys.stderr)

    def show(nodes: list[dict[str, Any]], depth: int) -> None:
        for node in nodes:
            kind = "  (type)" if node["is_type"] else ""
            out(f"{'  ' * depth}{node['name']}  {node['count']}  {node['uid']}{kind}")
            show(node["children"], depth + 1)

    show(tree, 0)
    return OK


def _label_new(args: argparse.Namespace) -> int:
    import labshelf as ls

    _check_type(args.type)
    with cli_run(args):
        made = [
            ls.ULabel(n, type=args.type, is_type=args.is_type, description=args.description).save()
            for n in args.labels
        ]
    rows = [{"uid": x.uid, "name": x.name, "type": args.type, "is_type": x.is_type} for x in made]
    if args.json:
        out_json(rows)
        return OK
    for row in rows:
        out(f"{row['uid']}  {row['type'] + '/' if row['type'] else ''}{row['name']}")
    return OK


def _label_delete(args: argparse.Namespace) -> int:
    import labshelf as ls

    labels = _cli_labels(args.labels, args.type, create=False)
    for label in labels:  # refused before a run is recorded
        counts = {k: n for k, n in label_usage(label.id).items() if n}
        if counts and not args.force:
            held = " and ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())
            raise ls.IntegrityError(
                f"The label '{label.name}' is on {held}; remove it from them first, or pass "
                "--force, which removes it from them."
            )
    with cli_run(args):
        for label in labels:
            label.delete(force=args.force)
    if args.json:
        out_json({"deleted": [x.uid for x in labels]})
        return OK
    for label in labels:
        out(f"deleted label {label.name}")
    return OK


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` arguments as {name: value} (a name given twice gets a list of values)."""
    import labshelf as ls

    values: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ls.InvalidArgument(f"'{pair}' needs the form name=value, e.g. temperature=37.")
        name, value = (part.strip() for part in pair.split("=", 1))
        if name in values:
            previous = values[name]
            values[name] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            values[name] = value
    return values


def infer_text_dtype(text: str) -> str:
    """The dtype of a new feature created from the command line (``--create``)."""
    from labshelf.annotation import ISO_DATE, ISO_DATETIME, YES_NO

    if re.fullmatch(r"[-+]?\d{1,18}", text):
        return "int"
    try:
        float(text)
        return "float"
    except ValueError:
        pass
    if text.lower() in YES_NO:
        return "bool"
    if ISO_DATE.fullmatch(text):
        return "date"
    if ISO_DATETIME.fullmatch(text):
        return "datetime"
    return "cat" if len(text) <= 100 else "str"


def cmd_feature(args: argparse.Namespace) -> int:
    return {
        "set": _feature_set,
        "rm": _feature_rm,
        "ls": _feature_ls,
        "new": _feature_new,
        "history": _feature_history,
        "delete": _feature_delete,
    }[args.action](args)


def _feature_set(args: argparse.Namespace) -> int:
    import labshelf as ls
    from labshelf.features import Planner, write_values
    from labshelf.labels import actor

    record = _annotated_record(args.uid)
    values = parse_assignments(args.values)
    if not args.create:
        known = set(ls.Feature.filter(name__in=list(values)).values_list("name"))
        missing = [n for n in values if n not in known]
        if missing:
            raise ls.InvalidArgument(
                f"There is no feature '{missing[0]}'; create it with `labshelf feature new "
                f"{missing[0]} DTYPE`, or pass --create (its dtype then follows the value)."
            )
    dtypes = {k: infer_text_dtype(v if isinstance(v, str) else v[0]) for k, v in values.items()}
    planned = Planner(create_features=args.create, dtypes=dtypes).plan(values)
    with cli_run(args) as run:
        kind = type(record).__name__.lower()
        write_values(kind, [record.id], planned, actor(run), replace=True)
    return _print_values(args, record)


def _feature_rm(args: argparse.Namespace) -> int:
    record = _annotated_record(args.uid)
    with cli_run(args) as run:
        for item in args.features:
            name, _, value = item.partition("=")
            record.features.remove_values(name.strip(), value.strip() or None, run=run)
    return _print_values(args, record)


def _print_values(args: argparse.Namespace, record: Any) -> int:
    from labshelf.features import as_text, values_of

    kind = type(record).__name__.lower()
    detail = values_of(kind, [record.id], detailed=True)[record.id]
    if args.json:
        out_json(
            {
                "uid": record.uid,
                "features": {
                    name: {
                        "value": _json_value(entry["value"]),
                        "dtype": entry["dtype"],
                        "unit": entry["unit"],
                    }
                    for name, entry in sorted(detail.items())
                },
            }
        )
        return OK
    if not detail:
        out(f"{record.uid}: no feature values")
    for name, entry in sorted(detail.items()):
        value = entry["value"]
        text = ", ".join(map(as_text, value)) if isinstance(value, list) else as_text(value)
        unit = f" {entry['unit']}" if entry["unit"] else ""
        out(f"{record.uid}  {name} = {text}{unit}  ({entry['dtype']})")
    return OK


def _json_value(value: Any) -> Any:
    from datetime import date

    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _feature_ls(args: argparse.Namespace) -> int:
    import labshelf as ls
    from labshelf.features import feature_usage

    if args.uid:
        return _print_values(args, _annotated_record(args.uid))
    rows = (
        ls.Feature.filter().order_by("name").values("uid", "name", "dtype", "unit", "description")
    )
    for row in rows:
        row["count"] = feature_usage(ls.Feature.get(row["uid"]).id)["artifact"]
    if args.json:
        out_json(rows)
        return OK
    if not rows:
        print("no features", file=sys.stderr)
        return OK
    print_table(rows, ("uid", "name", "dtype", "unit", "count", "description"))
    return OK


def _feature_new(args: argparse.Namespace) -> int:
    import labshelf as ls

    with cli_run(args):
        feature = ls.Feature(
            args.name, args.dtype, unit=args.unit, description=args.description
        ).save()
    row = {"uid": feature.uid, "name": feature.name, "dtype": feature.dtype, "unit": feature.unit}
    if args.json:
        out_json(row)
        return OK
    out(
        f"{feature.uid}  {feature.name}  {feature.dtype}{'  ' + feature.unit if feature.unit else ''}"
    )
    return OK


def _feature_delete(args: argparse.Namespace) -> int:
    import labshelf as ls
    from labshelf.features import feature_usage

    feature = ls.Feature.get(name=args.name)
    counts = {k: n for k, n in feature_usage(feature.id).items() if n}
    if counts and not args.force:
        held = " and ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())
        raise ls.IntegrityError(
            f"The feature '{feature.name}' has values on {held}; remove them first, or pass "
            "--force, which removes them."
        )
    with cli_run(args):
        feature.delete(force=args.force)
    if args.json:
        out_json({"deleted": feature.uid})
        return OK
    out(f"deleted feature {args.name}")
    return OK


def _feature_history(args: argparse.Namespace) -> int:
    record = _annotated_record(args.uid)
    rows = [{**r, "at": _json_safe(r["at"])} for r in record.features.history()]
    if args.json:
        out_json(rows)
        return OK
    for r in rows:
        what = f"{r['feature']} = {r['value']}" if r["feature"] else f"label {r['value']}"
        run = f"  run {r['run']}" if r["run"] else ""
        out(f"{r['at'][:19]}  {r['user']}  {r['action']:<7}  {what}{run}")
    return OK


def cmd_annotate(args: argparse.Namespace) -> int:
    import labshelf as ls

    artifacts = ls.Artifact.filter(is_latest=True)
    if args.key_prefix:
        artifacts = artifacts.filter(key__startswith=args.key_prefix)
    dtypes = dict(_pair(d, "--dtype") for d in args.dtype)
    if args.dry_run:
        report = ls.annotate(artifacts, args.table, on=args.on, dtypes=dtypes, dry_run=True)
    else:
        with cli_run(args) as run:
            report = ls.annotate(artifacts, args.table, on=args.on, dtypes=dtypes, run=run)
    if args.json:
        out_json(report.as_dict())
    else:
        out(str(report))
    return OK


def _pair(text: str, option: str) -> tuple[str, str]:
    import labshelf as ls

    if "=" not in text:
        raise ls.InvalidArgument(f"{option} takes COLUMN=DTYPE, e.g. plate=int; got '{text}'.")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


# ---------------------------------------------------------------- watch


def parse_duration(text: str) -> float:
    """``10``, ``10s``, ``500ms``, ``2m``, ``1h`` -> seconds (for argparse)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a duration; use e.g. 10s, 500ms, 2m or 1h"
        )
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}[unit]


def cmd_watch(args: argparse.Namespace) -> int:
    import labshelf as ls
    from labshelf.watch import Watcher, WatchOptions

    folder = Path(args.dir).expanduser()
    if not folder.is_dir():
        raise ls.DoesNotExist(f"The folder {folder} does not exist (or is no folder).")
    import socket

    instrument = args.instrument or f"{folder.absolute().name} on {socket.gethostname()}"
    options = WatchOptions(
        folder=folder,
        instrument=instrument,
        key_prefix=args.key_prefix,
        unit=args.unit,
        settle=args.settle,
        marker=args.marker,
        include=tuple(args.include),
        exclude=tuple(args.exclude),
        labels=tuple(args.label),
        collection=args.collection,
        rescan_interval=args.rescan,
    )
    printer = _WatchPrinter(args)
    watcher = Watcher(options, on_event=printer)
    stop = _stop_on_sigterm()
    watcher.start()
    try:
        while watcher.running and not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        watcher.stop()
        printer.close()
        print("labshelf: interrupted; the watch stopped", file=sys.stderr)
        return INTERRUPTED
    finally:
        watcher.stop()
        printer.close()
    return OK if stop.is_set() else FAILED


def _stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets (``systemctl stop``): the watch ends as cleanly as on Ctrl+C."""
    import signal

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


class _WatchPrinter:
    """Watch events as lines (or ``--json`` lines), failures on stderr, a catch-up bar."""

    LOUD = frozenset({"failed", "paused", "folder_missing", "folder_changed"})

    def __init__(self, args: argparse.Namespace) -> None:
        self.json, self.quiet = args.json, args.quiet
        self.show_progress = progress_wanted(args)
        self.bar: ProgressBar | None = None
        self.done = self.total = 0
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            self._progress(event)
            if self.json:
                print(json.dumps(event.as_dict()), flush=True)
            elif not self.quiet:
                self._line(str(event))
            elif event.event in self.LOUD:
                print(f"labshelf watch: {event}", file=sys.stderr, flush=True)

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def _progress(self, event: Any) -> None:
        if not self.show_progress:
            return
        if event.event == "catchup" and event.count:
            self.total = event.count
            self.bar = ProgressBar("catch-up", True, count_bytes=False)
            self.bar.update(0, self.total, force=True)
        elif event.catchup and self.bar is not None:
            self.done += 1
            self.bar.update(self.done, self.total)
        elif event.event in ("catchup_done", "stopped"):
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ---------------------------------------------------------------- shell completion

_BASH_PREAMBLE = f"""
_labshelf_uids() {{
  labshelf __complete-uids "$1" 2>/dev/null
}}
_labshelf_registries() {{
  compgen -W "{" ".join(REGISTRIES)}" -- "$1"
}}
"""
_ZSH_PREAMBLE = """
_labshelf_uids() {
  local -a uids
  uids=(${(f)"$(labshelf __complete-uids "$PREFIX" 2>/dev/null)"})
  compadd -a uids
}
"""
UID_COMPLETION = {"bash": "_labshelf_uids", "zsh": "_labshelf_uids"}
FILE_COMPLETION = {"bash": "_shtab_compgen_files", "zsh": "_files"}  # shtab's own helpers
DIR_COMPLETION = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/"}
REGISTRY_COMPLETION = {
    "bash": "_labshelf_registries",
    "zsh": "(" + " ".join(REGISTRIES) + ")",
}


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    script = shtab.complete(
        build_parser(),
        shell=args.shell,
        preamble={"bash": _BASH_PREAMBLE, "zsh": _ZSH_PREAMBLE}.get(args.shell, ""),
    )
    out(script)
    return OK


def cmd_complete_uids(args: argparse.Namespace) -> int:
    """Hidden: uids starting with PREFIX, one a line, for the completion scripts.

    Answers from the uid indexes of an SQLite instance through the standard library (no
    SQLAlchemy), in a few milliseconds; a PostgreSQL instance gets no uid completion."""
    for uid in complete_uids(args.prefix):
        out(uid)
    return OK


def complete_uids(prefix: str, limit: int = COMPLETION_LIMIT) -> list[str]:
    import sqlite3

    from labshelf.config import InstanceConfig, current_name

    if not re.fullmatch(r"[0-9A-Za-z]*", prefix):
        return []
    name = current_name()
    try:
        db = InstanceConfig.read(name).db if name else ""
    except Exception:  # noqa: BLE001 - completion says nothing rather than fail
        return []
    if not db.startswith("sqlite:///"):
        return []
    path = db[len("sqlite:///") :]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
    except sqlite3.Error:
        return []
    found: list[str] = []
    try:
        for table in ("artifacts", "collections", "transforms", "runs"):
            rows = conn.execute(
                f"SELECT uid FROM {table} WHERE uid >= ? AND uid < ? ORDER BY uid LIMIT ?",  # noqa: S608 - table names are constants
                (prefix, prefix + "~", limit),
            ).fetchall()
            found.extend(r[0] for r in rows)
    except sqlite3.Error:
        return found
    finally:
        conn.close()
    return found


# ---------------------------------------------------------------- the parser


def _version() -> str:
    from labshelf import __version__

    return f"labshelf {__version__}"


def _completes(action: argparse.Action, completion: dict[str, str]) -> None:
    """How shells complete `action`'s value: shtab reads the extra attribute `complete`."""
    setattr(action, "complete", completion)  # noqa: B010 - argparse.Action does not declare it


def _add(
    sub: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help_: str,
    parents: list[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=help_, parents=parents)
    parser.set_defaults(func=func)
    return parser


def _common_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """(--debug only, --debug --json --quiet): the options every command takes."""
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback when something fails",
    )
    printing = argparse.ArgumentParser(add_help=False, parents=[debug])
    printing.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON (see --help)"
    )
    printing.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress display and no notes on stderr (errors still)",
    )
    return debug, printing


def build_parser() -> argparse.ArgumentParser:
    """The ``labshelf`` argument parser with one sub-command per action."""
    debug, common = _common_parsers()
    parser = argparse.ArgumentParser(
        prog="labshelf",
        description="labshelf: a data catalog for lab scientists.",
        epilog="exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 conflict (duplicate in the "
        "trash), 5 storage or database unreachable, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_instance_commands(sub, common)
    _add(sub, "gui", cmd_gui, "open the desktop app, importing PATHs if given", [debug])
    _add_save(sub, common)
    _add_ls(sub, common)
    _add_record_commands(sub, common)
    _add_watch(sub, common)
    _add_annotation_commands(sub, common)
    p = _add(sub, "completion", cmd_completion, "print a shell completion script", [debug])
    p.add_argument("shell", choices=("bash", "zsh"), help="bash or zsh")
    hidden = sub.add_parser("__complete-uids", parents=[debug])  # no help: not listed
    hidden.set_defaults(func=cmd_complete_uids)
    hidden.add_argument("prefix", nargs="?", default="")
    return parser


def _add_instance_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _add(
        sub, "init", cmd_init, "create an instance (or reopen it) and make it current", [common]
    )
    p.add_argument("--storage", required=True, help="a local folder, s3://bucket or gs://bucket")
    p.add_argument("--db", help="SQLAlchemy database URL (default: SQLite in the storage)")
    p.add_argument("--name", help="instance name (default: from the folder or bucket)")
    p.add_argument(
        "--read-only-storage",
        action="store_true",
        help="the storage is managed by another catalog: register and read its files in place, "
        "never write there",
    )
    p = _add(sub, "connect", cmd_connect, "make an existing instance current", [common])
    p.add_argument("instance", help="instance name, storage location or database URL")
    _add(sub, "info", cmd_info, "show the current instance", [common])
    _add(sub, "migrate", cmd_migrate, "bring the instance's database schema up to date", [common])
    p = _add(
        sub,
        "doctor",
        cmd_doctor,
        "check stored objects against their records; find leftovers",
        [common],
    )
    p.add_argument("--fix", action="store_true", help="remove leftover temporary objects")
    p = _add(sub, "demo", cmd_demo, "write the 'iris studies' sample dataset", [common])
    p.add_argument("dir", metavar="DIR", help="folder to write iris_studies/ into")
    p.add_argument(
        "--load",
        action="store_true",
        help="also register it in the current instance (once) under tracked runs",
    )


def _add_save(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        "save",
        cmd_save,
        "register files and folders as artifacts (in parallel, resumable)",
        [common],
    )
    _completes(
        p.add_argument(
            "path", nargs="+", metavar="PATH", help="local files or folders, s3://…, gs://…"
        ),
        FILE_COMPLETION,
    )
    p.add_argument("--key", help="the artifact's whole key, e.g. iris/study0 (one PATH)")
    p.add_argument("--key-prefix", metavar="P", help="keys are P/<name> (P/<folder>/<file>)")
    p.add_argument(
        "--per-file", action="store_true", help="one artifact per file of a folder, not one"
    )
    p.add_argument("--description", help="a free-text description")
    p.add_argument("--revises", metavar="UID", help="make it the next version of this artifact")
    p.add_argument("--collection", metavar="C", help="also make a version of collection C of them")
    p.add_argument(
        "--label", metavar="L", action="append", default=[], help="add label L (repeatable)"
    )


def _add_record_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _add(sub, "describe", cmd_describe, "print a record's fields and provenance", [common])
    _completes(
        p.add_argument(
            "uid",
            help="uid or uid prefix of any record, or an artifact key or collection name (the latest version)",
        ),
        UID_COMPLETION,
    )
    p = _add(sub, "cache", cmd_cache, "download an artifact (a folder in parallel)", [common])
    _completes(p.add_argument("uid", help="artifact uid, uid prefix or key"), UID_COMPLETION)
    p = _add(sub, "load", cmd_load, "write a transform's source code to a file", [common])
    _completes(
        p.add_argument("uid", metavar="TRANSFORM_UID", help="transform uid or uid prefix"),
        UID_COMPLETION,
    )
    p.add_argument("-o", "--output", help="file to write (default: the transform's file name)")
    p.add_argument("--force", action="store_true", help="overwrite an existing, different file")
    p = _add(sub, "delete", cmd_delete, "move an artifact or collection to the trash", [common])
    _completes(
        p.add_argument("uid", help="artifact or collection uid, uid prefix, key or name"),
        UID_COMPLETION,
    )
    p.add_argument(
        "--permanent", action="store_true", help="remove the record (and a copied object) for good"
    )


def _add_ls(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _add(sub, "ls", cmd_ls, "list the records of a registry, newest first", [common])
    _completes(
        p.add_argument(
            "registry",
            nargs="?",
            default="artifact",
            help=f"one of {', '.join(REGISTRIES)} (plurals accepted; default artifact)",
        ),
        REGISTRY_COMPLETION,
    )
    p.add_argument("--search", metavar="T", help="ranked search over the registry's text fields")
    p.add_argument(
        "--filter",
        metavar="K=V",
        action="append",
        default=[],
        help="a lookup such as key__startswith=iris or is_latest=true (repeatable)",
    )
    p.add_argument(
        "--label",
        metavar="L",
        action="append",
        default=[],
        help="only records carrying label L (repeatable: all of them)",
    )
    p.add_argument(
        "--feature",
        metavar="K=V",
        action="append",
        default=[],
        help="a feature condition such as temperature__gte=30 or stain=DAPI (repeatable)",
    )
    p.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=100,
        help="at most N rows (default 100; -1 for all)",
    )


def _add_annotation_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    label = _add(sub, "label", cmd_label, "put labels on records, list and manage labels", [common])
    actions = label.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("add", help="add labels to a record", parents=[common])
    _completes(
        p.add_argument("uid", help="artifact or collection uid or uid prefix"), UID_COMPLETION
    )
    p.add_argument("labels", nargs="+", metavar="LABEL", help="label names (created if missing)")
    p.add_argument("--type", metavar="T", help="the labels are (or become) labels of type T")
    p = actions.add_parser("rm", help="remove labels from a record", parents=[common])
    _completes(
        p.add_argument("uid", help="artifact or collection uid or uid prefix"), UID_COMPLETION
    )
    p.add_argument("labels", nargs="+", metavar="LABEL", help="label names")
    p.add_argument("--type", metavar="T", help="the labels are labels of type T")
    p = actions.add_parser(
        "ls",
        help="the labels as a tree with artifact counts, or a record's labels",
        parents=[common],
    )
    _completes(p.add_argument("uid", nargs="?", help="list this record's labels"), UID_COMPLETION)
    p.add_argument("--type", metavar="T", help="only the labels of type T")
    p = actions.add_parser("new", help="create labels (or label types)", parents=[common])
    p.add_argument("labels", nargs="+", metavar="NAME", help="label names")
    p.add_argument("--type", metavar="T", help="make them labels of type T")
    p.add_argument("--is-type", action="store_true", help="make them types that group labels")
    p.add_argument("--description", help="a free-text description")
    p = actions.add_parser(
        "delete", help="delete labels (refused while records carry them)", parents=[common]
    )
    p.add_argument("labels", nargs="+", metavar="NAME", help="label names")
    p.add_argument("--type", metavar="T", help="the labels are labels of type T")
    p.add_argument("--force", action="store_true", help="also remove them from their records")

    feature = _add(
        sub, "feature", cmd_feature, "set feature values, list and manage features", [common]
    )
    actions = feature.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("set", help="set feature values of a record", parents=[common])
    _completes(
        p.add_argument("uid", help="artifact or collection uid or uid prefix"), UID_COMPLETION
    )
    p.add_argument("values", nargs="+", metavar="NAME=VALUE", help="e.g. temperature=37 stain=DAPI")
    p.add_argument(
        "--create", action="store_true", help="create unknown features (dtype from the value)"
    )
    p = actions.add_parser("rm", help="remove feature values of a record", parents=[common])
    _completes(
        p.add_argument("uid", help="artifact or collection uid or uid prefix"), UID_COMPLETION
    )
    p.add_argument(
        "features", nargs="+", metavar="NAME[=VALUE]", help="a feature (only VALUE, if given)"
    )
    p = actions.add_parser("ls", help="the features, or a record's values", parents=[common])
    _completes(p.add_argument("uid", nargs="?", help="list this record's values"), UID_COMPLETION)
    p = actions.add_parser("new", help="create a feature", parents=[common])
    p.add_argument("name", help="e.g. temperature")
    p.add_argument("dtype", help="str, int, float, bool, date, datetime, cat or cat[TYPE]")
    p.add_argument("--unit", help="e.g. °C")
    p.add_argument("--description", help="a free-text description")
    p = actions.add_parser(
        "history", help="who added or removed which labels and values", parents=[common]
    )
    _completes(
        p.add_argument("uid", help="artifact or collection uid or uid prefix"), UID_COMPLETION
    )
    p = actions.add_parser(
        "delete", help="delete a feature (refused while records hold values)", parents=[common]
    )
    p.add_argument("name", help="the feature's name")
    p.add_argument("--force", action="store_true", help="also remove its values")

    p = _add(
        sub,
        "annotate",
        cmd_annotate,
        "labels and feature values from a metadata table (CSV, TSV, XLSX, parquet)",
        [common],
    )
    _completes(p.add_argument("table", metavar="TABLE", help="the table file"), FILE_COMPLETION)
    p.add_argument(
        "--on",
        metavar="COLUMN",
        default="file",
        help="the column holding file names or keys (default: file, the best-matching column)",
    )
    p.add_argument(
        "--key-prefix", metavar="P", help="only artifacts whose key starts with P (default: all)"
    )
    p.add_argument(
        "--dtype",
        metavar="COLUMN=DTYPE",
        action="append",
        default=[],
        help="the dtype of a new feature, e.g. plate=int (repeatable)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="report what would be done, write nothing"
    )


def _add_watch(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        "watch",
        cmd_watch,
        "register what lands in a folder (an instrument's output) until Ctrl+C",
        [common],
    )
    _completes(p.add_argument("dir", metavar="DIR", help="the folder to watch"), DIR_COMPLETION)
    p.add_argument("--instrument", metavar="NAME", help="the instrument (default: folder + host)")
    p.add_argument("--key-prefix", metavar="P", help="keys are P/<path relative to DIR>")
    p.add_argument(
        "--unit",
        choices=("file", "folder"),
        default="file",
        help="register each file, or each subfolder as one artifact (default file)",
    )
    p.add_argument(
        "--settle",
        type=parse_duration,
        default=10.0,
        metavar="S",
        help="a unit is complete once unchanged this long (default 10s)",
    )
    p.add_argument("--marker", metavar="NAME", help="--unit folder: complete once NAME is in it")
    p.add_argument(
        "--include", metavar="GLOB", action="append", default=[], help="only matching (repeatable)"
    )
    p.add_argument(
        "--exclude", metavar="GLOB", action="append", default=[], help="skip matching (repeatable)"
    )
    p.add_argument(
        "--label", metavar="L", action="append", default=[], help="add label L (repeatable)"
    )
    p.add_argument("--collection", metavar="NAME", help="keep the files in collection NAME")
    p.add_argument(
        "--rescan",
        type=parse_duration,
        default=60.0,
        metavar="S",
        help="full rescan interval, the safety net for network shares (default 60s)",
    )


# ---------------------------------------------------------------- entry point


def _one_line(exc: BaseException) -> str:
    from labshelf.errors import LabshelfError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, LabshelfError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text} (run with --debug for details)"


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    raw = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(raw)
    if args.command == "gui":
        # Qt options and paths, in their order: everything after `gui` that is not ours
        at = raw.index("gui")
        args.qt_args = [a for a in raw[at + 1 :] if a != "--debug"]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    else:
        args.qt_args = []
    for name in ("json", "quiet", "debug"):
        setattr(args, name, bool(getattr(args, name, False)))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run ``labshelf`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = _parse(parser, argv)
    if args.quiet:
        os.environ["LABSHELF_QUIET"] = "1"  # core's notes ("→ …") stay silent
    try:
        return args.func(args)
    except CommandFailed as failed:
        return failed.code
    except KeyboardInterrupt:
        print("labshelf: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # e.g. `labshelf ls | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more to write
        return OK
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line
        if args.debug:
            import traceback

            traceback.print_exc()
        say_error(mask_secrets(_one_line(exc)))
        return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())
