"""Instances: init, connect, settings, persistence across processes, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.config import config_dir
from labshelf.instance import current, disconnect


def test_init_creates_local_instance_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    ls.init(str(root))
    try:
        assert ls.settings.instance == "lab"
        assert ls.settings.storage.root == str(root.resolve())
        assert ls.settings.storage.type == "local"
        assert ls.settings.db.startswith("sqlite:///")
        assert (root / ".labshelf" / "labshelf.db").exists()
        assert ls.settings.user == "testuser"
        ls.init(str(root))  # again: same instance, nothing breaks
        assert ls.Storage.filter().count() == 1
    finally:
        disconnect()


def test_current_instance_survives_a_new_process(tmp_path: Path) -> None:
    ls.init(str(tmp_path / "lab"), name="mylab")
    disconnect()
    code = "import labshelf as ls; print(ls.settings.instance, ls.settings.storage.root)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.split() == ["mylab", str((tmp_path / "lab").resolve())]


def test_labshelf_instance_env_overrides_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ls.init(str(tmp_path / "one"))
    ls.init(str(tmp_path / "two"))
    disconnect()
    monkeypatch.setenv("LABSHELF_INSTANCE", "one")
    try:
        assert ls.settings.instance == "one"
    finally:
        disconnect()


def test_connect_by_name_and_by_storage(tmp_path: Path) -> None:
    ls.init(str(tmp_path / "one"))
    ls.init(str(tmp_path / "two"))
    try:
        ls.connect("one")
        assert ls.settings.instance == "one"
        ls.connect(str(tmp_path / "two"))
        assert ls.settings.instance == "two"
        with pytest.raises(ls.NotConnected, match="No instance matches"):
            ls.connect("nope")
    finally:
        disconnect()


def test_no_instance_gives_a_clear_error() -> None:
    disconnect()
    with pytest.raises(ls.NotConnected, match="ls.init"):
        ls.Artifact.filter().count()


def test_user_handle_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, src: Path) -> None:
    monkeypatch.setenv("LABSHELF_USER", "alice")
    ls.init(str(tmp_path / "lab"))
    try:
        a = ls.Artifact(str(src / "a.txt")).save()
        assert a.created_by.handle == "alice"
        assert ls.User.lookup().alice.handle == "alice"
    finally:
        disconnect()


def test_postgres_password_never_lands_in_settings(tmp_path: Path, pg_server) -> None:
    db = pg_server.create_database()
    url_with_secret = db.url.replace("postgres@", "postgres:s3cr3t-pw@")
    ls.init(str(tmp_path / "lab"), db=url_with_secret, name="pglab")
    try:
        assert "s3cr3t-pw" not in ls.settings.db
        assert "s3cr3t-pw" not in repr(ls.settings)
        text = (config_dir() / "instances" / "pglab.json").read_text()
        assert "s3cr3t-pw" not in text
        assert json.loads(text)["db"].startswith("postgresql+psycopg://postgres@")
    finally:
        disconnect()


def test_storage_options_refuse_secrets(tmp_path: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="credential"):
        ls.init(str(tmp_path / "lab"), storage_options={"secret": "x"})


def test_unknown_storage_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="unsupported scheme 'ftp://'"):
        ls.init("ftp://example.org/x")
    assert not (config_dir() / "instances").exists() or not list(
        (config_dir() / "instances").iterdir()
    )


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    ls.init(str(tmp_path / "lab"))
    from labshelf.instance import current
    from sqlalchemy import text

    with current().engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    disconnect()
    with pytest.raises(ls.DatabaseError, match="newer than this labshelf"):
        ls.connect("lab")
    disconnect()


def test_older_schema_is_upgraded_on_connect(tmp_path: Path) -> None:
    """A database at revision 0001 (before instance_meta) is migrated when connected."""
    from labshelf.migrations import HEAD, current_revision, upgrade
    from sqlalchemy import create_engine, inspect

    root = tmp_path / "old"
    (root / ".labshelf").mkdir(parents=True)
    engine = create_engine(f"sqlite:///{root / '.labshelf' / 'labshelf.db'}")
    with engine.begin() as conn:
        upgrade(conn, "0001")
    with engine.connect() as conn:
        assert current_revision(conn) == "0001"
        assert not inspect(conn).has_table("instance_meta")
    engine.dispose()
    try:
        ls.connect(str(root))
        assert ls.settings.instance == "old"
        with current().engine().connect() as conn:
            assert current_revision(conn) == HEAD
            assert inspect(conn).has_table("instance_meta")
        assert ls.Artifact.filter().count() == 0
    finally:
        disconnect()


def test_shared_postgres_instance_found_by_url_alone(tmp_path: Path, pg_server) -> None:
    """A colleague on another machine connects with only the database URL."""
    db = pg_server.create_database()
    ls.init(str(tmp_path / "shared"), db=db.url, name="sharedlab")
    disconnect()
    for path in (config_dir() / "instances").glob("*.json"):
        path.unlink()  # a machine that has never seen the instance
    (config_dir() / "current_instance").unlink()
    try:
        ls.connect(db.url)
        assert ls.settings.instance == "sharedlab"
        assert ls.settings.storage.root == str((tmp_path / "shared").resolve())
    finally:
        disconnect()
