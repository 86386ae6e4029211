"""A pytest plugin: a test that outlives its timeout by HARD_STOP_GRACE seconds ends the run.

pytest-timeout's SIGALRM fails a test stuck in Python code, but not a thread stuck in native
code with the signal unanswered, nor a cleanup that hangs after the timeout fired; either would
hold the whole run until CI's own limit, with nothing in the log. So each test also gets
faulthandler's watchdog thread (native, needs no GIL): at timeout + grace it writes every
thread's stack to LABSHELF_HARD_STOP_LOG (default: hard-stop.log in the run's temporary base
folder; stderr is pytest's capture file by then and would be lost) and exits the process. The run
fails in bounded time; `./dev.sh test` under CI prints that file.
tests/conftest.py loads this plugin; tests/test_hard_stop.py checks it.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from typing import IO

import pytest

HARD_STOP_GRACE = float(os.environ.get("LABSHELF_TEST_HARD_STOP_GRACE", "90"))


_log: IO[str] | None = None


@pytest.hookimpl(trylast=True)  # after the tmp_path plugin has set up the run's base folder
def pytest_configure(config: pytest.Config) -> None:
    global _log
    path = os.environ.get("LABSHELF_HARD_STOP_LOG") or str(
        config._tmp_path_factory.getbasetemp() / "hard-stop.log"  # type: ignore[attr-defined]
    )
    _log = open(path, "w")  # noqa: SIM115 - open for the whole run, written by faulthandler


def pytest_report_header(config: pytest.Config) -> str:
    name = _log.name if _log is not None else "-"
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
