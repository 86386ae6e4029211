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
    # two characters: from 0012's index of the words' pairs, built from the words there
    assert ls.Artifact.search("sc").count() == 3  # microscopy x2, underscore
    assert ls.Artifact.search("zq").count() == 1  # past the cut: the cut words' LIKE


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


def _plans(fn: Any) -> list[tuple[str, dict[str, Any]]]:
    """(statement, plan) of each query ``fn`` runs, by EXPLAIN ANALYZE: its statements are
    replayed in order on one autocommit connection (as the reader sessions run them), the
    queries explained, the others (BEGIN, SET LOCAL, COMMIT: see ``_count_from_indexes``) run."""
    engine = current().engine()
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    plans = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                conn.exec_driver_sql(statement, parameters)
                continue
            out = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).scalar_one()
            plans.append((statement, (json.loads(out) if isinstance(out, str) else out)[0]["Plan"]))
    return plans


def _artifact_rows_read(fn: Any) -> int:
    return sum(_rows_read(plan, "artifacts") for _, plan in _plans(fn))


def _scans(plan: dict[str, Any], table: str) -> list[str]:
    """The node types of a plan that read ``table`` (Seq Scan, Bitmap Heap Scan, …)."""
    found = [plan["Node Type"]] if plan.get("Relation Name") == table else []
    for child in plan.get("Plans", []):
        found += _scans(child, table)
    return found


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


def test_two_characters_find_their_words_from_the_index(pg: Path) -> None:
    """ "ts" has no trigram: the words holding it come from migration 0012's index of the
    words' two-character parts, not from reading every word (the old code did)."""
    _seed(10_000)
    for q in ("ts", "sa", "42"):
        qs = ls.Artifact.search(q)
        plans = _plans(lambda qs=qs: (qs[:50].all(), qs.count()))
        vocabulary = [p for st, p in plans if "search_words" in st and "long" not in st]
        assert vocabulary, q
        for plan in vocabulary:
            assert "Seq Scan" not in _scans(plan, "search_words"), (q, plan)


# many matches: the rows holding these are most of the seeded rows (every description has
# "sample"; "micrscopy" is near "microscopy", in a quarter of them)
MANY = ["ple", "samp", "sample", "micrscopy", "sa"]


def test_a_count_of_most_rows_reads_the_word_indexes(pg: Path, monkeypatch) -> None:
    """A count of the ~10^4 rows holding "ple" is counted from the word indexes (a bitmap;
    each heap page read once), not by testing the word arrays of every row of the table (the
    planner's choice once most rows match: twice the time at 10^5 rows); and it is the count
    of the plain trigram path."""
    _seed(10_000)
    counts = {}
    for q in MANY:
        qs = ls.Artifact.search(q)
        counts[q] = qs.count()
        for statement, plan in _plans(qs.count):
            if "count(" in statement and "LIMIT" not in statement:  # (not the near-miss probe)
                assert "Seq Scan" not in _scans(plan, "artifacts"), (q, plan)
    assert counts["ple"] == counts["sample"] == 10_000
    monkeypatch.setattr(query, "PG_VOCABULARY", {})
    assert counts == {q: ls.Artifact.search(q).count() for q in MANY}


# rows that only lower() matches: the Kelvin sign lower-cases to "k" (saved as "K", NFC; an
# in-place key keeps it), U+0130 to "i"
MIXED = {
    "temp/300K.csv": "absolute zero",  # the key then holds a Kelvin sign (see _states)
    "place/\u0130zm.csv": "a port",
    "CAPS/SAMPLE_PLATE.CSV": "UPPER CASE SAMPLE",
    "caps/Ts_MiXeD.csv": "Mixed Case TS",
}
SHORT = ["s", "S", "sa", "pl", "k", "i", "ki", "5k", "00", "42", "ts", "x", "é", "\u212a"]


def _states(tmp_path: Path, arts: list[ls.Artifact]) -> None:
    """A trashed, a hidden, a pending (being saved) and a non-latest artifact, a trashed
    collection: what a count must leave out (or, with a visibility lookup, count)."""
    src = tmp_path / "mixed"
    src.mkdir()
    for i, (key, desc) in enumerate(MIXED.items()):
        path = src / f"{i}.csv"
        path.write_text(key)
        ls.Artifact(str(path), key=key, description=desc).save()
    with current().engine().begin() as conn:  # as an in-place key keeps a file's own name
        conn.execute(
            text("UPDATE artifacts SET key = :k WHERE key = :nfc"),
            {"k": "temp/300\u212a.csv", "nfc": "temp/300K.csv"},
        )
    newer = src / "newer.csv"
    newer.write_text("a new version of plate_02")
    ls.Artifact(str(newer), key="plates/plate_02.csv", description="sample v2").save()
    arts[2].delete()  # to the trash
    with current().engine().begin() as conn:
        conn.execute(text("UPDATE artifacts SET visibility = 0 WHERE id = :i"), {"i": arts[3].id})
        conn.execute(text("UPDATE artifacts SET visibility = -2 WHERE id = :i"), {"i": arts[4].id})
    ls.Collection(arts[5:7], name="old TS study", description="sample").save()
    ls.Collection.get(name="old TS study").delete()


def _counts(models: Any, texts: list[str]) -> dict[Any, Any]:
    out = {}
    for m in models:
        for q in texts:
            for everything in (False, True):  # a visibility lookup: the trash counts too
                qs = m.filter(visibility__gte=-1) if everything else m.filter()
                qs = qs.search(q)
                out[m.__name__, q, everything] = (qs.count(), sorted(r.uid for r in qs.all()))
    return out


def test_counts_are_those_of_the_plain_path(pg: Path, tmp_path: Path, monkeypatch) -> None:
    """Every count (and the rows behind it) equals the plain definition's (lower(field) LIKE,
    the trigram path), visible, hidden, trashed, pending and older versions alike; the one- and
    two-character texts tested as they are ("s" and "S") included."""
    arts = _catalog(tmp_path)
    _states(tmp_path, arts)
    texts = TEXTS + SHORT
    fast = _counts((ls.Artifact, ls.Collection), texts)
    monkeypatch.setattr(query, "PG_VOCABULARY", {})
    monkeypatch.setattr(query, "_pg_short_text", lambda q, columns: None, raising=False)
    assert fast == _counts((ls.Artifact, ls.Collection), texts)
    keys = {a.uid: a.key for a in ls.Artifact.filter(visibility__gte=-2)}
    assert "temp/300\u212a.csv" in {keys[u] for u in fast["Artifact", "k", False][1]}
    assert "place/\u0130zm.csv" in {keys[u] for u in fast["Artifact", "i", False][1]}
    assert {keys[u] for u in fast["Artifact", "ts", False][1]} == {"caps/Ts_MiXeD.csv"}
    # the trashed artifact counts with a visibility lookup only, the pending one never
    assert fast["Artifact", "s", True][0] == fast["Artifact", "s", False][0] + 1
    assert fast["Collection", "ts", True][0] == fast["Collection", "ts", False][0] + 1
