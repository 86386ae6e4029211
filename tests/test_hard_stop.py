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


def test_a_test_stuck_past_its_timeout_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    (tmp_path / "test_hangs.py").write_text(HANGS)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parent),
        "LABSHELF_TEST_HARD_STOP_GRACE": "2",
        "LABSHELF_HARD_STOP_LOG": str(tmp_path / "hard-stop.log"),
    }
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
            str(tmp_path / "test_hangs.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode != 0
    assert elapsed < 60, elapsed
    stacks = (tmp_path / "hard-stop.log").read_text()
    assert "running: test_hangs.py::test_hangs_with_the_alarm_blocked (timeout 1 s" in stacks
    assert "Timeout" in stacks and "in test_hangs_with_the_alarm_blocked" in stacks, stacks
    assert "passed" not in done.stdout
