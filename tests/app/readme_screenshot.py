"""Take the README's screenshot: the main window on the tutorial's iris studies (labshelf.demo),
the summary table selected with its lineage open. Writes resources/screenshot.png (< 300 KB).

    xvfb-run -a .venv/bin/python tests/app/readme_screenshot.py

Runs on a throwaway instance in $TMPDIR/labshelf-readme (removed afterwards); the user's settings are not touched.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "resources" / "screenshot.png"
MAX_BYTES = 300_000
WIDTH, HEIGHT = 1440, 860
# A fixed, short folder: the status bar and details show the storage path.
WORKDIR = Path(tempfile.gettempdir()) / "labshelf-readme"
sys.path.insert(0, str(Path(__file__).parent))


def shrink(png: bytes) -> bytes:
    """A palette PNG of the grab: UI pixels compress well with 256 colours."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    quantized = image.quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    out = io.BytesIO()
    quantized.save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> int:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir()
    try:
        tmp = WORKDIR
        for name in ("CONFIG", "DATA", "CACHE"):
            (tmp / name.lower()).mkdir()
            os.environ[f"LABSHELF_{name}_DIR"] = str(tmp / name.lower())
        os.environ["LABSHELF_USER"] = "ada"
        from labshelf.app.base import qtcompat  # noqa: F401, I001 - first, as in the app
        from PySide6.QtCore import QBuffer, QIODevice
        from PySide6.QtWidgets import QApplication

        from labshelf.app.shell.app_icon import app_icon

        app = QApplication(sys.argv)
        app.setWindowIcon(app_icon())
        import labshelf as ls
        from labshelf.app.base.theme import apply_theme
        from labshelf.app.main_window import MainWindow
        from labshelf.demo import load_demo
        from screenshots import select_key, settle

        ls.init(str(tmp / "lab-data"), name="iris-demo")
        load_demo(tmp / "iris_studies")
        apply_theme(app, "light")
        window = MainWindow()
        window.resize(WIDTH, HEIGHT)
        window.show()
        settle(app, lambda: window.model.rowCount() > 0)
        select_key(app, window, "iris_studies/meta.csv")
        window.details.tabs.setCurrentWidget(window.details.lineage)
        settle(app, lambda: bool(window.details.lineage.view.nodes))
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        window.grab().save(buffer, "PNG")
        window.close()
        data = shrink(bytes(buffer.data().data()))
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    if len(data) > MAX_BYTES:
        print(f"the screenshot is {len(data)} bytes (over {MAX_BYTES})", file=sys.stderr)
        return 1
    OUT.write_bytes(data)
    print(f"{OUT.relative_to(ROOT)}: {len(data) // 1000} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
