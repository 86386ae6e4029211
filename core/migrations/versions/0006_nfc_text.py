"""Text in Unicode NFC: keys, names, handles and descriptions written before labshelf
normalized them on the way in are rewritten to NFC, so that "é" typed on Linux and "é" from a
macOS file name (e + combining accent) are one key, one name, one search hit.

- Virtual artifact keys, collection and transform names and keys, descriptions and user names
  are rewritten in place. An in-place artifact key is the name of a real file or object, which
  a file system or bucket may keep byte for byte: it is left as it is (lookups match both forms).
- Two version families whose keys become equal stay two families (their uids, objects and
  versions are untouched); a warning names them, so that one can be deleted or kept.
- Two users whose handles become equal are one person: the older row is kept, every record
  created by the other is re-pointed to it, and the other row is removed.

Only rows holding a non-ASCII character are read (ASCII text is NFC already).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, column, condition that selects the rows to normalize, or None for all)
COLUMNS = (
    ("artifacts", "key", "key_is_virtual"),
    ("artifacts", "description", None),
    ("collections", "name", None),
    ("collections", "description", None),
    ("transforms", "name", None),
    ("transforms", "key", None),
    ("transforms", "description", None),
    ("users", "name", None),
)


def _non_ascii(conn: sa.Connection, column: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"{column} ~ '[^\\x01-\\x7f]'"
    # SQLite: GLOB ranges compare code points; anything outside printable ASCII
    return f"{column} GLOB '*[^ -~]*'"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _changed(conn: sa.Connection, table: str, column: str, where: str | None) -> list[tuple]:
    cond = _non_ascii(conn, column) + (f" AND {where}" if where else "")
    rows = conn.execute(sa.text(f"SELECT id, {column} FROM {table} WHERE {cond}")).all()
    return [(row_id, _nfc(value)) for row_id, value in rows if value and _nfc(value) != value]


def _merge_users(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.text(f"SELECT id, handle FROM users WHERE {_non_ascii(conn, 'handle')} ORDER BY id")
    ).all()
    changed = [(i, h, _nfc(h)) for i, h in rows if _nfc(h) != h]
    for row_id, _old, new in changed:
        keep = conn.execute(
            sa.text("SELECT id FROM users WHERE handle = :h AND id != :i ORDER BY id LIMIT 1"),
            {"h": new, "i": row_id},
        ).scalar()
        if keep is None:
            conn.execute(
                sa.text("UPDATE users SET handle = :h WHERE id = :i"), {"h": new, "i": row_id}
            )
            continue
        for table in _user_references(conn):
            conn.execute(
                sa.text(f"UPDATE {table} SET created_by_id = :keep WHERE created_by_id = :old"),
                {"keep": keep, "old": row_id},
            )
        conn.execute(sa.text("DELETE FROM users WHERE id = :i"), {"i": row_id})
        _warn(
            f"the user handles '{new}' (ids {keep} and {row_id}) differed only in Unicode form; merged into id {keep}"
        )


def _user_references(conn: sa.Connection) -> list[str]:
    """The tables whose rows name the user who created them (``created_by_id``)."""
    inspector = sa.inspect(conn)
    return [
        table
        for table in inspector.get_table_names()
        if any(c["name"] == "created_by_id" for c in inspector.get_columns(table))
    ]


def _warn(message: str) -> None:
    from labshelf.log import warn

    warn(message)


def _twin_families(conn: sa.Connection, keys: set[str]) -> None:
    """Say which artifact keys now name more than one version family."""
    for key in sorted(keys):
        stems = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT stem_uid FROM artifacts WHERE key = :k AND is_latest "
                    "AND visibility >= 0 ORDER BY stem_uid"
                ),
                {"k": key},
            )
            .scalars()
            .all()
        )
        if len(stems) > 1:
            _warn(
                f"the key '{key}' names {len(stems)} version families whose keys differed only "
                f"in Unicode form (stems {', '.join(stems)}); both are kept: delete one, or "
                "keep both, as you see fit"
            )


def upgrade() -> None:
    conn = op.get_bind()
    _merge_users(conn)
    new_keys: set[str] = set()
    for table, column, where in COLUMNS:
        updates = _changed(conn, table, column, where)
        for row_id, value in updates:
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :i"),
                {"v": value, "i": row_id},
            )
        if (table, column) == ("artifacts", "key"):
            new_keys.update(value for _, value in updates)
    _twin_families(conn, new_keys)


def downgrade() -> None:
    """Nothing to undo: NFC text is valid text for the older schema."""
