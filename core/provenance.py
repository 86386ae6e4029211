"""Provenance: transforms and runs, ``track``/``finish``, and what a run read and made.

A *transform* is code (script, notebook, pipeline, app upload, instrument, function); a
*run* is one execution of it. Transforms are versioned by their source: constructing
``ls.Transform(key=…, source_code=…)`` returns the existing transform with that key and
source, or an unsaved next version of the key's family when the source changed (as
``ls.Artifact`` does for content). ``track()`` detects the calling script or notebook, keys
it by its path relative to the git repository (else the working directory), finds or makes
its transform and starts a run that every save and read in this process links to until
``finish()``. The GUI, the CLI and ``ls.upload`` use ``upload_transform``/``start_run``/
``finish_run``, which leave the process-wide run alone.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Mapped, Session

from . import schema
from .artifact import Artifact
from .errors import IntegrityError, InvalidArgument, LabshelfError
from .hashing import hash_bytes
from .humanize import nfc
from .keys import validate_key
from .lineage import HasLineage
from .log import say, warn
from .query import QuerySet
from .records import (
    Base,
    Record,
    VersionedRecord,
    as_saved,
    checked_names,
    delete_row,
    nfc_text,
    record_from_row,
    referenced,
    save_edits,
    sync,
)
from .registry import REGISTRIES
from .relations import Relation, columns_of
from .schema import HIDDEN, utcnow
from .session import current_run, current_source, read, set_current_run, user_id, write
from .session import note_input as _note_input
from .uids import SUFFIX_LEN, is_base62, new_stem, versioned_uid
from .users import User
from .versioning import next_index, recompute_latest, version_label

TRANSFORM_TYPES = ("notebook", "script", "pipeline", "upload", "instrument", "function")
UPLOAD_KEY = "labshelf-desktop-upload"
TRANSFORM_UID = REGISTRIES["transform"].uid_length
RUN_UID = REGISTRIES["run"].uid_length

note_input = _note_input  # re-exported: the active run's inputs are recorded in ``session``


# ---------------------------------------------------------------- the records


class Transform(VersionedRecord, Base):
    """Code that makes data: a script, notebook, pipeline, app upload, instrument, function."""

    __table__ = schema.transforms

    id: Mapped[int]
    uid: Mapped[str]
    stem_uid: Mapped[str]
    name: Mapped[str]
    key: Mapped[str | None]
    description: Mapped[str | None]
    type: Mapped[str]
    source_code: Mapped[str | None]
    hash: Mapped[str | None]
    reference: Mapped[str | None]
    reference_type: Mapped[str | None]
    version: Mapped[str | None]
    is_latest: Mapped[bool]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    created_by = Relation[User]("created_by_id", "User")

    def __new__(cls, *args: Any, **fields: Any) -> Transform:
        if not args and not fields:  # the ORM loading a row
            return super().__new__(cls)
        values = _transform_fields(args, fields)
        existing, uid = _resolve(values)
        if existing is not None:
            say(
                f"returning the existing transform {existing['uid']} ({existing['key']}, "
                f"version {existing['version']})"
            )
            return record_from_row(Transform, existing)
        obj = super().__new__(cls)
        obj.__dict__["_ls_uid"] = uid
        return obj

    def __init__(self, *args: Any, **fields: Any):
        if self.__dict__.get("id") is not None:  # an existing transform returned by __new__
            return
        if "_ls_uid" not in self.__dict__:  # Transform() without fields
            raise InvalidArgument(
                "A transform needs a name or a key, e.g. ls.Transform(key='segment cells')."
            )
        uid = self.__dict__.pop("_ls_uid")
        values = _transform_fields(args, fields)
        values.setdefault("uid", uid)
        super().__init__(**values)
        self.stem_uid = uid[:-SUFFIX_LEN]
        self.is_latest = True
        self.__dict__["_ls_pinned"] = "uid" in fields

    def save(self) -> Self:
        if self.__dict__.get("id") is not None:
            return save_edits(self)
        return save_transform(self)

    @property
    def runs(self) -> QuerySet:
        """The runs of this transform, newest first."""
        return QuerySet(Run, conditions=(Run.transform_id == self.id,)).order_by("-started_at")

    @property
    def latest_run(self) -> Run | None:
        """The most recently started run of this transform."""
        return self.runs.first()

    def delete(self, permanent: bool = False) -> None:
        """Transforms have no trash: they go for good, and only while no run uses them."""
        if not permanent:
            raise InvalidArgument(
                f"Transforms have no trash; delete(permanent=True) removes {self.uid} for good."
            )
        runs = referenced(schema.runs, schema.runs.c.transform_id, self.id)
        if runs:
            raise IntegrityError(
                f"Transform {self.uid} has {runs} run(s) whose provenance depends on it; "
                "it cannot be deleted."
            )
        arts = schema.artifacts

        def unlink(s: Session) -> None:
            s.execute(update(arts).where(arts.c.transform_id == self.id).values(transform_id=None))

        delete_row(self, unlink, what=f"deleting transform {self.uid}")
        say(f"deleted transform {self.uid} permanently")


checked_names((Transform.name, "transform name"), (Transform.key, "transform key"))
nfc_text(Transform.description)


class Run(HasLineage, Record, Base):
    """One execution of a transform."""

    __table__ = schema.runs

    id: Mapped[int]
    uid: Mapped[str]
    transform_id: Mapped[int]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    is_consecutive: Mapped[bool | None]
    reference: Mapped[str | None]
    reference_type: Mapped[str | None]
    params: Mapped[dict[str, Any] | None]
    packages: Mapped[dict[str, Any] | None]
    environment_id: Mapped[int | None]
    report_id: Mapped[int | None]
    parent_id: Mapped[int | None]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]

    transform = Relation[Transform]("transform_id", "Transform")
    report = Relation[Artifact]("report_id", "Artifact")
    environment_artifact = Relation[Artifact]("environment_id", "Artifact")
    parent = Relation["Run"]("parent_id", "Run")
    created_by = Relation[User]("created_by_id", "User")

    def __init__(self, *args: Any, **fields: Any):
        if not args and not fields:
            raise InvalidArgument("A run needs its transform: ls.Run(transform=transform).")
        env = fields.pop("environment", None)
        transform = fields.get("transform")
        if transform is None and fields.get("transform_id") is None:
            raise InvalidArgument("A run needs its transform: ls.Run(transform=transform).")
        if transform is not None and (
            not isinstance(transform, Transform) or transform.__dict__.get("id") is None
        ):
            raise InvalidArgument(
                "The transform of a run must be a saved ls.Transform; save it first."
            )
        if "params" in fields:
            fields["params"] = _json_safe(fields["params"])
        super().__init__(*args, **fields)
        if env is not None:
            self.environment = env

    @property
    def environment(self) -> Artifact | dict[str, Any] | None:
        """The run's environment: an artifact (a requirements or lock file) if one was set,
        else the versions of the packages the run imported (``track()`` records them)."""
        if self.environment_id is not None:
            return self.environment_artifact
        return self.packages

    @environment.setter
    def environment(self, value: Artifact | dict[str, Any] | None) -> None:
        if value is None or isinstance(value, Artifact):
            self.environment_artifact = value
            return
        if not isinstance(value, dict):
            raise InvalidArgument(
                "run.environment takes an artifact or a dict of package versions."
            )
        self.environment_artifact = None
        self.packages = _json_safe(value)

    @property
    def inputs(self) -> QuerySet:
        """The artifacts this run read."""
        link = schema.run_input_artifacts
        ids = select(link.c.artifact_id).where(link.c.run_id == self.id)
        return QuerySet(Artifact, conditions=(Artifact.id.in_(ids),))

    @property
    def outputs(self) -> QuerySet:
        """The artifacts this run created."""
        return QuerySet(Artifact, conditions=(Artifact.run_id == self.id,))

    @property
    def source(self) -> str | None:
        """Where the run's input came from, for people: "/data/plate on host lab-pc" (from
        ``reference`` or a ``folder`` param, and a ``host`` param), or None."""
        params = self.params if isinstance(self.params, dict) else {}
        where = self.reference or params.get("folder")
        host = params.get("host")
        if not where:
            return None
        return f"{where} on host {host}" if host else str(where)

    def _describe_provenance(self) -> list[tuple[str, str]]:
        t = self.transform
        out = [("transform", f"{t.name} ({t.type}, uid {t.uid})")] if t is not None else []
        if self.source:
            out.append(("source", self.source))
        for label, qs in (("inputs", self.inputs), ("outputs", self.outputs)):
            records = qs[:9].all()
            if records:
                listed = ", ".join(a.key or a.uid for a in records[:8])
                more = " …" if len(records) > 8 else ""
                out.append((label, f"{qs.count()}: {listed}{more}"))
        return out


# ---------------------------------------------------------------- transforms


def check_type(type_: str) -> None:
    if type_ not in TRANSFORM_TYPES:
        raise InvalidArgument(
            f"'{type_}' is not a transform type; use one of {', '.join(TRANSFORM_TYPES)}."
        )


def text_hash(code: str) -> str:
    return hash_bytes(code.encode("utf-8"))[0]


def _transform_fields(args: tuple[Any, ...], fields: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of ``ls.Transform(...)``: a name and key (either gives the other),
    a type, a version label, and the hash of the source code."""
    if args:
        raise InvalidArgument(
            "Transform() takes keyword fields only, e.g. ls.Transform(key='my pipeline')."
        )
    columns = set(columns_of(Transform)) - {"id", "stem_uid", "is_latest", "hash"}
    unknown = set(fields) - columns
    if unknown:
        raise InvalidArgument(
            f"Transform() got unknown field(s) {sorted(unknown)}; fields are {sorted(columns)}."
        )
    values = {k: v for k, v in fields.items() if v is not None}
    if not values.get("name") and not values.get("key"):
        raise InvalidArgument(
            "A transform needs a name or a key, e.g. ls.Transform(key='segment cells')."
        )
    values.setdefault("type", "pipeline")
    check_type(values["type"])
    values["key"] = validate_key(str(values.get("key") or values["name"]))
    values["name"] = nfc(str(values.get("name") or values["key"]))
    if "version" in values:
        values["version"] = str(values["version"])
    if values.get("source_code") is not None:
        values["hash"] = text_hash(str(values["source_code"]))
    uid = values.get("uid")
    if uid is not None and (len(uid) != TRANSFORM_UID or not is_base62(uid)):
        raise InvalidArgument(f"'{uid}' is not a transform uid: {TRANSFORM_UID} base62 characters.")
    return values


def _family(s: Session, key: str) -> list[Any]:
    """Every version of the transforms with this key, latest first (as row mappings)."""
    t = schema.transforms
    stmt = select(t).where(t.c.key == key).order_by(t.c.is_latest.desc(), t.c.id.desc())
    return list(s.execute(stmt).mappings())


def _match(family: list[Any], values: dict[str, Any]) -> Any | None:
    """The member of ``family`` the fields describe, or None for a new version. A version
    label used for other source is refused."""
    hash_, version = values.get("hash"), values.get("version")
    if hash_ is not None:
        same = next((t for t in family if t["hash"] == hash_), None)
        if same is not None:
            return same
        taken = next((t for t in family if version is not None and t["version"] == version), None)
        if taken is not None:
            raise InvalidArgument(
                f"Version '{version}' of transform '{values['key']}' exists with other source "
                f"code (uid {taken['uid']}); give the new source another version."
            )
        return None
    if version is not None:
        return next((t for t in family if t["version"] == version), None)
    return family[0] if family else None


def _resolve(values: dict[str, Any]) -> tuple[Any | None, str]:
    """(the saved transform ``ls.Transform(**values)`` stands for, or None; the uid a new
    one gets: its family's next version, or a new family's first)."""
    t = schema.transforms
    if values.get("uid") is not None:
        row = read(
            lambda s: s.execute(select(t).where(t.c.uid == values["uid"])).mappings().first()
        )
        return row, values["uid"]

    def find(s: Session) -> tuple[Any | None, str]:
        family = _family(s, values["key"])
        same = _match(family, values)
        if same is not None or not family:
            return same, versioned_uid(new_stem(TRANSFORM_UID), 0)
        stem = family[0]["stem_uid"]
        return None, versioned_uid(stem, next_index(s, Transform, stem))

    return read(find, what=f"looking up the transform '{values['key']}'")


def _serialize(s: Session) -> None:
    """One transform writer at a time (SQLite's BEGIN IMMEDIATE already is)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(7232)"))


def _insert(s: Session, values: dict[str, Any], stem: str | None, user: int) -> Any:
    """Insert the next version of the family ``stem`` (None: a new family, with the uid in
    ``values`` if there is one) and flip ``is_latest``; the new row."""
    t = schema.transforms
    if stem is not None:
        uid = versioned_uid(stem, next_index(s, Transform, stem))
    else:
        uid = values.get("uid") or versioned_uid(new_stem(TRANSFORM_UID), 0)
        if s.execute(select(t.c.id).where(t.c.uid == uid)).first() is not None:
            raise InvalidArgument(f"The transform uid {uid} is taken.")
    now = utcnow()
    row = {k: v for k, v in values.items() if k in t.c and k not in ("id", "uid", "stem_uid")}
    row.setdefault("version", version_label(uid))
    row.update(
        uid=uid,
        stem_uid=uid[:-SUFFIX_LEN],
        is_latest=False,
        created_by_id=user,
        created_at=now,
        updated_at=now,
    )
    new_id = s.execute(insert(t).returning(t.c.id), row).scalar_one()
    recompute_latest(s, Transform, [uid[:-SUFFIX_LEN]])
    return s.execute(select(t).where(t.c.id == new_id)).mappings().one()


def _write_transform(fn: Any, what: str) -> Any:
    """Run ``fn(session, user_id)`` in one serialized write transaction."""
    user = user_id()

    def run(s: Session) -> Any:
        _serialize(s)
        return fn(s, user)

    return write(run, what=what)


_T = TypeVar("_T", bound="Transform")  # save_transform() returns the very object it saves


def save_transform(obj: _T) -> _T:
    """Save a new transform: the match is made again under the writers' lock, so two
    processes saving the same transform get one record; else the family's next version."""
    values = {k: v for k, v in obj.__dict__.items() if k in columns_of(Transform) and v is not None}
    values.setdefault("type", "pipeline")
    pinned = bool(obj.__dict__.get("_ls_pinned"))  # else the uid is provisional (see __init__)

    def run(s: Session, user: int) -> Any:
        if pinned:
            t = schema.transforms
            found = s.execute(select(t).where(t.c.uid == values["uid"])).mappings().first()
            return found or _insert(s, values, None, user)
        family = _family(s, values["key"])
        same = _match(family, values)
        if same is not None:
            return same
        return _insert(s, values, family[0]["stem_uid"] if family else None, user)

    row = _write_transform(run, f"saving the transform '{values.get('key')}'")
    as_saved(obj, dict(row))
    return obj


def transform_for_source(source: Source, uid: str | None = None) -> Transform:
    """The transform of ``source``: reused, its next version, or new; ``uid`` pins it."""
    if uid is not None and len(uid) not in (TRANSFORM_UID, TRANSFORM_UID - SUFFIX_LEN):
        raise InvalidArgument(
            f"'{uid}' is not a transform uid: give its {TRANSFORM_UID} characters or the "
            f"{TRANSFORM_UID - SUFFIX_LEN}-character stem."
        )
    values = dict(
        key=source.key,
        name=source.name,
        type=source.type,
        hash=source.hash,
        source_code=source.code if source.type == "script" else None,
    )

    def run(s: Session, user: int) -> Any:
        if uid is not None:
            return _pinned(s, uid, values, user)
        family = _family(s, source.key)
        return _match_source(s, family, values, user)

    row = _write_transform(run, f"recording the transform of {source.path}")
    return record_from_row(Transform, row)


def _match_source(s: Session, family: list[Any], values: dict[str, Any], user: int) -> Any:
    """Reuse the version with the same source (or a latest without one), else add one."""
    same = next((t for t in family if t["hash"] == values["hash"]), None)
    if same is not None:
        return same
    latest = next((t for t in family if t["is_latest"]), None)
    if latest is not None and latest["hash"] is None:
        t = schema.transforms
        s.execute(
            update(t)
            .where(t.c.id == latest["id"])
            .values(hash=values["hash"], source_code=values["source_code"])
        )
        return s.execute(select(t).where(t.c.id == latest["id"])).mappings().one()
    if family:
        say(f"the source of {values['key']} changed: recording it as a new transform version")
    return _insert(s, values, family[0]["stem_uid"] if family else None, user)


def _pinned(s: Session, uid: str, values: dict[str, Any], user: int) -> Any:
    t = schema.transforms
    if len(uid) == TRANSFORM_UID:
        found = s.execute(select(t).where(t.c.uid == uid)).mappings().first()
        if found is None:
            return _insert(s, {**values, "uid": uid}, None, user)
        if found["hash"] is not None and found["hash"] != values["hash"]:
            warn(
                f"the source differs from the one recorded for the pinned transform {uid}; "
                "it is kept unchanged"
            )
        return found
    family = list(
        s.execute(select(t).where(t.c.stem_uid == uid).order_by(t.c.id.desc())).mappings()
    )
    if not family:
        return _insert(s, {**values, "uid": uid + "0000"}, None, user)
    return _match_source(s, family, values, user)


def upload_transform(app_version: str, key: str = UPLOAD_KEY, name: str | None = None) -> Transform:
    """An upload transform (the desktop app's by default) of this version (one per version)."""
    return Transform(
        key=key,
        name=name or "labshelf desktop upload",
        type="upload",
        version=str(app_version),
        description="files and folders dropped on labshelf",
    ).save()


# ---------------------------------------------------------------- runs


def _json_safe(params: Any) -> dict[str, Any] | None:
    if params is None:
        return None
    if not isinstance(params, dict):
        raise InvalidArgument("params= must be a dict of names to values.")
    try:
        return json.loads(json.dumps(params, default=str))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"params= cannot be stored as JSON: {exc}") from None


def start_run(
    transform: Transform,
    *,
    params: dict[str, Any] | None = None,
    environment: dict[str, Any] | Artifact | None = None,
    reference: str | None = None,
    reference_type: str | None = None,
    is_consecutive: bool | None = None,
) -> Run:
    """A new run of a saved transform; does not touch the process-wide active run.
    ``reference`` says where its input came from (a dropped folder, a watched folder, a
    URL), ``reference_type`` what kind of place that is."""
    if not isinstance(transform, Transform) or transform.__dict__.get("id") is None:
        raise InvalidArgument(
            f"The transform '{getattr(transform, 'name', transform)}' is not saved yet."
        )
    run = Run(
        transform=transform, params=params, reference=reference, reference_type=reference_type
    )
    if environment is not None:
        run.environment = environment
    run.is_consecutive = is_consecutive
    return run.save()


def finish_run(
    run: Run,
    *,
    report: Artifact | None = None,
    is_consecutive: bool | None = None,
    environment: dict[str, Any] | Artifact | None = None,
) -> Run:
    """Set ``finished_at`` (and the report, consecutiveness, environment) of ``run``."""
    run.finished_at = utcnow()
    if report is not None:
        run.report = report
    if is_consecutive is not None:
        run.is_consecutive = is_consecutive
    if environment is not None:
        run.environment = environment
    return run.save()


def record_inputs(run: Run, records: list[Any]) -> None:
    """Record artifacts or collections as inputs of ``run`` (e.g. a collection's members)."""
    rows = [r for r in records if r.__dict__.get("id") is not None and r.run_id != run.id]
    if not rows:
        return
    link = schema.run_input_artifacts

    def add(s: Session) -> None:
        have = set(s.execute(select(link.c.artifact_id).where(link.c.run_id == run.id)).scalars())
        new = [{"run_id": run.id, "artifact_id": r.id} for r in rows if r.id not in have]
        if new:
            s.execute(insert(link), new)

    write(add, what=f"recording the inputs of run {run.uid}")


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


def code_key(path: Path) -> str:
    """A script's or notebook's transform key: its path relative to the root of the git
    repository it lies in, else to the working directory, else its absolute path without the
    leading '/' — never the bare file name (two ``run.py`` in two folders are two families)."""
    path = path.resolve()
    for parent in path.parents:
        if (parent / ".git").exists():
            return validate_key(path.relative_to(parent).as_posix())
    try:
        return validate_key(path.relative_to(Path.cwd().resolve()).as_posix())
    except ValueError:
        return validate_key(path.as_posix().lstrip("/"))


def read_notebook(path: Path) -> Source:
    """Key, name (first heading) and code cells of a notebook file."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except FileNotFoundError:
        raise InvalidArgument(f"The notebook {path} does not exist; save it first.") from None
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"The notebook {path} cannot be read: {exc}") from None
    code = "\n\n".join(_cell_text(c) for c in cells if c.get("cell_type") == "code")
    name = next((h for c in cells if (h := _heading(c))), path.name)
    return Source(path, "notebook", code_key(path), name, code, text_hash(code))


def _cell_text(cell: dict[str, Any]) -> str:
    text_ = cell.get("source", "")
    return "".join(text_) if isinstance(text_, list) else str(text_)


def _heading(cell: dict[str, Any]) -> str | None:
    if cell.get("cell_type") != "markdown":
        return None
    lines = _cell_text(cell).strip().splitlines()
    if not lines or not lines[0].startswith("#"):
        return None
    return lines[0].lstrip("#").strip() or None


def read_script(path: Path) -> Source:
    """Key (path in its repository), name (docstring's first line or file name) and text."""
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"The script {path} cannot be read: {exc}") from None
    try:
        doc = ast.get_docstring(ast.parse(code)) or ""
    except SyntaxError:
        doc = ""
    name = doc.strip().splitlines()[0].strip() if doc.strip() else path.name
    return Source(path, "script", code_key(path), name, code, text_hash(code))


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


# ---------------------------------------------------------------- track and finish


def track(
    uid: str | None = None,
    *,
    transform: Transform | None = None,
    params: dict[str, Any] | None = None,
) -> Run:
    """Record the calling script, notebook or ``transform`` and start a run of it."""
    source = None
    if transform is not None:
        if not isinstance(transform, Transform):
            raise InvalidArgument("transform= must be an ls.Transform(...).")
        if transform.type in ("script", "notebook"):
            raise InvalidArgument(
                f"A {transform.type} is tracked by calling ls.track() in the {transform.type} "
                "itself (labshelf reads its source then); pass transform= for pipelines, "
                "functions and other code."
            )
        record = transform if transform.__dict__.get("id") is not None else transform.save()
    else:
        source = detect_source()
        record = transform_for_source(source, uid)
    run = start_run(
        record,
        params=params,
        environment=imported_packages(),
        is_consecutive=True if record.type == "script" else None,
    )
    previous = set_current_run(run, source)
    if previous is not None:
        warn(f"run {previous.uid} was not finished with ls.finish(); it stays unfinished")
    say(
        f"tracking {record.type} '{record.name}' (transform {record.uid}, "
        f"version {record.version}), run {run.uid}"
    )
    return run


def finish() -> Run:
    """End the active run: ``finished_at``, the source code, a notebook's report."""
    run, source = current_run(), current_source()
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
    if path.exists() and path.stat().st_mtime < run.started_at.timestamp():
        warn(
            f"{path.name} was last saved before ls.track(); save the notebook before "
            "ls.finish() so that its report holds the cells you ran"
        )


def _store_source(transform: Transform, source: Source) -> None:
    """Keep the source on its transform; never overwrite a different recorded one."""
    if transform.source_code is not None:
        if transform.hash != source.hash:
            warn(
                f"{source.path.name} differs from the source recorded for transform "
                f"{transform.uid}, which is kept: track it again to record a new version"
            )
        return
    transform.source_code, transform.hash = source.code, source.hash
    save_edits(transform)


def _save_report(run: Run, path: Path) -> Artifact:
    """The notebook file as a hidden artifact, not counted among the run's outputs."""
    report = Artifact(path, description=f"report of run {run.uid}")
    if report.__dict__.get("id") is None:
        report.run_id = report.transform_id = None  # it documents the run, it is no output
        report.save()
    arts = schema.artifacts
    write(
        lambda s: s.execute(update(arts).where(arts.c.id == report.id).values(visibility=HIDDEN)),
        what="hiding a run's report",
    )
    sync(report, visibility=HIDDEN)
    return report


def _is_consecutive(path: Path) -> bool | None:
    """Whether the notebook's code cells ran top to bottom (execution counts 1, 2, …)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    counts = [c.get("execution_count") for c in cells if c.get("cell_type") == "code"]
    counts = [c for c in counts if c is not None]
    if not counts:
        return None
    return counts == list(range(counts[0], counts[0] + len(counts)))
