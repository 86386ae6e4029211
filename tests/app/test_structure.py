"""The app's import graph has no circle (grimp, over the package laid out as installed, the way
`./dev.sh test` stages it for lint-imports)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Prints the app's import circles (strongly connected components of more than one module, or a
# module importing itself) as JSON. Runs in a child: there, `labshelf` is the staged package.
FIND_CIRCLES = """
import json, grimp
graph = grimp.build_graph("labshelf", include_external_packages=False)
app = sorted(m for m in graph.modules if m == "labshelf.app" or m.startswith("labshelf.app."))
inside = set(app)
edges = {m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in inside) for m in app}
index, low, on_stack, stack, circles = {}, {}, set(), [], []
for root in app:  # Tarjan's algorithm, iteratively
    if root in index:
        continue
    work = [(root, 0)]
    while work:
        node, i = work.pop()
        if i == 0:
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
        if i < len(edges[node]):
            work.append((node, i + 1))
            nxt = edges[node][i]
            if nxt not in index:
                work.append((nxt, 0))
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
            continue
        for nxt in edges[node]:
            if nxt in on_stack:
                low[node] = min(low[node], low[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1 or node in edges[node]:
                circles.append(sorted(part))
print(json.dumps({"modules": len(app), "circles": circles}))
"""


def _staged(tmp_path: Path) -> Path:
    """`build/pkg` of dev.sh's stage_package: core/ as labshelf, with app/ and resources/."""
    package = tmp_path / "pkg" / "labshelf"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "core", package, ignore=ignore)
    shutil.copytree(ROOT / "app", package / "app", ignore=ignore)
    shutil.copytree(ROOT / "resources", package / "resources", ignore=ignore)
    return package.parent


def _circles(tmp_path: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(_staged(tmp_path)))
    out = subprocess.run(
        [sys.executable, "-c", FIND_CIRCLES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_app_has_no_import_circle(tmp_path: Path) -> None:
    found = _circles(tmp_path)
    assert found["modules"] > 40  # the whole app was analysed, not an empty package
    assert found["circles"] == []


def test_a_circle_would_be_found(tmp_path: Path) -> None:
    staged = _staged(tmp_path)
    gateway = staged / "labshelf" / "app" / "gateway.py"
    gateway.write_text(gateway.read_text() + "\nfrom labshelf.app.data import rows  # noqa\n")
    env = dict(os.environ, PYTHONPATH=str(staged))
    out = subprocess.run(
        [sys.executable, "-c", FIND_CIRCLES], env=env, capture_output=True, text=True, check=True
    )
    circles = json.loads(out.stdout)["circles"]
    assert any({"labshelf.app.data.rows", "labshelf.app.gateway"} <= set(c) for c in circles)
