"""Every per-item lookup on a hot path uses its selective index on SQLite and PostgreSQL, on
a catalog of 10^5 artifacts, whatever the planner's statistics say: SQLite without any and
after ANALYZE, PostgreSQL with the statistics of a small catalog that has since grown 100x
and after ANALYZE (a scan per registered file made registration slow down with the size of
the catalog). PostgreSQL's plans for a table that was never analyzed at all (the first
minute after a bulk load, until autovacuum runs) are not checked: without any statistics
it estimates an IN list of a few hundred values as most of the table."""

from __future__ import annotations

from pathlib import Path

from labshelf import artifact as art
from labshelf import schema
from labshelf.instance import current
from labshelf.models import Artifact, Collection
from labshelf.versioning import latest_updates
from sqlalchemy import bindparam, func, select, text, true

ROWS = 100_000
A, C = schema.artifacts.c, schema.collections.c

SEED_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
INSERT INTO {table} ({columns}) SELECT {values} FROM n
"""
SEED_PG = (
    "INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series({start}, {rows}) AS n(i)"
)


def _seed(conn, dialect: str, storage: int, user: int, start: int, scale: float) -> None:
    """ROWS artifacts (every one visible and latest, as after bulk registration: the worst
    case for an index on is_latest) and 20,000 collections, in one statement each."""
    pad = (
        (lambda w: f"printf('%0{w}d', i)")
        if dialect == "sqlite"
        else (lambda w: f"lpad(i::text, {w}, '0')")
    )
    now = "CURRENT_TIMESTAMP"
    flag = "1" if dialect == "sqlite" else "true"
    virtual = flag
    template = SEED_SQLITE if dialect == "sqlite" else SEED_PG
    art_cols = {
        "uid": f"{pad(16)} || '0000'",
        "stem_uid": pad(16),
        "key": "'k/' || i",
        "storage_id": str(storage),
        "suffix": "''",
        "size": "4096",
        "hash": "'h' || i",
        "hash_type": "'md5'",
        "visibility": "1",
        "key_is_virtual": virtual,
        "is_latest": flag,
        "created_by_id": str(user),
        "created_at": now,
        "updated_at": now,
    }
    col_cols = {
        "uid": f"{pad(16)} || '0000'",
        "stem_uid": pad(16),
        "name": "'c' || i",
        "hash": "'ch' || i",
        "visibility": "1",
        "is_latest": flag,
        "created_by_id": str(user),
        "created_at": now,
        "updated_at": now,
    }
    for table, cols, rows in (("artifacts", art_cols, ROWS), ("collections", col_cols, 20_000)):
        sql = template.format(
            table=table,
            columns=", ".join(cols),
            values=", ".join(cols.values()),
            rows=int(rows * scale),
            start=start,
        )
        conn.exec_driver_sql(sql)


def _statements(storage: int) -> list[tuple[str, object, object]]:
    """(what, statement, the index it must use; a tuple: any of them; a list: all of
    them): the probes the code runs."""
    hashes = [f"h{i}" for i in range(1, 300, 1)]
    keys = [f"k/{i}" for i in range(1, 300)]
    stems = [f"{i:016d}" for i in range(1, 300)]
    clear, set_latest = latest_updates(Artifact, stems)
    return [
        ("Artifact(): hash probe", art._BY_HASH.statement, "ix_artifacts_hash_visibility"),
        ("Artifact(): latest with a key", art._BY_KEY.statement, "ix_artifacts_key_is_latest"),
        ("Artifact(): a path in place", art._BY_PATH.statement, "ix_artifacts_storage_id_key"),
        (
            "Artifact(key=…): both probes in one round trip",
            art._BY_HASH_AND_KEY.statement,
            ["ix_artifacts_hash_visibility", "ix_artifacts_key_is_latest"],
        ),
        ("bulk: hashes", art.hash_probe(hashes), "ix_artifacts_hash_visibility"),
        ("bulk: keys", art.key_probe(keys), "ix_artifacts_key_is_latest"),
        ("bulk: paths", art.path_probe(storage, keys), "ix_artifacts_storage_id_key"),
        ("bulk: version indexes", art.top_uid_probe(stems), "ix_artifacts_stem_uid_uid"),
        ("publish: dedup", art.publish_probe(hashes), "ix_artifacts_hash_visibility"),
        (
            "upload: pending rows",
            art.pending_probe(hashes, storage),
            "ix_artifacts_hash_visibility",
        ),
        ("folder: earlier version", art._EARLIER_FOLDER.statement, "ix_artifacts_stem_uid_uid"),
        (
            "next_index",
            select(func.max(A.uid)).where(A.stem_uid == bindparam("stem")),
            "ix_artifacts_stem_uid_uid",
        ),
        # the partial unique index (stem_uid where is_latest) serves it as well
        (
            "recompute_latest: clear",
            clear,
            ("ix_artifacts_stem_uid_uid", "uq_artifacts_one_latest"),
        ),
        ("recompute_latest: set", set_latest, "ix_artifacts_stem_uid_uid"),
        (
            "Collection(name=…): latest with a name",
            select(Collection).where(
                Collection.name == "c5", Collection.is_latest == true(), Collection.visibility >= 0
            ),
            "ix_collections_name_is_latest",
        ),
        (
            "Collection(): same members",
            select(Collection).where(Collection.hash == "ch5").order_by(Collection.id.desc()),
            "ix_collections_hash",
        ),
    ]


def _plan(conn, statement, dialect: str) -> str:
    params = {"hash": "h5", "key": "k/5", "storage": 1, "stem": "0000000000000005", "uid": "z"}
    if hasattr(statement, "selected_columns"):  # a SELECT: fill its named parameters
        statement = statement.params(params)
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    rows = conn.exec_driver_sql(prefix + sql).all()
    return "\n".join(str(r[-1]) for r in rows)


def _check(conn, dialect: str, storage: int, when: str) -> None:
    wrong = []
    for what, statement, index in _statements(storage):
        plan = _plan(conn, statement, dialect)
        scans = (
            "SCAN artifacts" in plan or "SCAN collections" in plan
            if dialect == "sqlite"
            else "Seq Scan" in plan
        )
        names = (index,) if isinstance(index, str) else index
        found = (all if isinstance(index, list) else any)(name in plan for name in names)
        if not found or scans:
            wrong.append(f"{what} ({when}): expected {index}, got:\n{plan}")
    assert not wrong, "\n\n".join(wrong)


def test_hot_path_lookups_use_their_indexes(instance: Path) -> None:
    inst = current()
    engine = inst.engine()
    dialect = engine.dialect.name
    storage = inst.default_storage_id
    with engine.begin() as conn:
        user = conn.execute(select(schema.users.c.id)).scalar()
        if user is None:
            conn.execute(schema.users.insert().values(uid="u0000000", handle="seed"))
            user = conn.execute(select(schema.users.c.id)).scalar()
    small = 0.01
    if dialect == "postgresql":  # statistics of a catalog 100x smaller than now
        with engine.begin() as conn:
            _seed(conn, dialect, storage, user, 1, small)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE artifacts"))
            conn.execute(text("ANALYZE collections"))
            conn.commit()
    with engine.begin() as conn:
        start = int(ROWS * small) + 1 if dialect == "postgresql" else 1
        _seed(conn, dialect, storage, user, start, 1.0)
    with engine.connect() as conn:
        _check(conn, dialect, storage, "stale statistics" if dialect != "sqlite" else "none")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    with engine.connect() as conn:
        _check(conn, dialect, storage, "after ANALYZE")
