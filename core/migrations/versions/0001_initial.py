"""initial schema: the six registries, link tables, search indexes

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _report_fk_inline() -> list:
    # runs.report_id -> artifacts.id closes a cycle; SQLite accepts a forward
    # reference inline, PostgreSQL gets the constraint once artifacts exists.
    if _is_sqlite():
        return [
            sa.ForeignKeyConstraint(
                ["report_id"], ["artifacts.id"], name="fk_runs_report_id_artifacts"
            )
        ]
    return []


SEARCH_TABLES = {
    "artifacts": ("key", "description"),
    "collections": ("name", "description"),
}


def _create_search_indexes() -> None:
    if _is_sqlite():
        for table, cols in SEARCH_TABLES.items():
            col_list = ", ".join(cols)
            new_vals = ", ".join(f"new.{c}" for c in cols)
            old_vals = ", ".join(f"old.{c}" for c in cols)
            op.execute(
                f"CREATE VIRTUAL TABLE {table}_fts USING fts5({col_list}, "
                f"content='{table}', content_rowid='id', tokenize='trigram')"
            )
            op.execute(
                f"CREATE TRIGGER {table}_fts_ai AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO {table}_fts(rowid, {col_list}) VALUES (new.id, {new_vals}); END"
            )
            op.execute(
                f"CREATE TRIGGER {table}_fts_ad AFTER DELETE ON {table} BEGIN "
                f"INSERT INTO {table}_fts({table}_fts, rowid, {col_list}) "
                f"VALUES ('delete', old.id, {old_vals}); END"
            )
            watched = ", ".join(cols)
            op.execute(
                f"CREATE TRIGGER {table}_fts_au AFTER UPDATE OF {watched} ON {table} BEGIN "
                f"INSERT INTO {table}_fts({table}_fts, rowid, {col_list}) "
                f"VALUES ('delete', old.id, {old_vals}); "
                f"INSERT INTO {table}_fts(rowid, {col_list}) VALUES (new.id, {new_vals}); END"
            )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, cols in SEARCH_TABLES.items():
        for col in cols:
            op.execute(
                f"CREATE INDEX ix_{table}_{col}_trgm ON {table} "
                f"USING gin (lower({col}) gin_trgm_ops)"
            )


def _drop_search_indexes() -> None:
    for table in SEARCH_TABLES:
        if _is_sqlite():
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=8), nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("handle", name=op.f("uq_users_handle")),
        sa.UniqueConstraint("uid", name=op.f("uq_users_uid")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_created_at"), ["created_at"], unique=False)

    op.create_table(
        "storages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=12), nullable=False),
        sa.Column("root", sa.String(length=1000), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_storages_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storages")),
        sa.UniqueConstraint("root", name=op.f("uq_storages_root")),
        sa.UniqueConstraint("uid", name=op.f("uq_storages_uid")),
    )
    with op.batch_alter_table("storages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storages_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_storages_created_by_id"), ["created_by_id"], unique=False
        )

    op.create_table(
        "transforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=16), nullable=False),
        sa.Column("stem_uid", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("source_code", sa.Text(), nullable=True),
        sa.Column("hash", sa.String(length=30), nullable=True),
        sa.Column("reference", sa.String(length=1000), nullable=True),
        sa.Column("reference_type", sa.String(length=100), nullable=True),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_transforms_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transforms")),
        sa.UniqueConstraint("uid", name=op.f("uq_transforms_uid")),
    )
    with op.batch_alter_table("transforms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transforms_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transforms_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transforms_hash"), ["hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_transforms_is_latest"), ["is_latest"], unique=False)
        batch_op.create_index(batch_op.f("ix_transforms_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_transforms_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_transforms_stem_uid"), ["stem_uid"], unique=False)
        batch_op.create_index(batch_op.f("ix_transforms_type"), ["type"], unique=False)
        batch_op.create_index(
            "uq_transforms_one_latest",
            ["stem_uid"],
            unique=True,
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("transform_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("is_consecutive", sa.Boolean(), nullable=True),
        sa.Column("reference", sa.String(length=1000), nullable=True),
        sa.Column("reference_type", sa.String(length=100), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("environment", sa.JSON(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_runs_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["runs.id"], name=op.f("fk_runs_parent_id_runs")),
        *_report_fk_inline(),
        sa.ForeignKeyConstraint(
            ["transform_id"], ["transforms.id"], name=op.f("fk_runs_transform_id_transforms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("uid", name=op.f("uq_runs_uid")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_created_by_id"), ["created_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_transform_id"), ["transform_id"], unique=False)

    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("stem_uid", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=1000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("storage_id", sa.Integer(), nullable=False),
        sa.Column("suffix", sa.String(length=30), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=30), nullable=True),
        sa.Column("hash_type", sa.String(length=20), nullable=True),
        sa.Column("n_objects", sa.Integer(), nullable=True),
        sa.Column("n_observations", sa.BigInteger(), nullable=True),
        sa.Column("accessor", sa.String(length=64), nullable=True),
        sa.Column("visibility", sa.SmallInteger(), nullable=False),
        sa.Column("key_is_virtual", sa.Boolean(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("transform_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_artifacts_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_artifacts_run_id_runs")),
        sa.ForeignKeyConstraint(
            ["storage_id"], ["storages.id"], name=op.f("fk_artifacts_storage_id_storages")
        ),
        sa.ForeignKeyConstraint(
            ["transform_id"], ["transforms.id"], name=op.f("fk_artifacts_transform_id_transforms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("uid", name=op.f("uq_artifacts_uid")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifacts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_artifacts_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_artifacts_hash"), ["hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifacts_is_latest"), ["is_latest"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifacts_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifacts_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifacts_stem_uid"), ["stem_uid"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifacts_storage_id"), ["storage_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_artifacts_transform_id"), ["transform_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_artifacts_visibility"), ["visibility"], unique=False)
        batch_op.create_index(
            "uq_artifacts_one_latest",
            ["stem_uid"],
            unique=True,
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )

    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=20), nullable=False),
        sa.Column("stem_uid", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hash", sa.String(length=30), nullable=True),
        sa.Column("reference", sa.String(length=1000), nullable=True),
        sa.Column("reference_type", sa.String(length=100), nullable=True),
        sa.Column("visibility", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("transform_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("meta_artifact_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_collections_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["meta_artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_collections_meta_artifact_id_artifacts"),
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_collections_run_id_runs")),
        sa.ForeignKeyConstraint(
            ["transform_id"], ["transforms.id"], name=op.f("fk_collections_transform_id_transforms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("uid", name=op.f("uq_collections_uid")),
    )
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collections_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_collections_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_collections_hash"), ["hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_collections_is_latest"), ["is_latest"], unique=False)
        batch_op.create_index(batch_op.f("ix_collections_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_collections_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_collections_stem_uid"), ["stem_uid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_collections_transform_id"), ["transform_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_collections_visibility"), ["visibility"], unique=False)
        batch_op.create_index(
            "uq_collections_one_latest",
            ["stem_uid"],
            unique=True,
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )

    op.create_table(
        "run_input_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_run_input_artifacts_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_input_artifacts_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_input_artifacts")),
        sa.UniqueConstraint(
            "run_id", "artifact_id", name=op.f("uq_run_input_artifacts_run_id_artifact_id")
        ),
    )
    with op.batch_alter_table("run_input_artifacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_input_artifacts_artifact_id"), ["artifact_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_run_input_artifacts_run_id"), ["run_id"], unique=False)

    op.create_table(
        "collection_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_collection_artifacts_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_collection_artifacts_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_artifacts")),
        sa.UniqueConstraint(
            "collection_id", "position", name=op.f("uq_collection_artifacts_collection_id_position")
        ),
    )
    with op.batch_alter_table("collection_artifacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_artifacts_artifact_id"), ["artifact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_collection_artifacts_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "run_input_collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_run_input_collections_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_input_collections_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_input_collections")),
        sa.UniqueConstraint(
            "run_id", "collection_id", name=op.f("uq_run_input_collections_run_id_collection_id")
        ),
    )
    with op.batch_alter_table("run_input_collections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_input_collections_collection_id"), ["collection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_run_input_collections_run_id"), ["run_id"], unique=False
        )

    if not _is_sqlite():
        op.create_foreign_key(
            "fk_runs_report_id_artifacts", "runs", "artifacts", ["report_id"], ["id"]
        )
    _create_search_indexes()


def downgrade() -> None:
    _drop_search_indexes()
    if not _is_sqlite():
        op.drop_constraint("fk_runs_report_id_artifacts", "runs", type_="foreignkey")
    with op.batch_alter_table("run_input_collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_input_collections_run_id"))
        batch_op.drop_index(batch_op.f("ix_run_input_collections_collection_id"))

    op.drop_table("run_input_collections")
    with op.batch_alter_table("collection_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_artifacts_collection_id"))
        batch_op.drop_index(batch_op.f("ix_collection_artifacts_artifact_id"))

    op.drop_table("collection_artifacts")
    with op.batch_alter_table("run_input_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_input_artifacts_run_id"))
        batch_op.drop_index(batch_op.f("ix_run_input_artifacts_artifact_id"))

    op.drop_table("run_input_artifacts")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_collections_one_latest",
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )
        batch_op.drop_index(batch_op.f("ix_collections_visibility"))
        batch_op.drop_index(batch_op.f("ix_collections_transform_id"))
        batch_op.drop_index(batch_op.f("ix_collections_stem_uid"))
        batch_op.drop_index(batch_op.f("ix_collections_run_id"))
        batch_op.drop_index(batch_op.f("ix_collections_name"))
        batch_op.drop_index(batch_op.f("ix_collections_is_latest"))
        batch_op.drop_index(batch_op.f("ix_collections_hash"))
        batch_op.drop_index(batch_op.f("ix_collections_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_collections_created_at"))

    op.drop_table("collections")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_artifacts_one_latest",
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )
        batch_op.drop_index(batch_op.f("ix_artifacts_visibility"))
        batch_op.drop_index(batch_op.f("ix_artifacts_transform_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_storage_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_stem_uid"))
        batch_op.drop_index(batch_op.f("ix_artifacts_run_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_key"))
        batch_op.drop_index(batch_op.f("ix_artifacts_is_latest"))
        batch_op.drop_index(batch_op.f("ix_artifacts_hash"))
        batch_op.drop_index(batch_op.f("ix_artifacts_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_created_at"))

    op.drop_table("artifacts")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_transform_id"))
        batch_op.drop_index(batch_op.f("ix_runs_started_at"))
        batch_op.drop_index(batch_op.f("ix_runs_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_runs_created_at"))

    op.drop_table("runs")
    with op.batch_alter_table("transforms", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_transforms_one_latest",
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )
        batch_op.drop_index(batch_op.f("ix_transforms_type"))
        batch_op.drop_index(batch_op.f("ix_transforms_stem_uid"))
        batch_op.drop_index(batch_op.f("ix_transforms_name"))
        batch_op.drop_index(batch_op.f("ix_transforms_key"))
        batch_op.drop_index(batch_op.f("ix_transforms_is_latest"))
        batch_op.drop_index(batch_op.f("ix_transforms_hash"))
        batch_op.drop_index(batch_op.f("ix_transforms_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_transforms_created_at"))

    op.drop_table("transforms")
    with op.batch_alter_table("storages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storages_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_storages_created_at"))

    op.drop_table("storages")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_created_at"))

    op.drop_table("users")
