"""The app's Qt-free room: registries extend core's spec, the transfer states are core's, the
row source and CSV export over a fake source. No QApplication needed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from labshelf.app.data import registries
from labshelf.app.data.rows import TableQuery, export_csv
from labshelf.app.data.transfers import FINAL, Drop, DropState, ItemState, items_from_plan


def test_the_app_shows_every_registry_of_core_with_core_s_columns() -> None:
    from labshelf.registry import REGISTRIES

    # labels and features (the vocabulary) have views of their own, not registry tables
    core = {spec.name: spec for spec in REGISTRIES.values() if not spec.vocabulary}
    assert set(registries.LOOKS) == set(core)
    for name, spec in core.items():
        view, look = registries.view(name), registries.LOOKS[name]
        assert sorted(view.fields) == sorted(spec.columns)  # core's columns, not a copy
        shown = [c.field for c in view.columns if c.shown]
        assert shown == [f for f in look.columns if f in spec.columns]  # the scientist's first
        assert shown[0] != "uid" and "hash" not in shown, name
        assert view.has_trash == spec.has_trash and view.name_field == spec.name_field
        assert view.versioned == spec.versioned
        # every column has a header of its own (no field falls back to its raw name)
        assert all(field in registries.FIELDS for field in spec.columns), name
    assert registries.loaded("Artifact") is registries.view("Artifact")


def test_filters_of_every_registry_exist() -> None:
    for look in registries.LOOKS.values():
        assert set(look.filters) <= set(registries.FILTER_LOOKUPS)


def test_item_states_are_the_upload_engine_s() -> None:
    from labshelf.transfer import FINAL_STATES, STATES

    assert [s.value for s in ItemState] == list(STATES)
    assert {s.value for s in FINAL} == FINAL_STATES


def _drop(states: list[str]) -> Drop:
    drop = Drop(1, {"paths": ["/data/plate1", "/data/plate2"]})
    planned = [
        {
            "path": f"/data/f{i}",
            "key": f"f{i}",
            "size": 10,
            "n_files": 1,
            "state": "queued",
            "error": None,
        }
        for i in range(len(states))
    ]
    drop.plan(items_from_plan(planned))
    return drop


@pytest.mark.parametrize(
    ("states", "cancelled", "expected", "message"),
    [
        (["done", "duplicate"], False, DropState.DONE, "1 done · 1 already registered"),
        (["done", "failed"], False, DropState.FAILED, "1 done · 1 failed"),
        (["cancelled", "cancelled"], False, DropState.CANCELLED, "2 cancelled"),  # alone
        (["done", "cancelled"], True, DropState.CANCELLED, "1 done · 1 not started"),
    ],
)
def test_a_drop_ends_in_one_state(
    states: list[str], cancelled: bool, expected: DropState, message: str
) -> None:
    drop = _drop(states)
    if not cancelled:  # items cancelled while the drop went on were cancelled one by one
        drop.cancelled_items.update(i for i, s in enumerate(states) if s == "cancelled")
    assert drop.state == DropState.RUNNING and drop.files_total == len(states)
    drop.end(
        {
            "items": [{"state": s, "error": None} for s in states],
            "run": "run0",
            "cancelled": cancelled,
        }
    )
    assert drop.state == expected and drop.finished
    assert drop.message == message  # states read as their values
    assert all(isinstance(item.state, ItemState) for item in drop.items)
    assert drop.title == "plate1 and 1 more"


def test_a_failed_worker_fails_the_items_not_ended() -> None:
    drop = _drop(["queued", "queued"])
    drop.items[0].state = ItemState.DONE
    drop.fail("The upload process stopped unexpectedly.")
    assert [i.state for i in drop.items] == [ItemState.DONE, ItemState.FAILED]
    assert drop.items[1].error == "The upload process stopped unexpectedly."


class _Rows:
    """Two pages of artifact rows."""

    def fetch_page(self, query: TableQuery, offset: int, limit: int) -> list[dict]:
        rows = [{"uid": f"u{i}", "key": f"k{i}.csv", "size": i} for i in range(3)]
        return rows[offset : offset + limit]


def test_export_csv_writes_the_table_s_columns(tmp_path: Path) -> None:
    path = tmp_path / "artifacts.csv"
    assert export_csv(TableQuery(), str(path), source=_Rows()) == 3  # type: ignore[arg-type]
    with path.open() as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == list(registries.view("Artifact").fields)
    assert lines[1][:1] == ["k0.csv"] and len(lines) == 4


# ---------------------------------------------------------------- issue 16: words and values


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2024-03-01 to 2024-03-31", "2024-03-01", "2024-03-31"),
        ("2024-03-01..2024-03-31", "2024-03-01", "2024-03-31"),
        ("2024-03-01 - 2024-03-31", "2024-03-01", "2024-03-31"),
        ("2024-03-01 \u2013 2024-03-31", "2024-03-01", "2024-03-31"),
        ("2024-03", "2024-03-01", "2024-03-31"),
        ("March 2024", "2024-03-01", "2024-03-31"),
        ("2024", "2024-01-01", "2024-12-31"),
        ("5 Mar 2024", "2024-03-05", "2024-03-05"),
        ("2024-02-10 ..", "2024-02-10", "9998-12-31"),
    ],
)
def test_date_ranges_read_the_forms_people_write(text: str, first: str, last: str) -> None:
    from datetime import timedelta

    from labshelf.app.data.filters import parse_date_range

    start, end = parse_date_range(text)
    assert start.tzinfo is not None
    assert (f"{start:%Y-%m-%d}", f"{end - timedelta(days=1):%Y-%m-%d}") == (first, last)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("yesterday-ish", "is not a date"),
        ("2024-13", "no month 13"),
        ("2024-03-31 to 2024-03-01", "swap the two dates"),
        ("", "Give a date"),
    ],
)
def test_a_bad_date_says_what_is_wrong_in_one_sentence(text: str, says: str) -> None:
    from labshelf.app.data.filters import parse_date_range

    with pytest.raises(ValueError, match=says) as caught:
        parse_date_range(text)
    assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")


def test_filter_values_accept_obvious_forms() -> None:
    from labshelf.app.data.filters import Choice, filter_value

    assert filter_value("suffix", "csv")[0] == ".csv"
    assert filter_value("suffix", "*.TIF")[0] == ".tif"
    users = [Choice("Ada Lovelace (ada)", "ada", ("Ada Lovelace",))]
    assert filter_value("created_by", "ada lovelace", users) == ("ada", "Ada Lovelace (ada)")
    assert filter_value("created_by", "ADA", users)[0] == "ada"
    with pytest.raises(ValueError, match="No user is called 'bob'"):
        filter_value("created_by", "bob", users)
    with pytest.raises(ValueError, match="not a file type"):
        filter_value("suffix", "c s v")


def test_empty_tables_say_why_and_what_next() -> None:
    from labshelf.app.data.empty_states import empty_state

    assert empty_state("Artifact").title == "No artifacts yet."
    assert "Drop files" in empty_state("Artifact").hint
    assert empty_state("Artifact", search="DAPI").title == "No artifacts match “DAPI”."
    assert "filter chip" in empty_state("Collection", n_filters=2).hint
    assert empty_state("Artifact", trash=True).title == "The trash holds no artifacts."


def test_counts_and_versions_read_as_words() -> None:
    from labshelf.app.data.formatting import count_of, version_text

    assert count_of(1, "member") == "1 member" and count_of(3, "member") == "3 members"
    assert count_of(2, "copy", "copies") == "2 copies"
    assert version_text("2", 3) == "v2 of 3" and version_text("1", 1) == "v1"
    assert version_text("0.1.0", 2) == "0.1.0 of 2"


def test_the_details_read_as_words_with_internals_under_technical() -> None:
    from datetime import UTC, datetime

    from labshelf.app.data.details import details_view

    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    summary = {
        "registry": "Artifact",
        "uid": "abcdefghijklmnop0001",
        "fields": {
            "key": "plate/analysis/cell_counts.csv",
            "suffix": ".csv",
            "size": 1400,
            "hash": "nK2CSB63FN062p9AW9JJUg",
            "key_is_virtual": True,
            "visibility": 1,
            "created_at": when,
        },
        "versions": [
            {"uid": "abcdefghijklmnop0000", "version": "1", "is_latest": False},
            {"uid": "abcdefghijklmnop0001", "version": "2", "is_latest": True},
        ],
        "visibility": 1,
        "creator": {"handle": "ada", "name": "Ada Lovelace", "uid": "u1"},
        "made_by": {
            "transform": "labshelf desktop upload",
            "transform_uid": "t1",
            "type": "upload",
            "version": "0.1.0",
            "run_uid": "r1",
            "started_at": when,
            "finished_at": when,
        },
        "collections": [{"uid": "c1", "name": "Plate 1", "version": "2", "is_latest": True}],
        "counts": {},
    }
    view = details_view(summary, lambda suffix: "table")
    assert view.title == "plate/analysis/cell_counts.csv"
    assert view.subtitle == "Artifact · v2 of 2 (the latest)"
    overview = dict(view.overview)
    assert overview["Type"] == "table (.csv)" and overview["Size"] == "1.4 KB"
    provenance = dict(view.provenance)
    assert provenance["Created"].startswith("by Ada Lovelace (ada) on ")
    assert provenance["Made by"] == "upload “labshelf desktop upload” 0.1.0"
    technical = dict(view.technical)
    assert technical["uid"] == "abcdefghijklmnop0001" and "Content hash" in technical
    assert technical["Stored as"] == "a copy in the storage"
    assert not any("visibility" in label.lower() for label, _ in view.overview + view.provenance)
    assert view.links["Made by"] == ("Transform", "t1") and view.can_make_latest


def test_a_transform_is_titled_by_its_name_with_one_version_line() -> None:
    from labshelf.app.data.details import details_view

    summary = {
        "registry": "Transform",
        "uid": "ooTO1WN97bRs0000",
        "fields": {
            "name": "Count the cells in each well.",
            "key": "home/ada/scripts/count_cells.py",
            "type": "script",
            "version": "1",
        },
        "versions": [{"uid": "ooTO1WN97bRs0000", "version": "1", "is_latest": True}],
        "counts": {"runs": 1},
    }
    view = details_view(summary)
    assert view.title == "Count the cells in each well."
    labels = [label for label, _ in view.overview]
    assert labels.count("Version") == 1 and dict(view.overview)["Version"] == "v1, the only version"
    assert dict(view.overview)["Key"] == "home/ada/scripts/count_cells.py"
    unversioned = details_view({**summary, "versions": []})
    assert dict(unversioned.overview)["Version"] == "v1"


@pytest.mark.pg
def test_the_gateway_s_new_queries_on_postgresql(tmp_path: Path, pg_server) -> None:
    """What the details, filters, version counts and the live check ask of the database,
    on PostgreSQL (the window's tests run on SQLite)."""
    import labshelf as ls
    from labshelf.app import gateway
    from labshelf.instance import disconnect

    ls.init(str(tmp_path / "store"), db=pg_server.create_database().url)
    try:
        src = tmp_path / "a.csv"
        src.write_text("x\n1\n")
        first = ls.Artifact(src, key="t/a.csv", description="one").save()
        src.write_text("x\n2\n")
        second = ls.Artifact(src, key="t/a.csv").save()
        ls.Collection([second], name="c").save()
        for name, look in registries.LOOKS.items():
            for uid in getattr(ls, name).filter().values_list("uid"):
                summary = gateway.record_summary(name, uid, look.detail_fields)
                assert summary["uid"] == uid
        assert gateway.record_summary("Artifact", second.uid, ())["collections"][0]["name"] == "c"
        assert gateway.family_sizes("Artifact", [first.stem_uid]) == {first.stem_uid: 2}
        assert gateway.count_rows("Artifact", {gateway.LATEST_ONLY: True}, "", (), False) == 1
        assert [c["value"] for c in gateway.filter_choices("Artifact", "suffix")] == [".csv"]
        before = gateway.fingerprint("Artifact", {}, "", False)
        second.delete()
        assert gateway.fingerprint("Artifact", {}, "", False) != before
    finally:
        disconnect()
