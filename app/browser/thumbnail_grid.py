"""`thumbnailGrid`: artifacts as thumbnails; only the visible items ask for theirs."""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.theme import icon
from labshelf.app.browser.table_model import RECORD_ROLE
from labshelf.app.preview.thumbnails import ThumbnailCache, ThumbRequest, can_thumbnail
from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QPainter, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

LABEL_HEIGHT = 34
VISIBLE_SCAN_LIMIT = 400
KIND_ICONS = {"image": "image", "table": "table", "json": "text", "text": "text"}


def type_icon_name(record: dict[str, Any]) -> str:
    """The icon of a record's file kind (core's file kinds; no suffix: a folder)."""
    suffix = str(record.get("suffix") or "")
    if not suffix:
        return "folder"
    return KIND_ICONS.get(gateway.kind_of(suffix), "file")


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints a cached thumbnail (or the type's icon while it loads) above the item's name."""

    def __init__(self, cache: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cache = cache

    def sizeHint(  # noqa: N802 - Qt's name
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(self._cache.size + 16, self._cache.size + LABEL_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        rect: QRect = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, option.palette.highlight())
        record = index.data(RECORD_ROLE) or {}
        side = self._cache.size
        image_rect = QRect(rect.x() + (rect.width() - side) // 2, rect.y() + 4, side, side)
        pixmap = self._cache.pixmap(record["hash"]) if can_thumbnail(record) else None
        if pixmap is not None:
            target = pixmap.size().scaled(image_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            centered = QRect(0, 0, target.width(), target.height())
            centered.moveCenter(image_rect.center())
            painter.drawPixmap(centered, pixmap)
        else:
            icon(type_icon_name(record), 48).paint(painter, image_rect.adjusted(40, 40, -40, -40))
        text_rect = QRect(rect.x() + 4, image_rect.bottom() + 4, rect.width() - 8, LABEL_HEIGHT - 8)
        name = str(record.get("key") or record.get("name") or record.get("uid") or "…")
        elided = option.fontMetrics.elidedText(
            name.rsplit("/", 1)[-1], Qt.TextElideMode.ElideMiddle, text_rect.width()
        )
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, elided
        )


class ThumbnailGrid(QListView):
    """An icon-mode list over any model giving `RECORD_ROLE` dicts (uid, hash, suffix, key).
    Signals: `drag_requested()` when items are dragged (the window makes their files)."""

    drag_requested = Signal()

    def __init__(
        self, cache: ThumbnailCache, parent: QWidget | None = None, name: str = "thumbnailGrid"
    ) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._cache = cache
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QListView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setItemDelegate(ThumbnailDelegate(cache, self))
        self.setSpacing(4)
        self._scan_timer = QTimer(self, singleShot=True, interval=40)
        self._scan_timer.timeout.connect(self.request_visible)
        self.verticalScrollBar().valueChanged.connect(self._schedule_scan)
        cache.ready.connect(lambda _key: self.viewport().update())

    def startDrag(self, supportedActions: Qt.DropAction) -> None:  # noqa: N802, N803
        self.drag_requested.emit()

    def setModel(self, model: QAbstractItemModel | None) -> None:  # noqa: N802
        super().setModel(model)
        if model is not None:
            model.dataChanged.connect(self._schedule_scan)
            model.modelReset.connect(self._schedule_scan)
        self._schedule_scan()

    def _schedule_scan(self, *_args: object) -> None:
        if self.isVisible() and not self._scan_timer.isActive():
            self._scan_timer.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self._schedule_scan()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._schedule_scan()

    def visible_rows(self) -> range:
        """Rows whose items intersect the viewport (contiguous in a static icon layout)."""
        model = self.model()
        first = self._first_visible()
        if model is None or not first.isValid():
            return range(0)
        height = self.viewport().height()
        row = first.row()
        end = min(model.rowCount(), row + VISIBLE_SCAN_LIMIT)
        last = row
        while last < end and self.visualRect(model.index(last, self.modelColumn())).top() < height:
            last += 1
        return range(row, last)

    def _first_visible(self) -> QModelIndex:
        # The top edge may fall into the spacing between two rows of items: probe downwards.
        step = self.spacing() + 1
        for y in range(step, self._cache.size + LABEL_HEIGHT + 2 * step, step):
            index = self.indexAt(QPoint(step, y))
            if index.isValid():
                return index
        return QModelIndex()

    def request_visible(self) -> None:
        """Ask the cache for the thumbnails of the visible items only."""
        model: QAbstractItemModel | None = self.model()  # None before setModel (stubs say never)
        if model is None:
            return
        requests = []
        for row in self.visible_rows():
            record = model.index(row, self.modelColumn()).data(RECORD_ROLE)
            if record and can_thumbnail(record):
                requests.append(ThumbRequest(record["hash"], record["uid"]))
        self._cache.want(requests)
