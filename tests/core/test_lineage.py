"""Lineage: graphs across scripts run as subprocesses, caps, cycles, rendering."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import labshelf as ls
import pytest
from labshelf import lineage, provenance

SCRIPTS = Path(__file__).resolve().parents[1] / "e2e" / "scripts"


@pytest.fixture(autouse=True)
def _no_active_run() -> Iterator[None]:
    yield
    provenance.set_current_run(None)


def run_script(name: str, *args: str) -> None:
    """Run a script of tests/e2e/scripts in a fresh interpreter on the current instance."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def svg_node_ids(path: Path) -> set[str]:
    """The node names graphviz wrote as ``<title>`` of each node group."""
    text = path.read_text()
    return set(re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]+)</title>', text))


def test_two_scripts_lineage(instance: Path, tmp_path: Path) -> None:
    run_script("write_table.py", str(tmp_path))
    run_script("derive_table.py", str(tmp_path))
    raw = ls.Artifact.get(key="iris/measurements.csv")
    summary = ls.Artifact.get(key="iris/summary.csv")
    svg = tmp_path / "lineage.svg"
    summary.view_lineage(svg)

    assert svg_node_ids(svg) == {summary.uid, summary.run.uid, raw.uid, raw.run.uid}
    text = svg.read_text()
    for t in (raw.transform, summary.transform):
        assert t.type == "script" and t.name in text
    assert {raw.transform.key, summary.transform.key} == {
        "tests/e2e/scripts/write_table.py",
        "tests/e2e/scripts/derive_table.py",
    }  # paths in the git repository, not bare file names
    assert [a.uid for a in summary.run.inputs] == [raw.uid]
    assert summary.run.params == {"by": "species"}


def _pipeline(name: str) -> ls.Run:
    t = ls.Transform(name=name, type="pipeline", version="1").save()
    return provenance.start_run(t)


def _file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _chain(tmp_path: Path) -> dict[str, object]:
    """raw (pipeline 'acquire') -> run of 'analyse' -> result; raw is in a collection."""
    acquire, analyse = _pipeline("acquire"), _pipeline("analyse")
    raw = ls.Artifact(_file(tmp_path / "in", "raw.txt", "raw"), key="raw.txt", run=acquire).save()
    provenance.set_current_run(analyse)
    raw.cache()
    result = ls.Artifact(_file(tmp_path / "in", "result.txt", "result"), key="result.txt").save()
    provenance.set_current_run(None)
    collection = ls.Collection([raw], name="raw data").save()
    return dict(acquire=acquire, analyse=analyse, raw=raw, result=result, collection=collection)


def test_upstream_and_downstream(instance: Path, tmp_path: Path) -> None:
    c = _chain(tmp_path)
    up = lineage.build(c["result"])
    assert set(up.nodes) == {c["result"].uid, c["analyse"].uid, c["raw"].uid, c["acquire"].uid}
    assert set(up.edges) == {
        (c["analyse"].uid, c["result"].uid),
        (c["raw"].uid, c["analyse"].uid),
        (c["acquire"].uid, c["raw"].uid),
    }
    assert up.nodes[c["analyse"].uid].transform_type == "pipeline"
    down = lineage.build(c["raw"], downstream=True)
    assert {c["collection"].uid, c["analyse"].uid, c["result"].uid} <= set(down.nodes)
    assert (c["raw"].uid, c["collection"].uid) in down.edges
    members = lineage.build(c["collection"])
    assert set(members.nodes) == {c["collection"].uid, c["raw"].uid, c["acquire"].uid}


def test_cycles_end(instance: Path, tmp_path: Path) -> None:
    c = _chain(tmp_path)
    provenance.set_current_run(c["acquire"])  # acquire "reads" what analyse made: a cycle
    c["result"].cache()
    provenance.set_current_run(None)
    graph = lineage.build(c["result"], downstream=True)
    records = ("result", "analyse", "raw", "acquire", "collection")
    assert set(graph.nodes) == {c[k].uid for k in records}
    assert (c["result"].uid, c["acquire"].uid) in graph.edges


def test_fan_in_is_capped(instance: Path, tmp_path: Path) -> None:
    files = [_file(tmp_path / "many", f"{i}.txt", f"file {i}") for i in range(30)]
    artifacts = ls.save([ls.Artifact(f) for f in files])
    collection = ls.Collection(artifacts, name="many").save()
    graph = lineage.build(collection, max_links=10)
    more = [n for n in graph.nodes.values() if n.kind == "more"]
    assert len(graph.nodes) == 12 and [m.label for m in more] == ["+20 more"]
    small = lineage.build(collection, max_nodes=5)
    assert [n.label for n in small.nodes.values() if n.kind == "more"] == ["+26 more"]


def test_rendering(sqlite_instance: Path, tmp_path: Path) -> None:
    c = _chain(tmp_path)
    graph = c["result"].view_lineage(tmp_path / "g.svg")
    assert svg_node_ids(tmp_path / "g.svg") == {n.get_name() for n in graph.nodes()}
    focal = graph.get_node(c["result"].uid)
    assert focal.attr["focal"] == "true" and focal.attr["kind"] == "artifact"
    run = graph.get_node(c["analyse"].uid)
    assert (run.attr["registry"], run.attr["transform_type"], run.attr["shape"]) == (
        "Run",
        "pipeline",
        lineage.RUN_STYLES["pipeline"]["shape"],
    )
    c["result"].view_lineage(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("strict digraph")
    c["result"].view_lineage(tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ls.InvalidArgument, match="ending in"):
        c["result"].view_lineage(tmp_path / "g.txt")
    with pytest.raises(ls.InvalidArgument, match="for a transform"):
        lineage.build(c["analyse"].transform)
