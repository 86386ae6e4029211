"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from labshelf.migrations import HEAD, KNOWN, current_revision, upgrade
from labshelf.schema import metadata
from sqlalchemy import create_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return request.getfixturevalue("pg_server").create_database().url


def _search_objects(diff: list) -> bool:
    return any(part in str(diff) for part in ("_fts", "_trgm", "_words", "_head", "_length"))


def test_migrated_schema_matches_the_models(empty_db: str) -> None:
    engine = create_engine(empty_db)
    try:
        with engine.begin() as conn:
            upgrade(conn)
        with engine.connect() as conn:
            assert current_revision(conn) == HEAD == KNOWN[-1]
            diff = [
                d
                for d in compare_metadata(MigrationContext.configure(conn), metadata)
                if not _search_objects(d)
            ]
        assert diff == []
    finally:
        engine.dispose()


def test_each_revision_upgrades_from_the_previous(empty_db: str) -> None:
    engine = create_engine(empty_db)
    try:
        for rev in KNOWN:
            with engine.begin() as conn:
                upgrade(conn, rev)
            with engine.connect() as conn:
                assert current_revision(conn) == rev
    finally:
        engine.dispose()


def test_a_schema_upgrade_on_postgresql_is_not_cut_by_the_statement_limits(
    pg_server, tmp_path: Path, monkeypatch
) -> None:
    """Ordinary statements are bounded (labshelf.db: statement_timeout and a client wait limit); a
    schema upgrade, which may build indexes on a big catalog for minutes, is not."""
    import labshelf as ls
    from labshelf import migrations
    from labshelf.db import link_timeout
    from labshelf.instance import current, disconnect
    from sqlalchemy import text

    monkeypatch.setenv("LABSHELF_DB_STATEMENT_TIMEOUT", "2")
    seen = []
    real = migrations.upgrade

    def watched(conn, revision: str = "head") -> None:
        seen.append(
            (
                conn.execute(text("SHOW statement_timeout")).scalar(),
                conn.connection.driver_connection.labshelf_wait_limit,
            )
        )
        real(conn, revision)

    monkeypatch.setattr(migrations, "upgrade", watched)
    url = pg_server.create_database().url
    ls.init(str(tmp_path / "store"), db=url)
    try:
        assert seen == [("0", None)]  # unbounded while migrating
        with current().engine().connect() as conn:  # bounded again afterwards (pooled connections)
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "2s"
            assert conn.connection.driver_connection.labshelf_wait_limit == 2 + link_timeout()
        assert ls.Artifact.filter().count() == 0
    finally:
        disconnect()


def test_an_instance_of_the_previous_schema_upgrades_to_labels_and_features(
    backend: str, db_url: str | None, tmp_path: Path
) -> None:
    """A catalog made before labels and features (schema 0005) keeps its records when it is
    opened by this version, and takes labels and feature values at once."""
    import labshelf as ls
    from alembic import command
    from labshelf.instance import current, disconnect
    from labshelf.migrations import _alembic_config

    source = tmp_path / "a.txt"
    source.write_text("a")
    ls.init(str(tmp_path / "store"), db=db_url, name="old")
    uid = ls.Artifact(source, key="a.txt").save().uid
    engine = current().engine()
    with engine.begin() as conn:  # back to the schema before labels and features
        command.downgrade(_alembic_config(conn), "0005")
    with engine.connect() as conn:
        assert current_revision(conn) == "0005"
        assert "ulabels" not in conn.dialect.get_table_names(conn)
    disconnect()
    ls.connect("old")  # opening it upgrades the schema
    try:
        with current().engine().connect() as conn:
            assert current_revision(conn) == HEAD
        artifact = ls.Artifact.get(uid)
        artifact.ulabels.add("DAPI")
        artifact.features.add_values({"temperature": 37.0}, create_features=True)
        assert ls.Artifact.filter(ulabels__name="DAPI", temperature__gte=30).one() == artifact
    finally:
        disconnect()


def test_an_instance_before_the_word_index_gets_it_built_from_its_rows(tmp_path: Path) -> None:
    """SQLite: a catalog of schema 0008 (no word index) is indexed by words when it is opened;
    whole-word ranking and near misses then find the rows saved before the upgrade."""
    import labshelf as ls
    from alembic import command
    from labshelf.instance import current, disconnect
    from labshelf.migrations import _alembic_config

    ls.init(str(tmp_path / "store"), name="words")
    engine = current().engine()
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0008")
    with engine.connect() as conn:
        assert "artifacts_words" not in conn.dialect.get_table_names(conn)
    for i, key in enumerate(["plate/gamma_ray.txt", "plate/delta.txt"]):
        (tmp_path / f"{i}.txt").write_text(key)
        ls.Artifact(tmp_path / f"{i}.txt", key=key, description="sample").save()
    disconnect()
    ls.connect("words")  # opening it upgrades the schema and builds the word index
    try:
        with current().engine().connect() as conn:
            assert current_revision(conn) == HEAD
            hits = conn.exec_driver_sql(
                "SELECT rowid FROM artifacts_words WHERE artifacts_words MATCH 'gamma'"
            ).all()
        assert len(hits) == 1
        assert [a.key for a in ls.Artifact.search("gamma")[:5]] == ["plate/gamma_ray.txt"]
        assert [a.key for a in ls.Artifact.search("gamme")[:5]] == ["plate/gamma_ray.txt"]
    finally:
        disconnect()


def test_a_postgresql_catalog_before_the_word_indexes_gets_them_built_from_its_rows(
    pg_server, tmp_path: Path
) -> None:
    """PostgreSQL: a catalog of schema 0009 (trigram indexes only) gets the word and head
    indexes of 0010 when it is opened, built from the rows it holds; searches then rank those
    rows as before and the planner reads the exact and whole-word tiers from the new indexes."""
    import labshelf as ls
    from alembic import command
    from labshelf import query
    from labshelf.instance import current, disconnect
    from labshelf.migrations import _alembic_config
    from sqlalchemy import select, text

    expected = {
        f"ix_{table}_{col}_{kind}"
        for table, cols in (
            ("artifacts", ("key", "description")),
            ("collections", ("name", "description")),
        )
        for col in cols
        for kind in ("words", "head")
    }

    def indexes() -> set[str]:
        with current().engine().connect() as conn:
            names = conn.execute(text("SELECT indexname FROM pg_indexes")).scalars()
            return {n for n in names if n.endswith(("_words", "_head"))}

    ls.init(str(tmp_path / "store"), db=pg_server.create_database().url, name="pgwords")
    engine = current().engine()
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0009")
    assert indexes() == set()
    keys = ["plate/gamma_ray.txt", "plate/delta.txt", "ple.txt", "x/sample_ple.txt"]
    for i, key in enumerate(keys):
        (tmp_path / f"{i}.txt").write_text(key)
        ls.Artifact(tmp_path / f"{i}.txt", key=key, description=f"sample {i}").save()
    disconnect()
    ls.connect("pgwords")  # opening it upgrades the schema and builds the indexes
    try:
        with current().engine().connect() as conn:
            assert current_revision(conn) == HEAD
        assert indexes() == expected
        assert [a.key for a in ls.Artifact.search("gamma")[:5]] == ["plate/gamma_ray.txt"]
        ple = [a.key for a in ls.Artifact.search("ple")[:5]]
        assert ple == ["x/sample_ple.txt", "ple.txt", "plate/delta.txt", "plate/gamma_ray.txt"]
        # the word tier of "ple" can be read from the word index (its expression is the
        # index's own; on 4 rows the planner would rather read the table, so it may not here)
        search = ls.Artifact.search("ple")._search_terms("postgresql")
        assert search is not None
        stmt = select(ls.Artifact.id).where(search.sources[query.NAME_WORD])
        sql = stmt.compile(
            dialect=current().engine().dialect, compile_kwargs={"literal_binds": True}
        )
        with current().engine().connect() as conn:  # bitmap index scans only
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_indexscan = off"))
            plan = "\n".join(conn.execute(text(f"EXPLAIN {sql}")).scalars())
        assert "ix_artifacts_key_words" in plan, plan
    finally:
        disconnect()
