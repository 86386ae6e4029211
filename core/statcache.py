"""A per-user stat cache: ``(path, st_dev, st_ino, size, mtime_ns, ctime_ns) → (hash, hash_type)``,
so that hashing an unchanged local file again does not read it.

Where: ``statcache.sqlite3`` in the user cache dir (``LABSHELF_CACHE_DIR``, else the
platform's user cache dir for ``labshelf``, as ``config.default_cache_dir``), one small SQLite
file in WAL mode, private to the user (0600). ``LABSHELF_STAT_CACHE=0`` (or ``false``/``no``/
``off``) turns it off entirely, e.g. for a file system whose time stamps cannot be trusted.

Who uses it: only callers that opt in (``hashing.hash_file(..., cache=True)``, likewise
``hash_files``): describing a local file or folder to register or upload it. Every check of
stored bytes, ``labshelf doctor``, the verification after a copy or a download, hashes for
real: they never pass ``cache=True`` (and ``bypass()`` turns the cache off for a block of code
whatever its callees ask, which doctor uses).

Why a hit is safe. An entry is trusted only if the file opened now (``fstat`` on the open
descriptor, so a symlink is judged by the file it leads to) is a regular file at the same path
with the same device, inode, size, mtime and ctime, all in nanoseconds. The proof rests on
ctime, the inode's change time: the kernel sets it to the current time on every write,
truncation, rename or change of metadata, and no unprivileged call sets it (``utime`` and
``touch`` restore mtime, never ctime; only changing the system clock could). So a content
change after an entry was stored gives the inode a ctime later than the stored one, and an
inode freed and reused for another file has the ctime of its re-creation, which is later too;
either way the key no longer matches and the file is hashed again. Three rules make sure the
stored ctime really is from before the bytes that were hashed:

- **racy window** (git's "racy git" rule): an entry is stored only if the file's mtime and
  ctime are at least ``RACY_MARGIN_NS`` (2 s) older than the moment hashing started. A write
  after our read then happens at least 2 s after the stored ctime, so it cannot land in the
  same time-stamp tick (file systems count in ns to 2 s ticks) and leave ctime unchanged.
- **re-stat**: the descriptor is ``fstat``-ed before and after reading; any difference in the
  five fields (the file changed while we read it) and nothing is stored.
- **the size the caller saw**: if the caller passes a size that is not the file's size now,
  the cache is not used.

What it does not trust: anything other than a regular file; Windows, whose ``st_ctime`` is the
creation time, which programs can set; on Linux, a file system not on a short list of local
ones (``/proc/self/mountinfo``: NFS, SMB, FUSE, 9p, FAT and unknown devices are hashed for
real); on macOS, a mount ``mount`` does not call ``local``. The residual risk is the one git,
rsync and make share: bytes changed through a shared writable ``mmap`` of a page already dirty
(the kernel stamps the time at the first write fault only) or a system clock set back by more
than the margin. ``labshelf doctor`` re-hashes every object for real, and a copy into storage
hashes the bytes it copies.

Failures never fail a registration. A busy cache (another process holds the write lock
longer than ``BUSY_TIMEOUT_MS``, or ``OPEN_TIMEOUT_MS`` when opening) is a miss, and the cache
is left alone for ``FLUSH_SECONDS`` (its pending entries wait for the next flush; busy twice
when opening, it is not used again in this process); a corrupt or foreign file is deleted and
created anew (once per process); any other error turns the cache off for the rest of the
process.
Entries are written in batches (``BATCH`` entries or ``FLUSH_SECONDS``, at the end of a
``batch`` and at exit), never one commit per file. Two processes may read and write at once
(WAL; an entry is a fact about one inode, so whichever writes last, every entry is true).
Entries not stored again for ``MAX_AGE_DAYS`` are removed (at most once a day), so a file
unchanged for that long is read once more.

This module is in core's bottom layer: it imports nothing from core (it logs, at debug level,
to ``labshelf.log``'s logger by name), and loads ``sqlite3`` only when the cache is first used.
"""

from __future__ import annotations

import atexit
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

logger = logging.getLogger("labshelf")  # labshelf.log's, without loading its helpers

ENV = "LABSHELF_STAT_CACHE"
FILE_NAME = "statcache.sqlite3"
RACY_MARGIN_NS = 2_000_000_000
BATCH = 2000
MAX_PENDING = 10 * BATCH
FLUSH_SECONDS = 2.0
BUSY_TIMEOUT_MS = 200
OPEN_TIMEOUT_MS = 2000  # opening (and the last flush at exit) happen once per process
MAX_AGE_DAYS = 90
SCHEMA_VERSION = 1
PREFETCH_CHUNK = 500
# Files smaller than this are hashed for real, never looked up nor remembered: reading and
# hashing 64 KiB takes about as long as a lookup and its share of the batched write (4 KB
# files: measured as costly as they saved), so the cache is for files that take long to read.
MIN_SIZE = 64 * 1024

# Local Linux file systems whose ctime is kept by the kernel of this machine
TRUSTED_LINUX = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "zfs", "f2fs", "jfs", "reiserfs", "bcachefs"}
)
TRUSTED_MACOS = frozenset({"apfs", "hfs"})
_OFF = {"0", "false", "no", "off"}
_PLATFORM: str = sys.platform  # a plain str: checked at run time, not narrowed by mypy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_hash (
    path TEXT PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    hash_type TEXT NOT NULL,
    stored_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_PREFETCH = (
    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, hash, hash_type FROM stat_hash WHERE path IN "
)

Key = tuple[int, int, int, int, int]  # dev, ino, size, mtime_ns, ctime_ns
Entry = tuple[Key, str, str]


def enabled() -> bool:
    """Whether the cache may be used at all (``LABSHELF_STAT_CACHE``, the platform, bypass)."""
    if os.environ.get(ENV, "").strip().lower() in _OFF:
        return False
    if _bypass_depth:
        return False
    return _PLATFORM.startswith("linux") or _PLATFORM == "darwin"


_bypass_depth = 0
_bypass_lock = threading.Lock()


@contextmanager
def bypass() -> Iterator[None]:
    """No cache in this process while the block runs, whatever a callee asks (doctor)."""
    global _bypass_depth
    with _bypass_lock:
        _bypass_depth += 1
    try:
        yield
    finally:
        with _bypass_lock:
            _bypass_depth -= 1


def cache_file() -> Path:
    """Where the cache lives: the user cache dir, as ``config.default_cache_dir``."""
    folder = os.environ.get("LABSHELF_CACHE_DIR")
    if folder:
        return Path(folder) / FILE_NAME
    import platformdirs  # deferred: only when no LABSHELF_CACHE_DIR is set

    return Path(platformdirs.user_cache_dir("labshelf", appauthor=False)) / FILE_NAME


def key_of(st: os.stat_result) -> Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# ---------------------------------------------------------------- which file systems


class _Mounts:
    """Which devices hold a trusted local file system (read once, again for a new device)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[int, bool] = {}
        self.table: dict[tuple[int, int], str] | None = None
        self.mac: set[int] | None = None

    def trusted(self, st: os.stat_result, path: str) -> bool:
        found = self.known.get(st.st_dev)  # (a dict read needs no lock)
        if found is None:
            with self.lock:
                found = self._look_up(st, path)
                self.known[st.st_dev] = found
        return found

    def _look_up(self, st: os.stat_result, path: str) -> bool:
        try:
            if _PLATFORM.startswith("linux"):
                return self._linux(st)
            if _PLATFORM == "darwin":
                return self._macos(st)
        except Exception:
            logger.debug("stat cache: cannot tell the file system of %s", path, exc_info=True)
        return False

    def _linux(self, st: os.stat_result) -> bool:
        dev = (os.major(st.st_dev), os.minor(st.st_dev))
        if self.table is None or dev not in self.table:
            self.table = {}
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    fields = line.split()
                    if " - " not in line or len(fields) < 3:
                        continue
                    fstype = line.split(" - ", 1)[1].split()[0]
                    major, _, minor = fields[2].partition(":")
                    self.table[(int(major), int(minor))] = fstype
        return self.table.get(dev) in TRUSTED_LINUX

    def _macos(self, st: os.stat_result) -> bool:
        """The devices of the local APFS/HFS+ mounts (``mount`` says ``local``); only those
        mount points are stat-ed, so a dead network mount cannot hang this."""
        if self.mac is None or st.st_dev not in self.mac:
            import subprocess  # deferred: macOS only, once per process (and per new device)

            out = subprocess.run(
                ["/sbin/mount"], capture_output=True, text=True, timeout=10, check=True
            ).stdout
            self.mac = set()
            for line in out.splitlines():  # "/dev/disk3s1 on / (apfs, local, journaled)"
                head, sep, opts = line.rpartition(" (")
                if not sep or " on " not in head:
                    continue
                flags = [o.strip() for o in opts.rstrip(")").split(",")]
                if flags[0] in TRUSTED_MACOS and "local" in flags:
                    try:
                        self.mac.add(os.stat(head.split(" on ", 1)[1]).st_dev)
                    except OSError:
                        continue
        return st.st_dev in self.mac


_mounts = _Mounts()


# ---------------------------------------------------------------- the cache file


class _Cache:
    """One connection per process (behind a lock), the pending batch, and a prefetched
    map of entries for the files about to be hashed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.where: Path | None = None
        self.pid = 0
        self.broken: set[Path] = set()  # no cache for these files in this process
        self.recreated: set[Path] = set()
        self.pending: dict[str, tuple[Any, ...]] = {}  # path → row, not written yet
        self.last_flush = time.monotonic()
        self.pruned = False
        self.prefetched: dict[str, Entry] = {}
        self.prefetched_paths: set[str] = set()
        self.prefetching = 0
        self.paused_until = 0.0  # busy: no cache (not even a wait) until then
        self.busy_once: set[Path] = set()  # busy when opened: twice → not in this process
        self.forgotten: list[str] = []  # forget() could not reach the file: never trusted here

    # -- connection

    def _connection(self) -> sqlite3.Connection | None:
        """The open cache (opened, or created, on first use); None if it cannot be used."""
        if time.monotonic() < self.paused_until:
            return None
        where = cache_file()
        if self.conn is not None and (self.where != where or self.pid != os.getpid()):
            if self.pid == os.getpid():
                self._close()
            else:  # a forked child: never touch the parent's connection
                self.conn, self.pending = None, {}
        if self.conn is None:
            if where in self.broken:
                return None
            self.where, self.pid = where, os.getpid()
            self.conn = self._open(where)
        return self.conn

    def _open(self, where: Path) -> sqlite3.Connection | None:
        import sqlite3  # deferred: only when the cache is used

        for attempt in (1, 2):
            try:
                where.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(where, os.O_RDWR | os.O_CREAT, 0o600)
                os.close(fd)
                conn = sqlite3.connect(
                    where,
                    timeout=OPEN_TIMEOUT_MS / 1000,  # once per process: may wait longer
                    isolation_level=None,
                    check_same_thread=False,
                )
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version != SCHEMA_VERSION:  # new (or older): set it up, once
                        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
                            raise sqlite3.OperationalError("WAL mode is not available")
                        conn.execute("BEGIN IMMEDIATE")
                        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                            conn.execute("DROP TABLE IF EXISTS stat_hash")
                            for statement in _SCHEMA.split(";"):
                                if statement.strip():
                                    conn.execute(statement)
                            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                        conn.execute("COMMIT")
                    elif conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        raise sqlite3.OperationalError("the cache file is not in WAL mode")
                    conn.execute("PRAGMA synchronous = NORMAL")
                    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                except BaseException:
                    conn.close()
                    raise
                return conn
            except sqlite3.DatabaseError as exc:
                if attempt == 1 and _is_corrupt(exc):
                    self._recreate(where, exc)
                    continue
                busy = getattr(exc, "sqlite_errorcode", None) in (5, 6)
                if busy and where not in self.busy_once:  # another process: later, once more
                    logger.debug("stat cache: busy when opened (%s)", exc)
                    self.busy_once.add(where)
                    self.paused_until = time.monotonic() + FLUSH_SECONDS
                    return None
                self._give_up(where, exc)
                return None
            except OSError as exc:
                self._give_up(where, exc)
                return None
        return None

    def _recreate(self, where: Path, exc: BaseException) -> bool:
        """Delete a corrupt cache file (once per process); whether it was."""
        if where in self.recreated:
            return False
        self.recreated.add(where)
        logger.debug("stat cache: %s is unreadable (%s); creating it anew", where, exc)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{where}{suffix}")
            except FileNotFoundError:
                pass
            except OSError:
                return False
        return True

    def _give_up(self, where: Path, exc: BaseException) -> None:
        logger.debug("stat cache: not used in this process (%s: %s)", where, exc)
        self.broken.add(where)

    def _close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - closing a broken cache
                pass
        self.conn = None

    def _failed(self, exc: Exception) -> None:
        """An error while using the open cache: busy → no cache for ``FLUSH_SECONDS`` (each
        file would wait ``BUSY_TIMEOUT_MS`` otherwise); corrupt → recreate it next time (once
        per process); anything else → no cache for the rest of the process."""
        import sqlite3

        where = self.where
        if isinstance(exc, sqlite3.OperationalError) and not _is_corrupt(exc):
            code = getattr(exc, "sqlite_errorcode", None)
            if code in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED: another process is writing
                logger.debug("stat cache: busy (%s)", exc)
                self.paused_until = time.monotonic() + FLUSH_SECONDS
                return
        self._close()
        if where is None:
            return
        corrupt = isinstance(exc, sqlite3.DatabaseError) and _is_corrupt(exc)
        if corrupt and self._recreate(where, exc):
            return
        self._give_up(where, exc)

    # -- reading

    def prefetch(self, paths: list[str]) -> None:
        """Load the entries of these paths in a few queries (the files are about to be
        hashed); ``lookup`` answers from them until ``end_prefetch``."""
        with self.lock:
            self.prefetching += 1
            conn = self._connection()
            if conn is None:
                return
            try:
                for i in range(0, len(paths), PREFETCH_CHUNK):
                    chunk = paths[i : i + PREFETCH_CHUNK]
                    marks = ",".join("?" * len(chunk))  # placeholders only, no values
                    query = _PREFETCH + f"({marks})"
                    rows = conn.execute(query, chunk).fetchall()
                    for row in rows:
                        self.prefetched[row[0]] = (tuple(row[1:6]), row[6], row[7])
                    self.prefetched_paths.update(chunk)
            except Exception as exc:  # noqa: BLE001 - the cache never fails a hash
                self._failed(exc)

    def end_prefetch(self) -> None:
        with self.lock:
            self.prefetching = max(0, self.prefetching - 1)
            if not self.prefetching:
                self.prefetched, self.prefetched_paths = {}, set()

    def lookup(self, path: str, key: Key) -> tuple[str, str] | None:
        if self.forgotten and any(path == f or path.startswith(f + os.sep) for f in self.forgotten):
            return None
        # dict and set reads need no lock (every change to them holds it); a query does
        row = self.pending.get(path)
        if row is not None:
            entry: Entry | None = (tuple(row[1:6]), row[6], row[7])
        elif path in self.prefetched_paths:
            entry = self.prefetched.get(path)
        else:
            with self.lock:
                entry = self._select(path)
        if entry is not None and entry[0] == key:
            return entry[1], entry[2]
        return None

    def _select(self, path: str) -> Entry | None:
        conn = self._connection()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT dev, ino, size, mtime_ns, ctime_ns, hash, hash_type "
                "FROM stat_hash WHERE path = ?",
                (path,),
            ).fetchone()
        except Exception as exc:  # noqa: BLE001 - the cache never fails a hash
            self._failed(exc)
            return None
        return None if row is None else (tuple(row[:5]), row[5], row[6])

    # -- writing

    def remember(self, path: str, key: Key, hash_: str, hash_type: str) -> None:
        with self.lock:
            self.pending[path] = (path, *key, hash_, hash_type, int(time.time()))
            if path in self.prefetched_paths:
                self.prefetched[path] = (key, hash_, hash_type)
            due = time.monotonic() - self.last_flush >= FLUSH_SECONDS
            if len(self.pending) >= BATCH or due:
                self._flush()

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        """Write the pending entries in one transaction; busy → keep them for the next
        flush (up to ``MAX_PENDING``), any other failure → drop them."""
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        batch = list(self.pending.values())
        conn = self._connection()
        if conn is None:
            if time.monotonic() >= self.paused_until or len(batch) > MAX_PENDING:
                self.pending = {}
            return
        self.pending = {}
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO stat_hash (path, dev, ino, size, mtime_ns, "
                    "ctime_ns, hash, hash_type, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
                if not self.pruned:
                    self.pruned = True
                    self._prune(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except Exception as exc:  # noqa: BLE001 - the cache never fails a hash
            self._failed(exc)
            if time.monotonic() < self.paused_until and len(batch) <= MAX_PENDING:
                for row in batch:  # busy: once more next time (newer entries win)
                    self.pending.setdefault(row[0], row)

    def _prune(self, conn: sqlite3.Connection) -> None:
        now = int(time.time())
        row = conn.execute("SELECT value FROM meta WHERE name = 'pruned_at'").fetchone()
        if row is not None and now - row[0] < 86400:
            return
        conn.execute("DELETE FROM stat_hash WHERE stored_at < ?", (now - MAX_AGE_DAYS * 86400,))
        conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('pruned_at', ?)", (now,))

    def forget(self, path: str) -> None:
        """No entry any more for ``path`` and the files under it (pending, prefetched, stored)."""
        below = path.rstrip(os.sep) + os.sep
        with self.lock:
            for table in (self.pending, self.prefetched):
                for name in [n for n in table if n == path or n.startswith(below)]:
                    del table[name]
            conn = self._connection()
            if conn is None:
                self.forgotten.append(path.rstrip(os.sep))
                return
            try:  # below … below + 1: every path that starts with ``below``
                end = below[:-1] + chr(ord(below[-1]) + 1)
                conn.execute(
                    "DELETE FROM stat_hash WHERE path = ? OR (path >= ? AND path < ?)",
                    (path, below, end),
                )
            except Exception as exc:  # noqa: BLE001 - the cache never fails a hash
                self._failed(exc)

    def close(self) -> None:
        """The last flush (one try even if paused), and the connection closed."""
        with self.lock:
            self.paused_until = 0.0
            if self.conn is not None and self.pending:
                try:
                    self.conn.execute(f"PRAGMA busy_timeout = {OPEN_TIMEOUT_MS}")
                except Exception:
                    logger.debug("stat cache: cannot wait longer", exc_info=True)
            self._flush()
            self._close()
            self.pending = {}

    def after_fork(self) -> None:
        """In a forked child: new locks (another thread may have held these), and the
        parent's connection and batch left alone (the child opens its own)."""
        self.lock = threading.Lock()
        self.conn, self.pending, self.prefetched, self.prefetched_paths = None, {}, {}, set()
        self.prefetching = 0


def _is_corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


_cache = _Cache()
atexit.register(_cache.close)


def _after_fork() -> None:
    global _bypass_lock
    _bypass_lock = threading.Lock()
    _mounts.lock = threading.Lock()
    _cache.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# ---------------------------------------------------------------- the interface hashing uses


def worth(size: int | None) -> bool:
    """Whether a file of this size (None: not known yet) may go through the cache at all."""
    return size is None or size >= MIN_SIZE


def usable(st: os.stat_result, path: str) -> bool:
    """Whether the cache may answer for (or remember) this open file (``enabled()`` aside)."""
    return stat.S_ISREG(st.st_mode) and _mounts.trusted(st, path)


def on_local_disk(path: str) -> bool:
    """Whether ``path`` lies on a local file system of this machine (not NFS, SMB, FUSE, a
    container's overlay, …; False if it cannot be told)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _mounts.trusted(st, path)


def lookup(path: str, st: os.stat_result) -> tuple[str, str] | None:
    """The cached ``(hash, hash_type)`` of the file opened at ``path`` with ``fstat`` ``st``,
    if an entry matches all five fields; None otherwise (hash it for real). The caller has
    checked ``enabled()``."""
    if not usable(st, path):
        return None
    try:
        return _cache.lookup(path, key_of(st))
    except Exception:
        logger.debug("stat cache: lookup failed", exc_info=True)
        return None


def remember(
    path: str,
    before: os.stat_result,
    after: os.stat_result,
    started_ns: int,
    result: tuple[str, str],
) -> bool:
    """Store a hash just computed, if it is safe to (see the module's docstring): ``before``
    and ``after`` are ``fstat`` of the descriptor before and after reading, ``started_ns``
    the wall clock before the first read. Whether it was stored (in the pending batch)."""
    key = key_of(before)
    if key != key_of(after) or _bypass_depth or not usable(before, path):
        return False
    if max(before.st_mtime_ns, before.st_ctime_ns) > started_ns - RACY_MARGIN_NS:
        return False  # racy: a later write could keep these time stamps
    try:
        _cache.remember(path, key, *result)
    except Exception:
        logger.debug("stat cache: remember failed", exc_info=True)
        return False
    return True


@contextmanager
def batch(paths: list[str]) -> Iterator[None]:
    """Hashing many files: their entries read in a few queries up front, the new ones
    written when the block ends."""
    if not enabled() or not paths:
        yield
        return
    try:
        _cache.prefetch(paths)
    except Exception:
        logger.debug("stat cache: prefetch failed", exc_info=True)
    try:
        yield
    finally:
        try:
            _cache.end_prefetch()
            _cache.flush()
        except Exception:
            logger.debug("stat cache: flush failed", exc_info=True)


def forget(path: str | os.PathLike[str]) -> None:
    """Drop the entries of a file, or of every file in a folder: the bytes stored from it
    did not match the hash the cache gave (only a file changed without a new ctime, see the
    module's docstring, can do that), so the next hash reads them again."""
    try:
        _cache.forget(os.path.abspath(os.fspath(path)))
    except Exception:
        logger.debug("stat cache: forget failed", exc_info=True)


def flush() -> None:
    """Write the pending entries now."""
    try:
        _cache.flush()
    except Exception:
        logger.debug("stat cache: flush failed", exc_info=True)


def close() -> None:
    """Write the pending entries and close the file (tests; also run at exit)."""
    _cache.close()
