"""Performance at scale (issue 15): many small files, big catalogs, folder versions, memory.

    .venv/bin/python tests/benchmarks/bench_scale.py [--files 10000] [--catalogs 0,100000,1000000]
        [--rss-files 100000] [--s3] [--s3-files 1000] [--compare /tmp/venv-with-dvc-and-lamindb] [--only NAME ...]

Prints numbers; asserts nothing. Every part runs in a child process of its own (fresh temp
dirs and instance; peak RSS is that child's). Parts (``--only``):

- ``baseline``: the machine's floor for N x 4 KB: copy + md5 in 8 Python threads, and the real
  ``cp -r`` + ``md5sum``, in this run (the load of a shared machine moves every number).
- ``paths``: N x 4 KB, one artifact each, SQLite, local storage: ``ls.save([ls.Artifact(f,
  key=…) …])``, ``ls.save(ls.Artifact.from_dir(…))`` and ``ls.upload(folder, as_folder=False)``.
- ``catalog``: ``ls.save([ls.Artifact(f, key=…) …])`` of N new files into catalogs of 0 / 10^5 /
  10^6 existing artifacts (bulk-inserted rows), and the plan of the key probe there.
- ``folder``: a folder of N x 4 KB as one artifact: v1, then one file changed: v2; managed
  storage growth (bytes of distinct inodes under ``.labshelf/``).
- ``s3``: the same on S3 (moto_server behind a loopback proxy): bytes the client sent for v1, v2,
  for ``--s3-files`` files (moto takes minutes for 10^4 objects on a loaded 2-core machine).
- ``rss``: peak RSS of a child registering a folder of ``--rss-files`` files (hashing and
  registration), and of a whole ``ls.upload(folder, as_folder=False)`` of them, one artifact
  each (plan, hash, copy, records committed; the report's items are checked), each printed
  per 100,000 files. The code under test is the installed ``labshelf``, or the copy at
  ``$BENCH_LABSHELF`` (a folder holding a ``labshelf`` package: before/after in one window).
- ``compare`` (with ``--compare VENV``, a venv with ``dvc`` and ``lamindb`` installed): the same
  folder v1/v2 with ``dvc add`` and LaminDB, and LaminDB's per-file registration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("baseline", "paths", "catalog", "folder", "s3", "rss", "compare")


# ---------------------------------------------------------------- helpers (in every child)


def isolate(tmp: Path) -> None:
    for var, sub in (
        ("LABSHELF_CONFIG_DIR", "config"),
        ("LABSHELF_DATA_DIR", "data"),
        ("LABSHELF_CACHE_DIR", "cache"),
    ):
        os.environ[var] = str(tmp / sub)
    os.environ["LABSHELF_QUIET"] = "1"
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"


def write_files(folder: Path, n: int, size: int = 4096, salt: int = 0) -> Path:
    """n distinct files of ``size`` bytes in ``folder`` (salt: other contents)."""
    folder.mkdir(parents=True)
    block = size // 8
    for i in range(n):
        (folder / f"f{i:06d}.bin").write_bytes(
            (salt * 10_000_000 + i).to_bytes(8, "little") * block
        )
    return folder


def stored_bytes(root: Path) -> int:
    """Bytes of the distinct files (inodes) under ``root`` (hard links count once)."""
    seen: dict[tuple[int, int], int] = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def objects_bytes(store: Path) -> int:
    """Managed storage of a labshelf root: its objects, not the SQLite file."""
    total = stored_bytes(store / ".labshelf")
    for name in os.listdir(store / ".labshelf"):
        if name.startswith("labshelf.db"):
            total -= os.path.getsize(store / ".labshelf" / name)
    return total


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# ---------------------------------------------------------------- parts


def part_baseline(tmp: Path, n: int) -> None:
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    src = write_files(tmp / "src", n)
    dst = tmp / "py"
    dst.mkdir()
    paths = sorted(src.iterdir())
    os.sync()

    def one(chunk: list[Path]) -> None:
        for p in chunk:
            data = p.read_bytes()
            hashlib.md5(data).digest()
            (dst / p.name).write_bytes(data)

    chunks = [paths[i : i + 64] for i in range(0, n, 64)]
    seconds, _ = timed(lambda: list(ThreadPoolExecutor(8).map(one, chunks)))
    print(f"baseline: copy + md5 of {n:,} x 4 KB in 8 Python threads: {seconds:.2f} s")
    os.sync()
    cp, _ = timed(lambda: subprocess.run(["cp", "-r", str(src), str(tmp / "cp")], check=True))
    os.sync()
    md5, _ = timed(
        lambda: subprocess.run(
            f"find {src} -type f -print0 | xargs -0 md5sum > /dev/null", shell=True, check=True
        )
    )
    print(
        f"baseline: cp -r {cp:.2f} s + md5sum {md5:.2f} s = {cp + md5:.2f} s "
        f"({n / (cp + md5):,.0f} files/s)"
    )


def part_paths(tmp: Path, n: int) -> None:
    import labshelf as ls

    for what in (
        "ls.save([ls.Artifact(f, key=…) …])",
        "ls.save(ls.Artifact.from_dir(…))",
        "ls.upload(…)",
    ):
        ls.init(str(tmp / f"store-{len(what)}"), name=f"paths-{len(what)}")
        src = write_files(tmp / f"src-{len(what)}", n, salt=len(what))
        os.sync()
        t = time.perf_counter()
        if what.startswith("ls.save([ls.Artifact"):
            arts = [ls.Artifact(str(p), key=f"b/{p.name}") for p in sorted(src.iterdir())]
            built = time.perf_counter() - t
            ls.save(arts)
            detail = f" (constructing {built:.2f} s)"
        elif "from_dir" in what:
            ls.save(ls.Artifact.from_dir(src, key="b"))
            detail = ""
        else:
            report = ls.upload(src, as_folder=False)
            assert report.ok, str(report)
            detail = ""
        seconds = time.perf_counter() - t
        assert ls.Artifact.filter().count() == n
        print(f"{what:38} {n:,} x 4 KB: {seconds:5.2f} s = {n / seconds:6,.0f} files/s{detail}")


def seed(rows: int) -> float:
    """Bulk-insert ``rows`` artifact rows (one statement per 10^5), as a grown catalog has them."""
    from labshelf import schema
    from labshelf.instance import current
    from labshelf.session import user_id

    user, storage = user_id(), current().default_storage_id
    cols = {
        "uid": "printf('%016d', i) || '0000'",
        "stem_uid": "printf('%016d', i)",
        "key": "'seeded/' || (i % 997) || '/file_' || i || '.tif'",
        "description": "'seeded sample ' || i",
        "storage_id": str(storage),
        "suffix": "'.tif'",
        "size": "4096 + i",
        "hash": "'seed' || printf('%018d', i)",
        "hash_type": "'md5'",
        "visibility": "1",
        "key_is_virtual": "1",
        "version": "'1'",
        "is_latest": "1",
        "created_by_id": str(user),
        "created_at": "CURRENT_TIMESTAMP",
        "updated_at": "CURRENT_TIMESTAMP",
    }
    engine = current().engine()
    t = time.perf_counter()
    for start in range(1, rows + 1, 100_000):
        stop = min(rows, start + 99_999)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"WITH RECURSIVE n(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM n "
                f"WHERE i < {stop}) INSERT INTO {schema.artifacts.name} ({', '.join(cols)}) "
                f"SELECT {', '.join(cols.values())} FROM n"
            )
    return time.perf_counter() - t


def part_catalog(tmp: Path, n: int, rows: int) -> None:
    import labshelf as ls
    from labshelf import artifact as art

    ls.init(str(tmp / "store"), name=f"catalog-{rows}")
    seconds = seed(rows) if rows else 0.0
    src = write_files(tmp / "src", n, salt=7)
    from labshelf.instance import current

    engine = current().engine()
    compiled = art._BY_KEY.statement.compile(dialect=engine.dialect)
    values = compiled.construct_params({"key": "b/f000001.bin"})
    params = tuple(values[name] for name in compiled.positiontup or ())
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params).all()
    os.sync()  # the seed's and the sources' dirty pages reach the disk before, not during, the timing
    t = time.perf_counter()
    arts = [ls.Artifact(str(p), key=f"b/{p.name}") for p in sorted(src.iterdir())]
    ls.save(arts)
    took = time.perf_counter() - t
    print(
        f"catalog of {rows:>9,} artifacts (seeded in {seconds:4.1f} s): {n:,} files registered "
        f"in {took:5.2f} s = {n / took:6,.0f} files/s; key probe: {plan[0][-1]}"
    )


def part_folder(tmp: Path, n: int) -> None:
    import labshelf as ls

    store = tmp / "store"
    ls.init(str(store), name="folder")
    src = write_files(tmp / "study", n)
    os.sync()  # here and below: written pages reach the disk before, not during, a timing
    v1_s, v1 = timed(lambda: ls.Artifact(str(src), key="studies/study").save())
    size1 = objects_bytes(store)
    (src / "f000123.bin").write_bytes(os.urandom(4096))
    os.sync()
    v2_s, v2 = timed(lambda: ls.Artifact(str(src), key="studies/study").save())
    grown = objects_bytes(store) - size1
    print(f"folder of {n:,} x 4 KB as one artifact, v1: {v1_s:.2f} s ({n / v1_s:,.0f} files/s)")
    print(
        f"  one file changed, v2: {v2_s:.2f} s; managed storage grew by {grown:,} bytes "
        f"= {grown / size1 * 100:.2f} % of the folder ({size1:,} bytes)"
    )
    assert v2.stem_uid == v1.stem_uid


def part_s3(tmp: Path, n: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from services import S3Server, TcpProxy

    server = S3Server(dict(os.environ), tmp)
    os.environ.update(server.env)
    proxy = TcpProxy(server.port)
    try:
        import labshelf as ls

        ls.init("s3://" + server.create_bucket(), storage_options={"endpoint_url": proxy.url})
        src = write_files(tmp / "study", n)
        total = n * 4096
        start = proxy.bytes_sent
        v1_s, _ = timed(lambda: ls.Artifact(str(src), key="s3/study").save())
        sent1 = proxy.bytes_sent - start
        (src / "f000123.bin").write_bytes(os.urandom(4096))
        start = proxy.bytes_sent
        v2_s, _ = timed(lambda: ls.Artifact(str(src), key="s3/study").save())
        sent2 = proxy.bytes_sent - start
        print(
            f"S3 (moto) folder of {n:,} x 4 KB: v1 {v1_s:.1f} s, sent {sent1:,} bytes "
            f"({sent1 / total:.2f}x the folder); v2 (one file changed) {v2_s:.1f} s, sent "
            f"{sent2:,} bytes ({sent2 / total * 100:.1f} % of the folder: requests and one file)"
        )
    finally:
        proxy.close()
        server.close()


def part_rss(tmp: Path, n: int, mode: str) -> None:
    import labshelf as ls

    ls.init(str(tmp / "store"), name="rss")
    src = tmp / "many"
    src.mkdir()
    for i in range(n):  # small files: the cost per file, not per byte
        sub = src / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir()
        (sub / f"f{i:06d}.txt").write_bytes(b"%d\n" % i)
    base = peak_rss_mb()
    if mode == "folder":
        seconds, _ = timed(lambda: ls.Artifact(str(src), key="many").save())
        what = "folder artifact (walk, hash, register)"
    else:
        seconds, report = timed(lambda: ls.upload(src, as_folder=False))
        assert report.ok and len(report.items) == n, str(report)
        assert ls.Artifact.filter().count() == n
        what = "whole ls.upload, one artifact per file"
    peak = peak_rss_mb()
    print(
        f"peak RSS, {what} of {n:,} files: {peak:.0f} MB (before: {base:.0f} MB; "
        f"+{(peak - base) / n * 100_000:.0f} MB per 100,000 files), {seconds:.1f} s"
    )


COMPARE_DVC = """
cd "$1" && dvc init --no-scm -q && sync && /usr/bin/time -f "%e" dvc add -q data 2> t1 \\
  && du -sb --apparent-size .dvc/cache > s1 && head -c 4096 /dev/urandom > data/f000123.bin \\
  && sync && /usr/bin/time -f "%e" dvc add -q data 2> t2 && du -sb --apparent-size .dvc/cache > s2
"""

COMPARE_LAMINDB = """
import json, os, sys, time
from pathlib import Path
import lamindb as ln
ln.setup.settings.instance._is_on_hub = False  # no network here: skip the hub lookup
work = Path(sys.argv[1])
def size():
    seen = {}
    for d, _, names in os.walk(work / "store" / ".lamindb"):
        for name in names:
            st = os.lstat(os.path.join(d, name))
            seen[st.st_ino] = st.st_size
    return sum(seen.values())
out = {}
files = sorted((work / "single").iterdir())
os.sync()
t = time.perf_counter()
ln.save([ln.Artifact(str(p), key=f"b/{p.name}") for p in files])
out["per_file"] = (len(files), time.perf_counter() - t)
s0 = size()
os.sync()
t = time.perf_counter(); ln.Artifact(str(work / "data"), key="study").save(); out["v1"] = time.perf_counter() - t
s1 = size()
(work / "data" / "f000123.bin").write_bytes(os.urandom(4096))
os.sync()
t = time.perf_counter(); ln.Artifact(str(work / "data"), key="study").save(); out["v2"] = time.perf_counter() - t
out["grown"], out["folder"] = size() - s1, s1 - s0
print(json.dumps(out))
"""


def part_compare(tmp: Path, n: int, venv: Path) -> None:
    data = write_files(tmp / "dvc" / "data", n)
    script = tmp / "dvc.sh"
    script.write_text(COMPARE_DVC)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp / "home")}
    (tmp / "home").mkdir()
    try:
        subprocess.run(["bash", str(script), str(tmp / "dvc")], check=True, env=env)
        t1, t2 = ((tmp / "dvc" / f).read_text().split()[-1] for f in ("t1", "t2"))
        s1, s2 = (int((tmp / "dvc" / f).read_text().split()[0]) for f in ("s1", "s2"))
        print(
            f"DVC `dvc add` folder of {n:,} x 4 KB: v1 {float(t1):.2f} s, v2 (one file changed) "
            f"{float(t2):.2f} s; cache grew by {s2 - s1:,} bytes = {(s2 - s1) / s1 * 100:.2f} %"
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"DVC: could not run ({exc})")
    del data
    work = tmp / "lamin"
    shutil.copytree(tmp / "dvc" / "data", work / "data")
    (work / "data" / "f000123.bin").write_bytes(b"\0" * 4096)  # back to a fresh first version
    write_files(work / "single", 1003, salt=5)
    try:
        subprocess.run(
            [str(venv / "bin" / "lamin"), "init", "--storage", str(work / "store")],
            check=True,
            env=env,
            cwd=work,
            capture_output=True,
        )
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", COMPARE_LAMINDB, str(work)],
            check=True,
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
        )
        got = json.loads(out.stdout.strip().splitlines()[-1])
        count, seconds = got["per_file"]
        print(
            f"LaminDB: {count:,} files one artifact each: {count / seconds:,.0f} files/s; folder "
            f"v1 {got['v1']:.2f} s, v2 {got['v2']:.2f} s; storage grew by {got['grown']:,} bytes "
            f"= {got['grown'] / max(got['folder'], 1) * 100:.1f} % of the folder"
        )
    except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"LaminDB: could not run ({exc}) {textwrap.shorten(str(detail), 300)}")


# ---------------------------------------------------------------- driver


def child(args: argparse.Namespace) -> None:
    if os.environ.get("BENCH_LABSHELF"):  # an older copy of the code: before/after in one window
        sys.path.insert(0, os.environ["BENCH_LABSHELF"])
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_text:
        tmp = Path(tmp_text)
        isolate(tmp)
        part, n = args.child, args.files
        if part == "baseline":
            part_baseline(tmp, n)
        elif part == "paths":
            part_paths(tmp, n)
        elif part.startswith("catalog:"):
            part_catalog(tmp, n, int(part.split(":")[1]))
        elif part == "folder":
            part_folder(tmp, n)
        elif part == "s3":
            part_s3(tmp, args.s3_files)
        elif part.startswith("rss:"):
            part_rss(tmp, args.rss_files, part.split(":")[1])
        elif part == "compare":
            part_compare(tmp, n, Path(args.compare))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--catalogs", default="0,100000,1000000")
    parser.add_argument("--rss-files", type=int, default=100_000)
    parser.add_argument("--s3", action="store_true", help="also the S3 folder versions (moto)")
    parser.add_argument("--s3-files", type=int, default=1_000, help="files of the S3 folder")
    parser.add_argument("--compare", default=None, help="a venv with dvc and lamindb")
    parser.add_argument("--only", nargs="*", choices=PARTS, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    parts = args.only or [
        p for p in PARTS if (p != "s3" or args.s3) and (p != "compare" or args.compare)
    ]
    print(f"{os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.1f}; {args.files:,} files")
    runs = []
    for part in parts:
        if part == "catalog":
            runs += [f"catalog:{int(r)}" for r in args.catalogs.split(",")]
        elif part == "rss":
            runs += ["rss:folder", "rss:upload"]
        else:
            runs.append(part)
    for run in runs:
        cmd = [sys.executable, __file__, "--child", run, "--files", str(args.files)]
        cmd += ["--rss-files", str(args.rss_files), "--s3-files", str(args.s3_files)]
        if args.compare:
            cmd += ["--compare", args.compare]
        subprocess.run(cmd, check=False)


if __name__ == "__main__":
    main()
