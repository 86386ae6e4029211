"""Process-level care for bulk work that shares the interpreter with a GUI."""

from __future__ import annotations

import gc
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved_thresholds = gc.get_threshold()
NO_FULL_COLLECTIONS = 1_000_000


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off *full* garbage collections while a bulk operation runs.

    Registering thousands of records creates many long-lived objects; CPython 3.11
    then runs full (generation 2) collections over the whole heap again and again,
    each holding the GIL for 50-150 ms and freezing a UI thread. Young collections
    stay on (they are cheap and keep cyclic garbage in check); full ones wait until
    the operation is over, when its objects have been freed by reference counting.
    Nested and concurrent uses share one pause.
    """
    global _depth, _saved_thresholds
    with _lock:
        if _depth == 0:
            _saved_thresholds = gc.get_threshold()
            young, middle, _ = _saved_thresholds
            gc.set_threshold(young, middle, NO_FULL_COLLECTIONS)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved_thresholds)


# Native libraries write to file descriptor 2 directly. The fontconfig bundled with the
# pygraphviz wheel is older than the system's configuration and warns about every element it
# does not know yet (Debian 12's 05-reset-dirs-sample.conf: 'unknown element "reset-dirs"'),
# once per process, on a user's terminal, for every first lineage graph. Those lines, and only
# those, are dropped; anything else written meanwhile is passed on unchanged.
HARMLESS_NATIVE_LINES = (
    re.compile(rb'^Fontconfig warning: "[^"]*", line \d+: unknown element "[^"]*"$'),
)
_stderr_lock = threading.RLock()


@contextmanager
def native_stderr_filtered(
    drop: tuple[re.Pattern[bytes], ...] = HARMLESS_NATIVE_LINES,
) -> Iterator[None]:
    """Run a native call with file descriptor 2 captured, then re-emit it without ``drop``'s lines.

    The capture is a temporary file (no pipe that a chatty library could fill and block on);
    what other threads write to stderr meanwhile is delayed, never lost. Where descriptor 2
    cannot be redirected (no such descriptor, an embedded interpreter), the call runs as is.
    """
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        try:
            with tempfile.TemporaryFile() as capture:
                os.dup2(capture.fileno(), 2)
                try:
                    yield
                finally:
                    try:
                        sys.stderr.flush()
                    except (OSError, ValueError):
                        pass
                    os.dup2(saved, 2)
                    capture.seek(0)
                    kept = [
                        line
                        for line in capture.read().splitlines(keepends=True)
                        if not any(p.match(line.rstrip(b"\r\n")) for p in drop)
                    ]
                    if kept:
                        os.write(2, b"".join(kept))
        finally:
            os.close(saved)
