"""`named(widget, "name")`: set a Qt object's objectName and return the object.

Qt accepts properties as constructor keywords (`QLabel("x", objectName="y")`), but PySide6's
type stubs do not declare them; this typed helper keeps such one-line constructions checkable.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QObject

_Q = TypeVar("_Q", bound=QObject)


def named(obj: _Q, name: str) -> _Q:
    """Set `obj`'s objectName to `name` and return `obj`."""
    obj.setObjectName(name)
    return obj
