"""Shared test setup: isolation from the user's files, real servers, markers.

Servers are session-scoped and start lazily, only when a test asks for them:
`pg_server`, `s3_server`, `gcs_server`; `tcp_proxy` makes fault-injection proxies.
"""

from __future__ import annotations

import os

# Both must be set before Qt or gcsfs is imported anywhere: gcsfs otherwise waits 60 s per
# operation on a gRPC lookup the emulator cannot answer.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import labshelf as ls
import pytest
from labshelf.instance import disconnect

pytest_plugins = ("hard_stop",)

try:  # tests/ may or may not be a package, depending on how the suite grows
    from .services import (
        GCSServer,
        PostgresServer,
        S3Server,
        TcpProxy,
        stop_at_exit,
        stop_servers_on_sigterm,
    )
except ImportError:
    from services import (
        GCSServer,
        PostgresServer,
        S3Server,
        TcpProxy,
        stop_at_exit,
        stop_servers_on_sigterm,
    )

stop_servers_on_sigterm()

# The environment servers are started with: the session's, before per-test isolation.
_SERVER_ENV = dict(os.environ)

_ISOLATED_VARS = {
    "LABSHELF_CONFIG_DIR": "config",
    "LABSHELF_DATA_DIR": "data",
    "LABSHELF_CACHE_DIR": "cache",
    "HOME": "home",
    "XDG_CONFIG_HOME": "xdg-config",
    "XDG_DATA_HOME": "xdg-data",
    "XDG_CACHE_HOME": "xdg-cache",
    "XDG_RUNTIME_DIR": "xdg-runtime",
}
# Credentials and profiles from the developer's machine must never leak into a test.
_DROPPED_VARS = (
    "LABSHELF_INSTANCE",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labshelf")
    group.addoption("--long", action="store_true", help="also run tests marked slow")
    group.addoption(
        "--bundle",
        action="store_true",
        help="also run tests marked bundle (or set LABSHELF_TEST_BUNDLE=1)",
    )


_FIXTURE_MARKS = {"pg_server": "pg", "s3_server": "cloud", "gcs_server": "cloud"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--long")
    run_bundle = config.getoption("--bundle") or os.environ.get("LABSHELF_TEST_BUNDLE") == "1"
    skip_slow = pytest.mark.skip(reason="slow: run with --long")
    skip_bundle = pytest.mark.skip(reason="bundle: run with --bundle or LABSHELF_TEST_BUNDLE=1")
    for item in items:
        # Tests that use a server get its marker, so `-m "not pg"` etc. select by need.
        for fixture, mark in _FIXTURE_MARKS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(mark)
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "bundle" in item.keywords and not run_bundle:
            item.add_marker(skip_bundle)


def _bundle_wanted(config: pytest.Config) -> bool:
    return bool(config.getoption("--bundle")) or os.environ.get("LABSHELF_TEST_BUNDLE") == "1"


_bundle_build_stop: list[Callable[[], None]] = []


def _start_bundle_build(config: pytest.Config, nodeids: list[str]) -> None:
    """With --bundle, the PyInstaller build (a few minutes, mostly one core) starts as soon as
    the tests are collected, in the background: it overlaps with the rest of the suite, and
    tests/bundle waits for it (tests/bundle_build.py). Once per run, in the process that hands
    out the tests (pytest-xdist's controller, else the only one)."""
    if _bundle_build_stop or not _bundle_wanted(config) or hasattr(config, "workerinput"):
        return
    if not any("test_bundle.py::" in nodeid for nodeid in nodeids):
        return
    from bundle_build import start_background

    stop = start_background()
    if stop is not None:
        _bundle_build_stop.append(stop)
        stop_at_exit(stop)


def pytest_collection_finish(session: pytest.Session) -> None:
    _start_bundle_build(session.config, [item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    _start_bundle_build(node.config, ids)


# Test files whose tests one pytest-xdist worker runs together, in --dist loadgroup: the
# bundle's (its tests share one build; the worker that has them waits for the build while the
# others go on). Their xdist_group marks say the same, but pytest-xdist 3.8 cannot read them
# under pytest 9 (it renames nodes through an attribute pytest 9 no longer has), so the
# scheduler below groups by file name instead.
XDIST_GROUPS = {"tests/bundle/test_bundle.py": "bundle"}


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class FileGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = XDIST_GROUPS.get(nodeid.split("::", 1)[0])
            return group if group is not None else super()._split_scope(nodeid)

    return FileGroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    # A build no bundle test waited for (the run was cut short): not left running.
    for stop in _bundle_build_stop:
        stop()


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Fresh config/data/cache dirs and HOME per test; the user's own files are never touched."""
    root = tmp_path_factory.mktemp("env")
    for var, sub in _ISOLATED_VARS.items():
        path = root / sub
        path.mkdir(mode=0o700)
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("LABSHELF_USER", "testuser")
    for var in _DROPPED_VARS:
        monkeypatch.delenv(var, raising=False)
    return root


@pytest.fixture(scope="session")
def _service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logs of the servers started by this session (pytest keeps the last few runs' temp dirs)."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server; `.url(db)`, `.create_database()`, `.stop()`/`.start()`."""
    server = PostgresServer(_SERVER_ENV)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3_server(_service_dir: Path) -> Iterator[S3Server]:
    """A moto S3 server; AWS_* (incl. AWS_ENDPOINT_URL) point at it for the rest of the session."""
    server = S3Server(_SERVER_ENV, _service_dir)
    with pytest.MonkeyPatch.context() as mp:
        for var, value in server.env.items():
            mp.setenv(var, value)
        try:
            yield server
        finally:
            server.close()


@pytest.fixture(scope="session")
def gcs_server(_service_dir: Path) -> Iterator[GCSServer]:
    """A GCS emulator; STORAGE_EMULATOR_HOST points at it for the rest of the session."""
    server = GCSServer(_SERVER_ENV, _service_dir)
    with pytest.MonkeyPatch.context() as mp:
        for var, value in server.env.items():
            mp.setenv(var, value)
        try:
            yield server
        finally:
            server.close()


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[int], TcpProxy]]:
    """Factory: `proxy = tcp_proxy(target_port)`; every proxy made is closed after the test."""
    proxies: list[TcpProxy] = []

    def make(target_port: int) -> TcpProxy:
        proxy = TcpProxy(target_port)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


# ---------------------------------------------------------------- instances (core, reliability)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for the embedded SQLite default, else a fresh PostgreSQL database."""
    if backend == "sqlite":
        return None
    pg = request.getfixturevalue("pg_server")
    return pg.create_database().url


@pytest.fixture
def instance(tmp_path: Path, db_url: str | None) -> Iterator[Path]:
    """A current instance with local storage at ``tmp_path/store``; yields the storage root."""
    root = tmp_path / "store"
    ls.init(str(root), db=db_url)
    try:
        yield root
    finally:
        disconnect()


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Iterator[Path]:
    """Like ``instance``, SQLite only (for tests about local behaviour, not the database)."""
    root = tmp_path / "store"
    ls.init(str(root))
    try:
        yield root
    finally:
        disconnect()
