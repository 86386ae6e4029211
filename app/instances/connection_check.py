"""Checks behind the welcome view's "Test connection": can this storage and this database be
used? Plain functions (no Qt) run on a worker; every failure is one sentence a scientist can
act on (unreachable server, missing bucket, rejected credentials)."""

from __future__ import annotations

import os
from pathlib import Path

from labshelf.app import gateway
from labshelf.app.data.formatting import mask_secrets

PG_TIMEOUT_S = 5


class CheckFailed(Exception):
    """A check failed; the message says why in plain words."""


def check_storage(storage: str) -> str:
    """What the storage location is, or `CheckFailed` saying why it cannot be used."""
    storage = storage.strip()
    if not storage:
        raise CheckFailed("Enter a folder, or an s3://bucket or gs://bucket URL.")
    if storage.startswith(("s3://", "gs://", "gcs://")):
        try:
            gateway.check_bucket(storage.replace("gcs://", "gs://", 1))
        except gateway.LabshelfError as exc:
            raise CheckFailed(str(exc)) from None
        return f"The bucket of {storage} is reachable."
    if "://" in storage:
        raise CheckFailed(f"'{storage}' is neither a folder nor an s3:// or gs:// URL.")
    return _check_folder(Path(storage).expanduser())


def _check_folder(path: Path) -> str:
    if path.exists() and not path.is_dir():
        raise CheckFailed(f"{path} is a file, not a folder.")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        raise CheckFailed(f"labshelf cannot write to {existing}: permission denied.")
    if (path / ".labshelf" / "labshelf.db").exists():
        return f"{path} holds a labshelf instance already; it will be opened."
    return f"{path} can be used." if path.exists() else f"{path} will be created."


def check_database(url: str) -> str:
    """Connect to a PostgreSQL URL once; `CheckFailed` in plain words when that fails."""
    url = url.strip()
    if not url:
        return "No database given: SQLite next to the data."
    if not url.startswith(("postgresql", "postgres")):
        raise CheckFailed("The database URL must start with postgresql:// (or leave it empty).")
    import psycopg  # deferred: only a PostgreSQL URL needs the driver and SQLAlchemy's parser
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any parse error means the same to the user
        raise CheckFailed(f"'{mask_secrets(url)}' is not a valid database URL.") from None
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    try:
        with psycopg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.database,
            connect_timeout=PG_TIMEOUT_S,
        ) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError as exc:
        raise CheckFailed(_explain_pg(str(exc), where, parsed.database, parsed.username)) from None
    return f"Connected to PostgreSQL {version // 10000} at {where}."


def _explain_pg(text: str, where: str, db: str | None, user: str | None) -> str:
    low = text.lower()
    if (
        "password authentication failed" in low
        or "no password supplied" in low
        or ("role" in low and "does not exist" in low)
    ):
        return (
            f"The PostgreSQL server at {where} rejected the user '{user}': check the user "
            "name and password."
        )
    if "database" in low and "does not exist" in low:
        return f"The PostgreSQL server at {where} has no database '{db}'; create it first."
    if (
        "refused" in low
        or "timeout" in low
        or "timed out" in low
        or "translate host" in low
        or "no route" in low
        or "unreachable" in low
        or "name or service" in low
    ):
        return (
            f"The PostgreSQL server at {where} cannot be reached: check the host and port, "
            "and that the server is running."
        )
    first = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return f"Connecting to PostgreSQL at {where} failed: {first}"


def check_connection(storage: str, db: str) -> str:
    """Both checks, one line each; the first failure raises."""
    return "\n".join((check_storage(storage), check_database(db)))


STORAGE, DATABASE, NAME = "storage", "db", "name"  # the fields of a new instance


def check_each(storage: str, db: str) -> dict[str, tuple[bool, str]]:
    """Both checks, each on its own: field (`STORAGE`, `DATABASE`) -> (ok, what it says),
    so that each answer can be shown next to its field."""
    out: dict[str, tuple[bool, str]] = {}
    for field, check, value in ((STORAGE, check_storage, storage), (DATABASE, check_database, db)):
        try:
            out[field] = (True, check(value))
        except CheckFailed as exc:
            out[field] = (False, str(exc))
    return out


def field_of(message: str) -> str:
    """The field a failure to create or open an instance is about (by what it names)."""
    low = message.lower()
    if "database" in low or "postgresql" in low or "sqlite" in low:
        return DATABASE
    if "name" in low and "instance" in low:
        return NAME
    return STORAGE
