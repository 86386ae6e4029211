"""Grab PNGs of the main views into tests/artifacts/ for a reviewer to look at.

    xvfb-run -a .venv/bin/python tests/app/screenshots.py

Seeds a throwaway instance (microscopy-like images, a CSV, a tracked script run, two collection
versions) in a temporary directory; nothing touches the user's own labshelf settings.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "artifacts"


def seed(tmp: Path) -> dict:
    import labshelf as ls
    import numpy as np
    from conftest import track_script  # tests/app/conftest.py, next to this script
    from PIL import Image

    ls.init(str(tmp / "store"), name="lab-demo")
    src = tmp / "incoming"
    src.mkdir()
    rng = np.random.default_rng(7)
    images = []
    for i in range(12):
        yy, xx = np.mgrid[0:480, 0:640]
        cells = sum(
            np.exp(-(((xx - rng.integers(0, 640)) ** 2 + (yy - rng.integers(0, 480)) ** 2) / 900.0))
            for _ in range(25)
        )
        arr = (
            (np.clip(cells, 0, 1) * 50000 + rng.normal(3000, 400, (480, 640)))
            .clip(0, 65535)
            .astype(np.uint16)
        )
        path = src / f"plate1_well{i:02d}.tif"
        Image.fromarray(arr).save(path)
        images.append(
            ls.Artifact(
                str(path),
                key=f"study0/plate1/well{i:02d}.tif",
                description=f"DAPI stain, plate 1 well {i}",
            ).save()
        )
    csv = src / "iris.csv"
    csv.write_text(
        "sepal_length,sepal_width,petal_length,species\n"
        + "".join(f"{5 + i % 7 / 10},{3 + i % 5 / 10},{1 + i % 9 / 10},setosa\n" for i in range(60))
    )
    table = ls.Artifact(str(csv), key="study0/iris.csv", description="iris measurements").save()
    track_script(src / "count_cells.py")
    for image in images[:3]:
        image.cache()
    counts = src / "cell_counts.csv"
    counts.write_text("well,cells\n" + "".join(f"{i},{20 + i}\n" for i in range(3)))
    ls.Artifact(
        str(counts), key="study0/plate1/cell_counts.csv", description="cells per well"
    ).save()
    ls.finish()
    first = ls.Collection(images[:6], name="plate1 stains").save()
    ls.Collection([*images[:4], *images[6:9], table], name="plate1 stains", revises=first).save()
    return {"images": images, "table": table, "incoming": src}


def settle(app, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def select_key(app, window, key: str) -> None:
    col = window.model.spec.column_index("key")
    for row in range(window.model.rowCount()):
        settle(app, lambda r=row: window.model.record(r) is not None)
        if window.model.index(row, col).data() == key:
            window.table.selectRow(row)
            settle(
                app,
                lambda: (
                    window.details.current is not None and window.details.preview.kind != "busy"
                ),
            )
            return
    raise LookupError(key)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labshelf-shots-") as tmp_text:
        tmp = Path(tmp_text)
        for name in ("CONFIG", "DATA", "CACHE"):
            (tmp / name.lower()).mkdir()
            os.environ[f"LABSHELF_{name}_DIR"] = str(tmp / name.lower())
        os.environ["LABSHELF_USER"] = "ada"
        from PySide6.QtWidgets import QApplication

        app = QApplication(sys.argv)
        from labshelf.app.base.theme import apply_theme
        from labshelf.app.main_window import MainWindow

        seeded = seed(tmp)
        apply_theme(app, "light")
        OUT.mkdir(parents=True, exist_ok=True)
        window = MainWindow()
        window.resize(1440, 900)
        window.show()
        settle(app, lambda: window.model.rowCount() > 0)
        shots = take_shots(app, window, seeded)
        window.close()
        shots += tutorial_shots(app, tmp)
        print("\n".join(str(p) for p in shots))
    return 0


def take_shots(app, window, seeded: dict) -> list[Path]:
    from labshelf.app.base.theme import apply_theme

    shots = []

    def shot(name: str) -> None:
        path = OUT / f"{name}.png"
        window.grab().save(str(path))
        shots.append(path)

    select_key(app, window, "study0/plate1/well03.tif")
    settle(app, lambda: window.details.preview.kind == "image")
    shot("01-artifacts-image-preview")
    select_key(app, window, "study0/iris.csv")
    settle(app, lambda: window.details.preview.kind == "table")
    shot("02-artifacts-csv-preview")
    select_key(app, window, "study0/plate1/cell_counts.csv")
    window.details.tabs.setCurrentWidget(window.details.lineage)
    settle(app, lambda: bool(window.details.lineage.view.nodes), timeout=10)
    shot("03-lineage")
    window.details.tabs.setCurrentIndex(0)
    window.view_toggle.setChecked(True)
    hashes = [a.hash for a in seeded["images"]]
    settle(app, lambda: all(window.thumbs.pixmap(h) is not None for h in hashes))
    shot("04-thumbnail-grid")
    window.view_toggle.setChecked(False)
    window.show_registry("Collection")
    settle(app, lambda: window.model.rowCount() == 2)
    window.table.selectRow(0)
    settle(app, lambda: window.collections.members.rowCount() > 0)
    window.collections.compare()
    settle(app, lambda: window.collections.diff.topLevelItemCount() > 0)
    shot("05-collections")
    window.show_registry("Artifact")
    settle(app, lambda: window.model.rowCount() > 0)
    apply_theme(app, "dark")
    select_key(app, window, "study0/plate1/well05.tif")
    settle(app, lambda: window.details.preview.kind == "image")
    shot("06-dark-theme")
    apply_theme(app, "light")
    window.show_registry("Trash")
    shot("07-trash")
    window.show_registry("Artifact")
    shots += import_shots(app, window, seeded["incoming"])
    return shots


def tutorial_shots(app, tmp: Path) -> list[Path]:
    """The tutorial's "iris studies" (labshelf.demo), as `labshelf demo` loads it."""
    import labshelf as ls
    from labshelf.app.main_window import MainWindow
    from labshelf.demo import load_demo

    ls.init(str(tmp / "tutorial"), name="tutorial")
    load_demo(tmp / "tutorial")
    window = MainWindow()
    window.resize(1440, 900)
    window.show()
    settle(app, lambda: window.model.rowCount() > 0)
    select_key(app, window, "iris_studies/meta.csv")
    window.details.tabs.setCurrentWidget(window.details.lineage)
    settle(app, lambda: bool(window.details.lineage.view.nodes))
    shots = [OUT / "11-tutorial-lineage.png", OUT / "12-tutorial-collection.png"]
    window.grab().save(str(shots[0]))
    window.show_registry("Collection")
    settle(app, lambda: window.model.rowCount() > 0)
    window.table.selectRow(0)
    settle(app, lambda: window.collections.members.rowCount() > 0)
    window.grab().save(str(shots[1]))
    window.close()
    return shots


def import_shots(app, window, incoming: Path) -> list[Path]:
    from labshelf.app.uploads.drop_zone import mime_for
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent

    folder = incoming / "plate2"
    folder.mkdir()
    for i in range(24):
        (folder / f"reading_{i:02d}.csv").write_text(f"well,od\nA{i},{i / 10}\n")
    shots = [OUT / "08-drop-zone.png", OUT / "09-import-dialog.png", OUT / "10-transfer-queue.png"]
    mime = mime_for([str(folder)])  # the event does not own it: keep it alive
    enter = QDragEnterEvent(
        QPointF(400, 300),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    app.sendEvent(window, enter)
    settle(app, lambda: True, timeout=0.2)
    window.grab().save(str(shots[0]))
    app.sendEvent(window, QDragLeaveEvent())
    dialog = window.open_import([str(folder)])
    dialog.per_file.setChecked(True)
    dialog.key_prefix.setText("study0")
    settle(
        app, lambda: bool(dialog.summary) and dialog.summary["hashed"] == dialog.summary["items"]
    )
    dialog.grab().save(str(shots[1]))
    dialog.accept()
    settle(app, lambda: bool(window.uploads.drops) and window.uploads.drops[-1].finished)
    window.queue_dock.view.expandAll()
    settle(app, lambda: True, timeout=0.5)
    window.grab().save(str(shots[2]))
    return shots


if __name__ == "__main__":
    sys.exit(main())
