"""Does the "Watched folders" panel keep the UI thread free while a watch registers a burst?

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_watch_panel.py \
        [--files 500] [--rate 100] [--settle 0.5]

A watch started through `WatchManager` (as the app does) on a temporary folder of a temporary
SQLite instance; a writer thread writes `--files` files at `--rate` files/s, each in two chunks.
Prints how long after the last file was complete the panel's row counted them all, how often
the panel was told to repaint (`rows_changed`), and the UI thread's longest stall (the largest
gap between ticks of a 10 ms timer, minus 10 ms) while the watch worked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["LABSHELF_QUIET"] = "1"


def writer(folder: Path, files: int, rate: float, done: list[float]) -> None:
    """`files` files at `rate` a second, each written in place in two chunks (as most
    instruments do); `done` gets the time the last one was closed."""
    start = time.monotonic()
    for i in range(files):
        with open(folder / f"img_{i:05d}.tif", "wb") as out:
            out.write(f"{i}:".encode().ljust(8192, b"a"))
            out.flush()
            out.write(b"b" * 8192)
        wait = start + (i + 1) / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    done.append(time.monotonic())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--settle", type=float, default=0.5)
    args, _ = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="labshelf-bench-watch-panel-") as tmp_text:
        tmp = Path(tmp_text)
        for name in ("CONFIG", "DATA", "CACHE"):
            (tmp / name.lower()).mkdir()
            os.environ[f"LABSHELF_{name}_DIR"] = str(tmp / name.lower())
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QApplication

        app = QApplication(sys.argv)
        import labshelf as ls
        from labshelf.app.base.tasks import TaskRunner
        from labshelf.app.watching.manager import WatchManager
        from labshelf.app.watching.panel import WatchPanel
        from labshelf.app.watching.watches import WatchSpec

        ls.init(str(tmp / "store"), name="bench")
        inbox = tmp / "inbox"
        inbox.mkdir()
        runner = TaskRunner(max_threads=2)
        manager = WatchManager(
            runner, lambda: QSettings(str(tmp / "desktop.ini"), QSettings.Format.IniFormat)
        )
        panel = WatchPanel(manager)
        panel.show()
        repaints = [0]
        manager.rows_changed.connect(lambda: repaints.__setitem__(0, repaints[0] + 1))
        spec = WatchSpec(folder=str(inbox), instrument="bench scope", settle=args.settle)
        manager.start(spec, error=lambda m: print("start failed:", m, file=sys.stderr))
        deadline = time.monotonic() + 30
        while not manager.rows and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        (row,) = manager.rows
        gaps: list[float] = []
        last = [time.monotonic()]

        def tick() -> None:
            now = time.monotonic()
            gaps.append(now - last[0] - 0.010)
            last[0] = now

        timer = QTimer(interval=10)
        timer.timeout.connect(tick)
        timer.start()
        written: list[float] = []
        thread = threading.Thread(target=writer, args=(inbox, args.files, args.rate, written))
        started = time.monotonic()
        thread.start()
        limit = started + args.files / args.rate + 120
        while row.registered < args.files and time.monotonic() < limit:
            app.processEvents()
            time.sleep(0.002)
        counted = time.monotonic()
        timer.stop()
        thread.join()
        manager.close(30)
        ok = row.registered == args.files and row.failed == 0
        print(
            f"{args.files} files at {args.rate:g}/s, settle {args.settle:g} s: "
            f"{row.registered} registered, {row.skipped} skipped, {row.failed} failed"
        )
        if written:
            print(f"all counted in the panel {counted - written[0]:.2f} s after the last file")
        print(
            f"rows_changed {repaints[0]} times in {counted - started:.1f} s; UI thread stall: "
            f"max {max(gaps) * 1000:.0f} ms, median {statistics.median(gaps) * 1000:.1f} ms "
            f"over {len(gaps)} ticks"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
