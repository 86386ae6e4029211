"""`lineageView`: the lineage graph drawn as items in a QGraphicsView.

Zoom with the wheel, Ctrl+0 fits, drag pans, hover shows tooltips, a click on a node asks
the window to select that record, a right click asks for its menu, a click on a node's "+"
badge expands its upstream. Labels stay readable: "Fit" never shrinks the graph below
`MIN_SCALE` (a big graph is then centred on the record shown and scrolls), and a label that
does not fit its box is elided in the middle rather than set in a tiny font.
"""

from __future__ import annotations

from typing import Any

from labshelf.app.lineage.layout import LayoutEdge, LayoutNode, LineageLayout
from PySide6.QtCore import QBuffer, QIODevice, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

ZOOM_STEP = 1.2
BADGE = 14.0
LABEL_POINTS = 9.0  # a node label's size at 100 %
MIN_LABEL_POINTS = 8.0  # labels shrink to this at most; longer lines are elided
MIN_SCALE = 0.85  # "Fit" stops here: 8 pt at 85 % is still read without a magnifier


def _color(name: str, fallback: str) -> QColor:
    color = QColor(name)
    return color if color.isValid() else QColor(fallback)


def shape_path(shape: str, rect: QRectF) -> QPainterPath:
    """The outline graphviz draws for `shape` (the ones view_lineage uses)."""
    path = QPainterPath()
    left, right, top, bottom = rect.left(), rect.right(), rect.top(), rect.bottom()
    inset = min(rect.width() * 0.15, 14.0)
    if shape in ("ellipse", "oval", "circle"):
        path.addEllipse(rect)
    elif shape == "hexagon":
        path.addPolygon(
            QPolygonF(
                [
                    QPointF(left + inset, top),
                    QPointF(right - inset, top),
                    QPointF(right, rect.center().y()),
                    QPointF(right - inset, bottom),
                    QPointF(left + inset, bottom),
                    QPointF(left, rect.center().y()),
                ]
            )
        )
        path.closeSubpath()
    elif shape == "invhouse":
        path.addPolygon(
            QPolygonF(
                [
                    QPointF(left, top),
                    QPointF(right, top),
                    QPointF(right, bottom - inset / 2),
                    QPointF(rect.center().x(), bottom),
                    QPointF(left, bottom - inset / 2),
                ]
            )
        )
        path.closeSubpath()
    elif shape == "folder":
        path.addRect(rect.adjusted(0, 5, 0, 0))
        path.addRect(QRectF(left, top, rect.width() * 0.35, 5))
    else:
        path.addRoundedRect(rect, 6, 6)
    return path


class NodeItem(QGraphicsPathItem):
    """One record: shape and colours as graphviz styled it."""

    def __init__(self, node: LayoutNode, view: LineageView) -> None:
        super().__init__()
        self.node = node
        self._view = view
        rect = QRectF(node.x - node.w / 2, node.y - node.h / 2, node.w, node.h)
        self.setPath(shape_path(node.shape, rect))
        self.setBrush(QBrush(_color(node.fill, "white")))
        self.setPen(QPen(_color(node.color, "black"), 3.0 if node.focal else 1.2))
        self.setToolTip(node.tooltip)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        self._label(rect)
        if node.hidden_parents:
            self._badge(rect)

    def _label(self, rect: QRectF) -> None:
        # Our fonts differ from graphviz's: shrink a little until every line fits the node's
        # box, then elide what still does not (never a font too small to read).
        lines = self.node.label.splitlines() or [""]
        font = QFont()
        font.setBold(self.node.focal)
        size, room = LABEL_POINTS, rect.width() - 8
        while True:
            font.setPointSizeF(size)
            metrics = QFontMetricsF(font)
            widest = max(metrics.horizontalAdvance(line) for line in lines)
            if size <= MIN_LABEL_POINTS or widest <= room:
                break
            size -= 0.5
        lines = [metrics.elidedText(line, Qt.TextElideMode.ElideMiddle, room) for line in lines]
        line_height = metrics.height()
        top = rect.center().y() - line_height * len(lines) / 2
        for i, line in enumerate(lines):
            text = QGraphicsSimpleTextItem(line, self)
            text.setFont(font)
            text.setPos(
                rect.center().x() - metrics.horizontalAdvance(line) / 2, top + i * line_height
            )

    def _badge(self, rect: QRectF) -> None:
        badge = _ExpandBadge(self.node.id, self._view, self)
        badge.setRect(rect.left() - BADGE / 2, rect.center().y() - BADGE / 2, BADGE, BADGE)
        badge.setToolTip(f"Show {self.node.hidden_parents} more upstream")

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.node.kind != "more":
            self._view.node_activated.emit(self.node.registry, self.node.uid)
            event.accept()
        else:
            super().mousePressEvent(event)

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:  # noqa: N802
        self._view.node_menu_requested.emit(self.node.id, event.screenPos())
        event.accept()


class _ExpandBadge(QGraphicsEllipseItem):
    def __init__(self, node_id: str, view: LineageView, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self._node_id = node_id
        self._view = view
        self.setBrush(QBrush(QColor("#2f6fde")))
        self.setPen(QPen(Qt.PenStyle.NoPen))
        plus = QGraphicsSimpleTextItem("+", self)
        plus.setBrush(QBrush(QColor("white")))
        self._plus = plus

    def setRect(self, *args: Any) -> None:  # noqa: N802 - a QRectF or x, y, w, h, as Qt takes
        super().setRect(*args)
        box = self._plus.boundingRect()
        self._plus.setPos(self.rect().center() - QPointF(box.width() / 2, box.height() / 2))

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        self._view.expand_requested.emit(self._node_id)
        event.accept()


def _edge_items(edge: LayoutEdge, pen: QPen) -> list[QGraphicsItem]:
    pts = [QPointF(x, y) for x, y in edge.points]
    if not pts:
        return []
    path = QPainterPath(pts[0])
    for i in range(1, len(pts) - 2, 3):  # graphviz splines: cubic Bézier segments
        path.cubicTo(pts[i], pts[i + 1], pts[i + 2])
    line = QGraphicsPathItem(path)
    line.setPen(pen)
    items: list[QGraphicsItem] = [line]
    if edge.tip is not None:
        items.append(_arrow(pts[-1], QPointF(*edge.tip), pen.color()))
    return items


def _arrow(base: QPointF, tip: QPointF, color: QColor) -> QGraphicsPolygonItem:
    direction = tip - base
    length = max((direction.x() ** 2 + direction.y() ** 2) ** 0.5, 1e-6)
    normal = QPointF(-direction.y() / length, direction.x() / length) * 3.5
    head = QGraphicsPolygonItem(QPolygonF([tip, base + normal, base - normal]))
    head.setBrush(QBrush(color))
    head.setPen(QPen(color))
    return head


class LineageView(QGraphicsView):
    """Draws a `LineageLayout`; emits `node_activated(registry, uid)` on click and
    `node_menu_requested(node id, global position)` on a right click."""

    node_activated = Signal(str, str)
    expand_requested = Signal(str)
    node_menu_requested = Signal(str, QPoint)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lineageView")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.nodes: dict[str, NodeItem] = {}
        self._auto_fit = True

    def set_layout(self, layout: LineageLayout) -> None:
        scene = self.scene()
        scene.clear()
        self.nodes = {}
        pen = QPen(self.palette().text().color(), 1.1)
        for edge in layout.edges:
            for item in _edge_items(edge, pen):
                scene.addItem(item)
        for node in layout.nodes:
            item = NodeItem(node, self)
            scene.addItem(item)
            self.nodes[node.id] = item
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        self.fit()

    def fit(self) -> None:
        """Show the whole graph if it fits at `MIN_SCALE` or more (never enlarged beyond
        100 %); a bigger one is shown at `MIN_SCALE`, centred on the record shown, and
        scrolls. Kept fitted on resize until the user zooms."""
        self._auto_fit = True
        self.resetTransform()
        rect = self.scene().sceneRect()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty():
            return
        scale = min(1.0, view.width() / rect.width(), view.height() / rect.height())
        if scale >= 1.0:
            self.centerOn(rect.center())
            return
        self.scale(max(scale, MIN_SCALE), max(scale, MIN_SCALE))
        focal = next((item for item in self.nodes.values() if item.node.focal), None)
        self.centerOn(
            focal.sceneBoundingRect().center() if focal and scale < MIN_SCALE else rect.center()
        )

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        factor = ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP
        self._auto_fit = False
        self.scale(factor, factor)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_0 and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.fit()
        else:
            super().keyPressEvent(event)

    def render_bytes(self, fmt: str) -> bytes:
        """The graph as SVG or PNG bytes (painting must happen here; writing can be elsewhere)."""
        rect = self.scene().sceneRect()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if fmt == "svg":
            generator = QSvgGenerator()
            generator.setOutputDevice(buffer)
            generator.setSize(QSize(int(rect.width()), int(rect.height())))
            generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
            painter = QPainter(generator)
            self.scene().render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
            painter.end()
        else:
            size = QSize(int(rect.width() * 2), int(rect.height() * 2))
            image = QImage(size, QImage.Format.Format_ARGB32)
            image.fill(Qt.GlobalColor.white)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self.scene().render(painter, QRectF(image.rect()), rect)
            painter.end()
            # the stubs say bytes, but PySide6 takes the format as str only (bytes raise ValueError)
            image.save(buffer, "PNG")  # type: ignore[call-overload]
        return bytes(buffer.data().data())
