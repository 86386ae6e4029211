"""QuerySet lookups, relation chains, trash rules, ranked search, get, df, lookup, view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import labshelf as ls
import pytest


@pytest.fixture
def seeded(instance: Path, tmp_path: Path) -> dict[str, ls.Artifact]:
    files = {
        "plates/plate1.csv": ("a,b\n1,2\n", "plate reader run 1"),
        "plates/plate2.csv": ("a,b\n3,4\n", "plate reader run 2"),
        "images/cell_001.tif": ("tif-bytes-1", "microscopy cells"),
        "images/cell_002.tif": ("tif-bytes-2", "microscopy cells 100% confluent"),
        "notes/readme.txt": ("hello", "lab_notes"),
    }
    out = {}
    for key, (content, desc) in files.items():
        p = tmp_path / "in" / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        out[key] = ls.Artifact(str(p), key=key, description=desc).save()
    return out


def test_lookup_operators(seeded: dict) -> None:
    A = ls.Artifact
    assert A.filter(key="plates/plate1.csv").one().description == "plate reader run 1"
    assert A.filter(key__iexact="PLATES/PLATE1.CSV").count() == 1
    assert A.filter(key__contains="plate").count() == 2
    assert A.filter(key__contains="PLATE").count() == 0  # case-sensitive on both backends
    assert A.filter(description__icontains="MICROSCOPY").count() == 2
    assert A.filter(key__startswith="images/").count() == 2
    assert A.filter(key__istartswith="IMAGES/").count() == 2
    assert A.filter(key__endswith=".csv").count() == 2
    assert A.filter(key__iendswith=".TIF").count() == 2
    assert A.filter(suffix__in=[".csv", ".txt"]).count() == 3
    assert A.filter(size__gt=8).count() == A.filter(size__gte=9).count()
    assert A.filter(size__lt=6).count() == 1
    assert A.filter(size__lte=5).count() == 1
    assert A.filter(n_objects__isnull=True).count() == 5
    assert A.filter(size__range=(5, 8)).count() == 3
    assert A.exclude(suffix=".tif").count() == 3
    now = datetime.now(UTC)
    assert A.filter(created_at__gte=now - timedelta(minutes=5)).count() == 5


def test_like_wildcards_are_literal(seeded: dict) -> None:
    assert ls.Artifact.filter(description__contains="100%").count() == 1
    assert ls.Artifact.filter(description__contains="lab_").count() == 1
    assert ls.Artifact.filter(description__contains="_").count() == 1


def test_relation_chains_and_records_as_values(seeded: dict) -> None:
    user = ls.User.get(handle="testuser")
    assert ls.Artifact.filter(created_by=user).count() == 5
    assert ls.Artifact.filter(created_by__handle="testuser").count() == 5
    assert ls.Artifact.filter(created_by__handle__startswith="nobody").count() == 0
    assert ls.Artifact.filter(storage__type="local").count() == 5
    storage = ls.settings.storage
    assert ls.Artifact.filter(storage=storage, suffix=".csv").count() == 2


def test_unknown_lookup_lists_valid_fields(seeded: dict) -> None:
    with pytest.raises(
        ls.InvalidArgument, match="not a valid lookup on Artifact: fields are .*key.*operators are"
    ):
        ls.Artifact.filter(colour="red")
    with pytest.raises(ls.InvalidArgument, match="not a valid lookup"):
        ls.Artifact.filter(key__fuzzy="x")
    with pytest.raises(ls.InvalidArgument, match="Cannot order Artifact by 'nope'"):
        ls.Artifact.filter().order_by("nope")


def test_trash_excluded_unless_asked(seeded: dict) -> None:
    a = seeded["notes/readme.txt"]
    a.delete()
    assert ls.Artifact.filter().count() == 4
    assert ls.Artifact.filter(visibility=-1).count() == 1
    assert ls.Artifact.get(a.uid).uid == a.uid  # by uid: found for restore
    assert ls.Artifact.get(a.uid[:10]).uid == a.uid
    assert ls.Artifact.filter(uid=a.uid).count() == 1
    assert ls.Artifact.search("readme").count() == 0


def test_ordering_slicing_and_evaluation(seeded: dict) -> None:
    qs = ls.Artifact.filter().order_by("key")
    keys = [a.key for a in qs]
    assert keys == sorted(keys)
    assert [a.key for a in qs[1:3]] == keys[1:3]
    assert qs[0].key == keys[0]
    assert len(qs) == 5 and qs.exists()
    assert [a.key for a in ls.Artifact.filter().order_by("-key")] == sorted(keys, reverse=True)
    assert qs.first().key == keys[0]
    with pytest.raises(ls.MultipleResultsFound):
        qs.one()
    assert ls.Artifact.filter(key="none").one_or_none() is None
    with pytest.raises(ls.DoesNotExist):
        ls.Artifact.filter(key="none").one()


def test_get_errors(seeded: dict) -> None:
    with pytest.raises(ls.DoesNotExist, match="No Artifact has a uid starting with 'zzzz'"):
        ls.Artifact.get("zzzz")
    with pytest.raises(ls.MultipleResultsFound, match="Several Artifact records"):
        ls.Artifact.get(suffix=".csv")
    with pytest.raises(ls.DoesNotExist, match="uids are base62"):
        ls.Artifact.get("x'; DROP TABLE artifacts;--")
    assert ls.Artifact.get(key="notes/readme.txt").description == "lab_notes"


def test_search_ranks_exact_prefix_substring_fuzzy(seeded: dict, tmp_path: Path) -> None:
    p = tmp_path / "exact.txt"
    p.write_text("exact")
    ls.Artifact(str(p), key="x/exact.txt", description="cells").save()
    hits = ls.Artifact.search("cells").all()
    assert hits[0].description == "cells"  # exact first
    assert {h.key for h in hits[1:]} >= {"images/cell_001.tif", "images/cell_002.tif"}
    prefix = ls.Artifact.search("plate").all()
    assert [h.key for h in prefix][:2] == ["plates/plate2.csv", "plates/plate1.csv"] or {
        h.key for h in prefix[:2]
    } == {"plates/plate1.csv", "plates/plate2.csv"}
    assert ls.Artifact.search("microscopy").count() == 2
    fuzzy = ls.Artifact.search("microscpy").all()  # a typo still finds the images
    assert fuzzy and fuzzy[0].key.startswith("images/")
    assert ls.Artifact.search("'; DROP TABLE artifacts; --").count() == 0
    assert ls.Artifact.filter().count() == 6


def test_search_chains_with_filter(seeded: dict) -> None:
    assert ls.Artifact.filter(suffix=".csv").search("plate").count() == 2
    assert ls.Artifact.filter(suffix=".tif").search("plate").count() == 0


def test_df_values_and_lookup(seeded: dict) -> None:
    df = ls.Artifact.df(include=["created_by__handle", "storage__root"])
    assert len(df) == 5 and df.index.name == "id"
    assert set(df["created_by__handle"]) == {"testuser"}
    assert {"uid", "key", "hash", "size"} <= set(df.columns)
    rows = ls.Artifact.filter(suffix=".csv").order_by("key").values("key", "storage__type")
    assert rows == [
        {"key": "plates/plate1.csv", "storage__type": "local"},
        {"key": "plates/plate2.csv", "storage__type": "local"},
    ]
    ids = ls.Artifact.filter().values_list("id")
    assert len(ids) == 5
    assert ls.User.lookup().testuser.handle == "testuser"


def test_view_prints_every_registry(seeded: dict, capsys: pytest.CaptureFixture[str]) -> None:
    frames = ls.view()
    out = capsys.readouterr().out
    assert set(frames) == {
        "artifact",
        "collection",
        "transform",
        "run",
        "user",
        "storage",
        "ulabel",
        "feature",
    }
    assert "Artifact" in out and "Storage" in out and "ULabel" in out


def test_slices_are_lazy_and_compose(seeded: dict) -> None:
    qs = ls.Artifact.filter().order_by("key")
    page = qs[1:4]
    assert isinstance(page, ls.QuerySet)
    keys = [a.key for a in qs]
    assert [r["key"] for r in page.values("key")] == keys[1:4]  # one query, sliced in SQL
    assert [a.key for a in page[1:]] == keys[2:4]
    assert page.count() == 3 and len(qs[3:]) == 2
    assert qs[10:20].all() == []
    with pytest.raises(IndexError):
        qs[-1]


def _insert_artifacts(rows: list[tuple[str, str | None, int]], uid_prefix: str = "") -> None:
    """Bulk rows (key, description, visibility) straight through SQLAlchemy Core."""
    from catalog_rows import artifact_rows, insert_artifact_rows

    values = artifact_rows((key, description) for key, description, _ in rows)
    for i, (row, (_, _, visibility)) in enumerate(zip(values, rows, strict=True)):
        stem = (uid_prefix + row["stem_uid"])[:16]
        row.update(uid=stem + "0000", stem_uid=stem, size=i, visibility=visibility)
    insert_artifact_rows(values)


@pytest.mark.parametrize("probe", [6, 40, 1000])
def test_search_pages_equal_the_single_ranked_query(
    instance: Path, monkeypatch: pytest.MonkeyPatch, probe: int
) -> None:
    """Pages of a search (fetched rank by rank, or ranked from ids) are exactly the rows and
    order of the one ORDER BY rank, id DESC query, ties and tiers included."""
    from labshelf import query
    from labshelf import session as context

    monkeypatch.setattr(query, "TIER_PROBE", probe)  # 6: the tiered path even for a few rows
    used: list[str] = []
    for name in ("_tiered_page", "_scanned_page", "_indexed_tiers"):
        real = getattr(ls.QuerySet, name)
        monkeypatch.setattr(
            ls.QuerySet, name, lambda self, *a, _r=real, _n=name: used.append(_n) or _r(self, *a)
        )
    real_fts = query._fts_source
    monkeypatch.setattr(
        query,
        "_fts_source",
        lambda m, match, *a, **kw: used.append(match[:1]) or real_fts(m, match, *a, **kw),
    )
    rows: list[tuple[str, str | None, int]] = []
    for i in range(8):
        rows += [
            ("cells", None, 1),
            ("CELLS", "other", 1),
            ("x/y", "Cells", -1 if i % 3 == 0 else 1),
            (f"cells/plate_{i}.tif", f"cells sample {i}", 1),
            (f"a/cells_{i}.tif", f"study cells {i}", 1),
            (f"b/{i}.tif", f"MICROSCOPY of cells {i}", 1),
            (f"c/{i}.tif", "cellsx", 1),
            (f"d/{i}.tif", "no match", 1),
            (f"e/{i}.tif", "CeLLs", -2),  # -2: still being saved
            (f"f/x+cells_{i}.tif", "x+cells y; cells", 1),  # "+": a word break only to FTS
            (f"g/Été_{i}.tif", "été cells ÉTÉ", 1),
            (f"h/samplecells{i}", "sample-cells sample_cells", 1),
            # a word longer than PostgreSQL's word index keeps (64 characters), a uid-like key
            (f"i/{'w' * 70}{i % 2}.txt", f"{'w' * 70}{i % 2} ple", 1),
            (f"j/sample/ple_{i}", "ple" if i % 4 == 0 else "plex sample", 1),
            # two-character words, prefixes and parts (a scanned page, ranks from the word index)
            (f"k/ab_cd_{i}.tif", "ab cd" if i % 2 else "xy AB", 1),
            (f"ab/{i}.txt", "abba", 1),
            (f"k/xab{i}.tif", "zab", 1 if i % 4 else -1),
        ]
    _insert_artifacts(rows)
    _insert_artifacts([(f"u/{i}.bin", "unrelated", 1) for i in range(5)], uid_prefix="cells")
    _insert_artifacts([(f"v/{i}.bin", "zz", 1) for i in range(3)], uid_prefix="Cells")

    def reference(qs: ls.QuerySet) -> list[int]:
        stmt = qs.statement(dialect=qs._dialect())
        return context.read(lambda s: [a.id for a in s.scalars(stmt)])

    uid = ls.Artifact.filter(key="cells").first().uid
    texts = [
        "cells",
        "CELLS",
        "cell",
        "ells",
        "cells sample 3",
        "cellsx",
        "cellz",
        "microscopy",
        uid,
        uid[:5],
        "sample",
        "zzz",
        "x/y",
        "Cells",
        "plate_3.tif",  # a file name: exact
        "3.tif",  # the end of several keys, a word in others
        "ell",  # in every cells, a word nowhere
        "ple",
        "x+cells",
        "été",
        "sample cells",
        "sample-cells",
        "microscopy of cells 3",  # longer than one FTS phrase
        "cells/plate_3.tif",
        "study cells 3 and more words",
        "Samplecells1",
        "w" * 70 + "1",  # a whole word beyond the 64 characters PostgreSQL indexes of it
        "w" * 64,
        "ple_3",
        "sample/ple",
        "plex",
        "s",
        "ab",
        "AB",
        "cd",
        "ce",
        "Ce",
        "pl",
        "ti",
        "ll",
        "ét",
        "3.",
    ]
    for text in texts:
        for qs in (
            ls.Artifact.search(text),
            ls.Artifact.filter(suffix=".tif").search(text),
            ls.Artifact.filter(visibility__in=[1, -1]).search(text),
        ):
            # The one query's order is total (id DESC breaks every tie), so its LIMIT/OFFSET
            # pages are slices of its whole answer: one reference query per queryset.
            ranked = reference(qs)
            for start, stop in ((0, 1), (0, 5), (0, 6), (2, 6), (5, 6), (0, 50), (3, 40)):
                page = qs[start:stop]
                assert [a.id for a in page.all()] == ranked[start:stop], (text, start, stop)
            first = qs.first()
            assert (first.id if first else None) == next(iter(ranked), None)
    if instance_is_sqlite := ls.Artifact.filter()._dialect() == "sqlite":
        assert "_tiered_page" in used
        assert ("^" in used) == (probe < 1000)  # the rank-by-rank path ran, not only the ranked ids
    # PostgreSQL scans every page; SQLite only that of "s" (too short for its trigram index)
    assert "_scanned_page" in used and ("_tiered_page" in used) == instance_is_sqlite
    # PostgreSQL: tiers the probe saw no row of were read from the indexes (migration 0010)
    assert ("_indexed_tiers" in used) == (not instance_is_sqlite and probe < 1000)


def test_search_ranks_names_and_file_names_above_descriptions(instance: Path) -> None:
    """ "DAPI" finds the DAPI images before the GFP images whose description mentions DAPI,
    even though those are newer; an exact file name comes first; a well id finds its own
    files and no look-alikes."""
    described = "Plate01 HeLa, DAPI + GFP, Opera Phenix 20x"
    _insert_artifacts(
        [(f"plate/raw/DAPI/Plate01_{w}_DAPI_s1.tif", described, 1) for w in ("B02", "B03")]
        + [(f"plate/raw/GFP/Plate01_{w}_GFP_s1.tif", described, 1) for w in ("B02", "B03")]
        + [
            (f"plate/raw/GFP/Plate01_{r}{c:02d}_GFP_s1.tif", described, 1)
            for r in "CDE"
            for c in range(1, 7)
        ]
        + [
            ("plate/analysis/cell_counts.csv", "cells per well", 1),
            ("plate/analysis/cell_counts.csv.md5", "checksum of cell_counts.csv", 1),
            ("plate/analysis/old_cell_counts.csv", "cell_counts.csv before the fix", 1),
        ]
    )
    dapi = [a.key for a in ls.Artifact.search("DAPI")[:4]]
    assert sorted(dapi[:2]) == [
        "plate/raw/DAPI/Plate01_B02_DAPI_s1.tif",
        "plate/raw/DAPI/Plate01_B03_DAPI_s1.tif",
    ]
    assert all("/GFP/" in key for key in dapi[2:])
    assert ls.Artifact.search("dapi").count() == 22  # descriptions match too, ranked below
    assert ls.Artifact.search("cell_counts.csv").first().key == "plate/analysis/cell_counts.csv"
    well = ls.Artifact.search("Plate01_B02")
    assert well.count() == 2  # its DAPI and GFP image, no near misses padding the result
    assert {a.key for a in well} == {
        "plate/raw/DAPI/Plate01_B02_DAPI_s1.tif",
        "plate/raw/GFP/Plate01_B02_GFP_s1.tif",
    }


def test_a_count_of_near_misses_says_when_it_is_capped(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labshelf import query

    _insert_artifacts([(f"runs/wellplate_{i:02d}.csv", None, 1) for i in range(12)])
    monkeypatch.setattr(query, "FUZZY_CANDIDATES", 5)
    typo = ls.Artifact.search("wellplatx")  # nothing contains it: near misses are looked for
    n, capped = typo.count_capped()
    sqlite = typo._dialect() == "sqlite"
    assert n == (5 if sqlite else 12)  # SQLite measured only its 5 best candidates …
    assert capped is sqlite  # … and says that there may be more
    assert ls.Artifact.search("wellplate").count_capped() == (12, False)
    assert ls.Artifact.filter(key__startswith="runs/").count_capped() == (12, False)


def test_whole_words_and_near_misses_follow_edits_and_deletes(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The word index (SQLite) and the trigram indexes follow a record's key and description
    through edits and a permanent delete: no stale word finds it, the new words do, and a
    mistyped new word finds it as a near miss."""
    from labshelf import query
    from labshelf import session as context
    from sqlalchemy import text

    monkeypatch.setattr(query, "TIER_PROBE", 0)  # pages rank by rank, through the indexes

    def indexed(word: str) -> list[int]:
        if ls.Artifact.filter()._dialect() != "sqlite":
            return []
        match = text("SELECT rowid FROM artifacts_words WHERE artifacts_words MATCH :w")
        return context.read(lambda s: list(s.scalars(match, {"w": word})))

    source = instance.parent / "w.txt"
    source.write_text("w")
    a = ls.Artifact(source, key="scope/alpha_run.txt", description="first light").save()
    assert [x.id for x in ls.Artifact.search("alpha")[:5]] == [a.id]
    a.key = "scope/gamma_run.txt"
    a.description = "second light"
    a.save()
    assert ls.Artifact.search("alpha")[:5].all() == []
    assert ls.Artifact.search("first")[:5].all() == []
    assert indexed("alpha") == [] and indexed("first") == []
    assert [x.id for x in ls.Artifact.search("gamma")[:5]] == [a.id]
    assert [x.id for x in ls.Artifact.search("gamme")[:5]] == [a.id]  # a near miss
    assert [x.id for x in ls.Artifact.search("second")[:5]] == [a.id]
    a.delete(permanent=True)
    for word in ("gamma", "gamme", "second"):
        assert ls.Artifact.search(word)[:5].all() == [], word
        assert indexed(word) == [], word
