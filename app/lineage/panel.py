"""The lineage tab: fetches the graph and its layout on a worker, draws it in `lineageView`."""

from __future__ import annotations

from pathlib import Path

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.lineage.layout import DEFAULT_DEPTH, LineageLayout, layout
from labshelf.app.lineage.view import LineageView
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


class LineagePanel(QWidget):
    """Lineage of one record; a click on a node emits `node_activated(registry, uid)`."""

    laid_out = Signal()
    # the depth spin box shadows QPaintDevice.depth(), which nothing here calls
    depth: QSpinBox  # type: ignore[assignment]

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._generation = 0
        self._dot = ""
        self._focal = ""
        self._expanded: frozenset[str] = frozenset()
        self.view = LineageView()
        self.node_activated = self.view.node_activated
        self.view.expand_requested.connect(self.expand)
        self.status = QLabel()
        self.status.setProperty("muted", True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        fit = QPushButton("Fit (Ctrl+0)")
        fit.clicked.connect(self.view.fit)
        export = named(QPushButton("Export…"), "exportLineage")
        export.clicked.connect(self._export_dialog)
        self.depth = named(QSpinBox(minimum=1, maximum=50, value=DEFAULT_DEPTH), "lineageDepth")
        self.depth.setPrefix("upstream hops: ")
        self.depth.valueChanged.connect(lambda _v: self._relayout())
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.depth)
        bar.addWidget(fit)
        bar.addWidget(export)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.view, 1)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)  # the bar may be too narrow for all of it

    def clear(self) -> None:
        self._generation += 1
        self._dot = ""
        self.view.set_layout(LineageLayout())
        self._say("No lineage for this record.")

    def show_record(self, registry: str, uid: str) -> None:
        self._generation += 1
        gen = self._generation
        self._expanded = frozenset()
        self._say("Laying out the lineage…")

        depth = self.depth.value()

        def work(ctx: TaskContext) -> tuple[str, str, LineageLayout]:
            dot, focal = gateway.lineage_dot(registry, uid)
            return dot, focal, layout(dot, focal, depth)

        self._runner.submit(
            work,
            done=lambda r: self._on_layout(gen, *r),
            error=lambda msg, _d: self._on_error(gen, msg),
            name="lineage",
        )

    def expand(self, node_id: str) -> None:
        """Show the upstream of `node_id` too (re-laid out on a worker)."""
        self._expanded = self._expanded | {node_id}
        self._relayout()

    def _relayout(self) -> None:
        if not self._dot:
            return
        self._generation += 1
        gen, dot, focal, expanded = self._generation, self._dot, self._focal, self._expanded
        depth = self.depth.value()
        self._runner.submit(
            lambda ctx: (dot, focal, layout(dot, focal, depth, expanded)),
            done=lambda r: self._on_layout(gen, *r),
            error=lambda msg, _d: self._on_error(gen, msg),
            name="lineage",
        )

    def _on_error(self, gen: int, message: str) -> None:
        if gen == self._generation:
            self.view.set_layout(LineageLayout())
            self._say(f"The lineage cannot be shown: {message}")

    def _on_layout(self, gen: int, dot: str, focal: str, result: LineageLayout) -> None:
        if gen != self._generation:
            return
        self._dot, self._focal = dot, focal
        self.view.set_layout(result)
        hidden = sum(n.hidden_parents for n in result.nodes)
        more = f" · {hidden} upstream hidden (click +)" if hidden else ""
        self._say(f"{len(result.nodes)} nodes{more}")
        self.laid_out.emit()

    def export(self, path: str) -> None:
        """Write the drawn graph to `path` (.svg or .png) on a worker."""
        data = self.view.render_bytes("svg" if path.lower().endswith(".svg") else "png")
        self._runner.submit(lambda ctx: Path(path).write_bytes(data), name="export lineage")

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export lineage", "lineage.svg", "SVG (*.svg);;PNG (*.png)"
        )
        if path:
            self.export(path)
