"""Hostile input, property-based: keys, search strings, lookups and their values, uid prefixes.

Whatever the text, labshelf answers with a result or a labshelf error (one sentence), never
a raw exception, and a search never misses a record whose key contains the text.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import labshelf as ls
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from labshelf.keys import suffix_of, validate_key
from labshelf.query import OPS, _columns, _relations

from .conftest import one_sentence, record

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_counts: dict[str, list[int]] = {}


def _tally(name: str, ok: bool) -> None:
    done = _counts.setdefault(name, [0, 0])
    done[0] += 1
    done[1] += ok


NASTY = [
    "..",
    ".",
    "../x",
    "a/../b",
    "a/./b",
    "/abs",
    "//x",
    "C:\\x",
    "c:/x",
    "a\\b",
    "a//b",
    "a/",
    " ",
    "",
    "\x00",
    "a\nb",
    "a\rb",
    "\t",
    "ä/ö/ü",
    "日本/データ.csv",
    "emoji/😀.txt",
    "x" * 1001,
    "x" * 1000,
    "a b/c d.txt",
    "'; DROP TABLE artifacts; --",
    "%_%",
    "a/\u202ebackwards",
    "\ud800",
    "con",
    "a:b",
    "*",
    "?",
    "~",
    "-rf",
    ".hidden",
    "a/.labshelf/x",
]

segment = st.one_of(
    st.sampled_from(["..", ".", "", " ", "a", "\\", "%", "_", "😀", "ü", "x" * 300]),
    st.text(min_size=1, max_size=12),
)
composed_keys = st.lists(segment, min_size=1, max_size=6).map("/".join)
keys = st.one_of(
    st.sampled_from(NASTY),
    composed_keys,
    st.text(max_size=40),
    st.builds(lambda p, n: p + "x" * n, st.sampled_from(["", "/", "a/"]), st.integers(900, 1100)),
)


@SETTINGS
@given(keys)
def test_validate_key_refuses_or_cleans(key: str) -> None:
    try:
        clean = validate_key(key)
    except ls.InvalidArgument as exc:
        assert one_sentence(str(exc)), str(exc)
        _tally("keys (validate_key)", True)
        return
    parts = clean.split("/")
    assert not clean.startswith("/") and "\\" not in clean and len(clean) <= 1000
    assert all(p not in ("", ".", "..") for p in parts)
    assert "\x00" not in clean and "\n" not in clean
    _tally("keys (validate_key)", True)


_counter = itertools.count()


@pytest.fixture
def data_file(tmp_path: Path):
    def make() -> Path:
        n = next(_counter)
        p = tmp_path / f"f{n}.txt"
        p.write_text(f"unique content {n} {tmp_path}\n")
        return p

    return make


@SETTINGS
@given(key=keys)
def test_save_with_any_key(instance: Path, data_file, key: str) -> None:
    """Artifact(path, key=…).save() and a lookup by the same key: a record or a clear error."""
    path = data_file()
    try:
        a = ls.Artifact(path, key=key).save()
    except ls.InvalidArgument as exc:
        assert one_sentence(str(exc)), str(exc)
        _tally("keys (save + lookup)", True)
        return
    except ls.LabshelfError as exc:  # e.g. a database refusing the text
        assert one_sentence(str(exc)), str(exc)
        _tally("keys (save + lookup)", True)
        return
    assert a.key == validate_key(key)
    got = ls.Artifact.filter(key=a.key).one()
    assert got.uid == a.uid or got.stem_uid == a.stem_uid
    assert ls.Artifact.get(a.uid).key == a.key
    assert (instance / ".labshelf" / f"{a.uid}{a.suffix}").exists()
    _tally("keys (save + lookup)", True)


# ---------------------------------------------------------------- search

SEARCH_KEYS = [
    "plain/report.csv",
    "quote'single.txt",
    'quote"double.txt',
    "percent%sign.txt",
    "under_score.txt",
    "back\\slash-free/x.txt",
    "sql/'; DROP TABLE artifacts; --.txt",
    "regex/.*+?[](){}^$|.txt",
    'fts/"a" OR b NEAR c*.txt',
    "space in/name.txt",
    "ümlaut/Äpfel.csv",
    "日本/データ.csv",
    "emoji/😀.txt",
    "case/MiXeD.TXT",
    "x" * 200,
    "pct/100%_done.txt",
    "like/a_b%c\\d.txt",
]
SEARCH_KEYS = [k for k in SEARCH_KEYS if "\\" not in k]

queries = st.one_of(
    st.sampled_from(
        [
            "'",
            '"',
            "%",
            "_",
            "%_",
            "\\",
            "*",
            "' OR '1'='1",
            "'; DROP TABLE artifacts; --",
            ".*",
            "[",
            "(",
            ")",
            "^",
            "$",
            "|",
            "NEAR",
            "AND",
            "OR",
            "NOT",
            '"a" OR b',
            "\x00",
            "😀",
            "データ",
            "äpfel",
            "MIXED",
            "x" * 300,
            " ",
            "  x  ",
            "100%",
            "a_b",
            "rowid",
            "artifacts_fts",
            "artifacts_words",
            "{key}: x",
            "--",
            "/*",
            "*/",
        ]
    ),
    st.text(max_size=20),
    st.builds(
        lambda k, i, j: k[min(i, j) : max(i, j)],
        st.sampled_from(SEARCH_KEYS),
        st.integers(0, 30),
        st.integers(0, 30),
    ),
)


@pytest.fixture
def search_data(instance: Path, tmp_path: Path) -> dict[str, str]:
    uids = {}
    folder = tmp_path / "search-src"
    folder.mkdir()
    for n, key in enumerate(SEARCH_KEYS):
        p = folder / f"{n}{suffix_of(key)}"  # a key keeps its file's suffix
        p.write_text(f"search content {n}\n")
        uids[key] = ls.Artifact(p, key=key).save().uid
    return uids


@SETTINGS
@given(q=queries)
@example(q="\x00")
@example(q="_")
@example(q="%")
def test_search_any_text(search_data: dict[str, str], q: str) -> None:
    try:
        qs = ls.Artifact.search(q)
        found = qs.all()
        count = qs.count()
    except ls.LabshelfError as exc:
        assert one_sentence(str(exc)), str(exc)
        _tally("search strings", True)
        return
    assert count == len(found), f"count {count} != {len(found)} rows for {q!r}"
    needle = q.strip()
    if needle and needle.isascii():
        expected = {search_data[k] for k in search_data if needle.lower() in k.lower()}
        missing = expected - {a.uid for a in found}
        assert not missing, (
            f"search {q!r} misses {[k for k, u in search_data.items() if u in missing]}"
        )
    _tally("search strings", True)


@SETTINGS
@given(
    q=queries,
    op=st.sampled_from(
        [
            "contains",
            "icontains",
            "startswith",
            "endswith",
            "exact",
            "iexact",
            "istartswith",
            "iendswith",
        ]
    ),
)
def test_text_lookups_match_python(search_data: dict[str, str], q: str, op: str) -> None:
    """key__<op>=text counts exactly what Python's str methods say (ASCII: SQL lower() is ASCII)."""
    assume(q.isascii())
    try:
        got = {a.key for a in ls.Artifact.filter(**{f"key__{op}": q}).all()}
        count = ls.Artifact.filter(**{f"key__{op}": q}).count()
    except ls.LabshelfError as exc:
        assert one_sentence(str(exc)), str(exc)
        _tally("text lookups", True)
        return
    low = q.lower()
    test = {
        "contains": lambda k: q in k,
        "icontains": lambda k: low in k.lower(),
        "startswith": lambda k: k.startswith(q),
        "istartswith": lambda k: k.lower().startswith(low),
        "endswith": lambda k: k.endswith(q),
        "iendswith": lambda k: k.lower().endswith(low),
        "exact": lambda k: k == q,
        "iexact": lambda k: k.lower() == low,
    }[op]
    # contains/startswith/endswith are case-sensitive on both backends (SQLite runs with
    # case_sensitive_like), the i-variants are not
    expected = {k for k in search_data if test(k)}
    assert got == expected, (q, op, got, expected)
    assert count == len(got)
    _tally("text lookups", True)


# ---------------------------------------------------------------- lookups

names = st.one_of(
    st.from_regex(r"[a-z_]{1,12}(__[a-z_]{1,10}){0,3}", fullmatch=True),
    st.sampled_from(
        [
            "uid__nope",
            "key__icontains__x",
            "created_by__handle__zz",
            "storage__root__in__x",
            "__",
            "___",
            "key__",
            "__key",
            "id__gt__lt",
            "password",
            "visibility__range__x",
        ]
    ),
)


@SETTINGS
@given(name=names)
def test_lookup_names(instance: Path, name: str) -> None:
    try:
        ls.Artifact.filter(**{name: "x"}).count()
    except ls.InvalidArgument as exc:
        message = str(exc)
        assert one_sentence(message), message
        if "is not a valid lookup" in message:
            assert "fields are" in message and "uid" in message and "icontains" in message
        _tally("lookup names", True)
        return
    except ls.LabshelfError as exc:
        assert one_sentence(str(exc)), str(exc)
        _tally("lookup names", True)
        return
    # it was valid: the field path must exist
    head = name.split("__")[0]
    assert (
        head in _columns(ls.Artifact)
        or head in _relations(ls.Artifact)
        or f"{head}_id" in _columns(ls.Artifact)
    ), name
    _tally("lookup names", True)


values = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.just(object()),
    st.just(datetime(2020, 1, 1, tzinfo=UTC)),
    st.just("2024-01-01"),
    st.binary(max_size=4),
)
fields = st.sampled_from(
    [
        "id",
        "uid",
        "key",
        "size",
        "visibility",
        "created_at",
        "is_latest",
        "created_by",
        "storage",
        "n_objects",
        "hash",
    ]
)


@SETTINGS
@given(field=fields, op=st.sampled_from(OPS), value=values)
def test_lookup_values_of_any_type(instance: Path, field: str, op: str, value) -> None:
    """A value of the wrong type: a result or a labshelf error, never a raw exception."""
    try:
        ls.Artifact.filter(**{f"{field}__{op}": value}).count()
    except ls.LabshelfError as exc:
        assert one_sentence(str(exc)), str(exc)
    _tally("lookup values", True)


# ---------------------------------------------------------------- uid prefixes


@SETTINGS
@given(
    prefix=st.one_of(
        st.text(max_size=25),
        st.from_regex(r"[0-9A-Za-z]{0,22}", fullmatch=True),
        st.sampled_from(["%", "_", "a%", "A_", "' OR 1=1 --", "*", " ", ""]),
    ),
    cut=st.integers(1, 20),
)
def test_uid_prefixes(search_data: dict[str, str], prefix: str, cut: int) -> None:
    real = sorted(search_data.values())
    for text in (prefix, real[cut % len(real)][:cut]):
        try:
            got = ls.Artifact.get(text)
        except (ls.InvalidArgument, ls.DoesNotExist, ls.MultipleResultsFound) as exc:
            assert one_sentence(str(exc)), str(exc)
            if isinstance(exc, ls.DoesNotExist):
                assert not [u for u in real if text and u.startswith(text)], text
            if isinstance(exc, ls.InvalidArgument):
                assert not text.isalnum() or not text.isascii() or not text
            continue
        assert got.uid.startswith(text)
    _tally("uid prefixes", True)


def test_hostile_summary() -> None:
    """Runs last in this file: one table row per property."""
    for name, (n, ok) in sorted(_counts.items()):
        record(
            f"hypothesis: {name}",
            "sqlite+pg" if "validate" not in name else "-",
            n,
            lost="-",
            dangling="-",
            clear_errors=f"{ok}/{n} result or one-sentence labshelf error",
        )
