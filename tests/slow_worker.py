"""The desktop app's upload worker process with a slow disk, for tests that must act while a
drop runs (cancel it, close the window, kill the worker): every object takes ``delay`` seconds
longer to store, so the action lands mid-drop however quickly small files are copied."""

from __future__ import annotations

import sys

_SCRIPT = """
import sys, time
from labshelf import artifact
store = artifact.store_object
def slow_store(obj, **progress):
    time.sleep({delay})
    store(obj, **progress)
artifact.store_object = slow_store
from labshelf.app import upload_worker
sys.exit(upload_worker.main())
"""


def slow_worker_command(delay: float = 0.02) -> list[str]:
    """A command for ``app.uploads.manager.worker_command`` (see the module docstring)."""
    return [sys.executable, "-c", _SCRIPT.format(delay=delay)]
