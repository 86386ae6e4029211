"""`labshelf gui --smoke-test`: open the window on the current instance, lay out and render
the lineage of the newest artifact, print timings and quit (exit 0) — the bundle's check
that Qt, its plugins, Graphviz and the database all work in one process."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskContext, TaskRunner
from labshelf.app.lineage.layout import LineageLayout, layout
from labshelf.app.lineage.view import LineageView
from labshelf.app.preview.content import load_preview
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

TIMEOUT_MS = 90_000


def process_age() -> float:
    """Seconds since this process started (Linux /proc; wall clock since import elsewhere)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _T0


_T0 = time.perf_counter()


def say(text: str) -> None:
    print(f"smoke: {text}", flush=True)


def _newest_lineage(ctx: TaskContext) -> tuple[str, LineageLayout]:
    uid = gateway.newest_artifact_uid()
    if uid is None:
        raise RuntimeError("the instance has no artifact to draw the lineage of")
    dot, focal = gateway.lineage_dot("Artifact", uid)
    return uid, layout(dot, focal)


def outside_files() -> list[str]:
    """In a bundle: Python modules and shared libraries this process loaded from anywhere but
    the bundle and the system (a dependency on the source tree or a virtualenv)."""
    if not getattr(sys, "frozen", False):
        return []
    bundle = os.path.dirname(sys.executable) + os.sep
    system = (
        "/usr/",
        "/lib",
        "/etc/",
        "/proc/",
        "/dev/",
        "/sys/",
        "/run/",
        "/var/",
        "/tmp/",
        "/memfd:",
        "/SYSV",
    )
    paths = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
    try:
        with open("/proc/self/maps") as f:
            paths |= {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
    except OSError:
        pass
    return sorted(
        p
        for p in paths
        if p.startswith("/")
        and not p.startswith((bundle, *system))
        and not p.startswith("[")
        and "(deleted)" not in p
    )


# Imported lazily (inside functions, or by fsspec from a URL scheme): a bundle that misses one
# only fails when a user first needs it, so the smoke test imports them all.
LAZY_MODULES = (
    "pandas",
    "pyarrow.parquet",
    "PIL.Image",
    "PIL.TiffImagePlugin",
    "s3fs",
    "gcsfs",
    "psycopg",
    "upath",
    "pygraphviz",
    "alembic.command",
    "sqlalchemy.dialects.postgresql",
)


def check_lazy_imports(ctx: TaskContext) -> str:
    """Import every lazily used module and preview a parquet table; a one-line summary."""
    for name in LAZY_MODULES:
        importlib.import_module(name)
    import pandas as pd  # deferred: heavy, and what this check is about

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.parquet"
        pd.DataFrame({"well": ["A1", "A2"], "od": [0.1, 0.2]}).to_parquet(path)
        preview = load_preview(path)
    if preview.kind != "table":
        raise RuntimeError(f"a parquet file previews as {preview.kind}, not as a table")
    return f"{len(LAZY_MODULES)} lazy modules import; parquet preview: {preview.kind}"


class SmokeTest:
    """Drives the window through the check; `app.exit(code)` at the end."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.started = time.perf_counter()
        QTimer.singleShot(0, self._shown)
        QTimer.singleShot(TIMEOUT_MS, lambda: self._fail("timed out"))

    def _shown(self) -> None:
        say(
            f"first window '{self.window.objectName()}' after {process_age():.2f} s "
            f"(platform {QApplication.platformName()})"
        )
        runner = getattr(self.window, "runner", None)
        if runner is None:  # the welcome view: no instance, so no lineage to draw
            say("no instance configured: the welcome view is showing")
            self._finish()
            return
        runner.submit(
            check_lazy_imports,
            done=lambda text: self._lineage(runner, text),
            error=lambda msg, details: self._fail(f"{msg}\n{details}"),
            name="smoke",
        )

    def _lineage(self, runner: TaskRunner, imports: str) -> None:
        say(imports)
        self.t_lineage = time.perf_counter()
        runner.submit(
            _newest_lineage,
            done=self._render,
            error=lambda msg, details: self._fail(f"{msg}\n{details}"),
            name="smoke",
        )

    def _render(self, result: tuple[str, LineageLayout]) -> None:
        uid, lay = result
        view = self.window.findChild(LineageView, "lineageView")
        if view is None:
            self._fail("the window has no lineageView")
            return
        self.window.select_record("Artifact", uid)  # type: ignore[attr-defined]
        view.set_layout(lay)
        png = view.render_bytes("png")
        say(
            f"lineage of {uid}: {len(lay.nodes)} nodes, {len(lay.edges)} edges, "
            f"{len(png)} bytes of PNG in {time.perf_counter() - self.t_lineage:.2f} s"
        )
        if not lay.nodes or not png.startswith(b"\x89PNG"):
            self._fail("the lineage graph is empty")
            return
        self._finish()

    def _finish(self) -> None:
        self.window.close()
        for path in outside_files():
            say(f"loaded from outside the bundle: {path}")
        say(f"closed cleanly after {process_age():.2f} s")
        QApplication.exit(0)

    def _fail(self, why: str) -> None:
        print(f"smoke: FAILED: {why}", file=sys.stderr, flush=True)
        self.window.close()  # stops the window's workers before the event loop ends
        QApplication.exit(1)
