"""A pytest plugin: a test that outlives its timeout by HARD_STOP_GRACE seconds ends the run.

pytest-timeout's SIGALRM fails a test stuck in Python code, but not a thread stuck in native
code with the signal unanswered, nor a cleanup that hangs after the timeout fired; either would
hold the whole run until CI's own limit, with nothing in the log. So each test also gets
faulthandler's watchdog thread (native, needs no GIL): at timeout + grace it writes every
thread's stack to LABSHELF_HARD_STOP_LOG (default: hard-stop.log in the run's temporary base
folder; stderr is pytest's capture file by then and would be lost) and exits the process. The run
fails in bounded time; `./dev.sh test` under CI prints that file.
Under pytest-xdist the workers run the tests, each with its own file (see `log_path`); a worker
that stops this way is reported as crashed, and `./dev.sh test` passes --max-worker-restart=0 so
that, as without xdist, the run ends there.
tests/conftest.py loads this plugin; tests/test_hard_stop.py checks it, with and without xdist.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from typing import IO

import pytest

HARD_STOP_GRACE = float(os.environ.get("LABSHELF_TEST_HARD_STOP_GRACE", "90"))


_log: IO[str] | None = None


def log_path(config: pytest.Config) -> str:
    """LABSHELF_HARD_STOP_LOG, else hard-stop.log in the run's temporary base folder. Under
    pytest-xdist each worker process runs tests and writes its own file beside that one:
    hard-stop.gw0-PID.log (the PID too: a worker that xdist starts in place of a stopped one
    must not wipe the stacks its predecessor left)."""
    path = os.environ.get("LABSHELF_HARD_STOP_LOG") or str(
        config._tmp_path_factory.getbasetemp() / "hard-stop.log"  # type: ignore[attr-defined]
    )
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        stem, dot, suffix = path.rpartition(".")
        if not dot or "/" in suffix:
            stem, suffix = path, "log"
        path = f"{stem}.{worker}-{os.getpid()}.{suffix}"
    return path


def _runs_tests(config: pytest.Config) -> bool:
    """False in pytest-xdist's controller, which hands the tests to its workers (the same
    test as xdist's own is_xdist_controller, which needs a request or session)."""
    if hasattr(config, "workerinput"):
        return True
    return getattr(config.option, "dist", "no") == "no" or not getattr(config.option, "tx", None)


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin has set up the run's base folder
def pytest_configure(config: pytest.Config) -> None:
    global _log
    if not _runs_tests(config):
        return
    # open for the whole run, written by faulthandler
    _log = open(log_path(config), "w")  # noqa: SIM115


def pytest_report_header(config: pytest.Config) -> str:
    if _log is not None:
        name = _log.name
    elif not _runs_tests(config):
        name = log_path(config).removesuffix(".log") + ".<worker>-<pid>.log (one per worker)"
    else:
        name = "-"
    return f"hard stop: {HARD_STOP_GRACE:g} s past a test's timeout, stacks to {name}"


def _timeout(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    try:
        return float(item.config.getini("timeout") or 0)
    except ValueError:  # pytest-timeout is not installed
        return 0.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    timeout = _timeout(item)
    if timeout > 0 and _log is not None:  # pytest-timeout's timer spans setup, call, teardown
        _log.seek(0)
        _log.truncate()
        _log.write(
            f"running: {item.nodeid} (timeout {timeout:g} s; if it outlives that by "
            f"{HARD_STOP_GRACE:g} s, every thread's stack follows and the run ends)\n"
        )
        _log.flush()
        faulthandler.dump_traceback_later(timeout + HARD_STOP_GRACE, exit=True, file=_log)
    try:
        yield
    finally:
        if timeout > 0 and _log is not None:
            faulthandler.cancel_dump_traceback_later()
            _log.seek(0)
            _log.truncate()
            _log.flush()
