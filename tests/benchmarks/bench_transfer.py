"""Upload throughput of ``ls.upload`` to S3 (a local moto_server) and the time to cancel.

    .venv/bin/python tests/benchmarks/bench_transfer.py

Prints files/s and MB/s for 1,000 files x 64 KB and 4 files x 64 MB with max_workers=1 and
8 (a fresh bucket and instance per run, so nothing is a duplicate), then how long a cancel
takes to stop an upload of each kind. moto_server is one Python process: on a small machine
it, not the client, sets the ceiling for many small files, so the script also prints the rate
of bare s3fs ``put_object`` calls (no hashing, no records) with 1 and 8 threads for reference.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
os.environ["LABSHELF_QUIET"] = "1"

import labshelf as ls  # noqa: E402
from labshelf.instance import disconnect  # noqa: E402
from services import S3Server  # noqa: E402

MB = 1_000_000
CASES = [("1,000 x 64 KB", 1000, 64 * 1024), ("4 x 64 MB", 4, 64 * 1024 * 1024)]


def make_files(folder: Path, n: int, size: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"f{i:04d}.bin").write_bytes(os.urandom(size))
    return folder


def fresh_instance(server: S3Server) -> None:
    bucket = server.create_bucket()
    ls.init(f"s3://{bucket}", name=bucket)


def timed_upload(server: S3Server, folder: Path, workers: int) -> float:
    fresh_instance(server)
    try:
        started = time.perf_counter()
        report = ls.upload(folder, as_folder=False, max_workers=workers)
        seconds = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"upload failed:\n{report}")
        return seconds
    finally:
        disconnect()


def bare_puts(server: S3Server, n: int, size: int, threads: int) -> float:
    """files/s of plain s3fs put_object calls: the server's ceiling for this machine."""
    import cloudtools as cloud

    bucket = server.create_bucket()
    fs = cloud.filesystem(f"s3://{bucket}", {})
    body = os.urandom(size)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda i: fs.call_s3("put_object", Bucket=bucket, Key=f"k{i}", Body=body), range(n)
            )
        )
    return n / (time.perf_counter() - started)


def time_to_cancel(server: S3Server, folder: Path, total: int) -> tuple[float, str]:
    """Seconds from cancel.set() (at a third of the bytes) until ls.upload returns."""
    fresh_instance(server)
    cancel = threading.Event()
    set_at: list[float] = []

    def on_progress(p) -> None:
        if p.bytes_done >= total // 3 and not cancel.is_set():
            set_at.append(time.perf_counter())
            cancel.set()

    try:
        report = ls.upload(
            folder, as_folder=False, max_workers=8, cancel=cancel, on_progress=on_progress
        )
        return time.perf_counter() - set_at[0], ", ".join(
            f"{n} {s}" for s, n in report.counts.items()
        )
    finally:
        disconnect()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        base = Path(tmp)
        for var in ("CONFIG", "DATA", "CACHE"):
            os.environ[f"LABSHELF_{var}_DIR"] = str(base / var.lower())
        server = S3Server(dict(os.environ), base)
        os.environ.update(server.env)
        try:
            print(f"moto_server on {server.endpoint}; {os.cpu_count()} CPU(s)")
            ceiling = {t: bare_puts(server, 500, 64 * 1024, t) for t in (1, 8)}
            print(
                f"reference: bare put_object of 64 KB: {ceiling[1]:.0f} files/s with 1 thread, "
                f"{ceiling[8]:.0f} with 8 ({ceiling[8] / ceiling[1]:.2f}x)"
            )
            for label, n, size in CASES:
                folder = make_files(base / f"in-{n}", n, size)
                rates = {}
                for workers in (1, 8):
                    seconds = timed_upload(server, folder, workers)
                    rates[workers] = n / seconds
                    print(
                        f"{label:14} max_workers={workers}: {seconds:6.2f} s  {n / seconds:7.1f} files/s  "
                        f"{n * size / MB / seconds:7.1f} MB/s"
                    )
                print(f"{label:14} speed-up 1 -> 8 workers: {rates[8] / rates[1]:.2f}x")
                seconds, outcome = time_to_cancel(server, folder, n * size)
                print(f"{label:14} cancel took {seconds:.3f} s ({outcome})")
        finally:
            server.close()


if __name__ == "__main__":
    main()
