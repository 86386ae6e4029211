"""Thumbnails: made on workers, cached on disk by content hash, only for visible items."""

from __future__ import annotations

from pathlib import Path

from labshelf.app.base.tasks import TaskContext
from labshelf.app.browser.collection_browser import MembersModel
from labshelf.app.browser.thumbnail_grid import ThumbnailGrid
from labshelf.app.preview.thumbnails import ThumbnailCache, ThumbRequest
from PIL import Image


def _image(tmp_path: Path, name: str = "a.png") -> Path:
    path = tmp_path / name
    Image.new("RGB", (640, 480), "green").save(path)
    return path


def test_thumbnail_made_once_then_read_from_disk_by_hash(qtbot, runner, tmp_path: Path) -> None:
    source = _image(tmp_path)
    located: list[str] = []

    def locate(uid: str, ctx: TaskContext) -> Path:
        located.append(uid)
        return source

    folder = tmp_path / "thumbs"
    cache = ThumbnailCache(runner, locate, lambda: folder)
    with qtbot.waitSignal(cache.ready, timeout=5000) as ready:
        cache.want([ThumbRequest("hashA", "uid1")])
    assert ready.args == ["hashA"]
    pixmap = cache.pixmap("hashA")
    assert max(pixmap.width(), pixmap.height()) == cache.size
    assert (folder / "hashA.png").exists()

    # A re-registered identical image (other uid, same hash) costs nothing: the disk copy is used.
    fresh = ThumbnailCache(
        runner, lambda uid, ctx: (_ for _ in ()).throw(AssertionError(uid)), lambda: folder
    )
    with qtbot.waitSignal(fresh.ready, timeout=5000):
        fresh.want([ThumbRequest("hashA", "uid2")])
    assert fresh.pixmap("hashA") is not None and not fresh.failed("hashA")
    assert located == ["uid1"]


def test_broken_image_is_marked_failed(qtbot, runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    cache = ThumbnailCache(runner, lambda uid, ctx: bad, lambda: tmp_path / "t")
    with qtbot.waitSignal(cache.ready, timeout=5000):
        cache.want([ThumbRequest("bad", "u")])
    assert cache.failed("bad") and cache.pixmap("bad") is None


def test_grid_requests_only_visible_items(qtbot, runner, tmp_path: Path) -> None:
    source = _image(tmp_path)
    asked: list[str] = []

    def locate(uid: str, ctx: TaskContext) -> Path:
        asked.append(uid)
        return source

    cache = ThumbnailCache(runner, locate, lambda: tmp_path / "thumbs")
    model = MembersModel()
    model.set_members(
        [
            {"uid": f"u{i}", "hash": f"h{i}", "suffix": ".png", "key": f"k{i}.png"}
            for i in range(500)
        ]
    )
    grid = ThumbnailGrid(cache)
    qtbot.addWidget(grid)
    grid.setModel(model)
    grid.resize(600, 420)
    grid.show()
    qtbot.waitUntil(lambda: cache.pixmap("h0") is not None, timeout=5000)
    runner.wait()
    qtbot.waitUntil(lambda: cache.pending == 0, timeout=5000)
    visible = len(grid.visible_rows())
    assert 0 < visible < 40
    assert len(asked) <= visible
    grid.scrollToBottom()
    qtbot.waitUntil(lambda: cache.pixmap("h499") is not None, timeout=5000)
    assert len(asked) < 100
