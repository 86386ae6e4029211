"""The ``labshelf`` command line: instances, artifacts, queries, the demo data, the GUI.

Start-up is kept short: ``core`` is imported only inside the commands (and is
cheap itself: SQLAlchemy loads on the first database access); Qt is imported
only by ``labshelf gui``. Every failure ends as one line on stderr and a
non-zero exit; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
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
OK, FAILED, INTERRUPTED = 0, 1, 130


# ---------------------------------------------------------------- output helpers


def out(text: str = "") -> None:
    print(text, file=sys.stdout)


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if column == "size":
        from labshelf.humanize import human_size

        return human_size(value)
    text = str(value).replace("\n", " ")
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


# ---------------------------------------------------------------- record lookup


def registry(name: str) -> type:
    """The registry class for a (possibly plural, any case) registry name."""
    import labshelf as ls

    key = name.lower()
    key = key[:-1] if key.endswith("s") and key[:-1] in REGISTRIES else key
    if key not in REGISTRIES:
        raise ls.InvalidArgument(f"'{name}' is not a registry; use one of {', '.join(REGISTRIES)}.")
    return getattr(ls, key.capitalize())


def find_record(uid: str, registries: tuple[str, ...] = REGISTRIES) -> Any:
    """The one record of ``registries`` whose uid is (or starts with) ``uid``."""
    import labshelf as ls

    found = []
    for name in registries:
        try:
            found.append(registry(name).get(uid))
        except ls.DoesNotExist:
            continue
    kinds = " or ".join(registries) if len(registries) < len(REGISTRIES) else "record"
    if not found:
        raise ls.DoesNotExist(f"No {kinds} has a uid starting with '{uid}'.")
    if len(found) > 1:
        raise ls.MultipleResultsFound(
            f"The uid '{uid}' matches records in several registries "
            f"({', '.join(type(r).__name__ for r in found)}); give more characters."
        )
    return found[0]


# ---------------------------------------------------------------- lookups from text


def _field_type(model: type, parts: list[str]) -> type | None:
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
        raise ls.InvalidArgument(f"'{raw}' is not a valid {kind.__name__} value.") from None


def parse_filter(model: type, text: str) -> tuple[str, Any]:
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


# ---------------------------------------------------------------- commands


def cmd_init(args: argparse.Namespace) -> int:
    import labshelf as ls

    ls.init(args.storage, db=args.db, name=args.name)
    return cmd_info(args)


def cmd_connect(args: argparse.Namespace) -> int:
    import labshelf as ls

    ls.connect(args.instance)
    return cmd_info(args)


def cmd_info(args: argparse.Namespace) -> int:
    import labshelf as ls
    from labshelf.config import all_configs

    settings = ls.settings
    rows = [
        ("instance", settings.instance),
        ("storage", settings.storage.root),
        ("database", settings.db),
        ("cache", str(settings.cache_dir)),
        ("user", settings.user),
    ]
    counts = [f"{registry(n).filter().count()} {n}s" for n in REGISTRIES[:4]]
    rows.append(("records", ", ".join(counts)))
    others = [c.name for c in all_configs() if c.name != settings.instance]
    if others:
        rows.append(("other instances", ", ".join(others)))
    for name, value in rows:
        out(f"{name:<16}{value}")
    return OK


def cmd_gui(args: argparse.Namespace) -> int:
    from labshelf.app.__main__ import main as gui_main

    return gui_main(["labshelf", *args.qt_args])


def cmd_save(args: argparse.Namespace) -> int:
    import labshelf as ls

    revises = find_record(args.revises, ("artifact",)) if args.revises else None
    artifact = ls.Artifact(args.path, key=args.key, description=args.description, revises=revises)
    if artifact.id is None:
        artifact.save()
    out(f"{artifact.uid}  {artifact.key or ''}  version {artifact.version}")
    return OK


def cmd_ls(args: argparse.Namespace) -> int:
    from labshelf.query import _columns

    model = registry(args.registry)
    qs = model.filter(**dict(parse_filter(model, f) for f in args.filter))
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
    out(find_record(args.uid).describe(print_it=False))
    return OK


def cmd_cache(args: argparse.Namespace) -> int:
    out(str(find_record(args.uid, ("artifact",)).cache()))
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
    record.delete(permanent=args.permanent)
    done = "deleted permanently" if args.permanent else "moved to the trash"
    out(f"{type(record).__name__.lower()} {record.uid} {done}")
    return OK


def cmd_demo(args: argparse.Namespace) -> int:
    from labshelf.demo import load_demo, write_demo

    if args.load:
        from labshelf.instance import current

        current()  # fail early and clearly when there is no instance
        records = load_demo(args.dir)
        if records:
            out(
                f"loaded the iris studies into instance '{current().name}'; "
                f"collection {records['collection'].uid}, table {records['table'].uid}"
            )
    out(str(write_demo(args.dir)))
    return OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from labshelf.instance import current
    from labshelf.migrations import HEAD, current_revision

    instance = current()  # opening an instance upgrades its schema when needed
    with instance.engine().connect() as conn:
        revision = current_revision(conn)
    out(
        f"instance '{instance.name}': schema revision {revision}"
        + (" (up to date)" if revision == HEAD else "")
    )
    return OK


def cmd_doctor(args: argparse.Namespace) -> int:
    import labshelf as ls

    try:
        from labshelf.doctor import doctor
    except ModuleNotFoundError as exc:
        if exc.name != "labshelf.doctor":
            raise
        raise ls.LabshelfError(
            "labshelf doctor is not available in this version (labshelf.doctor is missing)."
        ) from None
    report = doctor(fix=args.fix)
    if report is not None:
        out(str(report))
    return OK if getattr(report, "ok", True) else FAILED


# ---------------------------------------------------------------- the parser


def _version() -> str:
    from labshelf import __version__

    return f"labshelf {__version__}"


def _add(
    sub: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help_: str,
    common: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=help_, parents=[common])
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``labshelf`` argument parser with one sub-command per action."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback when something fails",
    )
    parser = argparse.ArgumentParser(
        prog="labshelf", description="labshelf: a data catalog for lab scientists."
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "init", cmd_init, "create an instance (or reopen it) and make it current", common)
    p.add_argument("--storage", required=True, help="a local folder, s3://bucket or gs://bucket")
    p.add_argument("--db", help="SQLAlchemy database URL (default: SQLite in the storage)")
    p.add_argument("--name", help="instance name (default: from the folder or bucket)")
    p = _add(sub, "connect", cmd_connect, "make an existing instance current", common)
    p.add_argument("instance", help="instance name, storage location or database URL")
    _add(sub, "info", cmd_info, "show the current instance", common)
    _add(sub, "gui", cmd_gui, "open the desktop app (other options go to Qt)", common)
    p = _add(sub, "save", cmd_save, "register a file or folder as an artifact", common)
    p.add_argument("path", help="a local file or folder, s3://… or gs://…")
    p.add_argument("--key", help="the artifact's key, e.g. iris/study0")
    p.add_argument("--description", help="a free-text description")
    p.add_argument("--revises", metavar="UID", help="make it the next version of this artifact")
    _add_ls(sub, common)
    p = _add(sub, "describe", cmd_describe, "print a record's fields and provenance", common)
    p.add_argument("uid", help="uid or uid prefix of any record")
    p = _add(sub, "cache", cmd_cache, "print a local path to an artifact's content", common)
    p.add_argument("uid", help="artifact uid or uid prefix")
    p = _add(sub, "load", cmd_load, "write a transform's source code to a file", common)
    p.add_argument("uid", metavar="TRANSFORM_UID", help="transform uid or uid prefix")
    p.add_argument("-o", "--output", help="file to write (default: the transform's file name)")
    p.add_argument("--force", action="store_true", help="overwrite an existing, different file")
    p = _add(sub, "delete", cmd_delete, "move an artifact or collection to the trash", common)
    p.add_argument("uid", help="artifact or collection uid or uid prefix")
    p.add_argument(
        "--permanent", action="store_true", help="remove the record (and a copied object) for good"
    )
    p = _add(sub, "demo", cmd_demo, "write the 'iris studies' sample dataset", common)
    p.add_argument("dir", metavar="DIR", help="folder to write iris_studies/ into")
    p.add_argument(
        "--load",
        action="store_true",
        help="also register it in the current instance (once) under tracked runs",
    )
    _add(sub, "migrate", cmd_migrate, "bring the instance's database schema up to date", common)
    p = _add(
        sub,
        "doctor",
        cmd_doctor,
        "check stored objects against their records; find leftovers",
        common,
    )
    p.add_argument("--fix", action="store_true", help="remove leftover temporary objects")
    return parser


def _add_ls(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _add(sub, "ls", cmd_ls, "list the records of a registry, newest first", common)
    p.add_argument(
        "registry",
        nargs="?",
        default="artifact",
        help=f"one of {', '.join(REGISTRIES)} (plurals accepted; default artifact)",
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
        "--limit",
        metavar="N",
        type=int,
        default=100,
        help="at most N rows (default 100; -1 for all)",
    )
    p.add_argument("--json", action="store_true", help="print JSON objects with the df() columns")


# ---------------------------------------------------------------- entry point


def _one_line(exc: BaseException) -> str:
    from labshelf.errors import LabshelfError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, LabshelfError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text} (run with --debug for details)"


def main(argv: list[str] | None = None) -> int:
    """Run ``labshelf`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "gui":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.qt_args = extra
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("labshelf: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # e.g. `labshelf ls | head`
        sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - nothing more to write
        return OK
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"labshelf: error: {_one_line(exc)}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
