"""uids compare byte by byte on PostgreSQL: the uid and stem_uid columns get the "C"
collation. Version order is the uid's base62 suffix ('…000Z' < '…000a'); under an ICU or
libc locale the database ordered them otherwise, and a family's 37th version was not marked
latest. SQLite compares bytes already (nothing to do there).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = {
    "artifacts": {"uid": 20, "stem_uid": 16},
    "collections": {"uid": 20, "stem_uid": 16},
    "transforms": {"uid": 16, "stem_uid": 12},
    "runs": {"uid": 20},
    "users": {"uid": 8},
    "storages": {"uid": 12},
}


def _alter(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        for column, length in columns.items():
            op.alter_column(
                table,
                column,
                type_=sa.String(length, collation=collation),
                existing_type=sa.String(length),
                existing_nullable=False,
                postgresql_using=f'{column} COLLATE "{collation or "default"}"',
            )


def upgrade() -> None:
    _alter("C")


def downgrade() -> None:
    _alter(None)
