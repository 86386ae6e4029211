"""Reliability fixtures: instances, worker subprocesses, catalog invariants, the numbers table.

Every scenario appends a row to the summary table (scenario, backend, repetitions, records
lost, dangling records/objects after recovery, clear-error coverage, measurements); the table
is printed at the end of the session and written to ``tests/artifacts/reliability.txt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import labshelf as ls
import pytest
from labshelf.instance import disconnect
from labshelf.storage.marker import MARKER_NAME

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("worker.py")
SUMMARY = REPO / "tests" / "artifacts" / "reliability.txt"


# ---------------------------------------------------------------- the numbers table


@dataclass
class Row:
    scenario: str
    backend: str
    reps: int
    lost: int | str = 0
    dangling: str = "0/0"
    clear_errors: str = "-"
    numbers: str = ""


_ROWS: list[Row] = []


def record(
    scenario: str,
    backend: str,
    reps: int,
    *,
    lost: int | str = 0,
    dangling: str = "0/0",
    clear_errors: str = "-",
    numbers: str = "",
) -> Row:
    """Add a line to the summary table (and print it, visible with ``-s``)."""
    row = Row(scenario, backend, reps, lost, dangling, clear_errors, numbers)
    _ROWS.append(row)
    print(
        f"[reliability] {scenario} ({backend}): reps={reps} lost={lost} "
        f"dangling(rec/obj)={dangling} clear-errors={clear_errors} {numbers}"
    )
    return row


def _table(rows_: list[Row]) -> str:
    head = (
        "scenario",
        "backend",
        "reps",
        "records lost",
        "dangling rec/obj",
        "clear errors",
        "measured",
    )
    rows = [head] + [
        (r.scenario, r.backend, str(r.reps), str(r.lost), r.dangling, r.clear_errors, r.numbers)
        for r in rows_
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = []
    for n, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]]
        lines.append(" | ".join(cells).rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 8)
    return "\n".join(lines) + "\n"


def _rows_of_this_run(run: str) -> list[Row]:
    """_ROWS, plus the rows other pytest-xdist workers of the same run wrote before (kept
    beside the table, keyed by xdist's run id); the caller holds the table's lock."""
    if not run:
        return list(_ROWS)
    rows_file = SUMMARY.with_name(SUMMARY.name + ".rows.json")
    try:
        saved = json.loads(rows_file.read_text())
    except (OSError, ValueError):
        saved = {}
    rows = [Row(**r) for r in saved.get("rows", [])] if saved.get("run") == run else []
    rows += _ROWS
    rows_file.write_text(json.dumps({"run": run, "rows": [r.__dict__ for r in rows]}))
    return rows


@pytest.fixture(scope="session", autouse=True)
def _summary_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not _ROWS:
        return
    import fcntl

    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    mode = "--long" if request.config.getoption("--long") else "default"
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    # Under pytest-xdist every worker ends its own session: each adds its rows to the table
    # the others of the same run wrote, one at a time.
    run = getattr(request.config, "workerinput", {}).get("testrunuid", "")
    with open(SUMMARY.with_name(SUMMARY.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = _table(_rows_of_this_run(run))
        SUMMARY.write_text(f"labshelf reliability run, {stamp}, {mode} mode\n\n{text}")
    print("\n" + text)


# ---------------------------------------------------------------- scale


@pytest.fixture(scope="session")
def long_run(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--long"))


@pytest.fixture(scope="session")
def scale(long_run: bool):
    """``scale(default, long)``: a repetition count for the current mode."""
    return lambda default, long: long if long_run else default


# ---------------------------------------------------------------- instances


@pytest.fixture
def pg_instance(tmp_path: Path, pg_server) -> Iterator[Path]:
    root = tmp_path / "store"
    ls.init(str(root), db=pg_server.create_database().url)
    try:
        yield root
    finally:
        disconnect()


# ---------------------------------------------------------------- worker subprocesses


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LABSHELF_QUIET"] = "1"
    env.update(extra)
    return env


def start_worker(*args: Any, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``python tests/reliability/worker.py ARGS`` in the test's environment (same instance)."""
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        cwd=REPO,
        env=env or worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish_worker(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    """Wait for a worker and return its JSON result (its last stdout line)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"worker timed out after {timeout} s (deadlock?)\n{err[-3000:]}"
        ) from None
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, f"worker failed (exit {proc.returncode}):\n{err[-3000:]}"
    return json.loads(lines[-1])


# ---------------------------------------------------------------- catalog invariants


@dataclass
class Audit:
    """What a look at the database and the storage folder found."""

    visible: int = 0
    pending: int = 0
    missing_objects: list[str] = field(default_factory=list)  # visible record, no object
    bad_objects: list[str] = field(default_factory=list)  # object bytes do not match the record
    orphan_objects: list[str] = field(default_factory=list)  # final object, no row at all
    pending_objects: list[str] = field(default_factory=list)  # final object whose row is pending
    tmp_leftovers: list[str] = field(default_factory=list)
    latest_violations: list[str] = field(default_factory=list)

    @property
    def dangling(self) -> str:
        return f"{len(self.missing_objects) + len(self.bad_objects)}/{len(self.orphan_objects)}"

    def assert_consistent(self) -> None:
        assert not self.missing_objects, (
            f"visible records without object: {self.missing_objects[:5]}"
        )
        assert not self.bad_objects, f"records whose hash does not match: {self.bad_objects[:5]}"
        assert not self.orphan_objects, f"objects without a record: {self.orphan_objects[:5]}"
        assert not self.latest_violations, self.latest_violations[:5]


def _md5_b64(path: Path) -> str:
    import base64

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")[:22]


def audit(root: Path, *, rehash: bool = True) -> Audit:
    """Check the current instance: every visible record has its (matching) object, every
    final object has a row, one ``is_latest`` per family with visible members."""
    from labshelf.hashing import hash_file, hash_folder_from_hashes
    from labshelf.instance import current
    from sqlalchemy import text

    with current().engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT uid, suffix, visibility, key_is_virtual, hash, hash_type, size, n_objects, "
                "stem_uid, is_latest FROM artifacts"
            )
        ).all()
    result = Audit()
    by_uid = {r.uid: r for r in rows}
    objects = root / ".labshelf"
    for r in rows:
        if r.visibility == -2:
            result.pending += 1
            continue
        result.visible += 1
        if not r.key_is_virtual:
            continue
        path = objects / f"{r.uid}{r.suffix or ''}"
        if not path.exists():
            result.missing_objects.append(r.uid)
            continue
        if not rehash:
            continue
        if r.n_objects is None:
            got = hash_file(path)[0] if r.hash_type != "md5" else _md5_b64(path)
        else:
            files = sorted(p for p in path.rglob("*") if p.is_file())
            got = hash_folder_from_hashes([hash_file(p)[0] for p in files])[0]
        if got != r.hash:
            result.bad_objects.append(r.uid)
    if objects.is_dir():
        for entry in os.scandir(objects):
            if entry.name.startswith("labshelf.db") or entry.name == MARKER_NAME:
                continue
            if entry.name.startswith(".tmp-"):
                result.tmp_leftovers.append(entry.name)
                continue
            uid = entry.name[:20]
            row = by_uid.get(uid)
            if row is None:
                result.orphan_objects.append(entry.name)
            elif row.visibility == -2:
                result.pending_objects.append(entry.name)
    families: dict[str, list[Any]] = {}
    for r in rows:
        families.setdefault(r.stem_uid, []).append(r)
    for stem, members in families.items():
        latest = [m for m in members if m.is_latest]
        shown = [m for m in members if m.visibility >= 0]
        if len(latest) > 1 or (shown and len(latest) != 1):
            result.latest_violations.append(
                f"family {stem}: {len(latest)} latest of {len(members)}"
            )
        elif latest and latest[0].uid != max(m.uid for m in shown):
            result.latest_violations.append(f"family {stem}: latest is not the highest version")
    return result


def run_doctor(fix: bool = False) -> Any:
    """``doctor`` (grace 0: nothing else is saving), or None while it does not exist."""
    try:
        from labshelf.doctor import doctor
    except ImportError:
        return None
    return doctor(fix=fix, grace=0)


def one_sentence(message: str) -> bool:
    """A clear error: one line, not a traceback, a SQL statement or a raw driver dump."""
    text = message.strip()
    return (
        bool(text)
        and "\n" not in text
        and "Traceback" not in text
        and len(text) < 2500
        and "sqlalchemy" not in text.lower()
        and "background on this error" not in text.lower()
        and "[sql:" not in text.lower()
    )


class _Grab(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, rec: logging.LogRecord) -> None:
        self.lines.append(self.format(rec))


@pytest.fixture
def grab_logs() -> Iterator[list[str]]:
    """Everything logged by labshelf, SQLAlchemy and the drivers, at DEBUG (secrets tests)."""
    handler = _Grab()
    loggers = [logging.getLogger(n) for n in ("", "labshelf", "sqlalchemy", "psycopg", "alembic")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler.lines
    for lg, level in old:
        lg.removeHandler(handler)
        lg.setLevel(level)
