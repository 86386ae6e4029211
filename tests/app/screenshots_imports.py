"""Grab PNGs of the import side into tests/artifacts/ for a reviewer to look at: the import
dialog with new / already registered / new-version / skipped rows, the transfer queue after
a cancel (and a drop of files registered already), a 16-bit image preview with its bit depth
and value range, and the diff of two versions of a CSV.

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python tests/app/screenshots_imports.py

Seeds a throwaway instance in a temporary directory (same conventions as `screenshots.py`:
the `xcb` platform under Xvfb); nothing touches the user's own labshelf settings.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # screenshots.py, conftest.py
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # slow_worker.py
from screenshots import OUT, isolated_app, select_key, settle
from slow_worker import slow_worker_command


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def seed(tmp: Path) -> dict[str, Any]:
    import labshelf as ls
    import numpy as np
    from PIL import Image

    ls.init(str(tmp / "store"), name="lab-imports")
    made = tmp / "made"
    _write(made / "v1" / "cell_counts.csv", "well,cells,area\nA1,10,3.2\nA2,12,3.0\nA3,9,2.8\n")
    ls.Artifact(
        str(made / "v1" / "cell_counts.csv"),
        key="plate/analysis/cell_counts.csv",
        description="cells per well",
    ).save()
    _write(
        made / "v2" / "cell_counts.csv",
        "well,cells,area\nA1,10,3.2\nA2,14,3.1\nA3,9,2.8\nA4,21,4.0\n",
    )
    ls.Artifact(
        str(made / "v2" / "cell_counts.csv"),
        key="plate/analysis/cell_counts.csv",
        description="cells per well, A2 recounted, A4 added",
    ).save()
    ls.Artifact(str(_write(made / "readme.txt", "plate map\n")), key="notes/readme.txt").save()
    ls.Artifact(str(_write(made / "a.csv", "x\n1\n")), key="run_a/counts.csv").save()
    ls.Artifact(str(_write(made / "b.csv", "x\n2\n")), key="run_b/counts.csv").save()
    yy, xx = np.mgrid[0:480, 0:640]
    arr = (1000 + 3999 * np.exp(-((xx - 320) ** 2 + (yy - 240) ** 2) / 20000.0)).astype(np.uint16)
    Image.fromarray(arr).save(made / "dapi.tif")
    ls.Artifact(str(made / "dapi.tif"), key="plate/raw/dapi_A1.tif", description="DAPI").save()

    incoming = tmp / "incoming"
    drop = [
        _write(incoming / "cell_counts.csv", "well,cells,area\nA1,11,3.2\nA2,14,3.1\n"),
        _write(incoming / "readme_copy.txt", "plate map\n"),
        _write(incoming / "fresh.csv", "x\n9\n"),
        _write(incoming / "counts.csv", "x\n3\n"),
        _write(incoming / ".DS_Store", "\0\0junk"),
    ]
    big = incoming / "plate7_run3"
    big.mkdir()
    for i in range(600):
        (big / f"well_{i:04d}.bin").write_bytes(i.to_bytes(4, "big") * 1024)
    again = incoming / "plate1"  # files registered already: a drop that uploads nothing
    again.mkdir()
    for i in range(6):
        ls.Artifact(
            str(_write(again / f"od_{i}.csv", f"well,od\nA{i},0.{i}\n")), key=f"plate1/od_{i}.csv"
        ).save()
    return {"drop": drop, "big": big, "again": again}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labshelf-shots-") as tmp_text:
        tmp = Path(tmp_text)
        app = isolated_app(tmp)
        from labshelf.app.base.theme import apply_theme
        from labshelf.app.main_window import MainWindow

        seeded = seed(tmp)
        apply_theme(app, "light")
        OUT.mkdir(parents=True, exist_ok=True)
        from labshelf.app.uploads import manager as manager_module

        manager_module.worker_command = slow_worker_command  # a cancel has something to stop
        window = MainWindow()  # its spare upload worker is a slow one too
        window.resize(1440, 900)
        window.show()
        settle(app, lambda: window.model.rowCount() > 0)
        shots = take_shots(app, window, seeded)
        window.uploads.cancel_all()
        settle(app, lambda: not window.uploads.running(), timeout=30)
        window.close()
        print("\n".join(str(p) for p in shots))
    return 0


def take_shots(app: Any, window: Any, seeded: dict[str, Any]) -> list[Path]:
    from PySide6.QtWidgets import QAbstractItemView

    shots: list[Path] = []

    def grab(widget: Any, name: str) -> None:
        path = OUT / f"{name}.png"
        widget.grab().save(str(path))
        shots.append(path)

    # The image preview: bit depth, value range, how it is stretched.
    select_key(app, window, "plate/raw/dapi_A1.tif")
    settle(app, lambda: window.details.preview.kind == "image")
    grab(window, "20-preview-bit-depth")

    # Two versions of a CSV, compared.
    select_key(app, window, "plate/analysis/cell_counts.csv")
    preview = window.details.preview
    settle(app, lambda: preview.compare_bar.isVisible())
    grab(window, "21-compare-offer")
    dialog = preview.compare()
    assert dialog is not None
    dialog.resize(900, 420)
    shown: list[str] = []
    dialog.shown.connect(shown.append)
    settle(app, lambda: bool(shown))
    grab(dialog, "22-version-diff")
    dialog.close()

    # The import dialog: new, already registered, new version (by file name), skipped.
    imports = window.open_import([str(p) for p in seeded["drop"]])
    imports.resize(1240, 520)
    settle(
        app,
        lambda: (
            bool(imports.summary)
            and imports.summary["hashed"] == imports.summary["items"]
            and imports.storage.count() > 0
        ),
    )
    grab(imports, "23-import-dialog-per-item")
    imports.reject()

    # The queue after a cancel, then a drop of files registered already.
    drop = window.uploads.start({"paths": [str(seeded["big"])], "as_folder": False})
    settle(app, lambda: drop.files_done >= 120, timeout=60)
    window.uploads.cancel(drop.id)
    settle(app, lambda: drop.finished, timeout=30)
    again = window.uploads.start({"paths": [str(seeded["again"])], "as_folder": False})
    settle(app, lambda: again.finished, timeout=60)
    rest = window.uploads.resume_rest(drop.id)
    assert rest is not None, (drop.state, drop.message)
    settle(app, lambda: rest.files_done >= 40, timeout=60)
    dock = window.queue_dock
    window.resize(1440, 1000)
    settle(app, lambda: True, timeout=0.5)
    grab(window, "24-queue-after-cancel")
    top = dock.model.index(0, 0)  # the cancelled drop's items: done, stopped mid-way, left
    dock.view.expand(top)
    first_left = next(i for i, item in enumerate(drop.items) if item.state != "done")
    dock.view.scrollTo(
        dock.model.index(max(first_left - 2, 0), 0, top), QAbstractItemView.ScrollHint.PositionAtTop
    )
    settle(app, lambda: True, timeout=0.5)
    grab(window, "25-queue-cancelled-items")
    return shots


if __name__ == "__main__":
    sys.exit(main())
