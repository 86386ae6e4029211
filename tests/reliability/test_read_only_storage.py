"""Issue 13, item 14: a read-only storage can be read.

The catalog on a read-only mount, or in a ``.labshelf`` folder this process may not write, is
opened read-only (``mode=ro``; ``immutable`` where SQLite cannot keep its WAL index beside it),
labshelf says so once, reads, queries, ``describe()`` and ``load()`` work, and every change is
refused with one sentence naming the folder. With PostgreSQL the database stays writable and a
save into the read-only storage is refused before a byte is copied.

The checks run in a child process that really cannot write: inside a private mount namespace
with the storage bind-mounted read-only (``unshare -m``, root only), or with root's
file-permission override dropped (``setpriv``) and ``.labshelf`` made read-only.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import disconnect

from .conftest import one_sentence, record

CODE = """
import json, sys
import labshelf as ls
out, errors = {}, {}
out["count"] = ls.Artifact.filter().count()
out["keys"] = sorted(a.key for a in ls.Artifact.filter())
out["search"] = sorted(a.key for a in ls.Artifact.search("ro/"))
a = ls.Artifact.get(key="ro/a.csv")
out["load"] = a.load().shape[0]
out["described"] = "ro/a.csv" in a.describe(print_it=False)
out["folder"] = sorted(p.name for p in ls.Artifact.get(key="ro/folder").cache().iterdir())
def attempt(name, fn):
    try:
        fn()
    except ls.LabshelfError as exc:
        errors[name] = [type(exc).__name__, str(exc)]
attempt("save", lambda: ls.Artifact(sys.argv[1], key="ro/new.csv").save())
def edit():
    a.description = "edited"
    a.save()
attempt("edit", edit)
attempt("collection", lambda: ls.Collection([a], name="c").save())
out["errors"] = errors
out["count_after"] = ls.Artifact.filter().count()
out["description"] = ls.Artifact.get(a.uid).description
print(json.dumps(out))
"""


def _can_bind_read_only() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    done = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    return done.returncode == 0


def _child(argv_prefix: list[str], new_file: Path) -> tuple[dict, str]:
    env = dict(os.environ)
    env.pop("LABSHELF_QUIET", None)  # the one "read-only" notice is part of the check
    out = subprocess.run(
        [*argv_prefix, sys.executable, "-c", CODE, str(new_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, f"exit {out.returncode}:\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _read_only_mount(folder: Path) -> list[str]:
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", str(folder)]


def _no_write_permission() -> list[str]:
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is needed to drop root's file-permission override")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


def _fill(root: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "folder").mkdir(parents=True)
    (src / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (src / "folder" / "f1.txt").write_text("1")
    (src / "folder" / "f2.txt").write_text("2")
    (src / "new.csv").write_text("x\n9\n")
    ls.Artifact(str(src / "a.csv"), key="ro/a.csv", description="kept").save()
    ls.Artifact(str(src / "folder"), key="ro/folder").save()
    return src / "new.csv"


def _check(result: dict, stderr: str, *, database_read_only: bool, where: Path) -> None:
    assert result["count"] == 2 and result["keys"] == ["ro/a.csv", "ro/folder"]
    assert result["search"] == ["ro/a.csv", "ro/folder"]
    assert result["load"] == 2 and result["described"]
    assert result["folder"] == ["f1.txt", "f2.txt"]
    errors = result["errors"]
    assert errors["save"][0] in ("DatabaseError", "StorageError"), errors
    assert str(where) in errors["save"][1] and "read-only" in errors["save"][1], errors
    for _kind, message in errors.values():
        assert one_sentence(message), message
    assert result["count_after"] == 2
    if database_read_only:
        assert set(errors) == {"save", "edit", "collection"}, errors
        assert errors["edit"][0] == "DatabaseError" and "read-only" in errors["edit"][1]
        assert result["description"] == "kept"
        assert stderr.count("is read-only here: it is opened for reading only") == 1, stderr
    else:
        assert set(errors) == {"save"}, errors  # the database itself is writable


@pytest.mark.parametrize("wal", ["closed", "open elsewhere"])
def test_sqlite_catalog_on_a_read_only_mount(
    sqlite_instance: Path, tmp_path: Path, wal: str
) -> None:
    if not _can_bind_read_only():
        pytest.skip("needs root and a private mount namespace (unshare -m)")
    new_file = _fill(sqlite_instance, tmp_path)
    disconnect()
    db = sqlite_instance / ".labshelf" / "labshelf.db"
    holder = None
    if wal == "open elsewhere":  # another process has it open: -wal and -shm exist
        holder = sqlite3.connect(db)
        holder.execute("SELECT count(*) FROM artifacts").fetchone()
        assert (db.parent / "labshelf.db-shm").exists()
    try:
        result, stderr = _child(_read_only_mount(sqlite_instance), new_file)
    finally:
        if holder is not None:
            holder.close()
    _check(result, stderr, database_read_only=True, where=db.parent)
    record(
        f"read-only mount, SQLite WAL {wal}",
        "sqlite",
        1,
        lost=0,
        dangling="0/0",
        clear_errors="reads/load work; save, edit, collection refused (3/3)",
    )


def test_sqlite_catalog_in_a_folder_without_write_permission(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    new_file = _fill(sqlite_instance, tmp_path)
    disconnect()
    objects = sqlite_instance / ".labshelf"
    objects.chmod(0o555)
    try:
        result, stderr = _child(_no_write_permission(), new_file)
    finally:
        objects.chmod(0o755)
    _check(result, stderr, database_read_only=True, where=objects)
    record(
        ".labshelf not writable, SQLite",
        "sqlite",
        1,
        lost=0,
        dangling="0/0",
        clear_errors="reads/load work; save, edit, collection refused (3/3)",
    )


def test_read_only_storage_with_a_postgresql_catalog(pg_instance: Path, tmp_path: Path) -> None:
    new_file = _fill(pg_instance, tmp_path)
    disconnect()
    objects = pg_instance / ".labshelf"
    objects.chmod(0o555)
    try:
        result, stderr = _child(_no_write_permission(), new_file)
    finally:
        objects.chmod(0o755)
    _check(result, stderr, database_read_only=False, where=objects)
    assert result["description"] == "edited"
    assert sorted(p.name for p in objects.iterdir() if p.name.startswith(".tmp-")) == []
    record(
        ".labshelf not writable, PostgreSQL catalog",
        "postgresql",
        1,
        lost=0,
        dangling="0/0",
        clear_errors="save refused before copying (StorageError naming the folder)",
    )
