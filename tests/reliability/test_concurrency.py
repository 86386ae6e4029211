"""Concurrent writers: several processes saving into one instance while a reader searches.

Version families: the partial unique index ``uq_artifacts_one_latest (stem_uid) WHERE
is_latest`` makes two latest rows impossible; version numbers are allocated under the
publish lock (PostgreSQL advisory transaction lock, SQLite ``BEGIN IMMEDIATE``), so
concurrent new versions of one family get unique, gap-free suffixes. A gap appears only
where a save took a number and then did not finish (its object could not be stored, the
same content was published first by someone else, or the process died: doctor removes
the pending row and the number stays unused).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current
from labshelf.uids import split_uid
from sqlalchemy import text

from .conftest import audit, finish_worker, record, start_worker


def _visible_keys(prefix: str) -> Counter:
    with current().engine().connect() as conn:
        rows = (
            conn.execute(
                text("SELECT key FROM artifacts WHERE visibility >= 0 AND key LIKE :p"),
                {"p": f"{prefix}%"},
            )
            .scalars()
            .all()
        )
    return Counter(rows)


def _writers_and_reader(
    root: Path, tmp_path: Path, n_procs: int, n_saves: int, backend: str
) -> None:
    stop = tmp_path / "stop"
    start_at = time.time() + 2.0  # every writer imports and connects first
    writers = [
        start_worker("saves", f"w{p}", n_saves, tmp_path / "src", start_at) for p in range(n_procs)
    ]
    reader = start_worker("reader", stop, "w")
    t0 = time.monotonic()
    results = [finish_worker(w, timeout=600) for w in writers]
    elapsed = time.monotonic() - t0 - 2.0
    stop.touch()
    seen = finish_worker(reader, timeout=60)

    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors[:5]
    assert seen["n_errors"] == 0, seen["errors"]
    assert seen["n_violations"] == 0, seen["violations"]
    assert seen["reads"] > 0
    keys = _visible_keys("w")
    expected = {f"w{p}/{i}.txt" for p in range(n_procs) for i in range(n_saves)}
    lost = len(expected - set(keys))
    twice = [k for k, n in keys.items() if n > 1]
    uids = [u for r in results for u in r["uids"]]
    assert lost == 0 and not twice and set(keys) == expected
    assert len(uids) == len(set(uids)) == n_procs * n_saves
    assert ls.Artifact.filter(key__startswith="w").count() == n_procs * n_saves
    state = audit(root)
    state.assert_consistent()
    assert state.pending == 0 and not state.tmp_leftovers
    total = n_procs * n_saves
    record(
        f"{n_procs} writers x {n_saves} saves + reader",
        backend,
        n_procs * n_saves,
        lost=lost,
        dangling=state.dangling,
        clear_errors="no error surfaced",
        numbers=f"{total / elapsed:.0f} saves/s overall, slowest writer "
        f"{max(r['seconds'] for r in results):.1f} s, {seen['reads']} reader passes",
    )


def test_sqlite_two_writers_and_a_reader(sqlite_instance: Path, tmp_path: Path, scale) -> None:
    _writers_and_reader(sqlite_instance, tmp_path, 2, scale(200, 1000), "sqlite")


def test_postgres_eight_writers_and_a_reader(pg_instance: Path, tmp_path: Path, scale) -> None:
    _writers_and_reader(pg_instance, tmp_path, 8, scale(40, 500), "postgresql")


@pytest.mark.parametrize("how", ["revises", "key"])
def test_same_family_new_versions_at_once(
    instance: Path, tmp_path: Path, backend: str, how: str, scale
) -> None:
    """8 processes add a version to one family at the same instant, several rounds."""
    base_file = tmp_path / "base.txt"
    base_file.write_text("version zero\n")
    base = ls.Artifact(base_file, key="shared/data.txt").save()
    n_procs, rounds = (8, scale(3, 10)) if backend == "postgresql" else (4, scale(3, 10))
    stop = tmp_path / "stop"
    start_at = time.time() + 2.0
    workers = [
        start_worker("versions", base.uid, f"p{p}", rounds, tmp_path / "src", start_at, 0.6, how)
        for p in range(n_procs)
    ]
    reader = start_worker("reader", stop, "shared")
    results = [finish_worker(w, timeout=300) for w in workers]
    stop.touch()
    seen = finish_worker(reader, timeout=60)

    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors[:5]
    assert seen["n_errors"] == 0 and seen["n_violations"] == 0, (seen["errors"], seen["violations"])
    uids = sorted(u for r in results for u in r["uids"])
    assert len(uids) == len(set(uids)) == n_procs * rounds
    family = ls.Artifact.filter(stem_uid=base.stem_uid).order_by("uid").all()
    indexes = [split_uid(a.uid)[1] for a in family]
    assert indexes == list(range(n_procs * rounds + 1)), "version suffixes are not gap-free"
    assert [a.version for a in family] == [str(i + 1) for i in indexes]
    latest = [a for a in family if a.is_latest]
    assert len(latest) == 1 and latest[0].uid == family[-1].uid
    assert all(a.key == "shared/data.txt" for a in family)
    state = audit(instance)
    state.assert_consistent()
    record(
        f"{n_procs} processes x new version of one family ({how}=)",
        backend,
        n_procs * rounds,
        lost=n_procs * rounds - len(uids),
        dangling=state.dangling,
        clear_errors="no error surfaced",
        numbers=f"suffixes 0..{indexes[-1]} gap-free, slowest save "
        f"{max(r['max_seconds'] for r in results):.2f} s, {seen['reads']} reader looks "
        "with exactly one latest",
    )


def test_trash_and_restore_while_versions_are_added(
    instance: Path, tmp_path: Path, backend: str, scale
) -> None:
    """One process trashes and restores versions of a family while others add versions."""
    base_file = tmp_path / "base.txt"
    base_file.write_text("v0\n")
    base = ls.Artifact(base_file, key="busy/data.txt").save()
    rounds, gap = scale(4, 15), 0.4
    start_at = time.time() + 2.0
    adders = [
        start_worker(
            "versions", base.uid, f"a{p}", rounds, tmp_path / "src", start_at, gap, "revises"
        )
        for p in range(3)
    ]
    flippers = [start_worker("trash_restore", base.uid, rounds * gap + 0.5, start_at)]
    stop = tmp_path / "stop"
    reader = start_worker("reader", stop, "busy")
    results = [finish_worker(w, timeout=300) for w in adders + flippers]
    stop.touch()
    seen = finish_worker(reader, timeout=60)
    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors[:5]
    # counts go down here on purpose (trash); the reader's family checks must all hold
    family_violations = [v for v in seen["violations"] if v.startswith("family")]
    assert seen["n_errors"] == 0 and not family_violations, (seen["errors"], family_violations)
    state = audit(instance)
    state.assert_consistent()
    cycles = results[-1]["cycles"]
    record(
        "trash/restore the latest version while 3 processes add versions",
        backend,
        cycles,
        lost=0,
        dangling=state.dangling,
        clear_errors="no error surfaced",
        numbers=f"{cycles} trash+restore cycles, {3 * rounds} new versions, one latest at "
        f"{seen['reads']} reader looks",
    )


def test_same_collection_new_versions_at_once(
    instance: Path, tmp_path: Path, backend: str, scale
) -> None:
    """8 processes (4 on SQLite) add a version to one collection at the same instant."""
    f = tmp_path / "seed.txt"
    f.write_text("seed\n")
    base = ls.Collection([ls.Artifact(f, key="seed.txt").save()], name="shared collection").save()
    n_procs, rounds = (8 if backend == "postgresql" else 4), scale(2, 10)
    start_at = time.time() + 2.0
    workers = [
        start_worker(
            "collection_versions", base.uid, f"c{p}", rounds, tmp_path / "src", start_at, 0.6
        )
        for p in range(n_procs)
    ]
    results = [finish_worker(w, timeout=300) for w in workers]
    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors[:5]
    family = ls.Collection.filter(stem_uid=base.stem_uid).order_by("uid").all()
    indexes = [split_uid(c.uid)[1] for c in family]
    assert indexes == list(range(n_procs * rounds + 1))
    assert [c.uid for c in family if c.is_latest] == [family[-1].uid]
    record(
        f"{n_procs} processes x new version of one collection",
        backend,
        n_procs * rounds,
        lost=0,
        dangling="-",
        clear_errors="no error surfaced",
        numbers=f"suffixes 0..{indexes[-1]} gap-free, one latest",
    )


def test_two_uploads_of_overlapping_folders(
    instance: Path, tmp_path: Path, backend: str, scale
) -> None:
    """Two ls.upload runs (threads of one process, and two processes) over folders that
    share files: every content is registered once, every object stored once."""
    n = scale(150, 1000)
    shared = tmp_path / "a"
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    for i in range(n):
        # first half only in a/, second half in both (same bytes and same relative path)
        (tmp_path / "a" / f"{i}.txt").write_text(f"file {i}\n")
        if i >= n // 2:
            (tmp_path / "b" / f"{i}.txt").write_text(f"file {i}\n")
    for i in range(n // 4):
        (tmp_path / "b" / f"only-b-{i}.txt").write_text(f"b only {i}\n")
    reports: list = [None, None]

    def run(slot: int, folder: Path) -> None:
        reports[slot] = ls.upload([folder], key_prefix="up", as_folder=False, max_workers=4)

    threads = [
        threading.Thread(target=run, args=(k, f)) for k, f in enumerate((shared, tmp_path / "b"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(r is not None and r.ok for r in reports), [str(r) for r in reports]
    expected_contents = n + n // 4
    with current().engine().connect() as conn:
        per_hash = conn.execute(
            text("SELECT hash, COUNT(*) FROM artifacts WHERE visibility >= -1 GROUP BY hash")
        ).all()
    assert len(per_hash) == expected_contents
    assert all(c == 1 for _, c in per_hash), [h for h, c in per_hash if c > 1][:5]
    state = audit(instance)
    state.assert_consistent()
    assert state.pending == 0 and not state.pending_objects and not state.tmp_leftovers
    objects = [
        e
        for e in (instance / ".labshelf").iterdir()
        if not e.name.startswith(("labshelf.db", "catalog.json"))
    ]
    assert len(objects) == expected_contents
    counts = [r.counts for r in reports]
    record(
        "2 uploads of overlapping folders (threads)",
        backend,
        2,
        lost=0,
        dangling=state.dangling,
        clear_errors="-",
        numbers=f"{expected_contents} contents, 0 duplicate records/objects; states {counts}",
    )


def test_two_upload_processes_of_overlapping_folders(
    instance: Path, tmp_path: Path, backend: str, scale
) -> None:
    n = scale(150, 1000)
    for sub in ("x", "y"):
        folder = tmp_path / sub
        folder.mkdir()
        for i in range(n):
            (folder / f"{i}.txt").write_text(f"same {i}\n" if i % 2 else f"{sub} {i}\n")
    procs = [start_worker("upload", tmp_path / sub, "-") for sub in ("x", "y")]
    results = [finish_worker(p, timeout=300) for p in procs]
    assert all(r["ok"] for r in results), results
    expected_contents = n // 2 + 2 * (n - n // 2)
    with current().engine().connect() as conn:
        per_hash = conn.execute(
            text("SELECT hash, COUNT(*) FROM artifacts WHERE visibility >= -1 GROUP BY hash")
        ).all()
    assert len(per_hash) == expected_contents and all(c == 1 for _, c in per_hash)
    state = audit(instance)
    state.assert_consistent()
    assert state.pending == 0 and not state.pending_objects and not state.tmp_leftovers
    record(
        "2 upload processes, overlapping folders",
        backend,
        2,
        lost=0,
        dangling=state.dangling,
        numbers=f"{expected_contents} contents, 0 duplicates; states "
        f"{[r['counts'] for r in results]}",
    )


def test_sqlite_write_lock_held_by_another_program(sqlite_instance: Path, tmp_path: Path) -> None:
    """Another program (the sqlite3 shell, a backup tool) holds the write lock for a few
    seconds: a save waits for it and succeeds; reads are not blocked (WAL)."""
    import sqlite3

    db = sqlite_instance / ".labshelf" / "labshelf.db"
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    f = tmp_path / "waits.txt"
    f.write_text("waits for the lock\n")
    held = 3.0
    releaser = threading.Timer(held, lambda: other.execute("COMMIT"))
    releaser.start()
    t0 = time.monotonic()
    try:
        assert ls.Artifact.filter().count() == 0  # reads go on meanwhile
        read_seconds = time.monotonic() - t0
        ls.Artifact(f, key="waits.txt").save()
        waited = time.monotonic() - t0
    finally:
        releaser.join()
        other.close()
    assert held - 0.5 < waited < held + 5
    assert read_seconds < 1
    record(
        "SQLite write lock held 3 s by another program",
        "sqlite",
        1,
        lost=0,
        clear_errors="no error surfaced",
        numbers=f"read answered in {read_seconds * 1000:.0f} ms, save waited {waited:.1f} s and "
        "succeeded; a lock held forever fails after 12 x 30 s busy timeouts",
    )


def test_init_the_same_new_instance_at_once(tmp_path: Path, backend: str, request) -> None:
    """Pipeline jobs starting together each call ls.init(path) on a new instance."""
    db = "-" if backend == "sqlite" else request.getfixturevalue("pg_server").create_database().url
    root = tmp_path / "fresh"
    n = 4
    start_at = time.time() + 2.0
    workers = [start_worker("init", root, db, start_at, f"job{k}") for k in range(n)]
    results = [finish_worker(w, timeout=120) for w in workers]
    errors = [e for r in results for e in r["errors"]]
    record(
        f"{n} processes ls.init the same new instance at once",
        backend,
        n,
        lost=sum(r["uid"] is None for r in results),
        dangling="-",
        clear_errors="no error surfaced"
        if not errors
        else f"{len(errors)} errors: {errors[0][:80]}",
    )
    assert not errors, errors
    ls.init(str(root), db=None if db == "-" else db)
    try:
        assert ls.Artifact.filter(key__startswith="init/").count() == n
        assert ls.Storage.filter().count() == 1
    finally:
        from labshelf.instance import disconnect

        disconnect()
