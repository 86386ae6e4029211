"""Real servers for the tests: PostgreSQL, moto (S3), gcp-storage-emulator (GCS), a TCP proxy.

Every server listens on a free 127.0.0.1 port, logs to a file that is shown when start-up
fails, and is stopped by `close()` (the fixtures in conftest.py call it; an atexit hook is the
backstop when pytest itself is interrupted).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

START_TIMEOUT = 20.0
_names = itertools.count()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unique_name(prefix: str) -> str:
    """A short name valid as an S3/GCS bucket and a PostgreSQL database."""
    return f"{prefix}-{next(_names)}-{uuid.uuid4().hex[:8]}"


def _bin(name: str) -> str:
    """A console script of this virtualenv, else one from PATH."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} not found next to {sys.executable} or on PATH; run ./dev.sh setup"
        )
    return found


def _log_tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:] or "(empty log)"


class ServiceError(RuntimeError):
    """A test server could not be started or stopped."""


class _Process:
    """A server process in its own session, logging to a file, killed with its group."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env: Mapping[str, str]):
        self.name, self.port, self.log = name, port, log
        started = time.monotonic()
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
            )
        _live.add(self.stop)
        try:
            _wait_for_port(port, name, log, alive=lambda: self.popen.poll() is None)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        _live.discard(self.stop)
        if self.popen.poll() is None:
            _kill_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                _kill_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _wait_for_port(port: int, name: str, log: Path, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if not alive():
            raise ServiceError(f"{name} exited during start-up; its log ({log}):\n{_log_tail(log)}")
        time.sleep(0.05)
    raise ServiceError(
        f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s; "
        f"its log ({log}):\n{_log_tail(log)}"
    )


# Stop callbacks of everything still running, for the atexit backstop.
_live: set[Callable[[], None]] = set()


@atexit.register
def _stop_everything() -> None:
    for stop in list(_live):
        try:
            stop()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


def stop_at_exit(stop: Callable[[], None]) -> None:
    """Call `stop` at exit or on SIGTERM, as for the servers (for other background work)."""
    _live.add(stop)


def stop_servers_on_sigterm() -> None:
    """Stop the servers when pytest is terminated (atexit does not run on a fatal signal)."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def handler(signum: int, frame: object) -> None:
        _stop_everything()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, handler)


# --------------------------------------------------------------------------- PostgreSQL


class Database(NamedTuple):
    name: str
    url: str


def _pg_bindir() -> Path:
    """The newest server binaries: Debian keeps them off PATH in /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServiceError("PostgreSQL server binaries (initdb) not found; run ./dev.sh setup")


class PostgresServer:
    """A throwaway cluster: trust auth, no fsync, unix socket and data in a temp dir."""

    def __init__(self, env: Mapping[str, str]):
        self.env = dict(env)
        self.bindir = _pg_bindir()
        self.as_postgres = os.getuid() == 0
        # As root the server runs as `postgres`, which cannot enter root's private TMPDIR.
        self.base = Path(
            tempfile.mkdtemp(prefix="labshelf-pg-", dir="/tmp" if self.as_postgres else None)
        )
        self.datadir, self.sockdir = self.base / "data", self.base / "sock"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.running = False
        self.start_seconds = 0.0
        _live.add(self.close)
        try:
            self.sockdir.mkdir()
            if self.as_postgres:
                pw = pwd.getpwnam("postgres")
                for path in (self.base, self.sockdir):
                    os.chown(path, pw.pw_uid, pw.pw_gid)
            started = time.monotonic()
            self._initdb()
            self.start()
            self._admin("CREATE EXTENSION IF NOT EXISTS pg_trgm", dbname="template1")
            self.start_seconds = time.monotonic() - started
        except BaseException:
            self.close()
            raise

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        argv = [str(self.bindir / tool), *args]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(
            argv,
            cwd=self.base,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise ServiceError(
                f"{tool} failed (exit {done.returncode}): {' '.join(argv)}\n"
                f"{done.stdout}{done.stderr}\nserver log ({self.log}):\n{_log_tail(self.log)}"
            )

    def _initdb(self) -> None:
        # C.UTF-8 keeps pg_trgm word characters right for non-ASCII text; --no-sync for speed.
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start (or restart after `stop()`) on the same port with the same data."""
        if self.running:
            return
        options = (
            f"-p {self.port} -k '{self.sockdir}' -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(int(START_TIMEOUT)),
            "-o",
            options,
            "start",
        )
        self.running = True
        _wait_for_port(self.port, "PostgreSQL", self.log, alive=lambda: True)

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected); the data is kept."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
            self.running = False

    def close(self) -> None:
        _live.discard(self.close)
        try:
            if self.running:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
                self.running = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """The libpq form, for psycopg.connect()."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, icu_locale: str | None = None) -> Database:
        """A new empty database (with pg_trgm, inherited from template1); with ``icu_locale``,
        one whose collation is that ICU locale's (strings order as people read them)."""
        name = unique_name("test").replace("-", "_")
        if icu_locale is None:
            self._admin(f'CREATE DATABASE "{name}"')
        else:
            self._admin(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                f"ICU_LOCALE '{icu_locale}' LOCALE 'C.UTF-8'"
            )
        return Database(name, self.url(name))


# --------------------------------------------------------------------------- S3 and GCS


class S3Server:
    """moto_server: an in-memory S3 (its state is lost on restart, so it is never restarted)."""

    def __init__(self, env: Mapping[str, str], workdir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = _Process(
            "moto_server",
            [_bin("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            self.port,
            workdir / "moto_server.log",
            env,
        )
        self.start_seconds = self.proc.start_seconds

    @property
    def env(self) -> dict[str, str]:
        """What boto3 and s3fs need to reach this server (set for the whole session)."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one by default) and return its name."""
        import boto3

        name = name or unique_name("test")
        # No LocationConstraint: us-east-1 rejects one.
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=name)
        return name

    def close(self) -> None:
        self.proc.stop()


class GCSServer:
    """gcp-storage-emulator in memory; it serves one request at a time, so keep GCS tests small."""

    def __init__(self, env: Mapping[str, str], workdir: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = _Process(
            "gcp-storage-emulator",
            [
                _bin("gcp-storage-emulator"),
                "start",
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--in-memory",
            ],
            self.port,
            workdir / "gcp-storage-emulator.log",
            env,
        )
        self.start_seconds = self.proc.start_seconds

    @property
    def env(self) -> dict[str, str]:
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }

    def filesystem(self):
        """A gcsfs filesystem on this emulator (anonymous, project "test")."""
        import gcsfs

        return gcsfs.GCSFileSystem(project="test", token="anon", endpoint_url=self.endpoint)

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one by default) and return its name."""
        name = name or unique_name("test")
        fs = self.filesystem()
        fs.mkdir(name)
        # gcsfs caches bucket listings; a stale one makes later lookups fail.
        fs.invalidate_cache()
        return name

    def close(self) -> None:
        self.proc.stop()


# --------------------------------------------------------------------------- TCP proxy


class TcpProxy:
    """A loopback TCP proxy for fault injection: `cut()` drops the line, `restore()` mends it.

    While cut, live connections are reset and new ones are reset at once (`hang=False`) or
    accepted and left silent until restored (`hang=True`, like a network black hole).
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        self._cut: str | None = None  # None, "reset" or "hang"
        self._closed = False
        # bytes the clients sent through the proxy (requests: headers and bodies)
        self.bytes_sent = 0
        threading.Thread(
            target=self._accept_loop, name=f"tcp-proxy-{self.port}", daemon=True
        ).start()

    @property
    def is_cut(self) -> bool:
        return self._cut is not None

    def cut(self, hang: bool = False) -> None:
        """Reset every live connection; until `restore()`, reset (or, with hang, stall) new ones."""
        with self._lock:
            self._cut = "hang" if hang else "reset"
            live, self._sockets = self._sockets, set()
        for sock in live:
            _reset(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = None
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.restore()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._listener.close()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._closed:
                _reset(client)
                return
            with self._lock:
                mode = self._cut
                if mode == "hang":
                    self._held.append(client)
                    continue
            if mode == "reset":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool = False) -> None:
        try:
            while data := src.recv(65536):
                if up:
                    with self._lock:
                        self.bytes_sent += len(data)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            # The other direction may still be flowing; close both only once it has ended too.
            with self._lock:
                if src in self._sockets:
                    self._sockets.discard(src)
                    done = dst not in self._sockets
                else:
                    done = True
            if done:
                src.close()
                dst.close()


def _reset(sock: socket.socket) -> None:
    """Close abruptly (RST), so the peer fails at once instead of seeing a clean end of stream."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Wakes a pump thread blocked in recv() on this socket; close() alone would not.
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()
