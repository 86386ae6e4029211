"""Qt's own messages, filtered: platform plugins say things a scientist cannot act on.

The offscreen and some xcb/Wayland setups print notes such as "This plugin does not support
propagateSizeHints()" on every window; they are dropped. Everything else (warnings, criticals,
fatals) goes to stderr as Qt would print it, so real problems stay visible.
"""

from __future__ import annotations

import re
import sys

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

HARMLESS = (
    re.compile(r"^This plugin does not support "),  # offscreen/xcb: propagateSizeHints, raise...
    re.compile(r"^Qt: Session management error: "),  # no session manager on minimal desktops
)

_installed = False


def is_harmless(message: str) -> bool:
    """Whether ``message`` is platform chatter this app drops."""
    return any(p.match(message) for p in HARMLESS)


def _handler(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    if kind == QtMsgType.QtDebugMsg or is_harmless(message):
        return
    try:
        sys.stderr.write(f"{message}\n")
    except (OSError, ValueError):  # no usable stderr (a detached launcher): nothing to tell
        pass


def install() -> None:
    """Route Qt's messages through the filter (once per process)."""
    global _installed
    if not _installed:
        qInstallMessageHandler(_handler)
        _installed = True
