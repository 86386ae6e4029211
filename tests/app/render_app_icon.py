"""Render resources/icons/app/labshelf.svg to the PNG sizes the app and the .desktop entry use.

Run after editing the SVG, then commit the PNGs:
    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/app/render_app_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

FOLDER = Path(__file__).resolve().parents[2] / "resources" / "icons" / "app"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication(sys.argv)
    svg = FOLDER / "labshelf.svg"
    for size in SIZES:
        target = FOLDER / f"labshelf-{size}.png"
        if not render(svg, size).save(str(target), "PNG"):
            print(f"could not write {target}", file=sys.stderr)
            return 1
        print(target.relative_to(FOLDER.parents[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
