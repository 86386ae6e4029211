"""The application icon (resources/icons/app), read with `importlib.resources`."""

from __future__ import annotations

from importlib import resources

from PySide6.QtGui import QIcon, QPixmap

SIZES = (16, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    """labshelf's icon in every size we ship (PNG; the SVG is the source)."""
    folder = resources.files("labshelf.resources").joinpath("icons", "app")
    icon = QIcon()
    for size in SIZES:
        data = folder.joinpath(f"labshelf-{size}.png").read_bytes()
        pixmap = QPixmap()
        pixmap.loadFromData(data, "PNG")
        icon.addPixmap(pixmap)
    return icon
