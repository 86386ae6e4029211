"""Grab PNGs of labels and features (issue 17) into tests/artifacts/ for a reviewer to look at,
on the demo data (which arrives annotated from its meta.csv files): the details panel's
"Labels & features" section, the sidebar's label tree filtering the table (with its chip),
feature columns, and the import dialog offering "Read metadata from meta.csv".

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python tests/app/screenshots_labels.py

Seeds a throwaway instance in a temporary directory (same conventions as `screenshots.py`);
nothing touches the user's own labshelf settings.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # screenshots.py, conftest.py
from screenshots import OUT, isolated_app, select_key, settle

IMAGE_KEY_PREFIX = "iris_studies/images/"


def seed(tmp: Path) -> dict[str, Any]:
    import labshelf as ls
    from conftest import write_jpeg
    from labshelf.demo import load_demo

    ls.init(str(tmp / "store"), name="iris-lab")
    records = load_demo(tmp / "demo")
    ls.ULabel("plate", is_type=True).save()
    ls.ULabel("plate3", type=ls.ULabel.get(name="plate")).save()
    records["image"].ulabels.add(ls.ULabel.get(name="plate3"))  # a plain label as well
    drop = tmp / "incoming" / "plate7"
    for i in range(4):
        write_jpeg(drop / f"well_A{i + 1}.jpg", (40 * i, 90, 160), (96, 72))
    (drop / "meta.csv").write_text(
        "file,stain,temperature,treated\n"
        "well_A1.jpg,DAPI,37,yes\nwell_A2.jpg,DAPI,37,no\n"
        "well_A3.jpg,GFP,30,yes\nwell_A4.jpg,GFP,warm,no\nwell_B1.jpg,DAPI,37,yes\n"
    )
    return {"image": records["image"], "drop": drop}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labshelf-shots-") as tmp_text:
        tmp = Path(tmp_text)
        app = isolated_app(tmp)
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
        print("\n".join(str(p) for p in shots))
    return 0


def take_shots(app: Any, window: Any, seeded: dict[str, Any]) -> list[Path]:
    shots: list[Path] = []

    def grab(widget: Any, name: str) -> None:
        path = OUT / f"{name}.png"
        widget.grab().save(str(path))
        shots.append(path)

    # The details: chips (feature values and a plain label), the feature table, "+ label".
    tree = window.label_tree
    settle(app, lambda: tree.find_label("study0") is not None)
    select_key(app, window, seeded["image"].key)
    box = window.details.annotations
    settle(app, lambda: bool(box.annotations.get("labels")))
    section = window.details.sections["labels"]
    window.details.scroll.ensureWidgetVisible(section)
    settle(app, lambda: True, timeout=0.3)
    grab(window, "30-labels-details")
    box.label_edit.setFocus()
    box.label_edit.setText("stu")
    box.label_edit.textEdited.emit("stu")
    settle(app, lambda: bool(box.suggestions))
    box.completer.complete()  # Xvfb has no window manager to give the field focus
    settle(app, lambda: box.completer.popup().isVisible(), timeout=2)
    settle(app, lambda: True, timeout=0.3)
    path = OUT / "31-labels-autocomplete.png"  # the popup is a window of its own: the screen
    top_left = window.mapToGlobal(window.rect().topLeft())
    screen = app.primaryScreen()
    screen.grabWindow(0, top_left.x(), top_left.y(), window.width(), window.height()).save(
        str(path)
    )
    shots.append(path)
    box.completer.popup().hide()
    box.label_edit.clear()

    # The sidebar's tree: a click filters the table, with a chip in the filter bar.
    window.table.clearSelection()
    tree.tree.itemClicked.emit(tree.find_label("study1"), 0)
    settle(app, lambda: window.filter_bar.findChild(object, "chip_label") is not None)
    settle(app, lambda: window.model.rowCount() == 1)
    grab(window, "32-label-tree-filter")
    window.filter_bar.clear_all()
    settle(app, lambda: window.model.rowCount() > 1)

    # Feature columns from the column chooser.
    settle(app, lambda: bool(window.table.features))
    window.model.set_feature_columns(("study", "species", "sepal_length"))
    settle(app, lambda: window.model.columnCount() > 8, timeout=5)
    settle(app, lambda: True, timeout=1)  # the pages re-read with the feature values
    for column, spec in enumerate(window.model.spec.columns):  # room for the feature columns
        if spec.title in ("Description", "Created by", "Version"):
            window.table.setColumnHidden(column, True)
    settle(app, lambda: True, timeout=0.5)
    grab(window, "33-feature-columns")
    menu = window.table.column_menu(window)
    header = window.table.horizontalHeader()
    menu.popup(header.mapToGlobal(header.rect().bottomLeft()))
    settle(app, lambda: menu.isVisible(), timeout=2)
    settle(app, lambda: True, timeout=0.3)
    grab(menu, "34-column-chooser-features")
    menu.close()
    window.model.set_feature_columns(())

    # The import dialog: a dropped folder with a meta.csv naming its files.
    imports = window.open_import([str(seeded["drop"])])
    imports.resize(1100, 620)
    settle(app, lambda: imports.metadata_preview is not None)
    settle(
        app,
        lambda: bool(imports.summary) and imports.summary["hashed"] == imports.summary["items"],
    )
    grab(imports, "35-import-read-metadata")
    imports.reject()
    return shots


if __name__ == "__main__":
    sys.exit(main())
