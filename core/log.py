"""The ``labshelf`` logger and the short messages core prints for people."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from .humanize import printable

logger = logging.getLogger("labshelf")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (notebooks and tests swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _ensure_handler() -> None:
    if logger.handlers or os.environ.get("LABSHELF_QUIET"):
        return
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("→ %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


_quiet = threading.local()


@contextmanager
def quiet() -> Iterator[None]:
    """No notes (``say``) from this thread meanwhile: for bookkeeping the person did not ask
    for, such as the command line finding its own transform. Warnings still show."""
    depth = getattr(_quiet, "depth", 0)
    _quiet.depth = depth + 1
    try:
        yield
    finally:
        _quiet.depth = depth


def say(message: str) -> None:
    """Tell the person at the keyboard something worth knowing (stderr, via logging); the
    paths, keys and names it echoes are escaped (``labshelf.humanize.printable``)."""
    if getattr(_quiet, "depth", 0):
        return
    _ensure_handler()
    logger.info(printable(message))


def warn(message: str) -> None:
    _ensure_handler()
    logger.warning(printable(message))
