"""Does the CLI's progress display slow ``ls.upload``? 2,000 small files, with and without it.

    .venv/bin/python tests/benchmarks/bench_cli_progress.py [--files 2000] [--rounds 3]

Each round uploads fresh content twice (so nothing is a duplicate): once with
``on_progress=None`` and once with the ``labshelf save`` progress bar drawing to a
pseudo-terminal (drained by a thread, as a terminal would), in alternating order. Prints the
seconds of each and the median overhead, and the time spent inside the progress callback
itself (robust on a busy machine, where whole-upload times vary by more than the overhead);
local storage, a temporary SQLite instance.
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["LABSHELF_QUIET"] = "1"


def make_files(folder: Path, n: int, tag: str) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"f{i:05d}.txt").write_text(f"{tag} {i} " + "x" * 2000)
    return folder


def terminal() -> tuple[object, threading.Thread]:
    """A writable pseudo-terminal whose output is read and dropped."""
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", buffering=1)
    drained = [0]

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            drained[0] += len(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return stream, reader


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-progress-"))
    os.environ["LABSHELF_CONFIG_DIR"] = str(tmp / "config")
    os.environ["LABSHELF_DATA_DIR"] = str(tmp / "data")
    import labshelf as ls
    from labshelf.app.cli import ProgressBar

    ls.init(str(tmp / "store"))
    stream, _ = terminal()
    times: dict[str, list[float]] = {"without": [], "with": []}
    spent = [0.0, 0]  # seconds inside the callback, calls
    for r in range(opts.rounds):
        order = ("without", "with") if r % 2 == 0 else ("with", "without")
        for mode in order:
            folder = make_files(tmp / f"r{r}-{mode}", opts.files, f"{r}-{mode}")
            bar = ProgressBar("save", mode == "with", file=stream)

            def on_progress(p, bar=bar) -> None:
                t = time.perf_counter()
                bar.update(p.files_done, p.files_total, p.bytes_done, p.bytes_total, p.finished)
                spent[0] += time.perf_counter() - t
                spent[1] += 1

            started = time.perf_counter()
            report = ls.upload(
                folder,
                as_folder=False,
                on_progress=on_progress if mode == "with" else None,
            )
            bar.close()
            seconds = time.perf_counter() - started
            if not report.ok or report.counts.get("done") != opts.files:
                print(f"upload failed: {report}", file=sys.stderr)
                return 1
            times[mode].append(seconds)
            print(f"round {r + 1}: {mode:7} progress {seconds:.2f} s", flush=True)
    without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
    print(
        f"median of {opts.rounds}: without {without:.2f} s, with {with_:.2f} s "
        f"({100 * (with_ - without) / without:+.1f} %) for {opts.files} files"
    )
    print(
        f"inside the progress callback: {spent[0] * 1000:.1f} ms in {spent[1]} calls "
        f"over {opts.rounds} uploads ({spent[0] * 1000 / opts.rounds:.1f} ms per upload)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
