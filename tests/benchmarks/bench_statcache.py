"""The stat cache (issue 15 §3): a new version of a folder, v2 with one file changed, with the
cache off (every file read) and on (only the changed file read), in the same run.

    .venv/bin/python tests/benchmarks/bench_statcache.py [--files 10000] [--big 4] [--big-mb 256]
        [--only small big] [--keep-page-cache]

Prints numbers; asserts nothing. Parts (``--only``), each in fresh child processes:

- ``small``: a folder of ``--files`` x 4 KB as one artifact (files under the cache's size
  floor, ``statcache.MIN_SIZE`` = 64 KiB, are always read: here "warm" measures the floor,
  reading them again, against "cold");
- ``big``: a folder of ``--big`` files of ``--big-mb`` MB (a file > 50 MiB is hashed from its
  first and last 50 MiB: 100 MiB read per file).

For each part: one child with ``LABSHELF_STAT_CACHE=0`` (cold: v1, then v2) and one with the
cache (warm: v1 fills it, v2 uses it), each printing v1 and v2 ``ls.Artifact(folder).save()``
times. The warm child also times describing the folder (walk + hash, what registration and
``ls.upload`` do before storing) with the cache bypassed and used, in the same process. The
files are written ``RACY_MARGIN_NS`` + 0.5 s before v1 (a file changed within 2 s of its
hashing is never cached). Unless ``--keep-page-cache``, the source files are evicted from the
page cache (``posix_fadvise(DONTNEED)``) before each timed step, so "cold" reads the disk as a
folder not touched for a while would.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import isolate  # the same isolated dirs as bench_scale

PARTS = ("small", "big")


def write_small(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / f"d{i % 20:02d}" / f"f{i:06d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(i.to_bytes(8, "little") * 512)
        paths.append(path)
    return paths


def write_big(folder: Path, n: int, mb: int) -> list[Path]:
    folder.mkdir(parents=True)
    block = os.urandom(1 << 20)
    paths = []
    for i in range(n):
        path = folder / f"big{i}.bin"
        with open(path, "wb") as fh:
            for j in range(mb):
                fh.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])
        paths.append(path)
    return paths


def evict(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache (written back first)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def child(part: str, mode: str, args: argparse.Namespace) -> None:
    import labshelf as ls
    from labshelf import artifact as art
    from labshelf import statcache

    drop = not args.keep_page_cache
    with tempfile.TemporaryDirectory(prefix="bench-statcache-", dir=args.dir) as tmp_text:
        tmp = Path(tmp_text)
        isolate(tmp)
        ls.init(str(tmp / "store"), name="bench")
        src = tmp / "study"
        if part == "small":
            paths = write_small(src, args.files)
            what = f"{args.files:,} x 4 KB"
        else:
            paths = write_big(src, args.big, args.big_mb)
            what = f"{args.big} x {args.big_mb} MB"
        time.sleep(statcache.RACY_MARGIN_NS / 1e9 + 0.5)  # files older than the racy window
        evict(paths) if drop else None
        v1_s, v1 = timed(lambda: ls.Artifact(str(src), key="study").save())
        changed = paths[len(paths) // 2]
        with open(changed, "r+b") as fh:  # the last 4 KB: in the hashed tail of a big file
            fh.seek(-4096, os.SEEK_END)
            fh.write(os.urandom(4096))
        line = f"{part} ({what}), cache {mode}: v1 {v1_s:.2f} s"
        if mode == "warm":
            evict(paths) if drop else None
            with statcache.bypass():
                cold_s, cold = timed(lambda: art.describe_source(str(src)))
            evict(paths) if drop else None
            warm_s, warm = timed(lambda: art.describe_source(str(src)))
            assert cold["hash"] == warm["hash"]
            line += (
                f"; describing v2 (walk + hash): cache bypassed {cold_s:.2f} s, "
                f"used {warm_s:.2f} s ({cold_s / warm_s:.1f}x)"
            )
            statcache.close()
            # the v2 save below finds the changed file cached by the describe just timed:
            # re-create it so that v2 reads it, as a first v2 would
            with open(changed, "r+b") as fh:
                fh.seek(-4096, os.SEEK_END)
                fh.write(os.urandom(4096))
        evict(paths) if drop else None
        v2_s, v2 = timed(lambda: ls.Artifact(str(src), key="study").save())
        assert v2.stem_uid == v1.stem_uid and v2.hash != v1.hash
        print(f"{line}; v2 (one file changed) {v2_s:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument("--big-mb", type=int, default=256)
    parser.add_argument("--only", nargs="*", choices=PARTS, default=None)
    parser.add_argument("--keep-page-cache", action="store_true")
    parser.add_argument("--dir", default=None, help="where the temp folders go (a local disk)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        part, mode = args.child.split(":")
        child(part, mode, args)
        return
    print(
        f"{os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.1f}; page cache "
        + ("kept" if args.keep_page_cache else "evicted before each timed step")
    )
    for part in args.only or PARTS:
        for mode in ("cold", "warm"):
            env = dict(os.environ)
            env["LABSHELF_STAT_CACHE"] = "0" if mode == "cold" else "1"
            cmd = [sys.executable, __file__, "--child", f"{part}:{mode}", *sys.argv[1:]]
            subprocess.run(cmd, env=env, check=False)


if __name__ == "__main__":
    main()
