"""The PyInstaller bundle's build (dist/labshelf from build.spec), for tests/bundle.

The build takes a few minutes, mostly on one core. With --bundle, tests/conftest.py starts it
in the background as soon as the run knows it has bundle tests to run (`start_background`),
so it overlaps with the rest of the suite; the bundle tests' fixture then waits for it
(`bundle`). A build holds an exclusive lock on build/bundle.lock from start to end, so
whoever needs the bundle (a pytest-xdist worker, a second pytest in the same tree) waits for
the build in progress instead of starting a second one into the same dist/ folder.

`python tests/bundle_build.py` is the background build itself: it runs PyInstaller with the
lock it was handed, and writes the outcome to build/bundle-build.json.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUILD_TIMEOUT_S = 1800
ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist" / "labshelf"
EXE = DIST / "labshelf"
SOURCES = ("app", "core", "resources", "build.spec", "pyproject.toml")
LOCK = ROOT / "build" / "bundle.lock"
RESULT = ROOT / "build" / "bundle-build.json"  # the last build's outcome
LOG = ROOT / "build" / "bundle-build.log"  # the background build's own output


def newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else path.rglob("*")
        newest = max(
            [
                newest,
                *(f.stat().st_mtime for f in files if f.is_file() and "__pycache__" not in f.parts),
            ]
        )
    return newest


def is_fresh() -> bool:
    """dist/labshelf exists and is newer than every source file."""
    return EXE.exists() and EXE.stat().st_mtime > newest_source()


def build() -> dict[str, Any]:
    """Run PyInstaller (the caller holds the lock); its outcome, also kept in RESULT."""
    sources = newest_source()
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    start = time.monotonic()
    try:
        done = subprocess.run(
            [str(pyinstaller), "--noconfirm", "build.spec"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        returncode, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, stderr = -1, f"pyinstaller timed out after {exc.timeout} s\n{exc.stderr or ''}"
    result = {
        "returncode": returncode,
        "seconds": time.monotonic() - start,
        "stderr": stderr[-4000:],
        "sources": sources,
    }
    RESULT.write_text(json.dumps(result))
    return result


def _locked(blocking: bool) -> int | None:
    """An open descriptor of LOCK holding its exclusive lock; None if not blocking and the lock
    is taken (a build is running)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def start_background() -> Callable[[], None] | None:
    """Start the build in a background process unless the bundle is fresh or a build is
    running; returns what stops it (None: nothing started)."""
    if is_fresh():
        return None
    fd = _locked(blocking=False)
    if fd is None:
        return None
    try:
        RESULT.unlink(missing_ok=True)
        with open(LOG, "wb") as log:
            # The child inherits the locked descriptor: the lock is held until it exits.
            proc = subprocess.Popen(
                [sys.executable, __file__],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
                start_new_session=True,
            )
    finally:
        os.close(fd)

    def stop() -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    return stop


def bundle() -> tuple[str, dict[str, Any] | None]:
    """Wait for a build in progress, then build unless the bundle is fresh. Returns how the
    bundle came to be ("built", "built in the background", "reused") and the build's outcome."""
    fd = _locked(blocking=True)
    assert fd is not None
    try:
        try:
            last = json.loads(RESULT.read_text())
        except (OSError, ValueError):
            last = None
        if is_fresh():
            if last is not None and last["returncode"] == 0 and last["sources"] == newest_source():
                return "built in the background", last
            return "reused", None
        if last is not None and last["returncode"] != 0 and last["sources"] == newest_source():
            return "built in the background", last  # failed: not tried a second time
        return "built", build()
    finally:
        os.close(fd)


if __name__ == "__main__":
    # The background build: the lock came with the inherited descriptor.
    outcome = build()
    print(f"[bundle] pyinstaller exit {outcome['returncode']} in {outcome['seconds']:.0f} s")
    sys.exit(0 if outcome["returncode"] == 0 else 1)
