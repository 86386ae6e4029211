"""Issue 13, item 12 on PostgreSQL: a search answers from indexes whatever the text.

Migration 0011 keeps a vocabulary of the catalog's words (``search_words``, by triggers), the
searched columns' words as stored arrays, and their lengths. A search for text of ASCII letters
and digits finds its rows through the words that hold it, a typo through the words near it,
and a long text only among rows at least as long. The old code tested every row that shares a
trigram with the text: "ts" (no trigram), "sampel" (a typo sharing common trigrams) and
"sample sample …" each read the whole table. These tests check (1) that the answers are
those of the plain definition (the trigram path, the vocabulary switched off), (2) that the
vocabulary follows every way rows are written, and (3) by EXPLAIN ANALYZE that such searches
read a bounded number of rows at 10^4 artifacts (times: ``bench_core.py --search-only
--hostile --db …``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import labshelf as ls
import pytest
from catalog_rows import artifact_rows, insert_artifact_rows
from labshelf import query
from labshelf.instance import current, disconnect
from sqlalchemy import event, text

LONG_WORD = "a" * 70 + "zzq" + "b" * 10  # cut at 64 characters by the word index
FILES = {
    "plates/plate_01.csv": "96-well plate, DAPI sample",
    "plates/plate_02.csv": "sample of the plate reader",
    "images/microscopy/cell_000123.tif": "microscopy cells treated",
    "images/microscopy/cell_000124.tif": "microscopy cells control",
    "seq/run42/reads_R1.fastq": "sequencing run 42",
    f"long/{LONG_WORD}.txt": f"one {LONG_WORD} word",
    "odd/100%_done.csv": "percent_and_underscore\\backslash",
    "unicode/café-日本.csv": "naïve résumé 🧪",
    "numbers/0001234.csv": "0001234 and 42",
}
TEXTS = [
    "ple",
    "plate",
    "samp",
    "sample",
    "ts",
    "s",
    "42",
    "000",
    "0001234",
    "zzq",  # past the 64 characters of the long word's index entry
    "aaazzq",
    "micrscopy",  # typo: near "microscopy"
    "sampel",  # typo nothing is near enough
    "plate_0",
    "plate reader",
    "sample sample sample sample sample",
    "%_",
    "100%",
    "café",
    "日本",
    "x" * 40,
    "cell_00012",
]


@pytest.fixture
def pg(pg_server: Any, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "store"
    ls.init(str(root), db=pg_server.create_database().url, name="vocab")
    try:
        yield root
    finally:
        disconnect()


def _catalog(tmp_path: Path) -> list[ls.Artifact]:
    src = tmp_path / "src"
    src.mkdir()
    arts = []
    for i, (key, desc) in enumerate(FILES.items()):
        path = src / f"{i}{Path(key).suffix}"
        path.write_text(f"{key}\n")
        arts.append(ls.Artifact(str(path), key=key, description=desc))
    ls.save(arts)  # one batched insert
    ls.Collection(arts[:2], name="plates study_0001", description="the sample plates").save()
    return arts


def _results(model: Any, q: str) -> tuple[list[str], int, list[str]]:
    qs = model.search(q)
    return [r.uid for r in qs[:50].all()], qs.count(), sorted(r.uid for r in qs.all())


def _words() -> set[tuple[str, bool]]:
    with current().engine().connect() as conn:
        return {(w, bool(long)) for w, long in conn.execute(text("SELECT * FROM search_words"))}


def test_answers_are_those_of_the_trigram_path(pg: Path, tmp_path: Path, monkeypatch) -> None:
    _catalog(tmp_path)
    with_vocabulary = {
        (m.__name__, q): _results(m, q) for m in (ls.Artifact, ls.Collection) for q in TEXTS
    }
    monkeypatch.setattr(query, "PG_VOCABULARY", {})  # the plain trigram path of 0010
    without = {(m.__name__, q): _results(m, q) for m in (ls.Artifact, ls.Collection) for q in TEXTS}
    assert with_vocabulary == without
    # and they are what a reader expects
    keys = {a.uid: a.key for a in ls.Artifact.filter()}
    assert [keys[u] for u in with_vocabulary[("Artifact", "zzq")][0]] == [f"long/{LONG_WORD}.txt"]
    assert with_vocabulary[("Artifact", "ts")][1] == 0
    assert with_vocabulary[("Artifact", "sampel")][1] == 0
    typo = {keys[u] for u in with_vocabulary[("Artifact", "micrscopy")][2]}
    assert typo == {"images/microscopy/cell_000123.tif", "images/microscopy/cell_000124.tif"}
    assert with_vocabulary[("Artifact", "ple")][1] == 2  # the two "sample"s
    assert with_vocabulary[("Collection", "plate")][1] == 1


def test_the_vocabulary_follows_every_write(pg: Path, tmp_path: Path) -> None:
    arts = _catalog(tmp_path)
    words = _words()
    for word in ("plates", "plate", "01", "csv", "96", "dapi", "microscopy", "000123", "café"):
        assert (word, False) in words, word
    assert (LONG_WORD[:64], True) in words  # cut, and marked as cut
    assert not any(w == "" for w, _ in words)
    # a key edit and a description edit (UPDATE) add their new words
    art = ls.Artifact.get(key="plates/plate_01.csv")
    art.description = "renamed quokka"
    art.save()
    assert ("quokka", False) in _words()
    assert [a.key for a in ls.Artifact.search("quokk")[:5]] == ["plates/plate_01.csv"]
    assert [a.key for a in ls.Artifact.search("quoka")[:5]] == ["plates/plate_01.csv"]  # typo
    # a collection's name
    coll = ls.Collection.get(name="plates study_0001")
    coll.name = "wombat study"
    coll.save()
    assert [c.name for c in ls.Collection.search("wombat")[:5]] == ["wombat study"]
    # a new version, and a single save
    p = tmp_path / "extra.txt"
    p.write_text("numbat")
    ls.Artifact(str(p), key="zoo/numbat_7.txt").save()
    assert [a.key for a in ls.Artifact.search("numba")[:5]] == ["zoo/numbat_7.txt"]
    assert len(arts) == len(FILES)


def test_a_catalog_of_0010_gets_its_vocabulary_from_its_rows(pg: Path, tmp_path: Path) -> None:
    from alembic import command
    from labshelf.migrations import _alembic_config

    with current().engine().begin() as conn:
        command.downgrade(_alembic_config(conn), "0010")
    _catalog(tmp_path)  # written without triggers
    disconnect()
    ls.connect("vocab")  # opening it upgrades the schema
    words = _words()
    assert ("microscopy", False) in words and (LONG_WORD[:64], True) in words
    assert ls.Artifact.search("zzq").count() == 1
    assert ls.Artifact.search("icrosc").count() == 2


# ---------------------------------------------------------------- rows read, by EXPLAIN ANALYZE


def _seed(rows: int) -> None:
    words = ["plate", "cells", "microscopy", "sequencing", "iris", "study", "control", "treated"]
    texts = (
        (f"{w1}/{w2}_{i:06d}.tif", f"{w1} {w2} sample {i}")
        for i in range(rows)
        for w1, w2 in [(words[i % 8], words[(i // 8) % 8])]
    )
    insert_artifact_rows(artifact_rows(texts))
    with current().engine().begin() as conn:
        conn.execute(text("ANALYZE artifacts"))
        conn.execute(text("ANALYZE search_words"))


def _rows_read(plan: dict[str, Any], table: str) -> int:
    """Rows a plan node and its children read from ``table`` (returned or filtered out)."""
    n = 0
    if plan.get("Relation Name") == table:
        loops = plan.get("Actual Loops", 1)
        n += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
        n += plan.get("Rows Removed by Index Recheck", 0)
    for child in plan.get("Plans", []):
        n += _rows_read(child, table)
    return n


def _artifact_rows_read(fn: Any) -> int:
    engine = current().engine()
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    total = 0
    with engine.connect() as conn:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue  # BEGIN, SET LOCAL (a count from the indexes), COMMIT
            out = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).scalar_one()
            plan = (json.loads(out) if isinstance(out, str) else out)[0]["Plan"]
            total += _rows_read(plan, "artifacts")
    return total


NOTHING_HOLDS = [
    "ts",  # two letters: no trigram, no word holds it
    "sampel",  # a typo sharing its common trigrams with every row, near no word
    ("sample " * 28).strip(),  # long text of a common word
    "%_" * 100,  # no letter: no trigram
    "q7k2m9x4v8w1z3n6b5c0r2t7y4u9i1o3p8a5s6d2f4g7h1j9k3l5",  # one long random word
]


def test_a_search_no_row_matches_reads_no_row(pg: Path) -> None:
    _seed(10_000)
    for q in NOTHING_HOLDS:
        qs = ls.Artifact.search(q)
        read = _artifact_rows_read(lambda qs=qs: (qs[:50].all(), qs.count()))
        # (a text of letters and digits may be the start of a few random uids)
        by_uid = ls.Artifact.filter(uid__startswith=q).count() if q.isalnum() else 0
        assert qs.count() == by_uid
        assert read <= 50 + 4 * by_uid, f"{read} rows read to find that nothing holds {q[:20]!r}"
