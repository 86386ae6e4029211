"""The Help menu: keyboard shortcuts, the user guide (shipped in `labshelf.resources`, so it
works offline and in the bundle) and About."""

from __future__ import annotations

from importlib import resources
from typing import Any

from labshelf.app.base.named import named
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

# Keys that are no menu action's: what the views themselves understand.
VIEW_KEYS = (
    ("Open the selected artifacts", "Enter / double-click"),
    ("Clear the search", "Esc (in the search box)"),
    ("Previous / next image in the preview", "← / →"),
    ("Zoom the preview or the lineage", "mouse wheel, + and -"),
    ("Fit the lineage or the image", "Ctrl+0"),
    ("Select several rows", "Shift+click, Ctrl+click"),
    ("Right-click menu of rows and lineage nodes", "right click, Menu key"),
)


def _dialog(parent: QWidget | None, title: str, name: str, body: QWidget) -> QDialog:
    dialog = named(QDialog(parent), name)
    dialog.setWindowTitle(title)
    column = QVBoxLayout(dialog)
    column.addWidget(body, 1)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    column.addWidget(buttons)
    dialog.finished.connect(dialog.deleteLater)
    return dialog


def ShortcutsDialog(parent: QWidget | None, rows: list[tuple[str, str]]) -> QDialog:  # noqa: N802
    """A table of what each key does: the menu actions' shortcuts, then the views' keys."""
    every = [*rows, *VIEW_KEYS]
    table = named(QTableWidget(len(every), 2), "shortcutTable")
    table.setHorizontalHeaderLabels(["Action", "Keys"])
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for row, (what, keys) in enumerate(every):
        table.setItem(row, 0, QTableWidgetItem(what))
        table.setItem(row, 1, QTableWidgetItem(keys))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    dialog = _dialog(parent, "Keyboard shortcuts", "shortcutsDialog", table)
    dialog.resize(560, 520)
    return dialog


def guide_text() -> str:
    """The user guide (Markdown), as shipped with the app."""
    return resources.files("labshelf.resources").joinpath("docs", "guide.md").read_text("utf-8")


def DocsDialog(parent: QWidget | None) -> QDialog:  # noqa: N802
    """The user guide in a window of its own."""
    browser = named(QTextBrowser(openExternalLinks=True), "docsBrowser")
    browser.setMarkdown(guide_text())
    dialog = _dialog(parent, "labshelf documentation", "docsDialog", browser)
    dialog.resize(640, 640)
    return dialog


def about_text(info: dict[str, Any]) -> str:
    return (
        f"<h3>labshelf {info.get('version', '')}</h3>"
        "<p>A desktop data catalog for lab scientists: versioned, searchable, previewable "
        "artifacts with their provenance.</p>"
        f"<p>Instance <b>{info.get('name', '?')}</b> ({info.get('backend', '')}), storage "
        f"{info.get('storage', '')}</p>"
        f"<p>Qt {qVersion()}, PySide6 {pyside_version}</p>"
    )


def show_about(parent: QWidget | None, info: dict[str, Any]) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About labshelf", about_text(info), parent=parent)
    box.setObjectName("aboutBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
