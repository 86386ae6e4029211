"""Thousands of Python-side emits must not free `True` (PySide6 6.12 refcount bug guard)."""

from __future__ import annotations

import labshelf.app.base.qtcompat  # noqa: F401
from PySide6.QtCore import QObject, QStringListModel, Qt, Signal


class _Emitter(QObject):
    ping = Signal(object)


def test_many_emits_and_empty_data_are_safe() -> None:
    emitter = _Emitter()
    received = []
    emitter.ping.connect(received.append)
    for i in range(20_000):
        emitter.ping.emit(i)
    model = QStringListModel(["x"])
    index = model.index(0, 0)
    for _ in range(20_000):
        assert index.data(Qt.ItemDataRole.UserRole) is None
    assert len(received) == 20_000
