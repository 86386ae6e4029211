"""Core speed: bulk registration, folder artifacts, search and count at 100k rows, import time.

Run: .venv/bin/python tests/benchmarks/bench_core.py [--files 10000] [--rows 100000] [--db URL]
Prints numbers; asserts nothing. Everything runs in a temporary instance.
``--search-only [--repeat N]`` skips the import and file-registration parts (the files become
synthetic rows, so the row count is the same) and times only the searches, N rounds each.
``--hostile`` adds hostile search texts (200 characters of one letter, of distinct letters, of
common words, wildcards, NUL and FTS5 syntax, accents) and times a page and a count of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _write_files(folder: Path, n: int, size: int = 4096) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        p = folder / f"img_{i:05d}.bin"
        p.write_bytes(i.to_bytes(4, "little") * (size // 4))
        paths.append(p)
    return paths


def bench_import() -> None:
    times = []
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import labshelf; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(out.stdout))
    full = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t=time.perf_counter(); import labshelf; labshelf.Artifact; print(time.perf_counter()-t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"import labshelf (cold process, median of 5): {statistics.median(times) * 1000:.0f} ms")
    print(
        f"import labshelf + first registry access (loads SQLAlchemy): {float(full.stdout) * 1000:.0f} ms"
    )


def bench_registration(tmp: Path, n: int) -> None:
    import labshelf as ls

    paths = _write_files(tmp / "files", n)
    t0 = time.perf_counter()
    artifacts = [ls.Artifact(str(p), key=f"bench/{p.name}") for p in paths]
    t1 = time.perf_counter()
    ls.save(artifacts)
    t2 = time.perf_counter()
    print(
        f"{n} files x 4 KB, Artifact(...) for each: {t1 - t0:.2f} s ({n / (t1 - t0):,.0f} files/s)"
    )
    print(f"  ls.save([...]) of them: {t2 - t1:.2f} s ({n / (t2 - t1):,.0f} files/s)")
    print(f"  per-file registration end to end: {n / (t2 - t0):,.0f} files/s")

    # baseline in the same process: the bare copy + md5 of the same files, 8 threads
    import hashlib
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    dst = tmp / "baseline"
    dst.mkdir()

    def copy(p: Path) -> None:
        hashlib.md5(p.read_bytes()).digest()
        shutil.copyfile(p, dst / p.name)

    t3 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(copy, paths))
    t4 = time.perf_counter()
    print(
        f"  baseline (md5 + copy only, 8 threads): {t4 - t3:.2f} s; registration costs {(t2 - t0) / (t4 - t3):.1f}x the bare I/O"
    )

    folder = tmp / "folder_copy"
    shutil.copytree(tmp / "files", folder)
    (folder / "extra.bin").write_bytes(b"make the folder hash differ")
    t5 = time.perf_counter()
    ls.Artifact(str(folder), key="bench/folder").save()
    t6 = time.perf_counter()
    print(f"folder artifact of {n + 1} files: {t6 - t5:.2f} s ({(n + 1) / (t6 - t5):,.0f} files/s)")


def seed_rows(rows: int, files: int = 0) -> None:
    """Bulk-insert synthetic artifact rows straight through SQLAlchemy Core.

    ``files`` extra rows stand in for the registered files (keys ``bench/img_NNNNN.bin``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from catalog_rows import artifact_rows, insert_artifact_rows

    words = ["plate", "cells", "microscopy", "sequencing", "iris", "study", "control", "treated"]
    t0 = time.perf_counter()
    files_rows = artifact_rows(
        ((f"bench/img_{i:05d}.bin", None) for i in range(files)),
        suffix=".bin",
        key_is_virtual=False,
    )
    texts = []
    for i in range(rows):
        w1, w2 = words[i % 8], words[(i // 8) % 8]
        texts.append((f"{w1}/{w2}_{i:06d}.tif", f"{w1} {w2} sample {i}"))
    catalog_rows = artifact_rows(texts)
    for i, row in enumerate(catalog_rows):
        row["size"] = 4096 + i
    insert_artifact_rows(files_rows + catalog_rows)
    print(f"seeded {rows:,} artifact rows in {time.perf_counter() - t0:.1f} s")


SEARCHES = {
    "search('microscopy') first 50": "microscopy",
    "search('sample 4242') first 50": "sample 4242",
    "search('micrscopy') typo, first 50": "micrscopy",
    "search('ts') short, first 50": "ts",
}


def _hostile_searches() -> dict[str, str]:
    """Search texts chosen to be slow: long (at the 200-character cap), many distinct trigrams
    (the near-miss search ORs them), common trigrams, LIKE wildcards, FTS5 syntax, NUL."""
    import random

    rng = random.Random(13)
    distinct = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(200))
    return {
        "200 x 'a'": "a" * 200,
        "200 random letters/digits, one word": distinct,
        "'microscopy' repeated to 200, one word": ("microscopy" * 20)[:200],
        "200 chars of common words": ("plate cells microscopy sample " * 7)[:200],
        "'sample' x 28 with spaces": ("sample " * 28)[:196],
        "'%_' x 100 (LIKE wildcards)": "%_" * 100,
        "FTS5 syntax, quotes, NUL": 'f1\x00x"*^NEAR(a b) AND OR NOT - : {key}',
        "'ple' (a common trigram)": "ple",
        "'samp' (fuzzy probe, common)": "samp",
        "'sampel' typo": "sampel",
        "199 x 'é'": "é" * 199,
        "'s' one letter": "s",
        "'ts' two letters (no word holds them)": "ts",
        "'00' two digits (in >500 words)": "00",
    }


def bench_searches(rows: int, files: int, repeat: int, hostile: bool = False) -> None:
    """Only the searches, ``repeat`` rounds of a median of 7 each, interleaved against noise."""
    import labshelf as ls

    seed_rows(rows, files)
    print(f"artifacts in the instance: {ls.Artifact.filter().count():,}")
    cases = {
        name: (lambda t=text: ls.Artifact.search(t)[:50].all()) for name, text in SEARCHES.items()
    }
    if hostile:
        for name, text in _hostile_searches().items():
            cases[f"hostile {name}: first 50"] = lambda t=text: ls.Artifact.search(t)[:50].all()
            cases[f"hostile {name}: count"] = lambda t=text: ls.Artifact.search(t).count()
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            results[name].append(_timed(fn))
    for name, samples in results.items():
        shown = " ".join(f"{v:.1f}" for v in samples)
        print(f"  {name}: {statistics.median(samples):.1f} ms (median of {repeat} rounds: {shown})")


def _timed(fn, repeat: int = 7) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def bench_queries(rows: int) -> None:
    import labshelf as ls

    seed_rows(rows)
    total = ls.Artifact.filter().count()
    print(f"artifacts in the instance: {total:,}")
    cases = {
        **{
            name: (lambda t=text: ls.Artifact.search(t)[:50].all())
            for name, text in SEARCHES.items()
        },
        "filter(key__startswith='cells/').count()": lambda: ls.Artifact.filter(
            key__startswith="cells/"
        ).count(),
        "filter(suffix='.tif', size__gt=50000).count()": lambda: ls.Artifact.filter(
            suffix=".tif", size__gt=50000
        ).count(),
        "filter().count()": lambda: ls.Artifact.filter().count(),
        "first page: order_by('-created_at')[:200]": lambda: (
            ls.Artifact.filter().order_by("-created_at")[:200].all()
        ),
        "deep page: [90000:90200]": lambda: ls.Artifact.filter()[90000:90200].all(),
        "get(uid prefix)": lambda: ls.Artifact.get(ls.Artifact.filter().first().uid[:8]),
    }
    for name, fn in cases.items():
        print(f"  {name}: {_timed(fn):.1f} ms (median of 7)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--db", default=None, help="SQLAlchemy URL (default: SQLite in the temp instance)"
    )
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="seed rows (files included as rows) and time only the searches",
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds with --search-only")
    parser.add_argument(
        "--hostile", action="store_true", help="with --search-only: also hostile search texts"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for var, sub in (
            ("LABSHELF_CONFIG_DIR", "config"),
            ("LABSHELF_DATA_DIR", "data"),
            ("LABSHELF_CACHE_DIR", "cache"),
        ):
            os.environ[var] = str(tmp / sub)
        os.environ.setdefault("LABSHELF_QUIET", "1")
        if not args.search_only:
            bench_import()
        import labshelf as ls

        ls.init(str(tmp / "store"), db=args.db)
        print(f"database: {ls.settings.db}")
        if args.search_only:
            bench_searches(args.rows, args.files, args.repeat, hostile=args.hostile)
            return
        bench_registration(tmp, args.files)
        bench_queries(args.rows)


if __name__ == "__main__":
    main()
