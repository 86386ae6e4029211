"""tests/hard_stop.py ends a run whose test hangs where pytest-timeout cannot reach it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HANGS = """
import signal, time
import pytest

@pytest.mark.timeout(1)
def test_hangs_with_the_alarm_blocked():
    # SIGALRM blocked: pytest-timeout's alarm is never answered, as in a native hang
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(600)

def test_never_reached():
    pass
"""


def _run_hanging(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp_path / "test_hangs.py").write_text(HANGS)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent),
        "LABSHELF_TEST_HARD_STOP_GRACE": "2",
        "LABSHELF_HARD_STOP_LOG": str(tmp_path / "hard-stop.log"),
    }
    env.pop("PYTEST_XDIST_WORKER", None)  # this test itself may run in an xdist worker
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "hard_stop",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            *args,
            str(tmp_path / "test_hangs.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def test_a_test_stuck_past_its_timeout_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    done, elapsed = _run_hanging(tmp_path)
    assert done.returncode != 0
    assert elapsed < 60, elapsed
    stacks = (tmp_path / "hard-stop.log").read_text()
    assert "running: test_hangs.py::test_hangs_with_the_alarm_blocked (timeout 1 s" in stacks
    assert "Timeout" in stacks and "in test_hangs_with_the_alarm_blocked" in stacks, stacks
    assert "passed" not in done.stdout


def test_under_xdist_the_worker_writes_its_own_file_and_the_run_ends(tmp_path: Path) -> None:
    """As ./dev.sh test runs the suite: in xdist workers, with --max-worker-restart=0."""
    done, elapsed = _run_hanging(tmp_path, "-p", "xdist", "-n", "1", "--max-worker-restart=0")
    assert done.returncode != 0, done.stdout
    assert elapsed < 60, elapsed
    (log,) = tmp_path.glob("hard-stop.gw0-*.log")
    stacks = log.read_text()
    assert "running: test_hangs.py::test_hangs_with_the_alarm_blocked (timeout 1 s" in stacks
    assert "Timeout" in stacks and "in test_hangs_with_the_alarm_blocked" in stacks, stacks
    assert "crashed" in done.stdout, done.stdout
    assert "passed" not in done.stdout, done.stdout  # the run ended: the next test never ran
