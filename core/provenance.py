"""Provenance: transforms and runs, ``track``/``finish``, and the inputs a run reads.

A *transform* is the code (script, notebook, pipeline, app upload, function) or the
instrument whose watched folder files come from;
a *run* is one execution of it. ``track()`` detects the calling script or
notebook, finds or creates its transform (same key and source hash: reuse;
changed source: the next version of the family) and starts a run that every
save in this process links to until ``finish()``. The GUI and ``ls.upload``
use ``upload_transform``/``start_run``/``finish_run``, which leave the
process-wide run alone.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidArgument, LabshelfError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .models import Artifact, Run, Transform
    from .query import QuerySet

TRANSFORM_TYPES = ("notebook", "script", "pipeline", "upload", "instrument", "function")
UPLOAD_KEY = "labshelf-desktop-upload"

_lock = threading.Lock()
_global: dict[str, Any] = {"run": None, "source": None}
_noted: set[tuple[str, str]] = set()


# ---------------------------------------------------------------- the active run


def current_run() -> Run | None:
    """The run every save in this process links to, if one is active."""
    return _global["run"]


def set_current_run(run: Run | None) -> None:
    """Make ``run`` the process-wide active run (``None`` ends it without finishing)."""
    with _lock:
        _global["run"] = run
        if run is None:
            _global["source"] = None


# ---------------------------------------------------------------- detecting the caller


@dataclass
class Source:
    """The code that called ``track()``: where it is, what it says, how it hashes."""

    path: Path
    type: str
    key: str
    name: str
    code: str
    hash: str


def _text_hash(text: str) -> str:
    from .hashing import hash_bytes

    return hash_bytes(text.encode("utf-8"))[0]


def notebook_path() -> Path | None:
    """The ``.ipynb`` of the Jupyter kernel this process is, or ``None`` outside one."""
    if "ipykernel" not in sys.modules:
        return None
    main = sys.modules.get("__main__")
    candidates = [getattr(main, "__vsc_ipynb_file__", None), os.environ.get("JPY_SESSION_NAME")]
    for candidate in candidates:
        if candidate and str(candidate).endswith(".ipynb"):
            return Path(candidate).expanduser().absolute()
    if getattr(main, "__file__", None) is None:
        raise InvalidArgument(
            "ls.track() runs in a Jupyter kernel but cannot tell which notebook: the kernel "
            "environment names none (JPY_SESSION_NAME); pass transform=ls.Transform(...)."
        )
    return None


def script_path() -> Path | None:
    """The file of the running ``__main__`` script, if there is one."""
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    if not candidate or candidate in ("-c", "-m"):
        return None
    path = Path(candidate).expanduser().absolute()
    return path if path.is_file() else None


def read_notebook(path: Path) -> Source:
    """Key, name (first heading) and code cells of a notebook file."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except FileNotFoundError:
        raise InvalidArgument(f"The notebook {path} does not exist; save it first.") from None
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"The notebook {path} cannot be read: {exc}") from None
    code = "\n\n".join(_cell_text(c) for c in cells if c.get("cell_type") == "code")
    name = next((_heading(c) for c in cells if _heading(c)), path.name)
    return Source(path, "notebook", path.name, name, code, _text_hash(code))


def _cell_text(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _heading(cell: dict[str, Any]) -> str | None:
    if cell.get("cell_type") != "markdown":
        return None
    lines = _cell_text(cell).strip().splitlines()
    if not lines or not lines[0].startswith("#"):
        return None
    return lines[0].lstrip("#").strip() or None


def read_script(path: Path) -> Source:
    """Key (file name), name (docstring's first line or file name) and text of a script."""
    import ast

    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"The script {path} cannot be read: {exc}") from None
    try:
        doc = ast.get_docstring(ast.parse(code)) or ""
    except SyntaxError:
        doc = ""
    name = doc.strip().splitlines()[0].strip() if doc.strip() else path.name
    return Source(path, "script", path.name, name, code, _text_hash(code))


def detect_source() -> Source:
    """The notebook or script calling ``track()``; a clear error when there is neither."""
    nb = notebook_path()
    if nb is not None:
        return read_notebook(nb)
    script = script_path()
    if script is not None:
        return read_script(script)
    raise InvalidArgument(
        "ls.track() found neither a script nor a notebook to record (interactive session?); "
        "pass transform=ls.Transform(name=..., type='pipeline') instead."
    )


@functools.cache
def _distributions() -> dict[str, dict[str, str]]:
    """Top-level module -> {distribution: version} of what is installed (scanned once)."""
    from importlib import metadata

    versions: dict[str, dict[str, str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            try:
                versions.setdefault(module, {})[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return versions


def imported_packages() -> dict[str, str]:
    """Versions of the installed distributions whose top-level modules are imported."""
    owners = _distributions()
    found: dict[str, str] = {}
    for module in list(sys.modules):
        if "." not in module and not module.startswith("_"):
            found.update(owners.get(module, {}))
    return {"python": platform.python_version(), **dict(sorted(found.items()))}


# ---------------------------------------------------------------- transforms


def init_transform(obj: Transform, **fields: Any) -> None:
    """``ls.Transform(name=..., version=..., type=...)``: an unsaved transform with a uid."""
    from .models import Transform
    from .uids import UID_LENGTHS, is_base62, new_stem, versioned_uid

    columns = {c.key for c in Transform.__mapper__.column_attrs} - {"id"}
    unknown = set(fields) - columns
    if unknown:
        raise InvalidArgument(
            f"Transform() got unknown field(s) {sorted(unknown)}; fields are {sorted(columns)}."
        )
    if not fields.get("name"):
        raise InvalidArgument("A transform needs a name, e.g. ls.Transform(name='my pipeline').")
    fields.setdefault("type", "pipeline")
    check_type(fields["type"])
    uid = fields.get("uid") or versioned_uid(new_stem(UID_LENGTHS["transform"]), 0)
    if len(uid) != UID_LENGTHS["transform"] or not is_base62(uid):
        raise InvalidArgument(f"'{uid}' is not a transform uid: 16 base62 characters.")
    fields.update(uid=uid, stem_uid=uid[:-4], is_latest=fields.get("is_latest", True))
    if fields.get("version") is not None:
        fields["version"] = str(fields["version"])
    for name, value in fields.items():
        setattr(obj, name, value)


def check_type(type_: str) -> None:
    if type_ not in TRANSFORM_TYPES:
        raise InvalidArgument(
            f"'{type_}' is not a transform type; use one of {', '.join(TRANSFORM_TYPES)}."
        )


def _serialize(s: Session) -> None:
    """One transform/run writer at a time (SQLite's BEGIN IMMEDIATE already is)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        s.execute(text("SELECT pg_advisory_xact_lock(7232)"))


def _family(s: Session, key: str, type_: str) -> list[Transform]:
    """Every version with this key and type, newest first."""
    from sqlalchemy import select

    from .models import Transform

    stmt = select(Transform).where(Transform.key == key, Transform.type == type_)
    return list(s.scalars(stmt.order_by(Transform.is_latest.desc(), Transform.id.desc())))


def _insert(s: Session, fields: dict[str, Any], stem: str | None, user: int) -> Transform:
    """Insert the next version of the family ``stem`` (None: a new family, with the uid in
    ``fields`` if there is one) and flip ``is_latest``."""
    from sqlalchemy import insert, select

    from .models import Transform, utcnow
    from .uids import UID_LENGTHS, new_stem, versioned_uid
    from .versioning import next_index, recompute_latest, version_label

    if stem is not None:
        uid = versioned_uid(stem, next_index(s, Transform, stem))
    else:
        uid = fields.get("uid") or versioned_uid(new_stem(UID_LENGTHS["transform"]), 0)
        if s.scalars(select(Transform.id).where(Transform.uid == uid)).first() is not None:
            raise InvalidArgument(f"The transform uid {uid} is taken.")
    now = utcnow()
    row = {k: v for k, v in fields.items() if k not in ("id", "uid", "stem_uid", "is_latest")}
    row.setdefault("version", version_label(uid))
    row.update(
        uid=uid,
        stem_uid=uid[:-4],
        is_latest=False,
        created_by_id=user,
        created_at=now,
        updated_at=now,
    )
    new_id = s.execute(insert(Transform).returning(Transform.id), row).scalar_one()
    recompute_latest(s, Transform, [uid[:-4]])
    return s.get(Transform, new_id, populate_existing=True)


def _write_transform(fn: Any, what: str) -> Transform:
    """Run ``fn(session, user_id)`` in one serialized write transaction."""
    from . import context

    user = context.user_id()

    def write(s: Session) -> Transform:
        _serialize(s)
        return fn(s, user)

    return context.write(write, what=what)


def transform_for_source(source: Source, uid: str | None = None) -> Transform:
    """The transform of ``source``: reused, its next version, or new; ``uid`` pins it."""
    from .uids import UID_LENGTHS

    if uid is not None and len(uid) not in (UID_LENGTHS["transform"], UID_LENGTHS["transform"] - 4):
        raise InvalidArgument(
            f"'{uid}' is not a transform uid: give its 16 characters or the 12-character stem."
        )
    fields = dict(
        key=source.key,
        name=source.name,
        type=source.type,
        hash=source.hash,
        source_code=source.code if source.type == "script" else None,
    )

    def run(s: Session, user: int) -> Transform:
        if uid is not None:
            return _pinned(s, uid, fields, user)
        family = _family(s, source.key, source.type)
        return _match_source(s, family, fields, user, stem=family[0].stem_uid if family else None)

    return _write_transform(run, f"recording the transform of {source.path}")


def _match_source(
    s: Session, family: list[Transform], fields: dict[str, Any], user: int, stem: str | None
) -> Transform:
    """Reuse the version with the same source (or a latest without one), else add one."""
    same = next((t for t in family if t.hash == fields["hash"]), None)
    if same is not None:
        return same
    latest = next((t for t in family if t.is_latest), None)
    if latest is not None and latest.hash is None:
        latest.hash, latest.source_code = fields["hash"], fields["source_code"]
        return latest
    if family:
        from .log import say

        say(f"the source of {fields['key']} changed: recording it as a new transform version")
    return _insert(s, fields, stem, user)


def _pinned(s: Session, uid: str, fields: dict[str, Any], user: int) -> Transform:
    from sqlalchemy import select

    from .log import warn
    from .models import Transform
    from .uids import UID_LENGTHS

    if len(uid) == UID_LENGTHS["transform"]:
        found = s.scalars(select(Transform).where(Transform.uid == uid)).first()
        if found is None:
            return _insert(s, {**fields, "uid": uid}, None, user)
        if found.hash is not None and found.hash != fields["hash"]:
            warn(
                f"the source differs from the one recorded for the pinned transform {uid}; "
                "it is kept unchanged"
            )
        return found
    family = list(
        s.scalars(select(Transform).where(Transform.stem_uid == uid).order_by(Transform.id.desc()))
    )
    if not family:
        return _insert(s, {**fields, "uid": uid + "0000"}, None, user)
    return _match_source(s, family, fields, user, stem=uid)


def transform_by_version(fields: dict[str, Any]) -> Transform:
    """The transform with this key (default: name), type and version (none given: the
    latest); else a new version of the family with this key."""
    check_type(fields.get("type") or "pipeline")
    fields = {**fields, "type": fields.get("type") or "pipeline"}
    fields["key"] = fields.get("key") or fields["name"]

    def run(s: Session, user: int) -> Transform:
        family = _family(s, fields["key"], fields["type"])
        wanted = fields.get("version")
        same = next((t for t in family if wanted is None or t.version == wanted), None)
        if same is not None:
            return same
        return _insert(s, fields, family[0].stem_uid if family else None, user)

    return _write_transform(run, f"recording the transform '{fields['name']}'")


def save_transform(obj: Transform) -> Transform:
    """``Transform.save()``: edits of a saved one; a new one is matched by key and version."""
    if obj.id is not None:
        from .artifact import save_edits

        return save_edits(obj)
    return transform_by_version(_fields_of(obj))


def _fields_of(obj: Transform) -> dict[str, Any]:
    from .models import Transform

    keys = [c.key for c in Transform.__mapper__.column_attrs]
    return {k: obj.__dict__[k] for k in keys if obj.__dict__.get(k) is not None}


def upload_transform(app_version: str) -> Transform:
    """The desktop app's upload transform for this app version (one per version)."""
    return transform_by_version(
        dict(
            key=UPLOAD_KEY,
            name="labshelf desktop upload",
            type="upload",
            version=str(app_version),
            description="files and folders dropped on labshelf",
        )
    )


# ---------------------------------------------------------------- runs


def start_run(
    transform: Transform,
    *,
    params: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
    reference: str | None = None,
    is_consecutive: bool | None = None,
) -> Run:
    """A new run of a saved transform; does not touch the process-wide active run."""
    from sqlalchemy import insert

    from . import context
    from .models import Run, utcnow
    from .uids import UID_LENGTHS, base62

    if transform.id is None:
        raise InvalidArgument(f"The transform '{transform.name}' is not saved yet.")
    user = context.user_id()
    now = utcnow()
    row = dict(
        uid=base62(UID_LENGTHS["run"]),
        transform_id=transform.id,
        started_at=now,
        params=_json_safe(params),
        environment=environment,
        reference=reference,
        is_consecutive=is_consecutive,
        created_by_id=user,
        created_at=now,
    )

    def run(s: Session) -> Run:
        new_id = s.execute(insert(Run).returning(Run.id), row).scalar_one()
        rec = s.get(Run, new_id, populate_existing=True)
        _ = rec.transform  # loaded now, usable from any thread later
        return rec

    return context.write(run, what=f"starting a run of '{transform.name}'")


def _json_safe(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise InvalidArgument("params= must be a dict of names to values.")
    try:
        return json.loads(json.dumps(params, default=str))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"params= cannot be stored as JSON: {exc}") from None


def finish_run(
    run: Run,
    *,
    report: Artifact | None = None,
    is_consecutive: bool | None = None,
    environment: dict[str, Any] | None = None,
) -> Run:
    """Set ``finished_at`` (and the report, consecutiveness, environment) of ``run``."""
    from sqlalchemy import update

    from . import context
    from .models import Run, utcnow

    values: dict[str, Any] = {"finished_at": utcnow()}
    if report is not None:
        values["report_id"] = report.id
    if is_consecutive is not None:
        values["is_consecutive"] = is_consecutive
    if environment is not None:
        values["environment"] = environment
    context.write(
        lambda s: s.execute(update(Run).where(Run.id == run.id).values(**values)),
        what=f"finishing run {run.uid}",
    )
    from sqlalchemy.orm.attributes import set_committed_value

    for name, value in values.items():
        set_committed_value(run, name, value)
    if report is not None:
        set_committed_value(run, "report", report)
    return run


def track(
    uid: str | None = None,
    *,
    transform: Transform | None = None,
    params: dict[str, Any] | None = None,
) -> Run:
    """Record the calling script, notebook or ``transform`` and start a run of it."""
    from .log import say, warn
    from .models import Transform

    source = None
    if transform is not None:
        if not isinstance(transform, Transform):
            raise InvalidArgument("transform= must be an ls.Transform(...).")
        record = (
            transform if transform.id is not None else transform_by_version(_fields_of(transform))
        )
    else:
        source = detect_source()
        record = transform_for_source(source, uid)
    run = start_run(
        record,
        params=params,
        environment=imported_packages(),
        is_consecutive=True if record.type == "script" else None,
    )
    with _lock:
        previous = _global["run"]
        _global["run"], _global["source"] = run, source
    if previous is not None:
        warn(f"run {previous.uid} was not finished with ls.finish(); it stays unfinished")
    say(
        f"tracking {record.type} '{record.name}' (transform {record.uid}, "
        f"version {record.version}), run {run.uid}"
    )
    return run


def finish() -> Run:
    """End the active run: ``finished_at``, the source code, a notebook's report."""
    from .log import say

    run, source = _global["run"], _global["source"]
    if run is None:
        raise LabshelfError("ls.finish() found no active run; call ls.track() first.")
    report = consecutive = None
    if source is not None and source.type == "notebook":
        _warn_if_unsaved(source.path, run)
        source = read_notebook(source.path)
        report = _save_report(run, source.path)
        consecutive = _is_consecutive(source.path)
    if source is not None:
        _store_source(run.transform, source)
    # packages imported since track() count too
    finish_run(run, report=report, is_consecutive=consecutive, environment=imported_packages())
    set_current_run(None)
    say(f"finished run {run.uid} of '{run.transform.name}'")
    return run


def _warn_if_unsaved(path: Path, run: Run) -> None:
    from .log import warn

    if path.exists() and path.stat().st_mtime < run.started_at.timestamp():
        warn(
            f"{path.name} was last saved before ls.track(); save the notebook before "
            "ls.finish() so that its report holds the cells you ran"
        )


def _store_source(transform: Transform, source: Source) -> None:
    """Keep the source on its transform; never overwrite a different recorded one."""
    from .log import warn

    if transform.source_code is not None:
        if transform.hash != source.hash:
            warn(
                f"{source.path.name} differs from the source recorded for transform "
                f"{transform.uid}, which is kept: track it again to record a new version"
            )
        return
    transform.source_code, transform.hash = source.code, source.hash
    from .artifact import save_edits

    save_edits(transform)


def _save_report(run: Run, path: Path) -> Artifact:
    """The notebook file as a hidden artifact, not counted among the run's outputs."""
    from sqlalchemy import update

    from . import context
    from .models import HIDDEN, Artifact

    report = Artifact(path, description=f"report of run {run.uid}")
    if report.id is None:
        report.run_id = report.transform_id = None  # it documents the run, it is no output
        report.save()
    context.write(
        lambda s: s.execute(
            update(Artifact).where(Artifact.id == report.id).values(visibility=HIDDEN)
        )
    )
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(report, "visibility", HIDDEN)
    return report


def _is_consecutive(path: Path) -> bool | None:
    """Whether the notebook's code cells ran top to bottom (execution counts 1, 2, …)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    counts = [c.get("execution_count") for c in cells if c.get("cell_type") == "code"]
    counts = [c for c in counts if c is not None]
    if not counts:
        return None
    return counts == list(range(counts[0], counts[0] + len(counts)))


# ---------------------------------------------------------------- inputs and outputs


def note_input(record: Any) -> None:
    """Record that the active run read ``record`` (never the run's own outputs)."""
    from .models import Artifact, Collection, RunInputArtifact, RunInputCollection

    run = current_run()
    if run is None or not isinstance(record, Artifact | Collection) or record.id is None:
        return
    if getattr(record, "run_id", None) == run.id:
        return
    is_artifact = isinstance(record, Artifact)
    marker = (run.uid, record.uid)  # uids, not ids: ids repeat across instances
    if marker in _noted:
        return
    link = RunInputArtifact if is_artifact else RunInputCollection
    column = link.artifact_id if is_artifact else link.collection_id
    _add_link(link, column, run.id, record.id)
    _noted.add(marker)


def _add_link(link: type, column: Any, run_id: int, record_id: int) -> None:
    from sqlalchemy import insert, select

    from . import context

    def add(s: Session) -> None:
        exists = s.execute(
            select(link.id).where(link.run_id == run_id, column == record_id)
        ).first()
        if exists is None:
            s.execute(insert(link).values({"run_id": run_id, column.key: record_id}))

    context.write(add, what="recording a run input")


def run_inputs(run: Run) -> QuerySet:
    """The artifacts ``run`` read."""
    from sqlalchemy import select

    from .models import Artifact, RunInputArtifact
    from .query import QuerySet

    ids = select(RunInputArtifact.artifact_id).where(RunInputArtifact.run_id == run.id)
    return QuerySet(Artifact, conditions=(Artifact.id.in_(ids),))


def run_outputs(run: Run) -> QuerySet:
    """The artifacts ``run`` created."""
    from .models import Artifact
    from .query import QuerySet

    return QuerySet(Artifact, conditions=(Artifact.run_id == run.id,))


def transform_runs(transform: Transform) -> QuerySet:
    """The runs of ``transform``, newest first."""
    from .models import Run
    from .query import QuerySet

    return QuerySet(Run, conditions=(Run.transform_id == transform.id,)).order_by("-started_at")


def latest_run(transform: Transform) -> Run | None:
    """The most recently started run of ``transform``."""
    return transform_runs(transform).first()
