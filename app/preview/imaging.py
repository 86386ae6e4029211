"""Pillow images made displayable (8-bit, bounded size) and turned into QImages.

Runs on worker threads only (QImage, unlike QPixmap, may be built off the UI thread).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from PIL.Image import Image

# Beyond this, only formats Pillow can decode at reduced size (JPEG draft) are opened.
MAX_FULL_DECODE_BYTES = 512 * 1024**2


class TooLarge(Exception):
    """The image is too large to decode for a preview."""


def open_display_image(path: Path, max_side: int) -> Image:
    """The first frame of `path` as 8-bit RGB(A), at most `max_side` pixels on a side."""
    from PIL import Image as PILImage  # deferred: Pillow loads on the workers that decode

    PILImage.MAX_IMAGE_PIXELS = None  # large microscopy images are expected, not bombs
    img = PILImage.open(path)
    if img.format == "JPEG":
        img.draft("RGB", (max_side, max_side))
    elif path.stat().st_size > MAX_FULL_DECODE_BYTES:
        raise TooLarge(f"{path.name} is too large to preview")
    img.seek(0)
    img = _to_8bit(img)
    img.thumbnail((max_side, max_side))
    return img


def _to_8bit(img: Image) -> Image:
    # 16-bit and float images (microscopy TIFFs) are stretched between the 0.5th and
    # 99.5th percentiles, as image viewers do for display.
    if img.mode in ("RGB", "RGBA"):
        return img
    if img.mode in ("L", "LA", "P", "1", "CMYK", "YCbCr", "PA"):
        return img.convert("RGBA" if img.mode in ("LA", "PA", "P") else "RGB")
    import numpy as np  # deferred: only 16-bit and float images need it
    from PIL import Image as PILImage

    arr = np.asarray(img, dtype=np.float32)
    lo, hi = np.percentile(arr, (0.5, 99.5))
    scale = 255.0 / (hi - lo) if hi > lo else 1.0
    scaled = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
    return PILImage.fromarray(scaled).convert("RGB")


def to_qimage(img: Image) -> QImage:
    """A deep-copied QImage of an RGB or RGBA Pillow image."""
    if img.mode != "RGBA":
        img = img.convert("RGB")
    fmt = QImage.Format.Format_RGBA8888 if img.mode == "RGBA" else QImage.Format.Format_RGB888
    data = img.tobytes()
    bytes_per_line = len(img.getbands()) * img.width
    return QImage(data, img.width, img.height, bytes_per_line, fmt).copy()
