"""Preview loading (size caps, 16-bit TIFFs) and the preview pane widget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from labshelf.app.preview import content
from labshelf.app.preview.content import load_preview
from labshelf.app.preview.pane import PreviewPane
from PIL import Image
from PySide6.QtCore import Qt


def test_16bit_tiff_is_stretched_for_display(tmp_path: Path) -> None:
    ramp = (np.arange(200 * 100, dtype=np.uint16).reshape(100, 200) % 4000) + 1000
    path = tmp_path / "cells.tif"
    Image.fromarray(ramp).save(path)
    data = load_preview(path)
    assert data.kind == "image"
    assert (data.image.width(), data.image.height()) == (200, 100)
    gray = [data.image.pixelColor(0, y).red() for y in range(20)]  # one full 1000..5000 ramp
    assert min(gray) < 20 and max(gray) > 235  # contrast survives the 16 -> 8 bit scaling


def test_large_jpeg_is_decoded_at_display_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (10, 20, 30)).save(path)
    data = load_preview(path)
    assert max(data.image.width(), data.image.height()) <= content.IMAGE_SIDE


def test_csv_preview_stops_after_the_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(10_000)))
    data = load_preview(path)
    assert data.kind == "table" and data.columns == ["a", "b"]
    assert len(data.rows) == content.TABLE_ROWS


def test_text_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("x" * (content.TEXT_BYTES * 3))
    data = load_preview(path)
    assert data.kind == "text" and len(data.text) == content.TEXT_BYTES
    assert "first" in data.note


def test_json_is_pretty_printed(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    path.write_text('{"plate": 3, "wells": ["A1", "B2"]}')
    assert '"plate": 3,\n' in load_preview(path).text


def test_binary_file_gets_a_message(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\0\1\2" * 100)
    data = load_preview(path)
    assert data.kind == "message" and "system viewer" in data.note


def test_parquet_preview(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(500)), "y": ["a"] * 500}), path)
    data = load_preview(path)
    assert data.kind == "table" and len(data.rows) == content.TABLE_ROWS
    assert "of 500" in data.note


def test_pane_shows_folder_and_previews_a_file(qtbot, runner, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("hello")
    Image.new("RGB", (30, 20), "red").save(folder / "b.png")
    pane = PreviewPane(runner)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(pane.shown, timeout=5000):
        pane.load(lambda ctx: folder)
    assert pane.kind == "folder"
    files = pane.folder_view.files
    assert [files.item(i).data(Qt.ItemDataRole.UserRole) for i in range(files.count())] == [
        "b.png",
        "sub/a.txt",
    ]
    with qtbot.waitSignal(pane.folder_view.inner.shown, timeout=5000):
        files.setCurrentRow(0)
    assert pane.folder_view.inner.kind == "image"


def test_image_view_zoom_fit_and_arrow_steps(qtbot, runner, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (400, 300), "blue").save(path)
    pane = PreviewPane(runner)
    qtbot.addWidget(pane)
    pane.resize(300, 300)
    pane.show()
    with qtbot.waitSignal(pane.shown, timeout=5000):
        pane.load(lambda ctx: path)
    view = pane.image_view
    fitted = view.zoom
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert view.zoom > fitted
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert abs(view.zoom - fitted) < 1e-6
    with qtbot.waitSignal(pane.step_requested) as step:
        qtbot.keyClick(view, Qt.Key.Key_Right)
    assert step.args == [1]


def test_stale_result_is_dropped(qtbot, runner, tmp_path: Path) -> None:
    text = tmp_path / "a.txt"
    text.write_text("new")
    pane = PreviewPane(runner)
    qtbot.addWidget(pane)
    pane.load(lambda ctx: tmp_path / "missing.txt")
    with qtbot.waitSignal(pane.shown, timeout=5000):
        pane.load(lambda ctx: text)
    runner.wait()
    qtbot.wait(10)
    assert pane.kind == "text" and pane.text_view.toPlainText() == "new"


# -- what the pixels are ---------------------------------------------------------------------


def test_the_preview_says_bit_depth_and_value_range(tmp_path: Path) -> None:
    ramp = (np.arange(200 * 100, dtype=np.uint16).reshape(100, 200) % 4000) + 1000
    tiff = tmp_path / "cells.tif"
    Image.fromarray(ramp).save(tiff)
    note = load_preview(tiff).note
    assert note.startswith("16-bit grayscale · values 1,000 to 4,999 · shown stretched ")
    assert note.endswith("200×100 shown")  # noqa: RUF001
    rgb = tmp_path / "plate.png"
    Image.new("RGB", (8, 8), (10, 120, 200)).save(rgb)
    assert load_preview(rgb).note.startswith("8-bit RGB · values 10 to 200 ·")
    floats = tmp_path / "depth.tif"
    values = np.linspace(-0.5, 2.5, 64, dtype=np.float32).reshape(8, 8)
    values[0, 0] = np.nan  # missing values do not break the range
    Image.fromarray(values).save(floats)
    assert load_preview(floats).note.startswith("32-bit float grayscale · values -0.4524 to 2.5")
    palette = tmp_path / "p.gif"
    Image.new("P", (4, 4)).save(palette)
    assert load_preview(palette).note.startswith("8-bit palette · 4×4")  # noqa: RUF001


# -- comparing versions ----------------------------------------------------------------------


def test_a_text_diff_marks_added_and_removed_lines(tmp_path: Path) -> None:
    from labshelf.app.preview.diff import load_diff

    old, new = tmp_path / "v1.txt", tmp_path / "v2.txt"
    old.write_text("plate map\nA1 control\nA2 drug\n")
    new.write_text("plate map\nA1 control\nA2 drug, 10 uM\nA3 drug, 1 uM\n")
    diff = load_diff(old, new, "notes.txt")
    assert diff.kind == "text" and diff.note.startswith("2 lines added · 1 removed")
    assert ("-", "A2 drug") in diff.lines and ("+", "A3 drug, 1 uM") in diff.lines
    same = load_diff(old, old)
    assert same.kind == "message" and "same text" in same.note


def test_a_table_diff_marks_changed_cells_and_added_and_removed_rows(tmp_path: Path) -> None:
    from labshelf.app.preview.diff import ADDED, CHANGED, REMOVED, SAME, load_diff

    old, new = tmp_path / "v1.csv", tmp_path / "v2.csv"
    old.write_text("well,cells\nA1,10\nA2,12\nA3,7\nA4,9\n")
    new.write_text("well,cells\nA1,10\nA2,15\nA4,9\nA5,3\n")
    diff = load_diff(old, new)
    assert diff.kind == "table" and diff.columns == ["well", "cells"]
    assert list(zip(diff.marks, diff.rows, strict=True)) == [
        (SAME, ["A1", "10"]),
        (CHANGED, ["A2", "12 → 15"]),
        (REMOVED, ["A3", "7"]),
        (SAME, ["A4", "9"]),
        (ADDED, ["A5", "3"]),
    ]
    assert diff.cells == {(1, 1)}
    assert diff.note == "1 row added · 1 row removed · 1 row changed"


def test_the_preview_compares_two_versions_of_a_csv(qtbot, runner, instance, tmp_path) -> None:
    from labshelf.app import gateway

    ls = instance
    v1 = tmp_path / "v1" / "counts.csv"
    v1.parent.mkdir()
    v1.write_text("well,cells\nA1,10\nA2,12\n")
    first = ls.Artifact(str(v1), key="plate/counts.csv").save()
    v2 = tmp_path / "counts.csv"
    v2.write_text("well,cells\nA1,10\nA2,14\nA3,5\n")
    second = ls.Artifact(str(v2), key="plate/counts.csv").save()
    pane = PreviewPane(runner)
    qtbot.addWidget(pane)
    pane.show()
    fields = ("uid", "key", "suffix", "n_objects")
    pane.offer_versions(gateway.record_details("Artifact", second.uid, fields))
    assert pane.compare_bar.isVisible()
    assert pane.compare_with.currentData() == first.uid  # the version before this one
    dialog = pane.compare()  # a window of the pane's, deleted when closed
    with qtbot.waitSignal(dialog.shown, timeout=10000) as shown:
        pass
    assert shown.args == ["table"] and dialog.windowTitle() == "plate/counts.csv: v1 → v2"
    model = dialog.table_model
    marks = [model.index(r, 0).data(Qt.ItemDataRole.ToolTipRole) for r in range(3)]
    assert marks == ["", "changed", "added"] and model.index(1, 2).data() == "12 → 14"
    assert "1 row added · 1 row changed" in dialog.note.text()
    dialog.close()
    image = ls.Artifact(str(_png(tmp_path / "a.png")), key="img/a.png").save()
    pane.offer_versions(gateway.record_details("Artifact", image.uid, fields))
    assert not pane.compare_bar.isVisible()  # one version, and not text


def _png(path: Path) -> Path:
    Image.new("RGB", (4, 4), "red").save(path)
    return path
