"""Lineage graphs: which runs (of which transforms) made a record from which inputs.

The graph is walked breadth-first from a focal artifact, collection or run:
upstream, a record's parents are the run that created it (and, for a
collection, its members); a run's parents are the artifacts and collections it
read. Downstream is the mirror image. A visited set makes the walk end on any
data, cyclic or not; a node cap and a per-node fan cap keep huge graphs
readable, with a "+N more" node standing for what was left out.

``view_lineage`` renders it with pygraphviz (imported on first use).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .errors import InvalidArgument, StorageError
from .registry import BY_NAME
from .runtime import native_stderr_filtered
from .schema import PENDING, TRASH, collection_artifacts, run_input_artifacts, run_input_collections
from .session import read

if TYPE_CHECKING:
    from pygraphviz import AGraph

CA, RIA, RIC = collection_artifacts.c, run_input_artifacts.c, run_input_collections.c


def _models() -> tuple[Any, Any, Any]:
    """The Artifact, Collection and Run classes (looked up: they are defined above this
    module, and their ``view_lineage`` comes from here)."""
    return BY_NAME["Artifact"].model, BY_NAME["Collection"].model, BY_NAME["Run"].model


class HasLineage:
    """``view_lineage()`` for artifacts, collections and runs."""

    def view_lineage(self, path: str | Path | None = None, **kwargs: Any) -> AGraph:
        """The lineage graph of this record; written as SVG, PNG, PDF or DOT by ``path``'s
        suffix; shown inline (SVG) in Jupyter."""
        return view_lineage(self, path, **kwargs)


MAX_NODES = 100
MAX_LINKS = 25
WRITERS = (".svg", ".png", ".pdf", ".dot", ".gv")

NODE_STYLES: dict[str, dict[str, str]] = {
    "artifact": dict(shape="box", style="rounded,filled", fillcolor="#e8f0fe", color="#3b6fb6"),
    "collection": dict(shape="folder", style="filled", fillcolor="#f1e8fd", color="#7748b8"),
    "more": dict(
        shape="box", style="dashed", fillcolor="white", color="#999999", fontcolor="#555555"
    ),
}
RUN_STYLES: dict[str, dict[str, str]] = {
    "script": dict(shape="ellipse", fillcolor="#fff4e0", color="#c77700"),
    "notebook": dict(shape="ellipse", fillcolor="#e6f6ea", color="#2e8b57"),
    "pipeline": dict(shape="hexagon", fillcolor="#fde8e8", color="#b83b3b"),
    "upload": dict(shape="invhouse", fillcolor="#eeeeee", color="#666666"),
    "function": dict(shape="ellipse", fillcolor="#fffbd6", color="#9c8a00"),
}
FOCAL_STYLE = dict(penwidth="3", color="#d62728", fontname="Helvetica-Bold")


@dataclass
class Node:
    """One box of the graph: a record (or a "+N more" stand-in) and how it reads."""

    id: str
    kind: str
    registry: str
    uid: str
    label: str
    tooltip: str
    transform_type: str = ""
    in_trash: bool = False


@dataclass
class Lineage:
    """Nodes by id, edges (parent id, child id) in discovery order, the focal node's id."""

    focal: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str], None] = field(default_factory=dict)  # ordered set


# ---------------------------------------------------------------- records as nodes


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("\n", " ")


def node_of(rec: Any) -> Node:
    """The graph node of an artifact, collection or run."""
    Artifact, Collection, _ = _models()  # noqa: N806 - classes
    trash = getattr(rec, "visibility", 1) == TRASH
    note = " (in trash)" if trash else ""
    if isinstance(rec, Artifact):
        title = rec.key or rec.description or rec.uid
        kind = f"folder of {rec.n_objects} files" if rec.n_objects else (rec.suffix or "file")
        label = f"{_escape(title)}\\n{kind} · v{rec.version}{note}"
        tip = f"Artifact {rec.uid}: {rec.description or rec.key or ''}{note}"
        return Node(rec.uid, "artifact", "Artifact", rec.uid, label, tip, in_trash=trash)
    if isinstance(rec, Collection):
        label = f"{_escape(rec.name)}\\ncollection · v{rec.version}{note}"
        tip = f"Collection {rec.uid}: {rec.description or rec.name}{note}"
        return Node(rec.uid, "collection", "Collection", rec.uid, label, tip, in_trash=trash)
    t = rec.transform
    started = f"{rec.started_at:%Y-%m-%d %H:%M}" if rec.started_at else ""
    label = f"{_escape(t.name)}\\n{t.type} v{t.version} · run {started}"
    tip = f"Run {rec.uid} of transform {t.uid} ({t.type} '{t.name}', version {t.version})"
    return Node(rec.uid, "run", "Run", rec.uid, label, tip, transform_type=t.type)


# ---------------------------------------------------------------- neighbours


def _limited(s: Session, stmt: Any, limit: int) -> tuple[list[Any], int]:
    """At most ``limit`` rows of ``stmt`` and how many there are in all."""
    rows = list(s.scalars(stmt.limit(limit)))
    if len(rows) < limit:
        return rows, len(rows)
    total = s.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return rows, total.scalar_one()


def _upstream(s: Session, rec: Any, limit: int) -> tuple[list[Any], int]:
    Artifact, Collection, Run = _models()  # noqa: N806 - classes

    if isinstance(rec, Run):
        colls = list(
            s.scalars(
                select(Collection)
                .join(run_input_collections, RIC.collection_id == Collection.id)
                .where(RIC.run_id == rec.id)
                .order_by(Collection.id)
            )
        )
        arts, total = _limited(
            s,
            select(Artifact)
            .join(run_input_artifacts, RIA.artifact_id == Artifact.id)
            .where(RIA.run_id == rec.id, Artifact.visibility != PENDING)
            .order_by(Artifact.id),
            limit,
        )
        return colls + arts, len(colls) + total
    run = [s.get(Run, rec.run_id)] if rec.run_id is not None else []
    if isinstance(rec, Artifact):
        return run, len(run)
    members, total = _limited(
        s,
        select(Artifact)
        .join(collection_artifacts, CA.artifact_id == Artifact.id)
        .where(CA.collection_id == rec.id)
        .order_by(CA.position),
        limit,
    )
    return run + members, len(run) + total


def _downstream(s: Session, rec: Any, limit: int) -> tuple[list[Any], int]:
    Artifact, Collection, Run = _models()  # noqa: N806 - classes

    if isinstance(rec, Run):
        colls = list(
            s.scalars(select(Collection).where(Collection.run_id == rec.id).order_by(Collection.id))
        )
        arts, total = _limited(
            s,
            select(Artifact)
            .where(Artifact.run_id == rec.id, Artifact.visibility != PENDING)
            .order_by(Artifact.id),
            limit,
        )
        return colls + arts, len(colls) + total
    if isinstance(rec, Collection):
        return _limited(
            s,
            select(Run)
            .join(run_input_collections, RIC.run_id == Run.id)
            .where(RIC.collection_id == rec.id)
            .order_by(Run.id),
            limit,
        )
    colls = list(
        s.scalars(
            select(Collection)
            .join(collection_artifacts, CA.collection_id == Collection.id)
            .where(CA.artifact_id == rec.id)
            .order_by(Collection.id)
        )
    )
    runs, total = _limited(
        s,
        select(Run)
        .join(run_input_artifacts, RIA.run_id == Run.id)
        .where(RIA.artifact_id == rec.id)
        .order_by(Run.id),
        limit,
    )
    return colls + runs, len(colls) + total


# ---------------------------------------------------------------- the walk


Step = Callable[["Session", Any, int], tuple[list[Any], int]]


def _walk(
    s: Session,
    graph: Lineage,
    start: Any,
    step: Step,
    upstream: bool,
    max_nodes: int,
    max_links: int,
) -> None:
    """Breadth-first from ``start``; every record is expanded at most once."""
    queue, expanded = deque([start]), {start.uid}
    while queue:
        rec = queue.popleft()
        linked, total = step(s, rec, max_links + 1)
        room = max(0, min(max_links, max_nodes - len(graph.nodes)))
        shown = 0
        for other in linked:
            if other.uid not in graph.nodes:
                if shown >= room:
                    continue
                graph.nodes[other.uid] = node_of(other)
                shown += 1
            _link(graph, other.uid, rec.uid, upstream)
            if other.uid not in expanded:
                expanded.add(other.uid)
                queue.append(other)
        hidden = total - len([o for o in linked if o.uid in graph.nodes])
        if hidden > 0:
            _add_more(graph, rec.uid, hidden, upstream)


def _link(graph: Lineage, other: str, here: str, upstream: bool) -> None:
    edge = (other, here) if upstream else (here, other)
    graph.edges.setdefault(edge, None)


def _add_more(graph: Lineage, here: str, hidden: int, upstream: bool) -> None:
    more_id = f"more-{'up' if upstream else 'down'}-{here}"
    direction = "upstream" if upstream else "downstream"
    graph.nodes[more_id] = Node(
        more_id,
        "more",
        "",
        "",
        f"+{hidden} more",
        f"{hidden} more {direction} records are not shown",
    )
    _link(graph, more_id, here, upstream)


def build(
    record: Any, *, downstream: bool = False, max_nodes: int = MAX_NODES, max_links: int = MAX_LINKS
) -> Lineage:
    """The lineage of a saved artifact, collection or run (upstream, optionally downstream)."""
    Artifact, Collection, Run = _models()  # noqa: N806 - classes
    if not isinstance(record, Artifact | Collection | Run):
        raise InvalidArgument(
            f"Lineage is drawn for artifacts, collections and runs, not {type(record).__name__}; "
            "for a transform, view the lineage of one of its runs (transform.latest_run)."
        )
    if record.id is None:
        raise InvalidArgument(f"The {type(record).__name__.lower()} {record.uid} is not saved yet.")

    def walk(s: Session) -> Lineage:
        start = s.get(type(record), record.id)
        assert start is not None  # saved (checked above)
        graph = Lineage(focal=start.uid, nodes={start.uid: node_of(start)})
        _walk(s, graph, start, _upstream, True, max_nodes, max_links)
        if downstream:
            _walk(s, graph, start, _downstream, False, 2 * max_nodes, max_links)
        return graph

    return read(walk, what=f"reading the lineage of {record.uid}")


# ---------------------------------------------------------------- rendering


def to_agraph(lineage: Lineage) -> AGraph:
    """A pygraphviz graph of ``lineage``, styled by node kind, transform type and focus."""
    import pygraphviz  # deferred: graphviz loads only when a graph is drawn

    graph = pygraphviz.AGraph(directed=True, strict=True, name="lineage")
    graph.graph_attr.update(rankdir="TB", nodesep="0.3", ranksep="0.45", bgcolor="white")
    graph.node_attr.update(fontname="Helvetica", fontsize="10", style="filled", margin="0.12,0.06")
    graph.edge_attr.update(color="#888888", arrowsize="0.7")
    for node in lineage.nodes.values():
        graph.add_node(node.id, **_attributes(node, node.id == lineage.focal))
    for src, dst in lineage.edges:
        graph.add_edge(src, dst)
    return graph


def _attributes(node: Node, focal: bool) -> dict[str, str]:
    style = dict(NODE_STYLES.get(node.kind) or RUN_STYLES.get(node.transform_type, {}))
    if node.kind == "run":
        style["style"] = "filled"
    if node.in_trash:
        style["style"] = style.get("style", "filled") + ",dashed"
    if focal:
        style.update(FOCAL_STYLE, focal="true")
    attrs = dict(
        label=node.label,
        tooltip=node.tooltip,
        kind=node.kind,
        registry=node.registry,
        uid=node.uid,
        **style,
    )
    if node.transform_type:
        attrs["transform_type"] = node.transform_type
    return attrs


def view_lineage(
    record: Any,
    path: str | Path | None = None,
    *,
    downstream: bool = False,
    max_nodes: int = MAX_NODES,
    max_links: int = MAX_LINKS,
) -> AGraph:
    """The lineage graph of ``record``; written as SVG, PNG, PDF or DOT by ``path``'s suffix."""
    if path is not None and Path(path).suffix.lower() not in WRITERS:
        raise InvalidArgument(
            f"Cannot write a lineage graph to {path}: use a path ending in {', '.join(WRITERS)}."
        )
    graph = to_agraph(
        build(record, downstream=downstream, max_nodes=max_nodes, max_links=max_links)
    )
    with native_stderr_filtered():  # the first layout loads fonts: no fontconfig chatter
        graph.layout(prog="dot")  # laid out: Jupyter shows the returned graph inline as SVG
        if path is not None:
            write(graph, Path(path))
    return graph


def write(graph: AGraph, path: Path) -> None:
    """Write ``graph`` by the path's suffix (DOT text, or drawn with ``dot``)."""
    suffix = path.suffix.lower()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".dot", ".gv"):
            graph.write(str(path))
        else:
            graph.draw(str(path), format=suffix[1:], prog="dot")
    except OSError as exc:
        raise StorageError(f"Cannot write the lineage graph to {path}: {exc}") from exc
