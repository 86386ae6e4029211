"""Core fixtures: a fresh instance per test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import core as ls
from core.instance import disconnect


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for the embedded SQLite default, else a fresh PostgreSQL database."""
    if backend == "sqlite":
        return None
    pg = request.getfixturevalue("pg_server")
    return pg.create_database().url


@pytest.fixture
def instance(tmp_path: Path, db_url: str | None) -> Iterator[Path]:
    """A current instance with local storage at ``tmp_path/store``; yields the storage root."""
    root = tmp_path / "store"
    ls.init(str(root), db=db_url)
    try:
        yield root
    finally:
        disconnect()


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Iterator[Path]:
    """Like ``instance``, SQLite only (for tests about local behaviour, not the database)."""
    root = tmp_path / "store"
    ls.init(str(root))
    try:
        yield root
    finally:
        disconnect()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A folder of sample inputs outside the storage root."""
    folder = tmp_path / "src"
    (folder / "study0").mkdir(parents=True)
    for i, text in enumerate(["0", "0", "1"]):
        (folder / "study0" / f"{i}.txt").write_text(text)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "table.csv").write_text("x,y\n1,2\n3,4\n")
    return folder
