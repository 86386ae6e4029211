"""Thumbnails: made by Pillow on a worker pool, cached on disk by content hash and in memory.

A re-registered identical image has the same hash, so its thumbnail costs nothing. Only what
a view declares visible (`want`) is made; requests scrolled out of view are dropped.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.preview.imaging import open_display_image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

THUMB_SIZE = 160
MEMORY_ITEMS = 600
MAX_INFLIGHT = 2


@dataclass(frozen=True)
class ThumbRequest:
    """A thumbnail to make: `key` is the content hash, `uid` finds the file."""

    key: str
    uid: str


Locate = Callable[[str, TaskContext], Path]


def can_thumbnail(record: dict[str, Any]) -> bool:
    """Whether a record (a row with hash and suffix) is an image to make a thumbnail of."""
    return bool(record.get("hash")) and gateway.kind_of(str(record.get("suffix") or "")) == "image"


def make_thumbnail(key: str, source: Callable[[], Path], folder: Path, size: int) -> Pixels:
    """The thumbnail of `key` from the disk cache, or made from `source()` and cached.

    Only Pillow runs here (it releases the GIL while decoding and encoding); the QImage is
    made in the UI thread, because PySide keeps the GIL through its C++ calls."""
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow loads on the workers

    dest = folder / f"{key}.png"
    if dest.exists():
        try:
            with Image.open(dest) as cached:
                return Pixels.of(cached.convert("RGBA"))
        except (OSError, UnidentifiedImageError):
            pass  # remade below
    img = open_display_image(source(), size).convert("RGBA")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
    img.save(tmp, "PNG", compress_level=1)
    os.replace(tmp, dest)  # atomic: a reader never sees half a PNG
    return Pixels.of(img)


@dataclass(frozen=True)
class Pixels:
    """RGBA bytes of a small image, handed from a worker to the UI thread."""

    data: bytes
    width: int
    height: int

    @classmethod
    def of(cls, img: Any) -> Pixels:
        return cls(img.tobytes(), img.width, img.height)

    def to_pixmap(self) -> QPixmap:
        image = QImage(
            self.data, self.width, self.height, 4 * self.width, QImage.Format.Format_RGBA8888
        )
        return QPixmap.fromImage(image)


class ThumbnailCache(QObject):
    """Pixmaps by content hash; `ready(key)` fires when one arrives."""

    ready = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        locate: Locate,
        folder: Callable[[], Path],
        size: int = THUMB_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._locate = locate
        self._folder = folder
        self.size = size
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._wanted: OrderedDict[str, ThumbRequest] = OrderedDict()
        self._inflight: set[str] = set()
        self._failed: set[str] = set()

    def pixmap(self, key: str) -> QPixmap | None:
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
        return pixmap

    def failed(self, key: str) -> bool:
        return key in self._failed

    @property
    def pending(self) -> int:
        return len(self._wanted) + len(self._inflight)

    def want(self, requests: list[ThumbRequest]) -> None:
        """Make these (the visible items) next; forget earlier requests not started yet."""
        self._wanted = OrderedDict(
            (r.key, r)
            for r in requests
            if r.key not in self._pixmaps
            and r.key not in self._inflight
            and r.key not in self._failed
        )
        self._pump()

    def _pump(self) -> None:
        while self._wanted and len(self._inflight) < MAX_INFLIGHT:
            _, request = self._wanted.popitem(last=False)
            self._start(request)

    def _start(self, request: ThumbRequest) -> None:
        self._inflight.add(request.key)
        locate, folder, size = self._locate, self._folder, self.size

        def work(ctx: TaskContext) -> Pixels:
            return make_thumbnail(request.key, lambda: locate(request.uid, ctx), folder(), size)

        self._runner.submit(
            work,
            done=lambda image: self._on_image(request.key, image),
            error=lambda _msg, _d: self._on_failed(request.key),
            name="thumbnail",
        )

    def _on_image(self, key: str, pixels: Pixels) -> None:
        self._inflight.discard(key)
        self._pixmaps[key] = pixels.to_pixmap()
        while len(self._pixmaps) > MEMORY_ITEMS:
            self._pixmaps.popitem(last=False)
        self.ready.emit(key)
        self._pump()

    def _on_failed(self, key: str) -> None:
        self._inflight.discard(key)
        self._failed.add(key)
        self.ready.emit(key)
        self._pump()
