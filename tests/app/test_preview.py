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
