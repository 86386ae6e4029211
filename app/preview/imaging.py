"""Pillow images made displayable (8-bit, bounded size) and turned into QImages, and what a
scientist wants to know of the pixels: bit depth, the range of values, how they are shown.

Runs on worker threads only (QImage, unlike QPixmap, may be built off the UI thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from PIL.Image import Image

# Beyond this, only formats Pillow can decode at reduced size (JPEG draft) are opened.
MAX_FULL_DECODE_BYTES = 512 * 1024**2


class TooLarge(Exception):
    """The image is too large to decode for a preview."""


# Pillow's modes as people name them.
DEPTHS = {
    "1": "1-bit black and white",
    "L": "8-bit grayscale",
    "LA": "8-bit grayscale with alpha",
    "P": "8-bit palette",
    "PA": "8-bit palette with alpha",
    "RGB": "8-bit RGB",
    "RGBA": "8-bit RGBA",
    "CMYK": "8-bit CMYK",
    "YCbCr": "8-bit YCbCr",
    "I;16": "16-bit grayscale",
    "I;16B": "16-bit grayscale",
    "I;16L": "16-bit grayscale",
    "I;16N": "16-bit grayscale",
    "I": "32-bit integer grayscale",
    "F": "32-bit float grayscale",
}
STRETCH_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class PixelInfo:
    """What the pixels of an image are: bit depth, the range of their values (of the frame
    shown, at the resolution decoded), and the values shown as black and white when the
    display stretches them (16-bit and float images)."""

    depth: str
    low: float | None = None
    high: float | None = None
    stretch: tuple[float, float] | None = None

    def text(self) -> str:
        """ "16-bit grayscale · values 1,000 to 4,999 · shown stretched 1,020 to 4,979"."""
        parts = [self.depth]
        if self.low is not None and self.high is not None:
            parts.append(f"values {_number(self.low)} to {_number(self.high)}")
        if self.stretch is not None:
            lo, hi = self.stretch
            parts.append(f"shown stretched {_number(lo)} to {_number(hi)}")
        return " · ".join(parts)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def open_display_image(path: Path, max_side: int) -> Image:
    """The first frame of `path` as 8-bit RGB(A), at most `max_side` pixels on a side."""
    return open_for_preview(path, max_side)[0]


def open_for_preview(path: Path, max_side: int) -> tuple[Image, PixelInfo]:
    """`open_display_image` and what the pixels are (`PixelInfo`)."""
    from PIL import Image as PILImage  # deferred: Pillow loads on the workers that decode

    PILImage.MAX_IMAGE_PIXELS = None  # large microscopy images are expected, not bombs
    img = PILImage.open(path)
    if img.format == "JPEG":
        img.draft("RGB", (max_side, max_side))
    elif path.stat().st_size > MAX_FULL_DECODE_BYTES:
        raise TooLarge(f"{path.name} is too large to preview")
    img.seek(0)
    shown, info = _to_8bit(img)
    shown.thumbnail((max_side, max_side))
    return shown, info


def _to_8bit(img: Image) -> tuple[Image, PixelInfo]:
    # 16-bit and float images (microscopy TIFFs) are stretched between the 0.5th and
    # 99.5th percentiles, as image viewers do for display.
    depth = DEPTHS.get(img.mode, f"{img.mode} pixels")
    if img.mode in ("RGB", "RGBA", "L", "LA", "1", "CMYK", "YCbCr"):
        low, high = _extrema(img)
        shown = (
            img
            if img.mode in ("RGB", "RGBA")
            else img.convert("RGBA" if "A" in img.mode else "RGB")
        )
        return shown, PixelInfo(depth, low, high)
    if img.mode in ("P", "PA"):  # palette indices are no values
        return img.convert("RGBA"), PixelInfo(depth)
    import numpy as np  # deferred: only 16-bit and float images need it
    from PIL import Image as PILImage

    arr = np.asarray(img, dtype=np.float32)
    finite = arr[np.isfinite(arr)] if img.mode == "F" else arr
    if finite.size == 0:
        return PILImage.new("RGB", img.size), PixelInfo(depth)
    lo, hi = (float(v) for v in np.percentile(finite, STRETCH_PERCENTILES))
    scale = 255.0 / (hi - lo) if hi > lo else 1.0
    scaled = np.clip((np.nan_to_num(arr, nan=lo) - lo) * scale, 0, 255).astype(np.uint8)
    info = PixelInfo(depth, float(finite.min()), float(finite.max()), (lo, hi))
    return PILImage.fromarray(scaled).convert("RGB"), info


def _extrema(img: Image) -> tuple[float, float]:
    """The lowest and highest value over the colour bands (alpha left out)."""
    bands = img.getextrema()
    if img.mode in ("L", "1"):
        return float(bands[0]), float(bands[1])  # type: ignore[arg-type]
    colour = bands[:-1] if "A" in img.mode else bands
    return float(min(b[0] for b in colour)), float(max(b[1] for b in colour))  # type: ignore[index]


def to_qimage(img: Image) -> QImage:
    """A deep-copied QImage of an RGB or RGBA Pillow image."""
    if img.mode != "RGBA":
        img = img.convert("RGB")
    fmt = QImage.Format.Format_RGBA8888 if img.mode == "RGBA" else QImage.Format.Format_RGB888
    data = img.tobytes()
    bytes_per_line = len(img.getbands()) * img.width
    return QImage(data, img.width, img.height, bytes_per_line, fmt).copy()
