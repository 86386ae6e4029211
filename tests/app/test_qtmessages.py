"""Qt's platform chatter stays off the terminal; its real warnings do not (issue 19)."""

from __future__ import annotations

import pytest
from labshelf.app.base import qtmessages
from PySide6.QtCore import qCritical, qWarning


def test_chatter_is_dropped_and_warnings_pass(capfd: pytest.CaptureFixture[str]) -> None:
    qtmessages.install()
    qWarning("This plugin does not support propagateSizeHints()")
    qWarning("QPainter::begin: Paint device returned engine == 0, type: 2")
    qCritical("a real problem")
    err = capfd.readouterr().err
    assert "propagateSizeHints" not in err
    assert "QPainter::begin: Paint device returned engine == 0" in err
    assert "a real problem" in err
