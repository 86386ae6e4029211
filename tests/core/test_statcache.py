"""The stat cache (issue 15 §3): an unchanged local file is not read again, and any change a
file can go through without the user's say-so on ctime (rewrite with mtime restored, rename
over it, truncate and rewrite, a link or a copy, a write in the racy window) is hashed anew.
The cache never fails a hash (locked, corrupt, disabled) and doctor never consults it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import labshelf as ls
import pytest
from labshelf import hashing, statcache
from labshelf.config import default_cache_dir
from labshelf.hashing import CHUNK_THRESHOLD, b64, hash_file, hash_files
from labshelf.instance import disconnect

pytestmark = pytest.mark.skipif(
    sys.platform not in ("linux", "darwin"), reason="the stat cache is off on this platform"
)

MARGIN_NS = 50_000_000  # the racy margin in these tests: ext4/tmpfs stamp in ticks of ~4 ms


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test its own cache file (the cache dir is per test), a short racy margin, so
    a file written 60 ms before it is hashed may be cached (the rule itself is unchanged),
    and no size floor."""
    statcache.close()
    monkeypatch.delenv(statcache.ENV, raising=False)
    monkeypatch.setattr(statcache, "RACY_MARGIN_NS", MARGIN_NS)
    # these tests use small files; the size floor has tests of its own (they set it back)
    monkeypatch.setattr(statcache, "MIN_SIZE", 0)
    yield
    statcache.close()


def settle() -> None:
    """Let the racy window of what was just written pass."""
    time.sleep(2 * MARGIN_NS / 1e9)


def _fd_path(fd: int) -> str:
    """The path of an open descriptor (the cached path hashes through ``os.open``)."""
    if sys.platform == "darwin":
        import fcntl

        raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined]
        return raw.split(b"\0", 1)[0].decode()
    return os.readlink(f"/proc/self/fd/{fd}")


class Reads:
    """Counts the files actually read by hashing (the hit path reads none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full: list[str] = []
        real = hashing._hash_open
        lock = threading.Lock()

        def spy(fh: Any, size: int) -> tuple[str, str]:
            name = fh.name if isinstance(fh.name, str) else _fd_path(fh.name)
            with lock:
                self.full.append(os.path.abspath(name))
            return real(fh, size)

        real_small = hashing._hash_small

        def spy_small(path: Any, size: int) -> tuple[str, str]:  # (small files: a descriptor)
            with lock:
                self.full.append(os.path.abspath(path))
            return real_small(path, size)

        monkeypatch.setattr(hashing, "_hash_open", spy)
        monkeypatch.setattr(hashing, "_hash_small", spy_small)

    @property
    def paths(self) -> list[str]:
        return [os.path.basename(p) for p in self.full]

    @property
    def n(self) -> int:
        return len(self.full)

    def under(self, folder: Path) -> list[str]:
        """The names of the files read in this folder (not the storage's copies)."""
        prefix = str(folder) + os.sep
        return [os.path.basename(p) for p in self.full if p.startswith(prefix)]

    def reset(self) -> None:
        self.full.clear()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def uncached(path: Path) -> tuple[str, str]:
    return hash_file(path)


def rows() -> list[tuple[Any, ...]]:
    """The entries written to the cache file."""
    statcache.flush()
    if not statcache.cache_file().exists():
        return []
    conn = sqlite3.connect(statcache.cache_file())
    try:
        return conn.execute("SELECT path, hash, hash_type FROM stat_hash").fetchall()
    finally:
        conn.close()


def write_aged(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    settle()
    return path


def many_aged(folder: Path, n: int, random: bool = False) -> list[Path]:
    paths = [folder / f"{i}.bin" for i in range(n)]
    for i, p in enumerate(paths):
        p.write_bytes(os.urandom(64 + i) if random else bytes([i % 256]) * 10)
    settle()
    return paths


# ---------------------------------------------------------------- hits


def test_second_hash_of_an_unchanged_file_does_not_read_it(tmp_path: Path, reads: Reads) -> None:
    path = write_aged(tmp_path / "a.bin", b"hello world")
    first = hash_file(path, cache=True)
    assert reads.n == 1
    assert hash_file(path, cache=True) == first == uncached(path)
    assert hash_file(path, path.stat().st_size, cache=True) == first
    assert reads.n == 2  # the two hits read nothing; ``uncached`` read once


def test_a_hit_after_the_real_two_second_window(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shipped margin, end to end: a file hashed at once is not cached (racy), one
    hashed 2 s after its last change is."""
    monkeypatch.setattr(statcache, "RACY_MARGIN_NS", 2_000_000_000)
    path = tmp_path / "a.txt"
    path.write_text("data")
    hash_file(path, cache=True)
    hash_file(path, cache=True)
    assert reads.n == 2 and rows() == []
    time.sleep(2.05)
    hash_file(path, cache=True)
    assert reads.n == 3
    assert hash_file(path, cache=True) == uncached(path)
    assert reads.n == 4


def test_without_cache_true_every_hash_reads(tmp_path: Path, reads: Reads) -> None:
    path = write_aged(tmp_path / "a.bin", b"x" * 100)
    hash_file(path, cache=True)
    hash_file(path)
    hash_files([path] * 20)
    assert reads.n == 22


@pytest.mark.parametrize(
    "size",
    [0, 1, 1024 * 1024 + 1, CHUNK_THRESHOLD, CHUNK_THRESHOLD + 1, CHUNK_THRESHOLD + (3 << 20)],
)
def test_cached_hashes_equal_the_real_ones(tmp_path: Path, reads: Reads, size: int) -> None:
    path = tmp_path / "f.bin"
    with open(path, "wb") as fh:  # sparse, with bytes at both ends
        fh.truncate(size)
        if size:
            fh.write(b"h")
            fh.seek(size - 1)
            fh.write(b"t")
    settle()
    data = path.read_bytes()
    if size <= CHUNK_THRESHOLD:
        expected = (b64(hashlib.md5(data).digest()), "md5")
    else:
        first = hashlib.sha1(data[:CHUNK_THRESHOLD]).digest()
        last = hashlib.sha1(data[-CHUNK_THRESHOLD:]).digest()
        expected = (b64(hashlib.sha1(first + last).digest()), "sha1-fl")
    assert hash_file(path, cache=True) == expected  # a miss, remembered
    assert hash_file(path, cache=True) == expected  # a hit
    assert hash_files([path], cache=True) == [expected]
    assert reads.n == 1


def test_hash_files_many_reads_only_the_changed_ones(tmp_path: Path, reads: Reads) -> None:
    paths = [tmp_path / f"{i}.bin" for i in range(100)]
    for i, p in enumerate(paths):
        p.write_bytes(bytes([i % 256]) * (i + 1))
    settle()
    expected = hash_files(paths)
    reads.reset()
    assert hash_files(paths, max_workers=4, cache=True) == expected
    assert reads.n == 100
    assert len(rows()) == 100  # one batch, written when hash_files ends
    paths[7].write_bytes(b"changed")
    reads.reset()
    got = hash_files(paths, max_workers=4, cache=True)
    assert reads.paths == ["7.bin"]
    assert got == hash_files(paths)


# ---------------------------------------------------------------- misses


def test_same_size_and_restored_mtime_is_a_miss(tmp_path: Path, reads: Reads) -> None:
    """``os.utime`` can put mtime back; ctime moves on regardless."""
    path = write_aged(tmp_path / "a.bin", b"AAAA")
    old = hash_file(path, cache=True)
    st = path.stat()
    path.write_bytes(b"BBBB")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    )
    reads.reset()
    new = hash_file(path, cache=True)
    assert reads.n == 1
    assert new == uncached(path) != old


def test_a_file_replaced_by_rename_is_a_miss(tmp_path: Path, reads: Reads) -> None:
    path = write_aged(tmp_path / "a.bin", b"AAAA")
    old = hash_file(path, cache=True)
    st = path.stat()
    other = tmp_path / "b.bin"
    other.write_bytes(b"BBBB")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)
    reads.reset()
    assert hash_file(path, cache=True) == uncached(path) != old
    assert reads.n == 2


def test_truncated_and_rewritten_is_a_miss(tmp_path: Path, reads: Reads) -> None:
    path = write_aged(tmp_path / "a.bin", b"0123456789")
    old = hash_file(path, cache=True)
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"9876543210")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    reads.reset()
    assert hash_file(path, cache=True) == uncached(path) != old
    assert reads.n == 2


def test_hard_link_and_copy_are_misses(tmp_path: Path, reads: Reads) -> None:
    path = write_aged(tmp_path / "a.bin", b"content")
    expected = hash_file(path, cache=True)
    link = tmp_path / "link.bin"
    os.link(path, link)
    copy = tmp_path / "copy.bin"
    shutil.copy2(path, copy)  # same size and mtime, another inode
    reads.reset()
    assert hash_file(link, cache=True) == expected  # another path: never looked up by inode
    assert hash_file(copy, cache=True) == expected
    assert hash_file(path, cache=True) == expected  # the link changed the inode's ctime
    assert reads.paths == ["link.bin", "copy.bin", "a.bin"]


def test_a_symlink_is_judged_by_the_file_it_leads_to(tmp_path: Path, reads: Reads) -> None:
    a = write_aged(tmp_path / "a.bin", b"AAAA")
    b = tmp_path / "b.bin"
    b.write_bytes(b"BBBB")
    st = a.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    settle()
    link = tmp_path / "link"
    link.symlink_to(a)
    assert hash_file(link, cache=True) == uncached(a)
    link.unlink()
    link.symlink_to(b)  # same size, same mtime, another file
    reads.reset()
    assert hash_file(link, cache=True) == uncached(b)
    assert reads.n == 2


class CoarseStamps:
    """``fstat`` as a file system with 1 s time stamps would answer (FAT has 2 s)."""

    def __init__(self) -> None:
        self.real = os.fstat

    def __call__(self, fd: int) -> Any:
        st = self.real(fd)
        tick = 1_000_000_000
        return SimpleNamespace(
            st_mode=st.st_mode,
            st_dev=st.st_dev,
            st_ino=st.st_ino,
            st_size=st.st_size,
            st_mtime_ns=st.st_mtime_ns // tick * tick,
            st_ctime_ns=st.st_ctime_ns // tick * tick,
        )


def test_a_write_in_the_racy_window_is_a_miss(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system with 1 s stamps, a file rewritten in the same second it was hashed
    keeps all five fields: only the racy rule (no entry for a file changed within the margin
    of the hash) keeps the old hash from being served."""
    monkeypatch.setattr(statcache, "RACY_MARGIN_NS", 2_000_000_000)
    monkeypatch.setattr(hashing.os, "fstat", CoarseStamps())
    while time.time() % 1 > 0.5:  # room for the whole scenario in one second
        time.sleep(0.05)
    path = tmp_path / "a.bin"
    path.write_bytes(b"AAAA")
    st = os.stat(path)
    old = hash_file(path, cache=True)
    path.write_bytes(b"BBBB")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hash_file(path, cache=True) == uncached(path) != old
    assert rows() == []


def test_remember_refuses_racy_or_changing_files(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"a")
    st = os.stat(path)
    stamp = max(st.st_mtime_ns, st.st_ctime_ns)
    result = ("h", "md5")
    assert not statcache.remember(str(path), st, st, stamp + MARGIN_NS - 1, result)
    changed = SimpleNamespace(**{f: getattr(st, f) for f in dir(st) if f.startswith("st_")})
    changed.st_size += 1
    assert not statcache.remember(str(path), st, changed, stamp + MARGIN_NS, result)  # type: ignore[arg-type]
    assert statcache.remember(str(path), st, st, stamp + MARGIN_NS, result)


def test_caller_size_differing_from_the_file_bypasses_the_cache(
    tmp_path: Path, reads: Reads
) -> None:
    path = write_aged(tmp_path / "a.bin", b"abcdef")
    hash_file(path, cache=True)
    assert hash_file(path, 3, cache=True) == hash_file(path, 3)
    assert reads.n == 3


def test_an_untrusted_file_system_is_never_cached(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_aged(tmp_path / "a.bin", b"abc")
    dev = path.stat().st_dev
    monkeypatch.setattr(statcache._mounts, "known", {dev: False})  # e.g. nfs4, cifs, fuse
    hash_file(path, cache=True)
    hash_file(path, cache=True)
    assert reads.n == 2 and rows() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/mountinfo")
def test_linux_trusts_local_file_systems_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mounts = statcache._Mounts()
    st = os.stat(tmp_path)
    dev = (os.major(st.st_dev), os.minor(st.st_dev))
    mounts.table = {dev: "nfs4"}
    assert not mounts._linux(st)
    mounts.table = {dev: "ext4"}
    assert mounts._linux(st)
    mounts.table = {}  # an unknown device: mountinfo is read again
    mounts._linux(st)
    assert mounts.table


# ---------------------------------------------------------------- off, broken, busy


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_disabled_by_the_environment(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(statcache.ENV, value)
    path = write_aged(tmp_path / "a.bin", b"abc")
    for _ in range(3):
        assert hash_file(path, cache=True) == uncached(path)
    assert hash_files([path] * 20, cache=True) == [uncached(path)] * 20
    assert reads.n == 27  # ``uncached`` read 4 times
    assert not statcache.cache_file().exists()


def test_a_corrupt_cache_file_is_recreated(tmp_path: Path, reads: Reads) -> None:
    where = statcache.cache_file()
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(b"this is not a database" * 100)
    path = write_aged(tmp_path / "a.bin", b"abc")
    assert hash_file(path, cache=True) == uncached(path)
    assert rows() == [(str(path), *uncached(path))]  # a new, working file
    reads.reset()
    assert hash_file(path, cache=True) == uncached(path)
    assert reads.n == 1  # ``uncached`` only


def test_a_cache_file_corrupted_while_open(tmp_path: Path, reads: Reads) -> None:
    paths = many_aged(tmp_path, 3)
    for p in paths[:2]:
        hash_file(p, cache=True)
    statcache.flush()
    where = statcache.cache_file()
    with open(where, "r+b") as fh:  # the header and the first pages overwritten
        fh.write(b"\xff" * 8192)
    for suffix in ("-wal", "-shm"):
        Path(f"{where}{suffix}").unlink(missing_ok=True)
    for p in paths:
        assert hash_file(p, cache=True) == uncached(p)
    for p in paths:
        assert hash_file(p, cache=True) == uncached(p)
    statcache.close()
    with sqlite3.connect(where) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_locked_cache_is_a_miss_and_costs_no_waiting(tmp_path: Path, reads: Reads) -> None:
    paths = many_aged(tmp_path, 50)
    where = statcache.cache_file()
    hash_file(paths[0], cache=True)
    statcache.close()
    holder = sqlite3.connect(where, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("DELETE FROM stat_hash")
    try:
        started = time.monotonic()
        assert [hash_file(p, cache=True) for p in paths] == [uncached(p) for p in paths]
        assert hash_files(paths, cache=True) == [uncached(p) for p in paths]
        assert time.monotonic() - started < 5  # not one busy timeout per file
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_unwritable_cache_dir_hashes_for_real(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setenv("LABSHELF_CACHE_DIR", str(blocker))
    path = write_aged(tmp_path / "a.bin", b"abc")
    for _ in range(2):
        assert hash_file(path, cache=True) == uncached(path)
    assert hash_files([path] * 20, cache=True) == [uncached(path)] * 20


# ---------------------------------------------------------------- concurrency

WORKER = textwrap.dedent(
    """
    import json, sys
    from labshelf import hashing, statcache
    statcache.MIN_SIZE = 0  # small files, as in this module's other tests
    paths = sys.argv[1:]
    out = []
    for _ in range(5):
        out.append(hashing.hash_files(paths, max_workers=4, cache=True))
        out.append([hashing.hash_file(p, cache=True) for p in paths[:20]])
        statcache.flush()
    print(json.dumps(out))
    """
)


def test_two_processes_hashing_at_once(tmp_path: Path) -> None:
    paths = many_aged(tmp_path, 300, random=True)
    time.sleep(2.0)  # the workers have the shipped 2 s racy margin
    expected = [list(uncached(p)) for p in paths]
    args = [sys.executable, "-c", WORKER, *map(str, paths)]
    env = {**os.environ, "LABSHELF_QUIET": "1"}
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(3)
    ]
    import json

    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert err == b"", err.decode()
        for run in json.loads(out):
            assert run == expected[: len(run)]
    stored = rows()
    assert stored  # every entry true, whoever wrote it last
    assert {(p, h, t) for p, h, t in stored} <= {(str(p), *uncached(p)) for p in paths}


def test_threads_hashing_at_once(tmp_path: Path, reads: Reads) -> None:
    paths = many_aged(tmp_path, 200, random=True)
    expected = [uncached(p) for p in paths]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                assert hash_files(paths, max_workers=4, cache=True) == expected
                assert [hash_file(p, cache=True) for p in paths[::7]] == expected[::7]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(rows()) == 200


# ---------------------------------------------------------------- where it is used


def test_the_cache_lives_in_the_user_cache_dir() -> None:
    assert statcache.cache_file() == default_cache_dir() / "statcache.sqlite3"


def test_import_loads_no_sqlite3() -> None:
    code = (
        "import sys, labshelf, labshelf.hashing; "
        "assert 'sqlite3' not in sys.modules, 'sqlite3 loaded'; "
        "assert 'labshelf.statcache' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Path]:
    ls.init(str(tmp_path / "store"))
    yield tmp_path / "store"
    disconnect()


def _folder(root: Path, n: int) -> Path:
    for i in range(n):
        (root / f"sub{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"sub{i % 3}" / f"{i}.txt").write_text(f"file {i}\n")
    settle()
    return root


def test_a_new_folder_version_reads_only_the_changed_file(
    instance: Path, tmp_path: Path, reads: Reads
) -> None:
    folder = _folder(tmp_path / "study", 40)
    v1 = ls.Artifact(folder, key="study").save()
    assert len(reads.under(folder)) == 40
    (folder / "sub1" / "4.txt").write_text("file 4, measured again\n")
    reads.reset()
    v2 = ls.Artifact(folder, key="study", revises=v1).save()
    assert reads.under(folder) == ["4.txt"]  # (the storage checks its own copies for real)
    assert v2.hash != v1.hash
    with statcache.bypass():
        assert v2.hash == ls.Artifact(folder, key="other").hash  # the same, hashed for real


def test_saving_many_files_and_upload_read_each_once(
    instance: Path, tmp_path: Path, reads: Reads
) -> None:
    folder = _folder(tmp_path / "many", 30)
    files = sorted(str(p) for p in folder.rglob("*.txt"))
    ls.save([ls.Artifact(f) for f in files[:5]])  # one by one: the single-file path
    assert len(reads.under(folder)) == 5
    reads.reset()
    ls.save([ls.Artifact(f) for f in files[:10]])  # five hits, five new
    assert len(reads.under(folder)) == 5
    reads.reset()
    ls.upload(files, key_prefix="up", as_folder=False)  # ten hits
    assert len(reads.under(folder)) == 20
    reads.reset()
    ls.upload([folder], key_prefix="again")  # a folder: all hits
    ls.upload(files, key_prefix="up", as_folder=False)
    ls.save(ls.Artifact.from_dir(folder, key="dir"))  # one artifact per file, batched
    assert reads.under(folder) == []
    (folder / "sub2" / "5.txt").write_text("five, again\n")
    assert len(ls.Artifact.from_dir(folder, key="dir")) == 30
    assert reads.under(folder) == ["5.txt"]


def test_doctor_never_consults_the_cache(
    instance: Path, tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files registered in place, with a warm cache: doctor still reads every one."""
    folder = _folder(instance / "inplace", 12)
    ls.Artifact(folder).save()
    for p in sorted(folder.rglob("*.txt"))[:4]:
        ls.Artifact(p).save()
    statcache.flush()
    lookups: list[str] = []
    real = statcache._cache.lookup

    def spy(path: str, key: Any) -> Any:
        lookups.append(path)
        return real(path, key)

    monkeypatch.setattr(statcache._cache, "lookup", spy)
    ls.Artifact(folder / "sub0" / "0.txt")  # the spy works: describing a source asks it
    assert len(lookups) == 1
    lookups.clear()
    reads.reset()
    report = ls.doctor()
    assert report.ok, str(report)
    assert lookups == []
    assert reads.n >= 16  # the folder's 12 files and the 4 single files, all read
    # doctor's bypass holds even for a callee that asks for the cache
    with statcache.bypass():
        hash_file(folder / "sub0" / "0.txt", cache=True)
    assert lookups == []


def _poison(path: Path) -> None:
    """An entry matching the file's stat but not its bytes: what a write the cache cannot see
    (through a shared mmap, see the module's docstring) would leave."""
    st = os.stat(path)
    wrong = ("AAAAAAAAAAAAAAAAAAAAAA", "md5")
    assert statcache.remember(str(path), st, st, time.time_ns() + 10**10, wrong)
    statcache.flush()


def test_a_wrong_cached_hash_is_caught_by_the_copy_and_forgotten(
    instance: Path, tmp_path: Path
) -> None:
    """The copy into storage hashes the bytes it copies for real: a cached hash that does not
    match fails the save (nothing registered) and is forgotten, so saving again works."""
    path = write_aged(tmp_path / "a.txt", b"the real bytes")
    _poison(path)
    with pytest.raises(ls.StorageError, match="changed after it was hashed"):
        ls.Artifact(path, key="a.txt").save()
    assert ls.Artifact.filter(key="a.txt").count() == 0
    assert rows() == []
    assert ls.Artifact(path, key="a.txt").save().hash == uncached(path)[0]

    folder = _folder(tmp_path / "study", 6)
    _poison(folder / "sub1" / "1.txt")
    report = ls.upload([folder], key_prefix="up")  # the upload engine: the same net
    assert not report.ok and "changed after it was hashed" in str(report.failed[0].error)
    assert all(not p.startswith(str(folder)) for p, _, _ in rows())
    report = ls.upload([folder], key_prefix="up")
    assert report.ok, str(report)
    with statcache.bypass():
        assert report.artifacts[0].hash == ls.Artifact(folder, key="other").hash


def test_forget_a_folder_keeps_its_neighbours(tmp_path: Path) -> None:
    for name in ("study/a", "study/sub/b", "study2/c", "stud"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    settle()
    hash_files(sorted(p for p in tmp_path.rglob("*") if p.is_file()), cache=True)
    statcache.forget(tmp_path / "study")
    left = sorted(os.path.relpath(p, tmp_path) for p, _, _ in rows())
    assert left == ["stud", "study2/c"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_child_forked_while_the_cache_is_locked_hashes_without_waiting(tmp_path: Path) -> None:
    path = write_aged(tmp_path / "a.bin", b"forked")
    expected = uncached(path)  # the child's hash is a miss: it remembers it (takes the lock)
    with statcache._cache.lock:  # another thread of the parent holds it at the fork
        pid = os.fork()
        if pid == 0:  # the child: without new locks this would wait forever
            try:
                os._exit(0 if hash_file(path, cache=True) == expected else 1)
            except BaseException:  # noqa: BLE001 - the child must end whatever happened
                os._exit(2)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the parent's stat-cache lock")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


# ---------------------------------------------------------------- the size floor


def test_files_below_the_size_floor_are_read_and_never_cached(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file smaller than ``MIN_SIZE`` is cheaper to read than to look up: no lookup, no
    entry; from the floor up the cache answers as before."""
    monkeypatch.setattr(statcache, "MIN_SIZE", 64 * 1024)
    small = write_aged(tmp_path / "small.bin", b"s" * (64 * 1024 - 1))
    big = write_aged(tmp_path / "big.bin", b"b" * (64 * 1024))
    looked_up: list[str] = []
    real_lookup = statcache.lookup
    monkeypatch.setattr(
        statcache, "lookup", lambda path, st: looked_up.append(path) or real_lookup(path, st)
    )
    for _ in range(2):
        assert hash_file(small, cache=True) == uncached(small)
        assert hash_file(small, small.stat().st_size, cache=True) == uncached(small)
        assert hash_file(big, cache=True) == uncached(big)
    assert reads.paths.count("small.bin") == 8  # every hash of it read it
    assert reads.paths.count("big.bin") == 1 + 2  # once cached, then only ``uncached`` reads
    assert [os.path.basename(p) for p in looked_up] == ["big.bin", "big.bin"]
    assert [os.path.basename(p) for p, _, _ in rows()] == ["big.bin"]


def test_a_bulk_registration_of_small_files_leaves_the_cache_alone(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from_dir`` of small files neither prefetches their entries nor writes any (nor
    creates the cache file); its files at or over the floor are prefetched as before."""
    monkeypatch.setattr(statcache, "MIN_SIZE", 1000)
    folder = _folder(tmp_path / "many", 12)  # files of ~10 bytes
    (folder / "large.bin").write_bytes(b"x" * 1000)
    settle()
    prefetched: list[list[str]] = []
    real_batch = statcache.batch

    def spy(paths: list[str]) -> Any:
        prefetched.append([os.path.basename(p) for p in paths])
        return real_batch(paths)

    monkeypatch.setattr(statcache, "batch", spy)
    arts = ls.Artifact.from_dir(folder, key="dir")
    assert len(arts) == 13
    assert prefetched == [["large.bin"]]
    assert [os.path.basename(p) for p, _, _ in rows()] == ["large.bin"]
