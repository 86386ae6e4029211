"""Synthetic artifact rows for big catalogs, inserted straight through SQLAlchemy Core (a
benchmark's or a plan test's 10^4 to 10^5 rows in seconds, not through ``ls.save``)."""

from __future__ import annotations

from typing import Any


def artifact_rows(keys_and_descriptions: Any, **fields: Any) -> list[dict[str, Any]]:
    """One row per ``(key, description)``: a new family each, visible and latest, in the
    current instance's default storage, by its user; ``fields`` override the defaults."""
    import labshelf as ls
    from labshelf import session
    from labshelf.models import utcnow
    from labshelf.uids import base62

    user, storage, now = session.user_id(), ls.settings.storage.id, utcnow()
    rows = []
    for key, description in keys_and_descriptions:
        stem = base62(16)
        row = dict(
            uid=stem + "0000",
            stem_uid=stem,
            key=key,
            description=description,
            storage_id=storage,
            suffix=".tif" if key.endswith(".tif") else "",
            size=4096,
            hash=base62(22),
            hash_type="md5",
            visibility=1,
            key_is_virtual=True,
            version="1",
            is_latest=True,
            created_by_id=user,
            created_at=now,
            updated_at=now,
        )
        row.update(fields)
        rows.append(row)
    return rows


def insert_artifact_rows(rows: list[dict[str, Any]], batch: int = 5000) -> None:
    """Insert ``rows`` (``artifact_rows``) a batch per statement."""
    from labshelf import session
    from labshelf.models import Artifact
    from sqlalchemy import insert

    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        session.write(lambda s, b=chunk: s.execute(insert(Artifact), b))
