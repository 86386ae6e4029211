"""Secrets never leave memory: a PostgreSQL password given in a URL and credentials attempted
through ``storage_options`` appear in no database column, log line, ``ls.settings`` output,
``describe()``, exception message, settings file or CLI output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect
from sqlalchemy import inspect, select

from .conftest import REPO, record, worker_env

PASSWORD = "Pw-s3cr3t-7f3a9cQ"
TOKEN = "tok-9XbQ2vLk7TOKEN"


def _dump_database() -> str:
    """Every value of every table, as text."""
    engine = current().engine()
    names = inspect(engine).get_table_names()
    from sqlalchemy import MetaData

    meta = MetaData()
    meta.reflect(engine, only=names)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                out.extend(str(v) for v in row)
    return "\n".join(out)


def _files_under(*folders: Path) -> list[Path]:
    return [p for f in folders if f.exists() for p in f.rglob("*") if p.is_file()]


def _leaks(secret: str, *folders: Path) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in _files_under(*folders) if needle in p.read_bytes()]


def test_postgres_password_stays_in_memory(
    pg_server, tmp_path: Path, capfd, grab_logs, _isolated_env: Path
) -> None:
    db = pg_server.create_database()
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{pg_server.port}/{db.name}"
    root = tmp_path / "store"
    seen: dict[str, str] = {}
    ls.init(str(root), db=url)
    try:
        f = tmp_path / "a.csv"
        f.write_text("x,y\n1,2\n")
        a = ls.Artifact(f, key="a.csv", description="secret-free").save()
        seen["settings repr"] = repr(ls.settings)
        seen["settings.db"] = ls.settings.db
        seen["settings.storage"] = repr(ls.settings.storage)
        seen["describe"] = a.describe()
        seen["repr(artifact)"] = repr(a)
        seen["df"] = ls.Artifact.df().to_string()
        seen["view"] = str(ls.view())
        seen["instance url repr"] = repr(current().url)
        seen["database dump"] = _dump_database()
        # errors that involve the URL with the password
        wrong_port = url.replace(f":{pg_server.port}/", ":1/")
        wrong_db = url.replace(f"/{db.name}", "/no_such_db")
        for label, target in (
            ("connect wrong port", wrong_port),
            ("connect wrong db", wrong_db),
            ("bad url", f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:notaport/x"),
        ):
            with pytest.raises(ls.LabshelfError) as info:
                ls.connect(target)
            seen[f"error: {label}"] = f"{info.value!r} {info.value} {info.value.__cause__!s}"
        with pytest.raises(ls.LabshelfError) as info:
            ls.init(str(tmp_path / "other"), db=wrong_port)
        seen["error: init wrong port"] = str(info.value)
        ls.connect(url)  # back to the working instance
        seen["settings after reconnect"] = repr(ls.settings)
    finally:
        disconnect()
    out, err = capfd.readouterr()
    seen["stdout/stderr"] = out + err
    seen["logs"] = "\n".join(grab_logs)
    cli = subprocess.run(
        [sys.executable, "-m", "labshelf.app.cli", "info"],
        cwd=REPO,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen["labshelf info"] = cli.stdout + cli.stderr
    leaked = [k for k, v in seen.items() if PASSWORD in v]
    files = _leaks(PASSWORD, _isolated_env, root)
    assert not leaked, f"the password appears in: {leaked}"
    assert not files, f"the password is written to: {files}"
    assert (
        "***" in seen["settings.db"] or ":" not in seen["settings.db"].split("@")[0].split("//")[1]
    )
    record(
        "PostgreSQL password in the URL",
        "postgresql",
        len(seen) + 1,
        lost="-",
        dangling="-",
        clear_errors=f"0 leaks in {len(seen)} outputs + {len(_files_under(_isolated_env, root))} files",
        numbers="db dump, logs (DEBUG incl. SQLAlchemy), settings, describe, df, errors, CLI, files",
    )


@pytest.mark.parametrize(
    "options",
    [
        {"token": TOKEN},
        {"secret": TOKEN, "key": "AKIAEXAMPLE"},
        {"client_kwargs": {"aws_secret_access_key": TOKEN}},
        {"config_kwargs": {"s3": {"session_token": TOKEN}}},
        {"password": TOKEN},
    ],
    ids=["token", "secret", "nested-client-kwargs", "deeply-nested", "password"],
)
def test_credentials_in_storage_options_are_refused(
    tmp_path: Path, options: dict, capfd, grab_logs, _isolated_env: Path
) -> None:
    root = tmp_path / "store"
    try:
        with pytest.raises(ls.InvalidArgument) as info:
            ls.init(str(root), storage_options=options)
        message = str(info.value)
    finally:
        disconnect()
    out, err = capfd.readouterr()
    assert TOKEN not in message and "credential" in message
    assert TOKEN not in out + err + "\n".join(grab_logs)
    assert not _leaks(TOKEN, _isolated_env, root)
    record(
        f"credential in storage_options ({next(iter(options))})",
        "sqlite",
        1,
        lost="-",
        dangling="-",
        clear_errors="1/1 refused with InvalidArgument, value not echoed",
    )


def test_settings_file_holds_no_secret(tmp_path: Path, _isolated_env: Path) -> None:
    """Harmless options are kept; the settings file is readable by its owner only or holds
    nothing secret (here: nothing secret)."""
    root = tmp_path / "store"
    ls.init(str(root), storage_options={"anon": False, "requester_pays": True})
    disconnect()
    files = [p for p in _files_under(_isolated_env / "config") if p.suffix == ".json"]
    assert files
    for p in files:
        text = p.read_text()
        assert "password" not in text.lower() and TOKEN not in text
    assert os.environ["LABSHELF_CONFIG_DIR"].startswith(str(_isolated_env))
