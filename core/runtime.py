"""Process-level care for bulk work that shares the interpreter with a GUI."""

from __future__ import annotations

import gc
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
