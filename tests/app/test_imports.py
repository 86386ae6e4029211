"""The import dialog says per item what happens — new, already registered (uid), a new
version of KEY (vN → vN+1), operating-system clutter skipped — and lets the user pick an
item's key or version family; a drop is recorded as a run that names the dropped folder and
the machine, and that run shows its outputs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from labshelf.app.main_window import MainWindow
from labshelf.app.uploads.dry_run_model import FILE, KEY, STATUS, choices
from labshelf.app.uploads.import_dialog import ChoiceDelegate, ImportDialog
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStyleOptionViewItem


@pytest.fixture(autouse=True)
def _never_ask_on_close(never_ask_on_close: None) -> None:
    """Every test here: closing never asks (see conftest)."""


@pytest.fixture
def window(upload_window: Any) -> Any:
    return upload_window


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def catalog(instance: Any, tmp_path: Path) -> dict[str, Any]:
    """cell counts in plate/analysis, a readme, and two families both named counts.csv."""
    ls = instance
    made = tmp_path / "made"
    return {
        "counts": ls.Artifact(
            _write(made / "cell_counts.csv", "well,cells\nA1,10\nA2,12\n"),
            key="plate/analysis/cell_counts.csv",
        ).save(),
        "readme": ls.Artifact(
            _write(made / "readme.txt", "plate map\n"), key="notes/readme.txt"
        ).save(),
        "a": ls.Artifact(_write(made / "a.csv", "x\n1\n"), key="run_a/counts.csv").save(),
        "b": ls.Artifact(_write(made / "b.csv", "x\n2\n"), key="run_b/counts.csv").save(),
    }


def _dialog(qtbot, window: MainWindow, paths: list[Path]) -> ImportDialog:
    dialog = window.open_import([str(p) for p in paths])
    qtbot.waitUntil(
        lambda: (
            bool(dialog.summary)
            and dialog.summary["hashed"] == dialog.summary["items"]
            and dialog.storage.count() > 0
        ),
        timeout=30000,
    )
    return dialog


def _row(dialog: ImportDialog, name: str) -> int:
    model = dialog.items
    return next(r for r in range(model.rowCount()) if model.index(r, FILE).data() == name)


def _status(dialog: ImportDialog, name: str) -> str:
    return dialog.items.index(_row(dialog, name), STATUS).data()


def test_the_import_dialog_says_per_item_what_happens_and_takes_the_user_s_choice(
    qtbot, window: MainWindow, catalog: dict[str, Any], tmp_path: Path
) -> None:
    import labshelf as ls

    incoming = tmp_path / "incoming"
    edited = _write(incoming / "cell_counts.csv", "well,cells\nA1,11\nA2,12\n")
    copy = _write(incoming / "readme_copy.txt", "plate map\n")
    fresh = _write(incoming / "fresh.csv", "x\n9\n")
    counts = _write(incoming / "counts.csv", "x\n3\n")
    junk = _write(incoming / ".DS_Store", "\0\0junk")
    dialog = _dialog(qtbot, window, [edited, copy, fresh, counts, junk])

    family = "plate/analysis/cell_counts.csv"
    assert _status(dialog, "cell_counts.csv") == (
        f"new version of {family} (v1 → v2) — same file name"
    )  # the edited file continues the family its name is in, not a new "cell_counts.csv"
    assert _status(dialog, "readme_copy.txt") == (f"already registered ({catalog['readme'].uid})")
    assert _status(dialog, "fresh.csv") == "new"
    assert _status(dialog, "counts.csv").startswith("new — 2 artifacts have this file name")
    assert _status(dialog, ".DS_Store") == "skipped: operating-system clutter"
    summary = dialog.summary
    assert (summary["new"], summary["versions"], summary["registered"], summary["skipped"]) == (
        2,
        1,
        1,
        1,
    )
    assert "1 skipped (operating-system clutter)" in dialog.summary_label.text()

    model = dialog.items
    row = _row(dialog, "counts.csv")  # pick the family among the two with this name
    editor = ChoiceDelegate().createEditor(
        dialog.item_view, QStyleOptionViewItem(), model.index(row, STATUS)
    )
    assert isinstance(editor, QComboBox)
    labels = [editor.itemText(i) for i in range(editor.count())]
    assert labels == [label for label, _ in choices(model.rows[row])]
    assert labels[0] == "new artifact counts.csv" and len(labels) == 3
    assert model.setData(model.index(row, STATUS), "run_b/counts.csv")
    assert _status(dialog, "counts.csv") == "new version of run_b/counts.csv (v1 → v2)"

    fresh_row = _row(dialog, "fresh.csv")  # a key that is no key: said, and Import waits
    model.setData(model.index(fresh_row, KEY), "../outside.csv")
    qtbot.waitUntil(lambda: model.rows[fresh_row]["status"] == "invalid", timeout=10000)
    assert "outside.csv" in _status(dialog, "fresh.csv")
    assert not dialog.import_button.isEnabled()
    assert "1 invalid key" in dialog.summary_label.text()
    model.setData(model.index(fresh_row, KEY), "tables/fresh.csv")
    qtbot.waitUntil(lambda: model.rows[fresh_row]["status"] == "new", timeout=10000)
    assert dialog.import_button.isEnabled()

    with qtbot.waitSignal(window.uploads.drop_finished, timeout=60000):
        dialog.accept()
    drop = window.uploads.drops[-1]
    assert drop.state == "done", drop.message
    assert drop.outcome() == {"done": 3, "already registered": 1}
    latest = ls.Artifact.get(key=family, is_latest=True)
    assert latest.version == "2" and Path(latest.cache()).read_text() == edited.read_text()
    assert ls.Artifact.get(key="run_b/counts.csv", is_latest=True).version == "2"
    assert ls.Artifact.get(key="run_a/counts.csv").version == "1"
    assert ls.Artifact.filter(key="tables/fresh.csv").count() == 1
    assert ls.Artifact.filter(key__endswith="DS_Store").count() == 0
    assert ls.Artifact.filter().count() == 4 + 3  # nothing twice, no clutter


def test_a_file_the_user_keeps_new_is_not_proposed_as_a_version_again(
    qtbot, window: MainWindow, catalog: dict[str, Any], tmp_path: Path
) -> None:
    import labshelf as ls

    edited = _write(tmp_path / "in" / "cell_counts.csv", "well,cells\nA1,99\n")
    dialog = _dialog(qtbot, window, [edited])
    model = dialog.items
    assert model.rows[0]["proposed"]
    model.setData(model.index(0, STATUS), "cell_counts.csv")  # "new artifact cell_counts.csv"
    assert _status(dialog, "cell_counts.csv") == "new"
    dialog.description.setText("a separate table")
    dialog.key_prefix.setText("")  # options changed: a new dry run keeps the choice
    dialog.start_dry_run()
    qtbot.waitUntil(lambda: bool(model.rows) and model.rows[0]["status"] == "new", timeout=30000)
    assert _status(dialog, "cell_counts.csv") == "new"  # the choice stands
    with qtbot.waitSignal(window.uploads.drop_finished, timeout=60000):
        dialog.accept()
    assert ls.Artifact.get(key="cell_counts.csv").version == "1"
    assert ls.Artifact.get(key="plate/analysis/cell_counts.csv").version == "1"


def test_an_upload_run_records_the_dropped_folder_and_host_and_shows_its_outputs(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    import labshelf as ls

    folder = tmp_path / "plate7"
    for i in range(3):
        _write(folder / f"well_{i}.csv", f"x\n{i}\n")
    _write(folder / "Thumbs.db", "junk")
    drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
    qtbot.waitUntil(lambda: drop.finished, timeout=60000)
    assert drop.state == "done" and drop.outcome() == {"done": 3}  # clutter left out
    run = ls.Run.get(drop.run_uid)
    assert run.reference == str(folder) and run.reference_type == "dropped files"
    assert run.params["host"] == socket.gethostname()
    assert run.params["dropped"] == [str(folder)]
    assert run.source == f"{folder} on host {socket.gethostname()}"
    assert sorted(a.key for a in run.outputs) == [f"plate7/well_{i}.csv" for i in range(3)]

    window.show_registry("Run")
    details = window.details
    with qtbot.waitSignal(details.lineage.laid_out, timeout=30000):
        window.select_record("Run", run.uid)
    nodes = set(details.lineage.view.nodes)  # node ids are the records' uids
    assert {a.uid for a in run.outputs} | {run.uid} <= nodes  # the run shows what it made
    qtbot.waitUntil(lambda: "source" in details.describe_text.toPlainText(), timeout=10000)
    assert f"{folder} on host" in details.describe_text.toPlainText()


@pytest.mark.parametrize("per_file", [True, False])
def test_clutter_in_a_dropped_folder_is_shown_as_skipped(
    qtbot, window: MainWindow, tmp_path: Path, per_file: bool
) -> None:
    folder = tmp_path / "scans"
    _write(folder / "a.csv", "x\n1\n")
    _write(folder / "._a.csv", "resource fork")
    _write(folder / "sub" / "desktop.ini", "[.ShellClassInfo]")
    dialog = window.open_import([str(folder)])
    dialog.per_file.setChecked(per_file)
    qtbot.waitUntil(
        lambda: bool(dialog.summary) and dialog.summary["hashed"] == dialog.summary["items"],
        timeout=30000,
    )
    skipped = sorted(Path(r["path"]).name for r in dialog.items.rows if r["status"] == "skipped")
    assert skipped == ["._a.csv", "desktop.ini"]
    assert dialog.summary["files"] == 1 and dialog.summary["skipped"] == 2
    dialog.reject()


def test_the_dialog_keeps_a_long_list_cheap(qtbot, window: MainWindow, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(1500):
        _write(folder / f"f{i:04d}.txt", str(i))
    dialog = window.open_import([str(folder)])
    dialog.per_file.setChecked(True)
    qtbot.waitUntil(
        lambda: bool(dialog.summary) and dialog.summary["hashed"] == 1500, timeout=60000
    )
    assert dialog.items.rowCount() == 1500 and dialog.summary["new"] == 1500
    assert dialog.item_view.verticalHeader().sectionResizeMode(0).name == "Fixed"
    assert Qt.ItemFlag.ItemIsEditable & dialog.items.flags(dialog.items.index(0, KEY))
    dialog.reject()
