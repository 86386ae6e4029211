"""labels and features: the ulabels and features registries, the labels and typed feature
values of artifacts and collections, and their audit trail (annotation_events).

New tables only: existing rows are untouched, so the upgrade is quick on any catalog.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OWNERS = ("artifact", "collection")


def _uid(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _stamps(table: str, updated: bool = True) -> list[sa.schema.SchemaItem]:
    cols: list[sa.schema.SchemaItem] = [
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    ]
    if updated:
        cols.append(sa.Column("updated_at", sa.DateTime(), nullable=False))
    return [
        *cols,
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f(f"fk_{table}_created_by_id_users")
        ),
    ]


def _stamp_indexes(table: str, updated: bool = True) -> None:
    op.create_index(op.f(f"ix_{table}_created_at"), table, ["created_at"])
    op.create_index(op.f(f"ix_{table}_created_by_id"), table, ["created_by_id"])
    if updated:
        op.create_index(op.f(f"ix_{table}_updated_at"), table, ["updated_at"])


def _registries() -> None:
    op.create_table(
        "ulabels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", _uid(8), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=True),
        sa.Column("is_type", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *_stamps("ulabels"),
        sa.ForeignKeyConstraint(
            ["type_id"], ["ulabels.id"], name=op.f("fk_ulabels_type_id_ulabels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ulabels")),
        sa.UniqueConstraint("uid", name=op.f("uq_ulabels_uid")),
    )
    op.create_index(op.f("ix_ulabels_name"), "ulabels", ["name"])
    op.create_index(op.f("ix_ulabels_type_id"), "ulabels", ["type_id"])
    op.create_index(op.f("ix_ulabels_is_type"), "ulabels", ["is_type"])
    _stamp_indexes("ulabels")
    for name, cols, where in (
        ("uq_ulabels_name_in_type", ["type_id", "name"], "type_id IS NOT NULL"),
        ("uq_ulabels_name_untyped", ["name"], "type_id IS NULL"),
    ):
        op.create_index(
            name,
            "ulabels",
            cols,
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )

    op.create_table(
        "features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", _uid(12), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("dtype", sa.String(length=200), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_stamps("features"),
        sa.ForeignKeyConstraint(
            ["type_id"], ["ulabels.id"], name=op.f("fk_features_type_id_ulabels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features")),
        sa.UniqueConstraint("name", name=op.f("uq_features_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_features_uid")),
    )
    op.create_index(op.f("ix_features_type_id"), "features", ["type_id"])
    _stamp_indexes("features")


def _label_links(owner: str) -> None:
    table, fk = f"{owner}_ulabels", f"{owner}_id"
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(fk, sa.Integer(), nullable=False),
        sa.Column("ulabel_id", sa.Integer(), nullable=False),
        sa.Column("feature_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            [fk], [f"{owner}s.id"], name=op.f(f"fk_{table}_{fk}_{owner}s"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ulabel_id"],
            ["ulabels.id"],
            name=op.f(f"fk_{table}_ulabel_id_ulabels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["features.id"],
            name=op.f(f"fk_{table}_feature_id_features"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_{fk}"), table, [fk])
    op.create_index(f"ix_{table}_label", table, ["ulabel_id", fk])
    for name, cols, where in (
        (f"ix_{table}_feature_label", ["feature_id", "ulabel_id", fk], "feature_id IS NOT NULL"),
    ):
        _partial(name, table, cols, where)
    for name, cols, where in (
        (f"uq_{table}_plain", [fk, "ulabel_id"], "feature_id IS NULL"),
        (f"uq_{table}_value", [fk, "feature_id", "ulabel_id"], "feature_id IS NOT NULL"),
    ):
        op.create_index(
            name,
            table,
            cols,
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def _feature_values(owner: str) -> None:
    table, fk = f"{owner}_feature_values", f"{owner}_id"
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(fk, sa.Integer(), nullable=False),
        sa.Column("feature_id", sa.Integer(), nullable=False),
        sa.Column("value_str", sa.String(length=500), nullable=True),
        sa.Column("value_int", sa.BigInteger(), nullable=True),
        sa.Column("value_float", sa.Double(), nullable=True),
        sa.Column("value_dt", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            [fk], [f"{owner}s.id"], name=op.f(f"fk_{table}_{fk}_{owner}s"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["features.id"],
            name=op.f(f"fk_{table}_feature_id_features"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(fk, "feature_id", name=op.f(f"uq_{table}_{fk}_feature_id")),
    )
    for kind in ("str", "int", "float", "dt"):
        column = f"value_{kind}"
        _partial(f"ix_{table}_{kind}", table, ["feature_id", column, fk], f"{column} IS NOT NULL")


def _events() -> None:
    table = "annotation_events"
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=True),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("ulabel_id", sa.Integer(), nullable=True),
        sa.Column("feature_id", sa.Integer(), nullable=True),
        sa.Column("feature", sa.String(length=150), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f(f"fk_{table}_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f(f"fk_{table}_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f(f"fk_{table}_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ulabel_id"],
            ["ulabels.id"],
            name=op.f(f"fk_{table}_ulabel_id_ulabels"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["features.id"],
            name=op.f(f"fk_{table}_feature_id_features"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f(f"fk_{table}_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    for column in ("artifact_id", "collection_id"):
        _partial(f"ix_{table}_{column}", table, [column], f"{column} IS NOT NULL")


def _partial(name: str, table: str, columns: list[str], where: str, unique: bool = False) -> None:
    op.create_index(
        name,
        table,
        columns,
        unique=unique,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    _registries()
    for owner in OWNERS:
        _label_links(owner)
        _feature_values(owner)
    _events()


def downgrade() -> None:
    op.drop_table("annotation_events")
    for owner in OWNERS:
        op.drop_table(f"{owner}_feature_values")
        op.drop_table(f"{owner}_ulabels")
    op.drop_table("features")
    op.drop_table("ulabels")
