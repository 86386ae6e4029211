"""runs.environment_id: a run's environment can be an artifact (a requirements or lock
file), as a LaminDB user expects; the JSON of imported package versions stays in
``runs.environment``.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    fk = "fk_runs_environment_id_artifacts"
    if op.get_bind().dialect.name == "sqlite":
        # ADD COLUMN with an inline REFERENCES: no table rebuild (which would have to drop a
        # table other tables point at)
        op.execute(
            f"ALTER TABLE runs ADD COLUMN environment_id INTEGER "
            f"CONSTRAINT {fk} REFERENCES artifacts (id)"
        )
        return
    op.add_column("runs", sa.Column("environment_id", sa.Integer(), nullable=True))
    op.create_foreign_key(fk, "runs", "artifacts", ["environment_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_runs_environment_id_artifacts", "runs", type_="foreignkey")
    op.drop_column("runs", "environment_id")
