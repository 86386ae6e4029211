"""Issue 13, items 4 and 5: permanent delete.

Item 4: the row goes first (in its transaction), the object only after the commit. When the
row cannot go (another program holds the SQLite write lock, a PostgreSQL row lock outlasts the
statement timeout, the artifact is a collection's ``meta_artifact``), the record stays visible
*and its object stays*, and the error says nothing changed. (The code before the restructure
removed the object first and left a visible record without its object.)

Item 5: permanently deleting an artifact that belongs to collections is refused with a
sentence naming the collections (a cascade would silently change every saved collection
version); once those collections are deleted, the artifact can be.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.hashing import hash_collection
from labshelf.instance import current, disconnect
from sqlalchemy import create_engine, text

from .conftest import audit, one_sentence, record, worker_env

# Takes SQLite's write lock (BEGIN IMMEDIATE), says LOCKED, and holds it until stdin closes.
_SQLITE_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
print("LOCKED", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def _saved(tmp_path: Path, name: str) -> ls.Artifact:
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_text(f"content of {name}\n")
    return ls.Artifact(str(src), key=f"del/{name}").save()


def _object(root: Path, a: ls.Artifact) -> Path:
    return root / ".labshelf" / f"{a.uid}{a.suffix}"


def _still_whole(root: Path, a: ls.Artifact) -> None:
    """The record is visible, its object is there and holds the recorded bytes."""
    assert _object(root, a).is_file(), "the object was removed although the row stayed"
    assert ls.Artifact.filter(uid=a.uid, visibility=1).count() == 1, "the record went"
    state = audit(root)
    state.assert_consistent()


def test_a_meta_artifact_is_not_deleted_and_keeps_its_object(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    meta, member = _saved(tmp_path, "meta.csv"), _saved(tmp_path, "member.csv")
    ls.Collection([member], name="with meta", meta_artifact=meta).save()
    with pytest.raises(ls.IntegrityError) as info:
        meta.delete(permanent=True)
    message = str(info.value)
    assert "'with meta'" in message and meta.uid in message and one_sentence(message), message
    _still_whole(instance, meta)
    record(
        "permanent delete of a collection's meta artifact",
        backend,
        1,
        lost=0,
        dangling="0/0",
        clear_errors="1/1 IntegrityError naming the collection; object kept",
    )


def test_a_delete_blocked_by_the_sqlite_lock_keeps_the_object(
    sqlite_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABSHELF_SQLITE_LOCK_WAIT", "1")
    a = _saved(tmp_path, "locked.csv")
    database = current().engine().url.database
    holder = subprocess.Popen(
        [sys.executable, "-c", _SQLITE_HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        with pytest.raises(ls.DatabaseError) as info:
            a.delete(permanent=True)
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    message = str(info.value)
    assert "write lock" in message and "changed nothing" in message and one_sentence(message)
    _still_whole(sqlite_instance, a)
    a.delete(permanent=True)  # once the lock is free it goes, row and object
    assert not _object(sqlite_instance, a).exists()
    assert ls.Artifact.filter(uid=a.uid).count() == 0
    record(
        "permanent delete while another program holds the write lock",
        "sqlite",
        1,
        lost=0,
        dangling="0/0",
        clear_errors="1/1 DatabaseError; record and object kept",
    )


def test_a_delete_blocked_by_a_postgresql_row_lock_keeps_the_object(
    pg_instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _saved(tmp_path, "locked.csv")
    url = current().url.render_as_string(hide_password=False)
    name = ls.settings.instance
    disconnect()
    monkeypatch.setenv("LABSHELF_DB_STATEMENT_TIMEOUT", "1")
    ls.connect(name)  # a new engine with the 1 s statement timeout
    other = create_engine(url)
    try:
        with other.connect() as conn:
            conn.execute(text("BEGIN"))
            conn.execute(text("SELECT id FROM artifacts WHERE uid = :u FOR UPDATE"), {"u": a.uid})
            with pytest.raises(ls.DatabaseError) as info:
                a.delete(permanent=True)
            conn.execute(text("ROLLBACK"))
    finally:
        other.dispose()
    assert one_sentence(str(info.value)), str(info.value)
    _still_whole(pg_instance, a)
    record(
        "permanent delete blocked by another connection's row lock",
        "postgresql",
        1,
        lost=0,
        dangling="0/0",
        clear_errors="1/1 DatabaseError (statement timeout); record and object kept",
    )


def test_deleting_a_collection_member_is_refused_naming_the_collections(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    a, b = _saved(tmp_path, "a.csv"), _saved(tmp_path, "b.csv")
    pair = ls.Collection([a, b], name="pair").save()
    solo = ls.Collection([a], name="solo").save()
    with pytest.raises(ls.IntegrityError) as info:
        a.delete(permanent=True)
    message = str(info.value)
    assert "'pair'" in message and "'solo'" in message and a.uid in message, message
    assert one_sentence(message)
    # every saved collection version still holds what it was saved with
    for c, members in ((pair, [a, b]), (solo, [a])):
        got = ls.Collection.get(c.uid)
        assert [m.uid for m in got.artifacts] == [m.uid for m in members]
        assert got.hash == hash_collection(m.hash for m in got.artifacts)
    _still_whole(instance, a)
    # unless the collections go too
    pair.delete(permanent=True)
    solo.delete(permanent=True)
    a.delete(permanent=True)
    assert not _object(instance, a).exists() and ls.Artifact.filter(uid=a.uid).count() == 0
    assert ls.Artifact.get(b.uid).uid == b.uid
    record(
        "permanent delete of a collection member",
        backend,
        1,
        lost=0,
        dangling="0/0",
        clear_errors="1/1 IntegrityError naming both collections; versions unchanged",
    )


# Deletes an artifact permanently and dies the moment its object is to be removed: after the
# row's transaction, before the object is gone.
_KILLED_DELETE = """
import os, sys
import labshelf as ls
from labshelf.storage.local import LocalBackend

def die(self, key):
    os._exit(3)

LocalBackend.remove = die
ls.Artifact.get(sys.argv[1]).delete(permanent=True)
"""


def test_a_delete_killed_between_row_and_object_leaves_a_leftover_doctor_proves(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    a = _saved(tmp_path, "killed.csv")
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_DELETE, a.uid],
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert ls.Artifact.filter(uid=a.uid).count() == 0, "the record is still visible"
    assert _object(instance, a).is_file()  # killed before the object went
    found = ls.doctor()
    pending = found.of_kind("pending")
    assert [p.uid for p in pending] == [a.uid] and pending[0].fixable, str(found)
    assert not found.of_kind("orphan"), "doctor cannot prove the object is its own"
    fixed = ls.doctor(fix=True, grace=0)
    assert [p.uid for p in fixed.problems if p.fixed] == [a.uid]
    assert not _object(instance, a).exists()
    assert ls.doctor().ok
    audit(instance).assert_consistent()
    record(
        "permanent delete killed between the row and the object",
        backend,
        1,
        lost=0,
        dangling="0/1 until doctor --fix, then 0/0",
        clear_errors="the leftover is a pending row of this catalog: doctor proves and removes it",
    )


def test_a_collection_cannot_take_an_artifact_being_deleted(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    """An artifact whose permanent delete has hidden its row (its object going) cannot join a
    collection: the row's delete would take the membership with it."""
    a, b = _saved(tmp_path, "a.csv"), _saved(tmp_path, "b.csv")
    pending = ls.Collection([a, b], name="pair")
    with current().engine().begin() as conn:  # as the delete's first transaction leaves it
        conn.execute(text("UPDATE artifacts SET visibility = -2 WHERE uid = :u"), {"u": a.uid})
    with pytest.raises(ls.IntegrityError) as info:
        pending.save()
    message = str(info.value)
    assert a.uid in message and "'pair'" in message and one_sentence(message), message
    assert ls.Collection.filter().count() == 0
