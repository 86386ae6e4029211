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

``fix=True`` removes pending rows (and their objects), leftovers and orphans
that are older than ``grace`` (one hour by default), so a save running in
another process right now is never disturbed. Missing and corrupt objects are
only reported: the data to repair them is not here.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from . import context
from .errors import LabshelfError
from .hashing import hash_file, hash_files, hash_folder_from_hashes
from .models import PENDING, Artifact, Storage
from .storage import OBJECTS_DIR, TMP_PREFIX, is_cloud, object_key, remove_local, walk_folder
from .uids import UID_LENGTHS, is_base62

GRACE_SECONDS = 3600.0
FIXABLE = {"pending", "leftover", "orphan"}

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

    def __str__(self) -> str:
        uid = f" (artifact {self.uid})" if self.uid else ""
        done = " — removed" if self.fixed else ""
        return f"{self.kind:9} {self.storage.rstrip('/')}/{self.key}{uid}: {self.detail}{done}"


@dataclass
class DoctorReport:
    """What ``doctor`` checked and found; ``str()`` is the readable summary."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)

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
            if fixed or not any(p.kind in FIXABLE for p in self.problems)
            else "\nrun `labshelf doctor --fix` to remove pending rows, leftovers and orphans"
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems)]) + hint


def doctor(
    fix: bool = False, grace: float = GRACE_SECONDS, on_progress: DoctorProgress | None = None
) -> DoctorReport:
    """Re-hash stored objects against their records and list (``fix``: remove) leftovers;
    ``on_progress`` hears after each object checked (from the calling thread)."""
    report = DoctorReport()
    rows = context.read(
        lambda s: s.execute(select(Storage.root)).scalars().all(), what="listing storages"
    )
    tally = _Tally(on_progress)
    for root in rows:
        _check_storage(root, report, fix, grace, tally)
    return report


def _check_storage(root: str, report: DoctorReport, fix: bool, grace: float, tally: _Tally) -> None:
    if not _reachable(root, report):
        return
    records = _records(root)
    stored = [r for r in records if r["visibility"] != PENDING]
    tally.expect(stored)
    with ThreadPoolExecutor(8, thread_name_prefix="ls-doctor") as pool:
        for row, problem in zip(stored, pool.map(lambda r: _verify(root, r), stored), strict=True):
            tally.checked(row)
            if problem is not None:
                report.problems.append(problem)
    report.checked += len(stored)
    now = time.time()
    for row in records:
        if row["visibility"] == PENDING:
            _pending(root, row, report, fix and now - row["created_at"].timestamp() > grace)
    named = {object_key(r["uid"], r["suffix"] or "").split("/", 1)[1] for r in records}
    for name, mtime, kind in _objects_dir(root):
        old = mtime is None or now - mtime > grace
        if kind == "leftover" or name not in named:
            problem = Problem(
                kind if kind == "leftover" else "orphan",
                root,
                f"{OBJECTS_DIR}/{name}",
                detail=_age(now, mtime)
                + (
                    "temporary object of an interrupted save"
                    if kind == "leftover"
                    else "no record names it"
                ),
            )
            report.problems.append(problem)
            if fix and old:
                _remove(root, problem.key)
                problem.fixed = True
    if is_cloud(root):
        _incomplete_uploads(root, report, fix, now, grace)


def _reachable(root: str, report: DoctorReport) -> bool:
    """Check a cloud storage once, rather than failing on each of its objects."""
    if not is_cloud(root):
        return True
    from .cloud import check_bucket, storage_options_for

    try:
        check_bucket(root, storage_options_for(root))
    except LabshelfError as exc:
        report.problems.append(
            Problem("unreachable", root, "", detail=f"{exc} Its objects were not checked.")
        )
        return False
    return True


def _records(root: str) -> list[dict[str, Any]]:
    cols = (
        Artifact.uid,
        Artifact.key,
        Artifact.suffix,
        Artifact.size,
        Artifact.hash,
        Artifact.hash_type,
        Artifact.n_objects,
        Artifact.key_is_virtual,
        Artifact.visibility,
        Artifact.created_at,
        Artifact.id,
    )
    return context.read(
        lambda s: [
            dict(r._mapping)
            for r in s.execute(
                select(*cols)
                .join(Storage, Artifact.storage_id == Storage.id)
                .where(Storage.root == root)
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


def _verify(root: str, row: dict[str, Any]) -> Problem | None:
    key = _key(row)
    try:
        found = _verify_cloud(root, key, row) if is_cloud(root) else _verify_local(root, key, row)
    except LabshelfError as exc:
        return Problem("unreadable", root, key, row["uid"], str(exc))
    if found is None:
        return None
    kind, detail = found
    return Problem(kind, root, key, row["uid"], detail)


def _mismatch(row: dict[str, Any], got: tuple[str, str], size: int) -> tuple[str, str] | None:
    if size != row["size"]:
        return "corrupt", f"{size} bytes stored, the record says {row['size']}"
    if row["hash"] is not None and got[0] != row["hash"]:
        return "corrupt", f"the content hash is {got[0]}, the record says {row['hash']}"
    return None


def _verify_local(root: str, key: str, row: dict[str, Any]) -> tuple[str, str] | None:
    path = Path(root) / key
    if not path.exists():
        return "missing", "the object is gone"
    if row["n_objects"] is None:
        size = path.stat().st_size
        return _mismatch(row, hash_file(path, size) if size == row["size"] else ("", ""), size)
    files, _ = walk_folder(path)
    hashes = [h for h, _ in hash_files([f.path for f in files])]
    return _mismatch(row, hash_folder_from_hashes(hashes), sum(f.size for f in files))


def _verify_cloud(root: str, key: str, row: dict[str, Any]) -> tuple[str, str] | None:
    from .cloud import CloudEntry, list_objects, object_info, split_url

    scheme = split_url(root)[0]
    url = f"{root.rstrip('/')}/{key}"
    if row["n_objects"] is None:
        info = object_info(root, key)
        if info is None or info.get("type") == "directory":
            return "missing", "the object is gone"
        entry = CloudEntry(
            info["name"],
            int(info.get("size") or 0),
            (info.get("ETag") or info.get("md5Hash") or "").strip('"=') or None,
        )
        return _mismatch(row, _file_hash(scheme, root, entry, row["hash_type"]), entry.size)
    entries = list_objects(url)
    if not entries:
        return "missing", "the folder is gone"
    if row["key_is_virtual"]:  # uploaded from local files: per-file artifact hashes
        hashes = [_file_hash(scheme, root, e, None)[0] for e in entries]
    else:  # registered in place: LaminDB combines the backend's tags
        hashes = [e.tag or "" for e in entries]
    size = sum(e.size for e in entries)
    return _mismatch(row, hash_folder_from_hashes(hashes), size)


def _file_hash(scheme: str, root: str, entry: Any, hash_type: str | None) -> tuple[str, str]:
    """An object's hash from its tag when the tag is an md5 of the kind recorded, else read."""
    from .cloud import CHUNK_THRESHOLD, hash_remote_file, object_hash

    if entry.tag is not None:
        got = object_hash(scheme, entry.tag, entry.path)
        if got[1] == hash_type or (
            hash_type is None and got[1] == "md5" and entry.size <= CHUNK_THRESHOLD
        ):
            return got
    return hash_remote_file(entry.path, root, entry.size)


# ---------------------------------------------------------------- leftovers


def _pending(root: str, row: dict[str, Any], report: DoctorReport, remove: bool) -> None:
    age = _age(time.time(), row["created_at"].timestamp())
    problem = Problem("pending", root, _key(row), row["uid"], f"{age}a save that never finished")
    report.problems.append(problem)
    if not remove:
        return
    if row["key_is_virtual"]:
        _remove(root, problem.key)
    context.write(
        lambda s: s.execute(
            delete(Artifact).where(Artifact.id == row["id"], Artifact.visibility == PENDING)
        ),
        what=f"removing the pending row {row['uid']}",
    )
    problem.fixed = True


def _objects_dir(root: str) -> list[tuple[str, float | None, str]]:
    """``(name, mtime, kind)`` of each entry under ``root/.labshelf`` that labshelf made:
    temporary objects (``leftover``) and ``<uid><suffix>`` objects (``object``)."""
    if is_cloud(root):
        from .cloud import list_objects, split_url

        base = len(split_url(root)[1]) + len(split_url(root)[2]) + (2 if split_url(root)[2] else 1)
        entries: dict[str, float | None] = {}
        for e in list_objects(f"{root.rstrip('/')}/{OBJECTS_DIR}"):
            name = e.path[base:].split("/")[1]
            entries[name] = max(entries.get(name) or 0, e.mtime or 0) or None
    else:
        folder = Path(root) / OBJECTS_DIR
        entries = {e.name: e.stat().st_mtime for e in os.scandir(folder)} if folder.is_dir() else {}
    out = []
    for name, mtime in sorted(entries.items()):
        if name.startswith(TMP_PREFIX):
            out.append((name, mtime, "leftover"))
        elif _looks_like_object(name):
            out.append((name, mtime, "object"))
    return out


def _looks_like_object(name: str) -> bool:
    n = UID_LENGTHS["artifact"]
    return len(name) >= n and is_base62(name[:n]) and (len(name) == n or name[n] == ".")


def _remove(root: str, key: str) -> None:
    if is_cloud(root):
        from .cloud import remove_object

        remove_object(root, key)
    else:
        remove_local(Path(root) / key)


def _incomplete_uploads(
    root: str, report: DoctorReport, fix: bool, now: float, grace: float
) -> None:
    from .cloud import abort_upload, incomplete_uploads, split_url

    prefix = split_url(root)[2]
    for upload in incomplete_uploads(root):
        started = upload.get("Initiated")
        mtime = started.timestamp() if hasattr(started, "timestamp") else None
        key = upload["Key"][len(prefix) + 1 :] if prefix else upload["Key"]
        problem = Problem(
            "leftover", root, key, detail=_age(now, mtime) + "an incomplete multipart upload"
        )
        report.problems.append(problem)
        if fix and (mtime is None or now - mtime > grace):
            abort_upload(root, upload)
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
