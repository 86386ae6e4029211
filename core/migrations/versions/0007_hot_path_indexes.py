"""Hot-path indexes: every per-item lookup of registration, upload planning, publishing and
version bookkeeping is served by a selective composite index, whatever the planner's
statistics say. The single-column indexes they replace are dropped: their columns lead the
composite ones (so lookups by those columns alone still use an index), and the index on
``is_latest`` (true for nearly every row) is gone, because SQLite without statistics chose
it for the latest-by-key probe and scanned the table once per registered file.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# table -> (new composite indexes {name: columns}, replaced single-column indexes {name: column})
CHANGES = {
    "artifacts": (
        {
            "ix_artifacts_hash_visibility": ["hash", "visibility"],
            "ix_artifacts_key_is_latest": ["key", "is_latest"],
            "ix_artifacts_storage_id_key": ["storage_id", "key"],
            "ix_artifacts_stem_uid_uid": ["stem_uid", "uid"],
        },
        {
            "ix_artifacts_hash": "hash",
            "ix_artifacts_key": "key",
            "ix_artifacts_storage_id": "storage_id",
            "ix_artifacts_stem_uid": "stem_uid",
            "ix_artifacts_is_latest": "is_latest",
        },
    ),
    "collections": (
        {"ix_collections_name_is_latest": ["name", "is_latest"]},
        {"ix_collections_name": "name", "ix_collections_is_latest": "is_latest"},
    ),
}


def upgrade() -> None:
    # idempotent: a schema whose recorded revision is older than its indexes (a restored
    # backup's alembic_version, a replayed revision) upgrades all the same
    for table, (new, old) in CHANGES.items():
        for name, columns in new.items():  # first: lookups keep an index meanwhile
            op.create_index(name, table, columns, if_not_exists=True)
        for name in old:
            op.drop_index(name, table_name=table, if_exists=True)


def downgrade() -> None:
    for table, (new, old) in CHANGES.items():
        for name, column in old.items():
            op.create_index(name, table, [column], if_not_exists=True)
        for name in new:
            op.drop_index(name, table_name=table, if_exists=True)
