"""``doctor``: check stored objects against their records and find what interrupted
saves left behind.

It re-hashes every artifact's object (local files are read; cloud objects are
compared through the md5 the backend reports, or read in ranges when it reports
none that fits) and lists:

- ``missing`` / ``corrupt``: a record whose object is gone or holds other bytes;
- ``pending``: a row of a save that never finished (invisible to queries);
- ``leftover``: a temporary object (``.labshelf/.tmp-…``) or an incomplete S3
  multipart upload;
- ``orphan``: an object under ``.labshelf/`` that no record names;
- ``unreachable`` / ``unreadable``: a cloud storage or an object that could not be checked.

Doctor always finishes: one object's trouble (a folder replaced by a file, a file that
cannot be read, an object that cannot be removed) is one problem in the report, never an
exception that ends the check.

``fix=True`` removes only what doctor can prove is this catalog's own leftover, older than
``grace`` (one hour by default, so a save or delete running in another process right now is
never disturbed): pending rows (of saves that never finished, or permanent deletes
interrupted after the row was hidden) with their objects, and temporary objects and
incomplete uploads whose name carries the uid of one of this catalog's rows. An object no row
of this catalog names (an ``orphan``, or a temporary object of nobody known) is never
removed: it may belong to another catalog on the same storage, or to a lost database; the
report says so. Missing and corrupt objects are only reported: the data to repair them is
not here. A storage whose marker names another catalog is only checked for this catalog's
records; nothing under its ``.labshelf/`` is listed or touched.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from . import schema, statcache
from .errors import LabshelfError
from .humanize import printable
from .instance import current
from .keys import OBJECTS_DIR, TMP_PREFIX, is_cloud, object_key
from .registry import REGISTRIES
from .schema import PENDING
from .session import read, write
from .storage import Backend, Expected
from .storage.base import WrongKind
from .storage.marker import MARKER_KEY
from .uids import is_base62

A, S = schema.artifacts.c, schema.storages.c
ARTIFACT_UID = REGISTRIES["artifact"].uid_length

GRACE_SECONDS = 3600.0

# on_progress(objects_checked, objects_total, bytes_checked, bytes_total); the totals grow
# as each storage's records are listed
DoctorProgress = Callable[[int, int, int, int], None]


@dataclass
class _Tally:
    on_progress: DoctorProgress | None
    done: int = 0
    total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0

    def expect(self, rows: list[dict[str, Any]]) -> None:
        self.total += len(rows)
        self.bytes_total += sum(r["size"] or 0 for r in rows)
        self.tell()

    def checked(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.bytes_done += row["size"] or 0
        self.tell()

    def tell(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, self.bytes_done, self.bytes_total)


@dataclass
class Problem:
    """One finding: what kind, where, for which record, and whether ``fix`` removed it."""

    kind: str
    storage: str
    key: str
    uid: str | None = None
    detail: str = ""
    fixed: bool = False
    fixable: bool = False  # provably this catalog's own leftover: ``fix`` removes it

    def __str__(self) -> str:
        uid = f" (artifact {self.uid})" if self.uid else ""
        done = " — removed" if self.fixed else ""
        where = printable(f"{self.storage.rstrip('/')}/{self.key}")
        return f"{self.kind:9} {where}{uid}: {printable(self.detail)}{done}"


@dataclass
class DoctorReport:
    """What ``doctor`` checked and found; ``str()`` is the readable summary."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why ``fix`` left a storage alone

    @property
    def ok(self) -> bool:
        return not [p for p in self.problems if not p.fixed]

    def of_kind(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    def __str__(self) -> str:
        if not self.problems:
            return f"checked {self.checked} stored object(s): all match their records; nothing left over"
        fixed = sum(p.fixed for p in self.problems)
        head = f"checked {self.checked} stored object(s); {len(self.problems)} problem(s)"
        head += f", {fixed} removed" if fixed else ""
        hint = (
            ""
            if fixed or self.refused or not any(p.fixable for p in self.problems)
            else "\nrun `labshelf doctor --fix` to remove the pending rows and leftovers of this "
            "catalog's own saves"
        )
        notes = [f"not fixed: {why}" for why in self.refused]
        return "\n".join([head, *(f"  {p}" for p in self.problems), *notes]) + hint


def doctor(
    fix: bool = False, grace: float = GRACE_SECONDS, on_progress: DoctorProgress | None = None
) -> DoctorReport:
    """Re-hash stored objects against their records and list (``fix``: remove) leftovers;
    ``on_progress`` hears after each object checked (from the calling thread). Every byte is
    read: the stat cache is bypassed (no check of stored bytes asks for it anyway)."""
    report = DoctorReport()
    rows = read(lambda s: s.execute(select(S.root)).scalars().all(), what="listing storages")
    tally = _Tally(on_progress)
    with statcache.bypass():
        for root in rows:
            _check_storage(current().backend(root), report, fix, grace, tally)
    return report


def _check_storage(
    backend: Backend, report: DoctorReport, fix: bool, grace: float, tally: _Tally
) -> None:
    root = backend.root
    if not _reachable(backend, report):
        return
    records = _records(root)
    stored = [r for r in records if r["visibility"] != PENDING]
    tally.expect(stored)
    with ThreadPoolExecutor(8, thread_name_prefix="ls-doctor") as pool:
        for row, problem in zip(
            stored, pool.map(lambda r: _verify(backend, r), stored), strict=True
        ):
            tally.checked(row)
            if problem is not None:
                report.problems.append(problem)
    report.checked += len(stored)
    if _managed_elsewhere(backend, report):
        return
    now = time.time()
    for row in records:
        if row["visibility"] == PENDING:
            _pending(backend, row, report, fix and now - row["updated_at"].timestamp() > grace)
    own = {r["uid"] for r in records}
    named = {object_key(r["uid"], r["suffix"] or "").split("/", 1)[1] for r in records}
    try:
        objects = _objects_dir(backend)
    except (LabshelfError, OSError) as exc:
        report.problems.append(
            Problem(
                "unreadable",
                root,
                OBJECTS_DIR,
                detail=f"{_reason(exc, 'the folder')}; leftovers were not looked for",
            )
        )
        objects = []
    unproven = 0
    for name, mtime, kind in objects:
        if kind == "object" and name in named:
            continue
        ours = kind == "leftover" and _uid_in(name, own)
        if kind == "leftover":
            detail = "temporary object of an interrupted save" + (
                "" if ours else "; no row of this catalog names it, so doctor leaves it"
            )
        else:
            detail = "no row of this catalog names it; doctor never removes what it cannot prove is its own"
        problem = Problem(
            "leftover" if kind == "leftover" else "orphan",
            root,
            f"{OBJECTS_DIR}/{name}",
            detail=_age(now, mtime) + detail,
            fixable=ours,
        )
        report.problems.append(problem)
        unproven += not ours
        if fix and ours and (mtime is None or now - mtime > grace):
            _fix(backend, problem)
    if fix and unproven:
        report.refused.append(_left_alone(root, unproven, records))
    try:
        _incomplete_uploads(backend, report, fix, now, grace, own)
    except (LabshelfError, OSError) as exc:
        detail = _reason(exc, "the bucket")
        report.problems.append(
            Problem("unreadable", root, "", detail=f"incomplete uploads not listed: {detail}")
        )


def _managed_elsewhere(backend: Backend, report: DoctorReport) -> bool:
    """Whether another catalog's marker is on this root: then nothing under its
    ``.labshelf/`` is this catalog's to list or clean (and the report says so)."""
    guard = getattr(backend, "guard", None)  # Instance.backend's guard (storage.marker)
    if guard is None:
        return False
    try:
        marker = guard.owner(backend)
    except (LabshelfError, OSError) as exc:
        report.problems.append(Problem("unreadable", backend.root, MARKER_KEY, detail=_reason(exc)))
        return True
    if marker is None or marker.instance_id == guard.instance_id:
        return False
    report.refused.append(
        f"{backend.root} is managed by another catalog ('{marker.instance_name}', id "
        f"{marker.instance_id}); its objects under {OBJECTS_DIR}/ were not listed, and doctor "
        "never changes anything there"
    )
    return True


def _uid_in(name: str, uids: set[str]) -> bool:
    """Whether a temporary name (``.tmp-<uid><suffix>-<random>``) carries one of ``uids``."""
    rest = name[len(TMP_PREFIX) :] if name.startswith(TMP_PREFIX) else name
    return rest[:ARTIFACT_UID] in uids


def _left_alone(root: str, count: int, records: list[dict[str, Any]]) -> str:
    where = f"{root.rstrip('/')}/{OBJECTS_DIR}/"
    if not any(r["key_is_virtual"] for r in records):
        return (
            f"the catalog holds no record of any of the {count} object(s) under {where}, so its "
            "database was lost or replaced, or another catalog manages this storage; doctor "
            "removes nothing there: connect the catalog that made them, or restore its database"
        )
    return (
        f"{count} object(s) under {where} are named by no row of this catalog, so doctor left "
        "them (it removes only the leftovers of this catalog's own saves): they may belong to "
        "another catalog or a lost database; delete them by hand once you know nobody needs them"
    )


def _reason(exc: BaseException, subject: str = "the object") -> str:
    """One sentence part for an error met while checking (no traceback, no class name)."""
    if isinstance(exc, LabshelfError):
        return str(exc).rstrip(".")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{subject} cannot be read: {(exc.strerror or 'an I/O error').lower()}{where}"
    return f"{subject} cannot be read"


def _remove(backend: Backend, key: str) -> str | None:
    """Remove an object; None if done, else why not (a sentence part)."""
    try:
        backend.remove(key)
    except (LabshelfError, OSError) as exc:
        return f"it could not be removed: {_reason(exc)}"
    return None


def _fix(backend: Backend, problem: Problem) -> None:
    why = _remove(backend, problem.key)
    if why is None:
        problem.fixed = True
    else:
        problem.detail += f"; {why}"


def _reachable(backend: Backend, report: DoctorReport) -> bool:
    """Check a cloud storage once, rather than failing on each of its objects."""
    root = backend.root
    if not is_cloud(root):
        return True
    try:
        backend.ensure()
    except LabshelfError as exc:
        report.problems.append(
            Problem("unreachable", root, "", detail=f"{exc} Its objects were not checked.")
        )
        return False
    return True


def _records(root: str) -> list[dict[str, Any]]:
    cols = (
        A.uid,
        A.key,
        A.suffix,
        A.size,
        A.hash,
        A.hash_type,
        A.n_objects,
        A.key_is_virtual,
        A.visibility,
        A.created_at,
        A.updated_at,
        A.id,
    )
    return read(
        lambda s: [
            dict(r._mapping)
            for r in s.execute(
                select(*cols).join(schema.storages, A.storage_id == S.id).where(S.root == root)
            )
        ],
        what=f"listing the artifacts of {root}",
    )


def _age(now: float, mtime: float | None) -> str:
    if mtime is None:
        return ""
    minutes = (now - mtime) / 60
    return f"{minutes:.0f} min old, " if minutes < 120 else f"{minutes / 60:.0f} h old, "


# ---------------------------------------------------------------- verifying objects


def _key(row: dict[str, Any]) -> str:
    return object_key(row["uid"], row["suffix"] or "") if row["key_is_virtual"] else row["key"]


def _verify(backend: Backend, row: dict[str, Any]) -> Problem | None:
    key, root = _key(row), backend.root
    expected = Expected(
        row["hash"], row["hash_type"], row["size"], row["n_objects"], not row["key_is_virtual"]
    )
    try:
        found = backend.content_hash(key, expected)
    except WrongKind as exc:
        return Problem("corrupt", root, key, row["uid"], str(exc))
    except (LabshelfError, OSError) as exc:  # permission denied, an I/O error…: reported
        return Problem("unreadable", root, key, row["uid"], _reason(exc))
    if found is None:
        gone = "the object is gone" if row["n_objects"] is None else "the folder is gone"
        return Problem("missing", root, key, row["uid"], gone)
    mismatch = _mismatch(row, found[0], found[1])
    if mismatch is None:
        return None
    return Problem(mismatch[0], root, key, row["uid"], mismatch[1])


def _mismatch(row: dict[str, Any], got: str, size: int) -> tuple[str, str] | None:
    if size != row["size"]:
        return "corrupt", f"{size} bytes stored, the record says {row['size']}"
    if row["hash"] is not None and got != row["hash"]:
        return "corrupt", f"the content hash is {got}, the record says {row['hash']}"
    return None


# ---------------------------------------------------------------- leftovers


def _pending(backend: Backend, row: dict[str, Any], report: DoctorReport, remove: bool) -> None:
    age = _age(time.time(), row["updated_at"].timestamp())
    problem = Problem(
        "pending",
        backend.root,
        _key(row),
        row["uid"],
        f"{age}a save or permanent delete that never finished",
        fixable=True,
    )
    report.problems.append(problem)
    if not remove:
        return
    if row["key_is_virtual"]:
        why = _remove(backend, problem.key)
        if why is not None:  # keep the row: it names the object that is still there
            problem.detail += f"; {why}"
            return
    write(
        lambda s: s.execute(
            delete(schema.artifacts).where(A.id == row["id"], A.visibility == PENDING)
        ),
        what=f"removing the pending row {row['uid']}",
    )
    problem.fixed = True


def _objects_dir(backend: Backend) -> list[tuple[str, float | None, str]]:
    """``(name, mtime, kind)`` of each entry under ``root/.labshelf`` that labshelf made:
    temporary objects (``leftover``) and ``<uid><suffix>`` objects (``object``)."""
    out = []
    for name, mtime in sorted(backend.objects()):
        if name.startswith(TMP_PREFIX):
            out.append((name, mtime, "leftover"))
        elif _looks_like_object(name):
            out.append((name, mtime, "object"))
    return out


def _looks_like_object(name: str) -> bool:
    n = ARTIFACT_UID
    return len(name) >= n and is_base62(name[:n]) and (len(name) == n or name[n] == ".")


def _incomplete_uploads(
    backend: Backend, report: DoctorReport, fix: bool, now: float, grace: float, own: set[str]
) -> None:
    prefix = getattr(backend, "prefix", "")
    for upload in backend.incomplete_uploads():
        started: Any = upload.get("Initiated")  # a datetime from S3
        mtime = started.timestamp() if hasattr(started, "timestamp") else None
        key = upload["Key"][len(prefix) + 1 :] if prefix else upload["Key"]
        ours = _uid_in(key.split("/", 1)[-1], own)
        problem = Problem(
            "leftover",
            backend.root,
            key,
            detail=_age(now, mtime)
            + "an incomplete multipart upload"
            + ("" if ours else "; no row of this catalog names it, so doctor leaves it"),
            fixable=ours,
        )
        report.problems.append(problem)
        if fix and ours and (mtime is None or now - mtime > grace):
            backend.abort_upload(upload)
            problem.fixed = True


class _CallableModule(types.ModuleType):
    """``ls.doctor(...)`` works even after ``import labshelf.doctor``: importing the submodule
    makes ``labshelf.doctor`` this module instead of the function ``core`` exports lazily."""

    def __call__(
        self,
        fix: bool = False,
        grace: float = GRACE_SECONDS,
        on_progress: DoctorProgress | None = None,
    ) -> DoctorReport:
        return doctor(fix, grace, on_progress)


sys.modules[__name__].__class__ = _CallableModule
