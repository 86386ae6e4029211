"""Lineage: graphviz layout to items, collapse/expand upstream, click-through, export."""

from __future__ import annotations

from pathlib import Path

from labshelf.app.lineage.layout import layout
from labshelf.app.lineage.panel import LineagePanel
from labshelf.app.lineage.view import LineageView
from PySide6.QtCore import Qt

# raw0 -> run1 -> mid -> run2 -> focal, with transforms feeding the runs
DOT = """digraph lineage {
  raw0 [label="raw0.csv", kind="artifact", uid="raw0", registry="Artifact", shape="box", fillcolor="lightblue", style="filled"];
  t1 [label="clean.py", kind="transform", uid="t1", registry="Transform", shape="ellipse", fillcolor="khaki", style="filled"];
  run1 [label="run of clean.py", kind="run", uid="run1", registry="Run", shape="ellipse"];
  mid [label="mid.parquet", kind="artifact", uid="mid", registry="Artifact", shape="box"];
  t2 [label="plot.ipynb", kind="transform", uid="t2", registry="Transform", shape="ellipse"];
  run2 [label="run of plot.ipynb", kind="run", uid="run2", registry="Run", shape="ellipse"];
  focal [label="figure.png", kind="artifact", uid="focal", registry="Artifact", shape="box", fillcolor="orange"];
  raw0 -> run1; t1 -> run1; run1 -> mid; mid -> run2; t2 -> run2; run2 -> focal;
}"""


def test_layout_has_positions_and_spline_edges() -> None:
    result = layout(DOT, "focal", depth=10)
    assert {n.id for n in result.nodes} == {"raw0", "t1", "run1", "mid", "t2", "run2", "focal"}
    focal = next(n for n in result.nodes if n.id == "focal")
    raw = next(n for n in result.nodes if n.id == "raw0")
    assert focal.focal and focal.fill == "orange" and focal.registry == "Artifact"
    assert raw.y < focal.y  # upstream drawn above (y grows downwards)
    assert all(len(e.points) >= 4 and e.tip is not None for e in result.edges)


def test_upstream_beyond_depth_is_collapsed_then_expanded() -> None:
    collapsed = layout(DOT, "focal", depth=2)
    assert {n.id for n in collapsed.nodes} == {"focal", "run2", "mid", "t2"}
    mid = next(n for n in collapsed.nodes if n.id == "mid")
    assert mid.hidden_parents == 1
    expanded = layout(DOT, "focal", depth=2, expanded=frozenset({"mid"}))
    assert {"run1"} <= {n.id for n in expanded.nodes}


def test_view_click_selects_and_badge_expands(qtbot) -> None:
    view = LineageView()
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    view.set_layout(layout(DOT, "focal", depth=2))
    item = view.nodes["mid"]
    assert item.toolTip() == "mid.parquet"
    point = view.mapFromScene(item.sceneBoundingRect().center())
    with qtbot.waitSignal(view.node_activated) as clicked:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert clicked.args == ["Artifact", "mid"]
    badge = item.childItems()[-1]
    with qtbot.waitSignal(view.expand_requested) as expand:
        qtbot.mouseClick(
            view.viewport(),
            Qt.MouseButton.LeftButton,
            pos=view.mapFromScene(badge.sceneBoundingRect().center()),
        )
    assert expand.args == ["mid"]


def test_zoom_and_fit(qtbot) -> None:
    view = LineageView()
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    view.set_layout(layout(DOT, "focal", depth=10))
    fitted = view.transform().m11()
    view.scale(2, 2)
    qtbot.keyClick(view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert abs(view.transform().m11() - fitted) < 1e-6


def test_panel_expand_and_export(qtbot, runner, tmp_path: Path, monkeypatch) -> None:
    from labshelf.app import gateway

    monkeypatch.setattr(gateway, "lineage_dot", lambda registry, uid: (DOT, "focal"))
    panel = LineagePanel(runner)
    qtbot.addWidget(panel)
    panel.depth.setValue(2)
    with qtbot.waitSignal(panel.laid_out, timeout=10000):
        panel.show_record("Artifact", "focal")
    shown = set(panel.view.nodes)
    with qtbot.waitSignal(panel.laid_out, timeout=10000):
        panel.expand("mid")
    assert set(panel.view.nodes) > shown
    for name in ("graph.svg", "graph.png"):
        panel.export(str(tmp_path / name))
    runner.wait()
    assert (tmp_path / "graph.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "graph.png").read_bytes()[:4] == b"\x89PNG"
