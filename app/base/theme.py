"""Light and dark themes: a style sheet with variables, palettes, SVG icons recoloured per theme.

Assets are read with `importlib.resources`, so they work from a wheel or a frozen bundle.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

THEMES = ("light", "dark")
_state = {"theme": "light"}
_themed: list[tuple[Any, str]] = []  # objects whose icon follows the theme


class ThemeSignals(QObject):
    """`changed(theme)` after every `apply_theme`: one source of truth that the View menu's
    check mark and the settings dialog follow."""

    changed = Signal(str)


_signals: list[ThemeSignals] = []


def theme_signals() -> ThemeSignals:
    """The application's theme notifier (made on first use, in the UI thread)."""
    if not _signals:
        _signals.append(ThemeSignals())
    return _signals[0]


def _read(*parts: str) -> str:
    return resources.files("labshelf.resources").joinpath(*parts).read_text(encoding="utf-8")


@cache
def colors(theme: str) -> dict[str, str]:
    return json.loads(_read("styles", "themes.json"))[theme]


def style_sheet(theme: str) -> str:
    """The app style sheet with the theme's colours filled in."""
    return Template(_read("styles", "app.qss")).substitute(colors(theme))


def current_theme() -> str:
    return _state["theme"]


def apply_theme(app: QApplication, theme: str) -> None:
    """Apply `theme` (light or dark) to the whole application."""
    _state["theme"] = theme
    c = colors(theme)
    palette = QPalette()
    for role, name in (
        (QPalette.ColorRole.Window, "window"),
        (QPalette.ColorRole.Base, "base"),
        (QPalette.ColorRole.AlternateBase, "alt"),
        (QPalette.ColorRole.Text, "text"),
        (QPalette.ColorRole.WindowText, "text"),
        (QPalette.ColorRole.ButtonText, "text"),
        (QPalette.ColorRole.Button, "alt"),
        (QPalette.ColorRole.Highlight, "highlight"),
        (QPalette.ColorRole.HighlightedText, "text"),
        (QPalette.ColorRole.ToolTipBase, "base"),
        (QPalette.ColorRole.ToolTipText, "text"),
        (QPalette.ColorRole.PlaceholderText, "muted"),
        (QPalette.ColorRole.Link, "accent"),
        (QPalette.ColorRole.LinkVisited, "accent"),
    ):
        palette.setColor(role, QColor(c[name]))
    for role in (  # disabled menu items and controls read as disabled
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(c["muted"]))
    app.setPalette(palette)
    app.setStyleSheet(style_sheet(theme))
    icon.cache_clear()
    _recolor_icons()
    theme_signals().changed.emit(theme)


def set_icon(obj: Any, name: str) -> None:
    """Give a widget, action or item the icon `name`, redrawn when the theme changes."""
    obj.setIcon(icon(name))
    _themed.append((obj, name))


def _recolor_icons() -> None:
    alive = []
    for obj, name in _themed:
        try:
            obj.setIcon(icon(name))
        except RuntimeError:  # the C++ object is gone
            continue
        alive.append((obj, name))
    _themed[:] = alive


@cache
def icon(name: str, size: int = 24) -> QIcon:
    """The SVG icon `name` from resources/icons, drawn in the current theme's icon colour."""
    svg = _read("icons", f"{name}.svg").replace("currentColor", colors(current_theme())["icon"])
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    result = QIcon()
    for scale in (1, 2):
        pixmap = QPixmap(QSize(size, size) * scale)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter)
        painter.end()
        pixmap.setDevicePixelRatio(scale)
        result.addPixmap(pixmap)
    return result
