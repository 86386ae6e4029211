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
        view = registries.view(name)
        assert view.fields == tuple(spec.columns)  # core's columns, not a copy of them
        assert view.has_trash == spec.has_trash and view.name_field == spec.name_field
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
        (["done", "duplicate"], False, DropState.DONE, "1 done, 1 duplicate"),
        (["done", "failed"], False, DropState.FAILED, "1 done, 1 failed"),
        (["cancelled", "cancelled"], False, DropState.CANCELLED, "2 cancelled"),
        (["done", "cancelled"], True, DropState.CANCELLED, "1 cancelled, 1 done"),
    ],
)
def test_a_drop_ends_in_one_state(
    states: list[str], cancelled: bool, expected: DropState, message: str
) -> None:
    drop = _drop(states)
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
    assert lines[1][:2] == ["u0", "k0.csv"] and len(lines) == 4
