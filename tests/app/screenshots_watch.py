"""Grab PNGs of the watch-folder views into tests/artifacts/ for a reviewer to look at.

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python tests/app/screenshots_watch.py

Runs on the real `xcb` platform, in a temporary directory with its own config/data/cache
dirs (nothing touches the user's labshelf). Two instrument folders on a fresh instance: a
confocal writing single TIFFs (file units) and a plate reader writing one subfolder per plate
with a DONE marker (folder units). Shows the *Watch a folder…* dialog filled in, a refused
pattern, and the main window with the "Watched folders" panel: one watch that registered
files, one paused by the user. Writes only `watch-*.png` (the other screenshot scripts' files
stay).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # screenshots.py
from screenshots import OUT, isolated_app, settle


def write_tiffs(folder: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        (folder / name).write_bytes(f"{name}:{i}".encode().ljust(40_000, b"\0"))


def write_plate(folder: Path, plate: str) -> None:
    plate_dir = folder / plate
    plate_dir.mkdir()
    for well in ("A01", "A02", "B01"):
        (plate_dir / f"{well}.csv").write_text(f"well,od\n{well},{len(plate) / 10}\n")
    (plate_dir / "DONE").write_text("")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="labshelf-watch-shots-") as tmp_text:
        tmp = Path(tmp_text)
        app = isolated_app(tmp)
        from labshelf.app.base.theme import apply_theme

        apply_theme(app, "light")
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob("watch-*.png"):
            old.unlink()
        import labshelf as ls

        ls.init(str(tmp / "lab" / "storage"), name="imaging-lab")
        confocal = tmp / "instruments" / "Confocal2_out"
        reader = tmp / "instruments" / "PlateReader_export"
        confocal.mkdir(parents=True)
        reader.mkdir(parents=True)
        write_tiffs(confocal, [f"HeLa_DAPI_{i:03d}.tif" for i in range(6)])
        write_plate(reader, "plate_0001")
        shots: list[Path] = []

        def shot(name: str, widget: Any) -> None:
            path = OUT / f"watch-{len(shots) + 1:02d}-{name}.png"
            widget.grab().save(str(path))
            shots.append(path)

        from labshelf.app.main_window import MainWindow

        window = MainWindow()
        window.resize(1440, 900)
        window.show()
        settle(app, lambda: window.model.spec is not None)

        dialog = window.open_watch_dialog(str(confocal))
        dialog.key_prefix.setText("confocal2/2026-12")
        dialog.instrument.setText("Confocal 2 (Zeiss LSM 980)")
        dialog.settle.setValue(2.0)
        dialog.include.setText("*.tif, *.czi")
        dialog.exclude.setText("*.tmp, ~*")
        dialog.collection.setText("HeLa DAPI time course")
        settle(app, dialog.isVisible)
        shot("dialog", dialog)
        dialog.include.setText("*.tif, plate[0-9")
        dialog.ok.click()
        settle(app, dialog.error.isVisible)
        shot("dialog-refused", dialog)
        dialog.include.setText("*.tif, *.czi")
        dialog.ok.click()
        settle(app, lambda: bool(window.watches.rows))
        first = window.watches.rows[0]
        settle(app, lambda: first.registered >= 6, timeout=30)

        second = window.open_watch_dialog(str(reader))
        second.key_prefix.setText("platereader")
        second.instrument.setText("Plate reader (Tecan Spark)")
        second.unit.setCurrentIndex(1)
        second.marker.setText("DONE")
        second.settle.setValue(1.0)
        second.ok.click()
        settle(app, lambda: len(window.watches.rows) == 2)
        plates = window.watches.rows[1]
        settle(app, lambda: plates.registered >= 1, timeout=30)
        window.watch_panel.select(plates)
        window.watch_panel.buttons["watchPause"].click()
        settle(app, lambda: plates.user_paused)
        window.watch_panel.select(first)
        settle(app, lambda: True, timeout=0.5)
        shot("window-with-panel", window)
        shot("panel", window.watch_panel)
        window.close()
        print(f"platform {app.platformName()}; {len(shots)} screenshots:")
        print("\n".join(str(p) for p in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
