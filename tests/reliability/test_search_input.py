"""Issue 13, item 12: search input is capped and sanitized.

``search(None)`` and text past ``SEARCH_MAX_CHARS`` raise ``InvalidArgument``; NUL and other
controls are dropped (tabs and line breaks are spaces), so FTS5's query syntax cannot break; a
fuzz run over hostile text never raises anything but ``LabshelfError``. Times at 10^5 artifacts
are measured by ``tests/benchmarks/bench_core.py --search-only --hostile``, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import labshelf as ls
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labshelf.query import SEARCH_MAX_CHARS

from .conftest import one_sentence, record

FTS_BITS = [
    '"',
    '""',
    "'",
    "*",
    "^",
    "-",
    "+",
    ":",
    "(",
    ")",
    "{",
    "}",
    "NEAR(",
    " AND ",
    " OR ",
    " NOT ",
    "%",
    "_",
    "\\",
    "\x00",
    "\x1b[2J",
    "\u202e",
    "\ud800",
    "\t",
    "\n",
    "key:",
    "plate",
    "é",
    "e\u0301",
    "日本",
    "🧪",
]
hostile_text = st.one_of(
    st.text(st.characters(blacklist_categories=()), max_size=SEARCH_MAX_CHARS + 20),
    st.lists(st.sampled_from(FTS_BITS), max_size=40).map("".join),
    st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(FTS_BITS),
        st.text(max_size=8),
        st.sampled_from(FTS_BITS),
    ),
)


def _catalog(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    members = []
    for i, (key, desc) in enumerate(
        [
            ("plates/plate_01.csv", "96-well plate, DAPI"),
            ('odd/"quoted" name.csv', "it's got 'quotes' and \"more\""),
            ("odd/100%_done.csv", "percent_and_underscore\\backslash"),
            ("unicode/café-日本.csv", "naïve résumé 🧪"),
            ("near/NEAR(a b).csv", "AND OR NOT * ^ - :"),
        ]
    ):
        path = src / f"f{i}.csv"
        path.write_text(f"x\n{i}\n")
        members.append(ls.Artifact(str(path), key=key, description=desc).save())
    ls.Collection(members, name='plates "all" (NEAR)', description="a\\b%c_d").save()


def _search_everything(text: object) -> None:
    """Search every kind of registry; the only error allowed is the one for too long text."""
    for model in (ls.Artifact, ls.Collection, ls.Transform):
        try:
            qs = model.search(text)
        except ls.InvalidArgument as exc:
            assert f"at most {SEARCH_MAX_CHARS}" in str(exc) and one_sentence(str(exc)), str(exc)
            assert len(text) > SEARCH_MAX_CHARS
            continue
        qs[:20].all()
        qs.count()
        qs.first()


def test_search_refuses_none_and_long_text_and_cleans_controls(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    _catalog(tmp_path)
    for bad in (None, 42, b"plate", ["plate"]):
        with pytest.raises(ls.InvalidArgument, match="search\\(\\) takes text"):
            ls.Artifact.search(bad)
    for n in (SEARCH_MAX_CHARS + 1, 10_000, 1_000_000):
        with pytest.raises(ls.InvalidArgument, match=f"at most {SEARCH_MAX_CHARS}") as info:
            ls.Artifact.search("x" * n)
        assert one_sentence(str(info.value))
    assert ls.Artifact.search("p" * SEARCH_MAX_CHARS).count() == 0  # the cap itself is fine
    assert ls.Artifact.search("f1\x00x").count() == 0  # was: "unterminated string"
    assert [a.key for a in ls.Artifact.search("plate\x00_01")] == ["plates/plate_01.csv"]
    assert [a.key for a in ls.Artifact.search("\u202eplate_01\x1b")] == ["plates/plate_01.csv"]
    assert ls.Artifact.search("96-well\tplate").count() == 1
    assert ls.Artifact.search('"quoted"').count() == 1
    assert ls.Artifact.search("100%_").count() == 1
    # long text (the index is asked for a few of its trigrams, the rows are checked)
    assert [a.key for a in ls.Artifact.search("96-well plate, dapi")] == ["plates/plate_01.csv"]
    assert ls.Artifact.search("96-well plate, DAPX").count() == 0
    assert ls.Artifact.search("well plate, DAPI 96-").count() == 0
    assert ls.Artifact.search("percent_and_underscore\\backslash").count() == 1
    record(
        "search input: None, long, NUL, controls",
        backend,
        12,
        lost="-",
        dangling="-",
        clear_errors="None/non-text/too long: InvalidArgument; controls dropped",
    )


def test_search_fuzz_never_raises(instance: Path, tmp_path: Path, backend: str, scale) -> None:
    """Hostile text (controls, surrogates, FTS5 syntax, quotes, LIKE wildcards, long text):
    every search answers, or says the text is too long (``--long``: ten times the examples)."""
    _catalog(tmp_path)
    n = scale(100, 1000) // (1 if backend == "sqlite" else 3)
    seen = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(hostile_text)
    def run(text: str) -> None:
        seen.append(text)
        _search_everything(text)

    run()
    record(
        "search fuzz (hypothesis)",
        backend,
        len(seen),
        lost="-",
        dangling="-",
        clear_errors=f"{len(seen)} hostile texts x 3 registries: answered or too long",
    )


def test_a_page_of_a_short_search_is_the_ranked_statement(sqlite_instance: Path) -> None:
    """One or two characters in more than TIER_PROBE rows: the page read rank by rank is the
    page of the ranked statement, rows without a description included."""
    from catalog_rows import artifact_rows, insert_artifact_rows
    from labshelf import session
    from labshelf.models import Artifact
    from labshelf.query import TIER_PROBE

    texts = [
        (
            ["s", "sa/x.csv", "as/s.csv", "b/c.csv", "S/t.csv"][i % 5] + f".{i}",
            None if i % 3 else ["s", "sample", "has s"][i % 9 // 3],
        )
        for i in range(TIER_PROBE + 300)
    ]
    insert_artifact_rows(artifact_rows(texts, suffix=".csv", size=1))
    for text in ("s", "sa", "S", "s.", "x", "zz"):
        for start, stop in ((0, 50), (30, 80), (0, 1000)):
            qs = ls.Artifact.search(text)[start:stop]
            stmt = qs.statement([Artifact.id], "sqlite", qs._search_terms("sqlite"))
            expected = session.read(lambda s, st=stmt: list(s.scalars(st)))
            assert [a.id for a in qs.all()] == expected, (text, start, stop)
