"""Lineage graphs laid out by graphviz into plain node and edge geometry (worker side).

Input is the DOT text of the graph `view_lineage` builds (pygraphviz `AGraph`); output is a
`LineageLayout` of positions in scene coordinates (y down), styles copied from the graph so
the app draws what `view_lineage` writes. Upstream nodes beyond `depth` hops from the focal
node are collapsed unless expanded on demand. No Qt here: it runs on workers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

POINTS_PER_INCH = 72.0
DEFAULT_DEPTH = 4
# The view draws labels in the desktop's sans font at 9 pt, which is taller and wider than
# graphviz's 10 pt Helvetica estimate: boxes are laid out for this size so labels fit.
LAYOUT_FONT_SIZE = "13"


@dataclass
class LayoutNode:
    """A node's geometry (centre, size), style and the record it stands for."""

    id: str
    label: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    uid: str
    registry: str
    shape: str = "box"
    fill: str = "white"
    color: str = "black"
    tooltip: str = ""
    focal: bool = False
    hidden_parents: int = 0


@dataclass
class LayoutEdge:
    """An edge as a cubic B-spline (graphviz points) with its arrow tip."""

    src: str
    dst: str
    points: list[tuple[float, float]]
    tip: tuple[float, float] | None = None


@dataclass
class LineageLayout:
    """Nodes and edges placed by graphviz, and the drawing's size (points)."""

    nodes: list[LayoutNode] = field(default_factory=list)
    edges: list[LayoutEdge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def visible_nodes(graph: Any, focal: str, depth: int, expanded: set[str]) -> set[str]:
    """Nodes shown: all but the upstream ones beyond `depth` hops not reached by expansion."""
    upstream = _ancestors(graph, focal)
    shown = {n for n in graph.nodes() if n not in upstream}
    queue: deque[tuple[str, int]] = deque([(focal, 0)])
    while queue:
        node, dist = queue.popleft()
        if dist >= depth and node not in expanded:
            continue
        for parent in graph.predecessors(node):
            if parent not in shown:
                shown.add(parent)
                queue.append((parent, dist + 1))
    return shown


def _ancestors(graph: Any, node: str) -> set[str]:
    seen: set[str] = set()
    stack = [node]
    while stack:
        for parent in graph.predecessors(stack.pop()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def layout(
    dot: str, focal: str, depth: int = DEFAULT_DEPTH, expanded: frozenset[str] = frozenset()
) -> LineageLayout:
    """Prune, lay out with `dot` and convert to scene coordinates."""
    import pygraphviz  # deferred: Graphviz loads on the worker that lays out the first graph

    graph = pygraphviz.AGraph(string=dot)
    shown = visible_nodes(graph, focal, depth, set(expanded))
    graph.delete_nodes_from([n for n in graph.nodes() if n not in shown])
    graph.node_attr["fontsize"] = LAYOUT_FONT_SIZE
    for node in graph.nodes():
        if node.attr.get("fontsize"):
            node.attr["fontsize"] = LAYOUT_FONT_SIZE
    graph.layout(prog="dot")
    _, _, width, height = _bbox(graph)
    result = LineageLayout(width=width, height=height)
    full = pygraphviz.AGraph(string=dot)
    for node in graph.nodes():
        hidden = sum(1 for p in full.predecessors(node) if p not in shown)
        result.nodes.append(_node(node, height, focal, hidden))
    for edge in graph.edges():
        result.edges.append(_edge(edge, height))
    return result


def _bbox(graph: Any) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in graph.graph_attr["bb"].split(","))
    return x0, y0, x1, y1


def _node(node: Any, height: float, focal: str, hidden: int) -> LayoutNode:
    attr = node.attr
    x, y = (float(v) for v in attr["pos"].split(","))
    label = attr.get("label") or str(node)
    return LayoutNode(
        id=str(node),
        label=label.replace("\\n", "\n"),
        kind=attr.get("kind") or "artifact",
        x=x,
        y=height - y,
        w=float(attr["width"]) * POINTS_PER_INCH,
        h=float(attr["height"]) * POINTS_PER_INCH,
        uid=attr.get("uid") or str(node),
        registry=attr.get("registry") or "Artifact",
        shape=attr.get("shape") or "box",
        fill=attr.get("fillcolor") or "white",
        color=attr.get("color") or "black",
        tooltip=attr.get("tooltip") or label,
        focal=str(node) == focal,
        hidden_parents=hidden,
    )


def _edge(edge: Any, height: float) -> LayoutEdge:
    points: list[tuple[float, float]] = []
    tip = None
    for part in edge.attr["pos"].split():
        coords = part.split(",")
        if coords[0] == "e":
            tip = (float(coords[1]), height - float(coords[2]))
        elif coords[0] != "s":
            points.append((float(coords[0]), height - float(coords[1])))
    return LayoutEdge(str(edge[0]), str(edge[1]), points, tip)
