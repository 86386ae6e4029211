"""Themes: both style sheets fill every variable; icons render from the packaged SVGs."""

from __future__ import annotations

import pytest
from labshelf.app.base.theme import THEMES, apply_theme, icon, style_sheet
from PySide6.QtWidgets import QApplication


@pytest.mark.parametrize("theme", THEMES)
def test_style_sheet_and_icons(qtbot, theme: str) -> None:
    sheet = style_sheet(theme)
    assert "$" not in sheet
    app = QApplication.instance()
    apply_theme(app, theme)
    assert not icon("artifact").pixmap(24, 24).isNull()
    apply_theme(app, "light")
