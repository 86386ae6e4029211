"""The structure holds: no import circle in core, and the package installs under one name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Build the import graph of the package as installed (core/ with app/ inside) and report its
# strongly connected components with more than one module (import circles), per part.
GRAPH = """
import json, sys
import grimp

graph = grimp.build_graph("labshelf", exclude_type_checking_imports=True)
modules = sorted(m for m in graph.modules if m.startswith("labshelf"))
index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in graph.find_modules_directly_imported_by(v):
        if not w.startswith("labshelf"):
            continue
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(sorted(comp))

sys.setrecursionlimit(10000)
for m in modules:
    if m not in index:
        visit(m)
print(json.dumps(cycles))
"""


def _staged(tmp_path: Path) -> Path:
    """The package laid out as the wheel installs it (see dev.sh's stage_package)."""
    ignore = shutil.ignore_patterns("__pycache__")
    package = tmp_path / "labshelf"
    shutil.copytree(ROOT / "core", package, ignore=ignore)
    shutil.copytree(ROOT / "app", package / "app", ignore=ignore)
    shutil.copytree(ROOT / "resources", package / "resources", ignore=ignore)
    return tmp_path


def _cycles(tmp_path: Path) -> list[list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", GRAPH],
        env={"PYTHONPATH": str(_staged(tmp_path)), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_core_has_no_import_circle(tmp_path: Path) -> None:
    core = [c for c in _cycles(tmp_path) if not any(m.startswith("labshelf.app") for m in c)]
    assert core == [], f"import circles in core: {core}"


def test_core_and_app_refuse_a_second_name(tmp_path: Path) -> None:
    """``core`` and ``app`` (the repository folders) cannot be imported under those names."""
    for name in ("core", "app"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0
        assert "import it as `labshelf" in result.stderr, result.stderr


@pytest.mark.parametrize("module", ["labshelf", "labshelf.app", "labshelf.resources"])
def test_one_namespace(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.__name__)"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr


def test_the_qt_ban_lists_every_core_module() -> None:
    """import-linter's "core never imports Qt" contract names core's modules one by one (it has
    no way to say "all of labshelf but labshelf.app"): a new module must be added there."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    qt = next(c for c in contracts["contracts"] if c["name"] == "core never imports Qt")
    core = ROOT / "core"
    modules = {
        f"labshelf.{p.stem if p.is_file() else p.name}"
        for p in core.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert modules - set(qt["source_modules"]) == set()


def test_the_wheel_lists_every_package() -> None:
    """pyproject.toml lists the packages one by one (the folders map to one namespace): a new
    room or core subpackage missing there would be missing from the wheel and the bundle."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for folder, name in (
        ("core", "labshelf"),
        ("app", "labshelf.app"),
        ("resources", "labshelf.resources"),
    ):
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join((name, *rel.parts)) if rel.parts else name)
    assert found - listed == set(), "add these to [tool.setuptools] packages"
