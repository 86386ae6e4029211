"""A watched folder under an instrument's load: 1,000 files arriving at 100 files/s, each
written in chunks over a fraction of a second, as acquisition software does.

    .venv/bin/python tests/benchmarks/bench_watch.py [--files 1000] [--rate 100]
        [--settle 1.0] [--idle 30]

Prints the per-file latency from a file's completion (its last chunk written and closed) to
its ``registered`` event (median, p95, max; the target is settle + 2 s), the number of
duplicates (a file registered twice, or more artifacts than files) and of partial files (an
artifact whose size or hash differs from the complete file), then the CPU time the idle
watcher uses over ``--idle`` seconds (``getrusage``; the target is under 1 % of a core).
Exits 1 when a target is missed. Runs on a temporary SQLite instance with local storage.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["LABSHELF_QUIET"] = "1"


def write_files(folder: Path, n: int, rate: float, chunks: int, chunk_size: int) -> dict:
    """Start a file every 1/rate s; each gets `chunks` chunks 50 ms apart. Returns
    name -> (completion time, size, md5)."""
    done: dict[str, tuple[float, int, str]] = {}
    active: list[tuple[str, object, int, float, object]] = []
    start = time.monotonic()
    started = 0
    gap = 0.05
    while started < n or active:
        now = time.monotonic()
        while started < n and now >= start + started / rate:
            name = f"plate{started // 100:02d}/img{started:04d}.tif"
            path = folder / name
            path.parent.mkdir(exist_ok=True)
            active.append((name, open(path, "wb"), 0, now, hashlib.md5()))  # noqa: SIM115
            started += 1
        still = []
        for name, handle, written, next_at, digest in active:
            if now < next_at:
                still.append((name, handle, written, next_at, digest))
                continue
            chunk = os.urandom(chunk_size)
            handle.write(chunk)
            handle.flush()
            digest.update(chunk)
            if written + 1 == chunks:
                handle.close()
                done[name] = (time.time(), chunks * chunk_size, digest.hexdigest())
            else:
                still.append((name, handle, written + 1, now + gap, digest))
        active = still
        time.sleep(0.002)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="files started per second")
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured")
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=16 * 1024)
    opts = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    os.environ["LABSHELF_CONFIG_DIR"] = str(tmp / "config")
    os.environ["LABSHELF_DATA_DIR"] = str(tmp / "data")
    import labshelf as ls
    from labshelf.watch import Watcher, WatchOptions

    ls.init(str(tmp / "store"))
    inbox = tmp / "instrument"
    inbox.mkdir()
    registered: dict[str, list[float]] = {}
    lock = threading.Lock()
    all_in = threading.Event()

    def on_event(event) -> None:
        if event.event in ("registered", "new_version", "skipped"):
            with lock:
                registered.setdefault(event.path, []).append(event.time)
                if len(registered) >= opts.files:
                    all_in.set()
        elif event.event in ("failed", "paused", "vanished"):
            print(f"  {event}", file=sys.stderr)

    watcher = Watcher(
        WatchOptions(folder=inbox, instrument="bench", key_prefix="bench", settle=opts.settle),
        on_event=on_event,
    )
    watcher.start()
    print(
        f"{opts.files} files at {opts.rate:g} files/s, {opts.chunks} chunks of "
        f"{opts.chunk_size // 1024} KB each 50 ms apart; settle {opts.settle:g} s"
    )
    t0 = time.monotonic()
    completed = write_files(inbox, opts.files, opts.rate, opts.chunks, opts.chunk_size)
    print(f"written in {time.monotonic() - t0:.1f} s")
    if not all_in.wait(opts.settle + 60):
        print(f"only {len(registered)} of {opts.files} files registered", file=sys.stderr)

    latencies = [
        registered[name][0] - completed[name][0] for name in completed if name in registered
    ]
    twice = sum(len(times) > 1 for times in registered.values())
    artifacts = list(ls.Artifact.filter(key__startswith="bench/"))
    partial = 0
    for artifact in artifacts:
        _, size, md5 = completed[artifact.key[len("bench/") :]]
        got = hashlib.md5(artifact.cache().read_bytes()).hexdigest()
        partial += artifact.size != size or got != md5
    duplicates = twice + max(0, len(artifacts) - opts.files)
    limit = opts.settle + 2.0
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")
    print(
        f"latency completion -> registered: median {statistics.median(ordered):.2f} s, "
        f"p95 {p95:.2f} s, max {ordered[-1]:.2f} s (target <= {limit:.1f} s)"
        if ordered
        else "latency: nothing registered"
    )
    print(f"registered {len(registered)}/{opts.files}; duplicates {duplicates}; partial {partial}")

    time.sleep(2.0)  # let the last state write and collection settle
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic()
    time.sleep(opts.idle)
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - wall
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    share = 100 * cpu / wall
    print(f"idle watcher: {cpu * 1000:.0f} ms CPU in {wall:.0f} s = {share:.2f} % of a core")
    watcher.stop()

    ok = (
        len(registered) == opts.files
        and bool(ordered)
        and ordered[-1] <= limit
        and duplicates == 0
        and partial == 0
        and share < 1.0
    )
    print("OK" if ok else "MISSED A TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
