"""Performance at scale (issue 15): many small files, big catalogs, folder versions, memory.

    .venv/bin/python tests/benchmarks/bench_scale.py [--files 10000] [--catalogs 0,100000,1000000]
        [--rss-files 100000] [--s3] [--s3-files 1000] [--compare /tmp/venv-with-dvc-and-lamindb] [--only NAME ...]
        [--repeat R]

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

``--repeat R`` (R > 1; a shared machine's disk swings 3-5x between runs, so one run per variant
says little): ``catalog`` keeps one child per catalog size alive (seeded once, one after the
other) and drives R rounds in the order size 0, size 1, …, size 0, size 1, …, each a
registration of ``--files`` new files (fresh sources, new keys); then the median files/s per
size and its ratio to the first size's median. ``baseline``, ``folder`` and ``compare`` run in R
rounds, each a fresh child per tool (labshelf, ``dvc add``, LaminDB: the order rotates from
round to round; LaminDB's per-file registration of 1,003 files only in round 1, later rounds
warm up with 5 files); then the medians, and the ratios DVC/labshelf and LaminDB/labshelf of
the medians and per round (min..max). ``paths``, ``s3`` and ``rss`` run once. Children report
to the driver in ``@result {json}`` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("baseline", "paths", "catalog", "folder", "s3", "rss", "compare")
ROUND_PARTS = ("baseline", "paths", "folder", "compare")  # the parts --repeat runs in rounds
PATHS = (
    "ls.save([ls.Artifact(f, key=…) …])",
    "ls.save(ls.Artifact.from_dir(…))",
    "ls.upload(…)",
)
RESULT = "@result "  # a child's line of results for the driver (with --repeat)
JSON_ENV = "BENCH_SCALE_RESULTS"


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


def emit(**values) -> None:
    """A line of results for the driver, when it asked for them (``--repeat``)."""
    if os.environ.get(JSON_ENV):
        print(RESULT + json.dumps(values), flush=True)


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
    emit(py=seconds, cp=cp, md5=md5)


def part_paths(tmp: Path, n: int) -> None:
    import labshelf as ls

    speeds: dict[str, float] = {}
    for what in PATHS:
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
        speeds[what] = n / seconds
    emit(**speeds)


def seed(rows: int) -> float:
    """Bulk-insert ``rows`` artifact rows (one statement per 10^5), as a grown catalog has them."""
    from labshelf import schema
    from labshelf.instance import current
    from labshelf.session import user_id

    user, storage = user_id(), current().default_storage_id
    engine = current().engine()
    pg = engine.dialect.name == "postgresql"

    def digits(width: int) -> str:
        return f"lpad(i::text, {width}, '0')" if pg else f"printf('%0{width}d', i)"

    cols = {
        "uid": f"{digits(16)} || '0000'",
        "stem_uid": digits(16),
        "key": f"'seeded/' || (i {'%%' if pg else '%'} 997) || '/file_' || i || '.tif'",
        "description": "'seeded sample ' || i",
        "storage_id": str(storage),
        "suffix": "'.tif'",
        "size": "4096 + i",
        "hash": f"'seed' || {digits(18)}",
        "hash_type": "'md5'",
        "visibility": "1",
        "key_is_virtual": "true" if pg else "1",
        "version": "'1'",
        "is_latest": "true" if pg else "1",
        "created_by_id": str(user),
        "created_at": "CURRENT_TIMESTAMP",
        "updated_at": "CURRENT_TIMESTAMP",
    }
    t = time.perf_counter()
    for start in range(1, rows + 1, 100_000):
        stop = min(rows, start + 99_999)
        numbers = (
            f"SELECT i FROM generate_series({start}, {stop}) AS n(i)"
            if pg
            else f"WITH RECURSIVE n(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM n "
            f"WHERE i < {stop}) SELECT i FROM n"
        )
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"INSERT INTO {schema.artifacts.name} ({', '.join(cols)}) "
                f"SELECT {', '.join(cols.values())} FROM ({numbers}) AS numbers"
            )
    if pg:  # as autovacuum would have by then: statistics of the grown table
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {schema.artifacts.name}")
    return time.perf_counter() - t


def key_probe_plan() -> str:
    """The plan of the key probe of a registration (the index, not a scan, at 10^6 rows)."""
    from labshelf import artifact as art
    from labshelf.instance import current

    engine = current().engine()
    if engine.dialect.name == "postgresql":
        literal = (
            art._BY_KEY.statement.params(key="b/f000001.bin")
            .compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            .string.replace("%%", "%")
        )
        with engine.connect() as conn:
            lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + literal.replace("%", "%%"))]
        return next((line.strip() for line in lines if " on " in line), " / ".join(lines))
    compiled = art._BY_KEY.statement.compile(dialect=engine.dialect)
    values = compiled.construct_params({"key": "b/f000001.bin"})
    params = tuple(values[name] for name in compiled.positiontup or ())
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params).all()
    return plan[0][-1]


def part_catalog(tmp: Path, n: int, rows: int) -> None:
    import labshelf as ls

    ls.init(str(tmp / "store"), name=f"catalog-{rows}")
    seconds = seed(rows) if rows else 0.0
    src = write_files(tmp / "src", n, salt=7)
    plan = key_probe_plan()
    os.sync()  # the seed's and the sources' dirty pages reach the disk before, not during, the timing
    t = time.perf_counter()
    arts = [ls.Artifact(str(p), key=f"b/{p.name}") for p in sorted(src.iterdir())]
    ls.save(arts)
    took = time.perf_counter() - t
    print(
        f"catalog of {rows:>9,} artifacts (seeded in {seconds:4.1f} s): {n:,} files registered "
        f"in {took:5.2f} s = {n / took:6,.0f} files/s; key probe: {plan}"
    )


def part_catalog_serve(tmp: Path, n: int, rows: int) -> None:
    """``--repeat``: seed once, then one registration of n new files per line of stdin.

    A line holds the round number k: fresh sources (other contents: new hashes), new keys
    ``r{k}/…``; the catalog keeps the earlier rounds' n files each (5 x 5,000 is small next to
    10^5). Answers each line with one ``@result`` line; ends at EOF.
    """
    import labshelf as ls

    ls.init(str(tmp / "store"), name=f"catalog-{rows}", db=os.environ.get(DB_ENV) or None)
    seeded = seed(rows) if rows else 0.0
    emit(seeded=seeded, plan=key_probe_plan())
    for line in sys.stdin:
        k = int(line)
        src = write_files(tmp / f"src-{k}", n, salt=7 + k)
        os.sync()  # the seed's and the sources' dirty pages reach the disk before the timing
        t = time.perf_counter()
        arts = [ls.Artifact(str(p), key=f"r{k}/{p.name}") for p in sorted(src.iterdir())]
        ls.save(arts)
        took = time.perf_counter() - t
        emit(round=k, seconds=took, files=n)


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
    emit(v1=v1_s, v2=v2_s, grown=grown, size1=size1)


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


WARM_UP_FILES = 5  # LaminDB's per-file part in --repeat rounds after the first


def compare_env(tmp: Path, venv: Path) -> dict[str, str]:
    (tmp / "home").mkdir(exist_ok=True)
    return {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp / "home")}


def compare_dvc(tmp: Path, n: int, env: dict[str, str]) -> None:
    """``dvc add`` of the folder ``tmp/dvc/data`` (v1), then with one file changed (v2)."""
    script = tmp / "dvc.sh"
    script.write_text(COMPARE_DVC)
    try:
        subprocess.run(["bash", str(script), str(tmp / "dvc")], check=True, env=env)
        t1, t2 = ((tmp / "dvc" / f).read_text().split()[-1] for f in ("t1", "t2"))
        s1, s2 = (int((tmp / "dvc" / f).read_text().split()[0]) for f in ("s1", "s2"))
        print(
            f"DVC `dvc add` folder of {n:,} x 4 KB: v1 {float(t1):.2f} s, v2 (one file changed) "
            f"{float(t2):.2f} s; cache grew by {s2 - s1:,} bytes = {(s2 - s1) / s1 * 100:.2f} %"
        )
        emit(v1=float(t1), v2=float(t2), grown=s2 - s1, size1=s1)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"DVC: could not run ({exc})")


def compare_lamindb(work: Path, venv: Path, env: dict[str, str]) -> None:
    """LaminDB: ``work/data`` as one artifact, v1 and v2; before, ``work/single`` file by file.

    The per-file part also warms the process up (imports, first queries): without it, v1 of a
    300-file folder took 1.86 s instead of 0.06 s. ``--repeat`` rounds after the first keep the
    warm-up with a few files (``WARM_UP_FILES``), so that v1 is measured alike in every round.
    """
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
        if count > WARM_UP_FILES:
            head = f"LaminDB: {count:,} files one artifact each: {count / seconds:,.0f} files/s; "
        else:
            head = f"LaminDB (per-file part: a warm-up of {count} files only): "
        print(
            f"{head}folder v1 {got['v1']:.2f} s, v2 {got['v2']:.2f} s; storage grew by "
            f"{got['grown']:,} bytes = {got['grown'] / max(got['folder'], 1) * 100:.1f} % of the "
            "folder"
        )
        emit(v1=got["v1"], v2=got["v2"], grown=got["grown"], size1=got["folder"])
    except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"LaminDB: could not run ({exc}) {textwrap.shorten(str(detail), 300)}")


def part_compare(tmp: Path, n: int, venv: Path) -> None:
    write_files(tmp / "dvc" / "data", n)
    env = compare_env(tmp, venv)
    compare_dvc(tmp, n, env)
    work = tmp / "lamin"
    shutil.copytree(tmp / "dvc" / "data", work / "data")
    (work / "data" / "f000123.bin").write_bytes(b"\0" * 4096)  # back to a fresh first version
    write_files(work / "single", 1003, salt=5)
    compare_lamindb(work, venv, env)


def part_compare_one(tmp: Path, n: int, venv: Path, tool: str) -> None:
    """``--repeat``: one tool of ``compare`` in a child of its own (a fresh folder of n files)."""
    env = compare_env(tmp, venv)
    if tool == "dvc":
        write_files(tmp / "dvc" / "data", n)
        os.sync()
        compare_dvc(tmp, n, env)
    else:
        work = tmp / "lamin"
        write_files(work / "data", n)
        write_files(work / "single", 1003 if tool == "lamindb" else WARM_UP_FILES, salt=5)
        os.sync()
        compare_lamindb(work, venv, env)


# ---------------------------------------------------------------- driver


DB_ENV = "BENCH_SCALE_DB"  # a catalog child's database URL (--pg); SQLite if unset
WORK_ENV = "BENCH_SCALE_WORK"  # the run's folder for the children's files (kept to the end)


def child(args: argparse.Namespace) -> None:
    if os.environ.get("BENCH_LABSHELF"):  # an older copy of the code: before/after in one window
        sys.path.insert(0, os.environ["BENCH_LABSHELF"])
    run_dir = os.environ.get(WORK_ENV)
    with (
        contextlib.nullcontext(tempfile.mkdtemp(prefix="bench-scale-", dir=run_dir))
        if run_dir
        else tempfile.TemporaryDirectory(prefix="bench-scale-")
    ) as tmp_text:
        tmp = Path(tmp_text)
        isolate(tmp)
        part, n = args.child, args.files
        if part == "baseline":
            part_baseline(tmp, n)
        elif part == "paths":
            part_paths(tmp, n)
        elif part.startswith("catalog:"):
            part_catalog(tmp, n, int(part.split(":")[1]))
        elif part.startswith("catalog-serve:"):
            part_catalog_serve(tmp, n, int(part.split(":")[1]))
        elif part == "folder":
            part_folder(tmp, n)
        elif part == "s3":
            part_s3(tmp, args.s3_files)
        elif part.startswith("rss:"):
            part_rss(tmp, args.rss_files, part.split(":")[1])
        elif part == "compare":
            part_compare(tmp, n, Path(args.compare))
        elif part.startswith("compare:"):
            part_compare_one(tmp, n, Path(args.compare), part.split(":")[1])


def child_cmd(run: str, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, __file__, "--child", run, "--files", str(args.files)]
    cmd += ["--rss-files", str(args.rss_files), "--s3-files", str(args.s3_files)]
    if args.compare:
        cmd += ["--compare", args.compare]
    return cmd


def read_result(stream, prefix: str = "") -> dict | None:
    """Forward a child's lines (with ``prefix``) up to its next ``@result`` line: its values."""
    for line in iter(stream.readline, ""):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
        print(prefix + line, end="", flush=True)
    return None  # the child ended (its stderr says why)


def run_child(run: str, args: argparse.Namespace, prefix: str = "  ") -> dict | None:
    """Run one child with results on; forward its output; its last ``@result`` values."""
    env = {**os.environ, JSON_ENV: "1"}
    with subprocess.Popen(child_cmd(run, args), stdout=subprocess.PIPE, text=True, env=env) as proc:
        result = None
        while (got := read_result(proc.stdout, prefix)) is not None:
            result = got
    return result


def spread(values: list[float], fmt: str = ".2f", unit: str = " s") -> str:
    """``median unit (min..max)`` of values."""
    return (
        f"median {statistics.median(values):{fmt}}{unit} "
        f"({min(values):{fmt}}..{max(values):{fmt}}, n={len(values)})"
    )


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def repeat_catalogs(args: argparse.Namespace, sizes: list[int]) -> None:
    """One child per size, seeded one after the other, then R rounds: size 0, size 1, …"""
    env = {**os.environ, JSON_ENV: "1"}
    procs: dict[int, subprocess.Popen] = {}
    server = None
    if args.pg:  # a throwaway PostgreSQL server (tests/services.py), a database per size
        sys.path.insert(0, str(ROOT / "tests"))
        from services import PostgresServer

        server = PostgresServer(dict(os.environ))
        print(f"catalogs on PostgreSQL ({server.bindir})", flush=True)
    try:
        for rows in sizes:
            if server is not None:
                env = {**env, DB_ENV: server.create_database().url}
            proc = subprocess.Popen(
                child_cmd(f"catalog-serve:{rows}", args),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            ready = read_result(proc.stdout, "  ")
            if ready is None:
                print(f"catalog of {rows:>9,} artifacts: the child failed while seeding")
                proc.wait()
                continue
            procs[rows] = proc
            print(
                f"catalog of {rows:>9,} artifacts seeded in {ready['seeded']:4.1f} s; "
                f"key probe: {ready['plan']} ({load()})",
                flush=True,
            )
        speeds: dict[int, list[float]] = {rows: [] for rows in procs}
        per_round: list[dict[int, float]] = []
        for k in range(1, args.repeat + 1):
            this: dict[int, float] = {}
            for rows, proc in procs.items():
                if proc.poll() is not None:
                    continue
                proc.stdin.write(f"{k}\n")
                proc.stdin.flush()
                got = read_result(proc.stdout, "  ")
                if got is None:
                    print(f"round {k}: catalog of {rows:,}: the child failed")
                    continue
                this[rows] = args.files / got["seconds"]
                speeds[rows].append(this[rows])
                print(
                    f"round {k}/{args.repeat}: catalog of {rows:>9,} artifacts: {args.files:,} "
                    f"files registered in {got['seconds']:5.2f} s = {this[rows]:6,.0f} files/s",
                    flush=True,
                )
            per_round.append(this)
            print(f"round {k}/{args.repeat} done ({load()})", flush=True)
    finally:
        for proc in procs.values():
            if proc.stdin and not proc.stdin.closed:
                proc.stdin.close()
            proc.wait()
        if server is not None:
            server.close()
    if not speeds:
        return
    base = sizes[0]
    base_name = "the empty catalog" if base == 0 else f"the {base:,} catalog"
    print(f"\ncatalog, medians over {args.repeat} rounds of {args.files:,} files each:")
    for rows, values in speeds.items():
        if values:
            print(f"catalog {rows:>9,}: files/s {spread(values, ',.0f', '')}")
    base_values = speeds.get(base) or []
    for rows, values in speeds.items():
        if rows == base or not values or not base_values:
            continue
        ratios = [r[rows] / r[base] * 100 for r in per_round if rows in r and base in r]
        print(
            f"catalog {rows:,}: median {statistics.median(values):,.0f} files/s = "
            f"{statistics.median(values) / statistics.median(base_values) * 100:.0f} % of "
            f"{base_name}'s median ({statistics.median(base_values):,.0f} files/s); "
            f"per round {min(ratios):.0f}..{max(ratios):.0f} %"
        )


def repeat_rounds(args: argparse.Namespace, parts: list[str]) -> None:
    """R rounds of baseline / labshelf folder / DVC / LaminDB, a fresh child each, in turn."""
    tools = [p for p in parts if p in ("baseline", "paths", "folder")]
    if "compare" in parts:
        tools += ["dvc", "lamindb"]
    results: dict[str, list[dict | None]] = {tool: [] for tool in tools}
    for k in range(1, args.repeat + 1):
        shift = (k - 1) % len(tools)
        order = tools[shift:] + tools[:shift]  # the order rotates: no tool always runs first
        print(f"round {k}/{args.repeat} ({', '.join(order)}; {load()}):", flush=True)
        for tool in order:
            if tool in ("baseline", "paths", "folder"):
                run = tool
            elif tool == "dvc":
                run = "compare:dvc"
            else:  # LaminDB's 1,003-file per-file part once (long, not a target); then 5 files
                run = "compare:lamindb" if k == 1 else "compare:lamindb-folder"
            results[tool].append(run_child(run, args))
    print(f"\nmedians over {args.repeat} rounds ({load()}):")
    ok = {tool: [r for r in rs if r] for tool, rs in results.items()}
    if ok.get("baseline"):
        rows = ok["baseline"]
        print(f"  baseline cp -r + md5sum: {spread([r['cp'] + r['md5'] for r in rows])}")
        print(f"  baseline copy + md5 in 8 Python threads: {spread([r['py'] for r in rows])}")
    for what in PATHS if ok.get("paths") else ():
        values = [r[what] for r in ok["paths"]]
        print(f"  {what:38} files/s: {spread(values, ',.0f', '')}")
    names = {"folder": "labshelf", "dvc": "DVC `dvc add`", "lamindb": "LaminDB"}
    for tool in ("folder", "dvc", "lamindb"):
        rows = ok.get(tool)
        if tool in results and not rows:
            print(f"  {names[tool]}: no round succeeded")
        if not rows:
            continue
        grown = statistics.median(r["grown"] for r in rows)
        size1 = statistics.median(r["size1"] for r in rows)
        print(f"  {names[tool]} v1: {spread([r['v1'] for r in rows])}")
        print(f"  {names[tool]} v2: {spread([r['v2'] for r in rows])}")
        print(
            f"  {names[tool]} storage growth v1 -> v2: median {grown:,.0f} bytes = "
            f"{grown / max(size1, 1) * 100:.2f} % of the folder ({size1:,.0f} bytes)"
        )
    if not ok.get("folder"):
        return
    for tool in ("dvc", "lamindb"):
        if not ok.get(tool):
            continue
        for v in ("v1", "v2"):
            mine = statistics.median(r[v] for r in ok["folder"])
            theirs = statistics.median(r[v] for r in ok[tool])
            pairs = [
                (b[v] / a[v])
                for a, b in zip(results["folder"], results[tool], strict=True)
                if a and b
            ]
            print(
                f"  {names[tool]} / labshelf, {v}: medians {theirs:.2f} s / {mine:.2f} s = "
                f"{theirs / mine:.1f}x; per round {min(pairs):.1f}x..{max(pairs):.1f}x "
                f"({', '.join(f'{x:.1f}' for x in pairs)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--catalogs", default="0,100000,1000000")
    parser.add_argument("--rss-files", type=int, default=100_000)
    parser.add_argument("--s3", action="store_true", help="also the S3 folder versions (moto)")
    parser.add_argument("--s3-files", type=int, default=1_000, help="files of the S3 folder")
    parser.add_argument("--compare", default=None, help="a venv with dvc and lamindb")
    parser.add_argument("--only", nargs="*", choices=PARTS, default=None)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of catalog, baseline, folder and compare, alternating; then medians",
    )
    parser.add_argument(
        "--pg",
        action="store_true",
        help="with --repeat: the catalogs on a throwaway PostgreSQL server instead of SQLite",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    parts = args.only or [
        p for p in PARTS if (p != "s3" or args.s3) and (p != "compare" or args.compare)
    ]
    if "compare" in parts and not args.compare:
        parser.error("compare needs --compare VENV")
    if args.pg and args.repeat < 2:
        parser.error("--pg runs the catalogs in rounds: give --repeat 2 or more")
    print(f"{os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.1f}; {args.files:,} files")
    # Children leave their files in one folder, removed after the last timing: deleting
    # tens of thousands of files between two timings slowed the next one's file creation
    # 3-4x here (ext4 mounted with `discard`: freed blocks are trimmed at journal commits).
    os.environ[WORK_ENV] = tempfile.mkdtemp(prefix="bench-scale-run-")
    try:
        drive(args, parts)
    finally:
        shutil.rmtree(os.environ.pop(WORK_ENV), ignore_errors=True)


def drive(args: argparse.Namespace, parts: list[str]) -> None:
    if args.repeat > 1:
        print(f"{args.repeat} rounds", flush=True)
        sizes = [int(r) for r in args.catalogs.split(",")]
        rounds = [p for p in parts if p in ROUND_PARTS]
        for part in parts:
            if part == "catalog":
                repeat_catalogs(args, sizes)
            elif part in ROUND_PARTS:
                if part == rounds[0]:  # all round parts together, at the first one's place
                    repeat_rounds(args, rounds)
            else:
                for run in ["rss:folder", "rss:upload"] if part == "rss" else [part]:
                    subprocess.run(child_cmd(run, args), check=False)
        return
    runs = []
    for part in parts:
        if part == "catalog":
            runs += [f"catalog:{int(r)}" for r in args.catalogs.split(",")]
        elif part == "rss":
            runs += ["rss:folder", "rss:upload"]
        else:
            runs.append(part)
    for run in runs:
        subprocess.run(child_cmd(run, args), check=False)


if __name__ == "__main__":
    main()
