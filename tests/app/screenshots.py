"""Grab PNGs of the app's views into tests/artifacts/ for a reviewer to look at.

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python tests/app/screenshots.py

Runs on the real `xcb` platform (not offscreen), in a temporary directory with its own
config/data/cache dirs: nothing touches the user's own labshelf settings. Shows, in order:
the welcome view; the main window on the demo ("iris studies", as `labshelf demo` loads it,
plus a plate of 16-bit microscopy TIFFs, a table in two versions and a tracked script run)
at 1440x900 and at 1024x700, light and dark; the details of each registry; the lineage at
Fit; thumbnails; the trash; an empty search; the row menu and the column chooser.

Other views hook in through `HOOKS`: functions `(app, window, seeded, shot)` that drive the
window and call `shot(name, widget=None)` (the import dialog with new, duplicate and
new-version rows and the transfer queue after a cancel are part B's hooks).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "artifacts"
Shot = Callable[..., None]


def seed(tmp: Path) -> dict[str, Any]:
    """The demo instance: the iris studies, a plate of 16-bit TIFFs, a table in two
    versions, a script run that read images and wrote counts."""
    import labshelf as ls
    import numpy as np
    from conftest import track_script  # tests/app/conftest.py, next to this script
    from labshelf.demo import load_demo
    from PIL import Image

    ls.init(str(tmp / "demo" / "storage"), name="iris-demo")
    load_demo(tmp / "demo" / "iris_studies")
    src = tmp / "incoming"
    src.mkdir()
    rng = np.random.default_rng(7)
    images = []
    for i in range(8):
        yy, xx = np.mgrid[0:240, 0:320]
        cells = sum(
            np.exp(-(((xx - rng.integers(0, 320)) ** 2 + (yy - rng.integers(0, 240)) ** 2) / 300.0))
            for _ in range(18)
        )
        arr = (
            (np.clip(cells, 0, 1) * 50000 + rng.normal(3000, 400, (240, 320)))
            .clip(0, 65535)
            .astype(np.uint16)
        )
        path = src / f"Plate01_A{i + 1:02d}_DAPI.tif"
        Image.fromarray(arr).save(path)
        images.append(
            ls.Artifact(
                str(path),
                key=f"plate01/raw/Plate01_A{i + 1:02d}_DAPI.tif",
                description="Plate01 HeLa, DAPI, Opera Phenix 20x",
            ).save()
        )
    counts = src / "cell_counts.csv"
    counts.write_text("well,cells\n" + "".join(f"A{i + 1:02d},{30 + i}\n" for i in range(8)))
    first = ls.Artifact(
        str(counts), key="plate01/analysis/cell_counts.csv", description="cells per well"
    ).save()
    track_script(src / "count_cells.py")
    for image in images[:3]:
        image.cache()
    counts.write_text("well,cells\n" + "".join(f"A{i + 1:02d},{31 + i}\n" for i in range(8)))
    second = ls.Artifact(str(counts), key="plate01/analysis/cell_counts.csv").save()
    ls.finish()
    trashed = src / "scratch.txt"
    trashed.write_text("a note nobody needs")
    ls.Artifact(str(trashed), key="plate01/scratch.txt").save().delete()
    return {"images": images, "counts": [first, second], "incoming": src}


def settle(app: Any, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not condition():
        print(f"screenshots: a condition was not met within {timeout:g} s", file=sys.stderr)
    for _ in range(25):
        app.processEvents()
        time.sleep(0.01)


def row_of_key(app: Any, window: Any, key: str) -> int:
    col = window.model.spec.column_index("key")
    for row in range(window.model.rowCount()):
        settle(app, lambda r=row: window.model.record(r) is not None, timeout=5)
        if window.model.index(row, col).data() == key:
            return row
    raise LookupError(key)


def select_row(app: Any, window: Any, row: int) -> None:
    settle(app, lambda: window.model.record(row) is not None, timeout=5)
    window.table.selectRow(row)
    uid = window.model.record(row)["uid"]
    settle(app, lambda: window.details.current is not None and window.details.current[1] == uid)
    settle(app, lambda: window.details.preview.kind != "busy")


def select_key(app: Any, window: Any, key: str) -> None:
    """Select the row of `key` (readme_screenshot.py uses this too)."""
    select_row(app, window, row_of_key(app, window, key))


def isolated_app(tmp: Path) -> Any:
    """The QApplication of a screenshot run, with labshelf's config, data and cache folders under
    `tmp` (never the user's own) and the user 'ada'; the light theme is applied by the caller."""
    for name in ("CONFIG", "DATA", "CACHE"):
        (tmp / name.lower()).mkdir()
        os.environ[f"LABSHELF_{name}_DIR"] = str(tmp / name.lower())
    os.environ["LABSHELF_USER"] = "ada"
    from PySide6.QtWidgets import QApplication

    return QApplication(sys.argv)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labshelf-shots-") as tmp_text:
        tmp = Path(tmp_text)
        app = isolated_app(tmp)
        from labshelf.app.base.theme import apply_theme

        apply_theme(app, "light")
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob("*.png"):
            old.unlink()
        shots: list[Path] = []

        def shot(name: str, widget: Any = None) -> None:
            path = OUT / f"{len(shots) + 1:02d}-{name}.png"
            (widget or window).grab().save(str(path))
            shots.append(path)

        window: Any = welcome(app, shot)
        seeded = seed(tmp)
        from labshelf.app.main_window import MainWindow

        window = MainWindow()
        window.resize(1440, 900)
        window.show()
        settle(app, lambda: window.model.rowCount() > 0)
        main_window_shots(app, window, seeded, shot)
        for hook in HOOKS:
            hook(app, window, seeded, shot)
        window.close()
        print(f"platform {app.platformName()}; {len(shots)} screenshots:")
        print("\n".join(str(p) for p in shots))
    return 0


def welcome(app: Any, shot: Shot) -> Any:
    from labshelf.app.shell.welcome_window import WelcomeWindow

    window = WelcomeWindow()
    window.show()
    settle(app, lambda: window.isVisible())
    shot("welcome", window)
    window.close()
    return window


def main_window_shots(app: Any, window: Any, seeded: dict[str, Any], shot: Shot) -> None:
    from labshelf.app.base.theme import apply_theme

    for size in ((1440, 900), (1024, 700)):
        window.resize(*size)
        window._fit_panes()
        for theme in ("light", "dark"):
            apply_theme(app, theme)
            select_row(app, window, row_of_key(app, window, "iris_studies/meta.csv"))
            settle(app, lambda: window.details.preview.kind == "table")
            shot(f"main-{size[0]}x{size[1]}-{theme}")
    apply_theme(app, "light")
    window.resize(1440, 900)
    window._fit_panes()
    details_shots(app, window, shot)
    lineage_shot(app, window, shot)
    views_shots(app, window, seeded, shot)


def details_shots(app: Any, window: Any, shot: Shot) -> None:
    """The details of one record of each registry (Technical opened once), with room for
    every section (the splitter dragged down, as a reader would)."""
    sizes = window.details.splitter.sizes()
    window.details.splitter.setSizes([sum(sizes) - 200, 200])
    for registry in ("Artifact", "Collection", "Transform", "Run", "User", "Storage"):
        window.show_registry(registry)
        settle(app, lambda r=registry: window.model.query.registry == r and window.model.rowCount())
        row = (
            row_of_key(app, window, "plate01/analysis/cell_counts.csv")
            if registry == "Artifact"
            else 0
        )
        select_row(app, window, row)
        if registry == "Artifact":
            window.details.sections["technical"].header.setChecked(True)
            settle(app, lambda: window.details.preview.kind == "table")
        shot(f"details-{registry.lower()}")
        window.details.sections["technical"].header.setChecked(False)
    window.details.splitter.setSizes(sizes)


def lineage_shot(app: Any, window: Any, shot: Shot) -> None:
    window.show_registry("Artifact")
    settle(app, lambda: window.model.query.registry == "Artifact" and window.model.rowCount())
    select_row(app, window, row_of_key(app, window, "iris_studies/meta.csv"))
    window.details.tabs.setCurrentWidget(window.details.lineage)
    settle(app, lambda: bool(window.details.lineage.view.nodes))
    window.details.lineage.view.fit()
    settle(app, lambda: True, timeout=0.3)
    shot("lineage-fit")
    window.details.tabs.setCurrentIndex(0)


def views_shots(app: Any, window: Any, seeded: dict[str, Any], shot: Shot) -> None:
    hashes = [a.hash for a in seeded["images"]]
    window.search_box.setText("Plate01")
    settle(app, lambda: window.model.query.search == "Plate01")
    window.view_toggle.setChecked(True)
    settle(app, lambda: all(window.thumbs.pixmap(h) is not None for h in hashes))
    shot("thumbnails-16bit")
    window.view_toggle.setChecked(False)
    window.actions_["all_versions"].setChecked(True)
    settle(app, lambda: not window.model.query.latest_only)
    shot("all-versions")
    window.actions_["all_versions"].setChecked(False)
    window.search_box.setText("no such thing")
    settle(
        app, lambda: window.model.query.search == "no such thing" and not window.model.rowCount()
    )
    shot("empty-search")
    window.search_box.clear()
    settle(app, lambda: window.model.query.search == "")
    row = row_of_key(app, window, "plate01/analysis/cell_counts.csv")
    select_row(app, window, row)
    rect = window.table.visualRect(window.model.index(row, 0))
    menu = window.show_row_menu(window.table.viewport().mapToGlobal(rect.center()), window.table)
    settle(app, lambda: menu.isVisible(), timeout=2)
    shot("row-menu", menu)
    menu.close()
    columns = window.table.column_menu(window)
    columns.popup(window.table.mapToGlobal(window.table.rect().topLeft()))
    settle(app, lambda: columns.isVisible(), timeout=2)
    shot("column-chooser", columns)
    columns.close()
    window.show_registry("Trash")
    settle(app, lambda: window.trash_page.model.rowCount() > 0)
    window.trash_page.view.selectRow(0)
    settle(app, lambda: window.details.current is not None)
    settle(app, lambda: window.details.preview.kind != "busy")
    shot("trash")
    window.show_registry("Artifact")


def import_shots(app: Any, window: Any, seeded: dict[str, Any], shot: Shot) -> None:
    """The drop zone, the import dialog and the queue (part B extends these)."""
    from labshelf.app.uploads.drop_zone import mime_for
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent

    folder = seeded["incoming"] / "plate2"
    folder.mkdir()
    for i in range(24):
        (folder / f"reading_{i:02d}.csv").write_text(f"well,od\nA{i},{i / 10}\n")
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
    shot("drop-zone")
    app.sendEvent(window, QDragLeaveEvent())
    dialog = window.open_import([str(folder)])
    dialog.per_file.setChecked(True)
    dialog.key_prefix.setText("plate02")
    settle(
        app, lambda: bool(dialog.summary) and dialog.summary["hashed"] == dialog.summary["items"]
    )
    shot("import-dialog", dialog)
    dialog.accept()
    settle(app, lambda: bool(window.uploads.drops) and window.uploads.drops[-1].finished)
    window.queue_dock.view.expandAll()
    settle(app, lambda: True, timeout=0.5)
    shot("transfer-queue")


# Views other rooms add: each `(app, window, seeded, shot)`, run in order after the above.
HOOKS: list[Callable[[Any, Any, dict[str, Any], Shot], None]] = [import_shots]


if __name__ == "__main__":
    sys.exit(main())
