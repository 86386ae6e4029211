"""Guard against reference-count bugs of the installed PySide6 (seen in 6.12.0 on CPython 3.11).

`SignalInstance.emit()` returns `True` without taking a reference, and `QModelIndex.data()`
returns `None` for an empty QVariant without taking one. Every Python-side emit therefore
steals a reference to `True`; after a few hundred emits CPython frees it and aborts
("bool_dealloc: deallocating True or False"). CPython 3.12 makes these singletons immortal;
on older interpreters we do the same when (and only when) a probe shows the bug.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, QStringListModel, Qt, Signal

IMMORTAL_REFS = 1 << 40  # far more references than any process can ever drop


class _Probe(QObject):
    ping = Signal()


def _steals(obj: object, action: object) -> bool:
    before = sys.getrefcount(obj)
    for _ in range(4):
        action()  # type: ignore[operator]
    return sys.getrefcount(obj) < before


def _immortalize(obj: object) -> None:
    ctypes.c_ssize_t.from_address(id(obj)).value += IMMORTAL_REFS


def install() -> list[str]:
    """Make `True`, `False` and `None` immortal if this PySide6 steals references to them;
    returns the names that were affected (empty on a healthy PySide6 or CPython >= 3.12)."""
    if sys.version_info >= (3, 12):
        return []
    probe = _Probe()
    model = QStringListModel(["x"])
    index = model.index(0, 0)
    affected = []
    if _steals(True, probe.ping.emit):
        affected += ["True", "False"]
    if _steals(None, lambda: index.data(Qt.ItemDataRole.UserRole)):
        affected.append("None")
    for name in affected:
        _immortalize({"True": True, "False": False, "None": None}[name])
    return affected


AFFECTED = install()
