"""Issue 13, item 3: a lost database is never silently replaced.

Only ``init`` creates a catalog: opening an instance whose SQLite file is missing (or whose
database is empty) raises a clear error; a process whose open SQLite file was deleted or
replaced stops writing; ``doctor --fix`` on a storage whose catalog holds no record of the
objects under ``.labshelf/`` removes nothing and says why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect
from sqlalchemy import create_engine, inspect, text

from .conftest import one_sentence, record


def _db_files(root: Path) -> list[Path]:
    folder = root / ".labshelf"
    return [folder / n for n in ("labshelf.db", "labshelf.db-wal", "labshelf.db-shm")]


def _objects(root: Path) -> list[str]:
    return sorted(
        p.name
        for p in (root / ".labshelf").iterdir()
        if not p.name.startswith(("labshelf.db", "catalog.json"))
    )


def _save(tmp_path: Path, name: str, content: str) -> ls.Artifact:
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_text(content)
    return ls.Artifact(str(src), key=f"lost/{name}").save()


def test_missing_sqlite_file_is_not_recreated(sqlite_instance: Path, tmp_path: Path) -> None:
    root = sqlite_instance
    _save(tmp_path, "a.txt", "first")
    name = ls.settings.instance
    disconnect()
    for f in _db_files(root):
        f.unlink(missing_ok=True)
    db = _db_files(root)[0]
    messages = []
    for label, call in (
        ("connect by name", lambda: ls.connect(name)),
        ("connect by storage", lambda: ls.connect(str(root))),
        ("current() on first use", lambda: ls.Artifact.filter().count()),
    ):
        with pytest.raises(ls.DatabaseError) as info:
            call()
        message = str(info.value)
        messages.append(message)
        assert str(db) in message, (label, message)
        assert "does not exist" in message and "labshelf init" in message, (label, message)
        assert one_sentence(message), message
        assert not db.exists(), f"{label} created a new, empty database file"
        disconnect()
    record(
        "database file deleted: open/connect/current",
        "sqlite",
        len(messages),
        lost="-",
        dangling="-",
        clear_errors=f"{len(messages)}/{len(messages)} DatabaseError naming the file, none created",
    )


def test_empty_database_is_not_opened_as_a_catalog(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    """An emptied database (a 0-byte SQLite file, a dropped PostgreSQL schema) is refused."""
    _save(tmp_path, "a.txt", "first")
    name, url = ls.settings.instance, current().url
    disconnect()
    if backend == "sqlite":
        for f in _db_files(instance):
            f.unlink(missing_ok=True)
        _db_files(instance)[0].touch()
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    with pytest.raises(ls.DatabaseError, match="holds no labshelf catalog") as info:
        ls.connect(name)
    assert one_sentence(str(info.value))
    disconnect()
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
    engine.dispose()
    assert tables == [], "connect created a schema"
    record(
        "database emptied: connect",
        backend,
        1,
        lost="-",
        dangling="-",
        clear_errors="1/1 DatabaseError, no schema created",
    )


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_process_stops_writing_when_its_database_file_goes(
    sqlite_instance: Path, tmp_path: Path, how: str
) -> None:
    root = sqlite_instance
    first = _save(tmp_path, "a.txt", "first")
    db = _db_files(root)[0]
    if how == "deleted":
        for f in _db_files(root):
            f.unlink(missing_ok=True)
    else:
        copy = tmp_path / "copy.db"
        shutil.copyfile(db, copy)
        os.replace(copy, db)
    before = _objects(root)
    src = tmp_path / "src" / "b.txt"
    src.write_text("second")
    with pytest.raises(ls.DatabaseError) as info:
        ls.Artifact(str(src), key="lost/b.txt").save()
    message = str(info.value)
    assert str(db) in message and how in message, message
    assert one_sentence(message), message
    first.description = "edited"
    with pytest.raises(ls.DatabaseError, match=how):
        first.save()
    assert _objects(root) == before, "an object was stored for a save that cannot be recorded"
    if how == "deleted":
        assert not db.exists()
    else:
        # connecting again uses the file that is there now
        ls.connect(ls.settings.instance)
        assert ls.Artifact.get(first.uid).description is None
        ls.Artifact(str(src), key="lost/b.txt").save()
        assert ls.Artifact.filter(key="lost/b.txt").count() == 1
    record(
        f"open database file {how}, then save",
        "sqlite",
        2,
        lost="-",
        dangling="0/0",
        clear_errors="2/2 DatabaseError naming the file",
    )


def test_doctor_fix_removes_nothing_when_the_catalog_knows_no_object(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    for i in range(3):
        _save(tmp_path, f"o{i}.txt", f"object {i}")
    objects = _objects(instance)
    assert len(objects) == 3
    # the catalog "forgets" everything (as a replaced database would)
    with current().engine().begin() as conn:
        conn.execute(text("DELETE FROM artifacts"))
    report = ls.doctor(fix=True, grace=0)
    assert _objects(instance) == objects, "doctor --fix deleted objects it cannot prove are its own"
    assert report.refused and "no record" in report.refused[0]
    assert not any(p.fixed for p in report.problems)
    assert "not fixed:" in str(report) and "doctor --fix" not in str(report).splitlines()[-1]
    record(
        "doctor --fix on a catalog with no records",
        backend,
        1,
        lost=0,
        dangling="0/3",
        clear_errors="refused, explained",
    )
