"""Small dialogs: open an instance, create an instance."""

from __future__ import annotations

from labshelf.app.base.named import named
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)


def folder_row(edit: QLineEdit, parent: QWidget) -> QWidget:
    """`edit` with a "Browse…" button that fills it with a chosen folder."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    browse = QPushButton("Browse…")
    browse.clicked.connect(
        lambda: edit.setText(
            QFileDialog.getExistingDirectory(parent, "Choose a folder") or edit.text()
        )
    )
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return row


def instance_fields(form: QFormLayout, parent: QWidget) -> tuple[QLineEdit, QLineEdit, QLineEdit]:
    """The storage (with a folder picker), database and name fields of a new instance, added
    to `form` (the New instance dialog and the welcome view share them)."""
    storage = named(QLineEdit(), "newStorage")
    storage.setPlaceholderText("a folder, or s3://bucket[/prefix] or gs://bucket[/prefix]")
    db = named(QLineEdit(), "newDb")
    db.setPlaceholderText("optional: postgresql+psycopg://user@host/db (default SQLite)")
    name = named(QLineEdit(), "newName")
    name.setPlaceholderText("optional: defaults to the folder or bucket name")
    form.addRow("Storage:", folder_row(storage, parent))
    form.addRow("Database:", db)
    form.addRow("Name:", name)
    return storage, db, name


class _FormDialog(QDialog):
    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self.form = QFormLayout(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def finish(self) -> None:
        self.form.addRow(self.buttons)


class OpenInstanceDialog(_FormDialog):
    """Connect to an instance by name, storage folder or URL, or database URL."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Open instance", parent)
        self.target = named(QLineEdit(), "instanceTarget")
        self.target.setPlaceholderText(
            "instance name, storage folder, s3://… / gs://… or database URL"
        )
        self.form.addRow("Instance:", folder_row(self.target, self))
        self.finish()


class NewInstanceDialog(_FormDialog):
    """Create an instance: storage (folder picker or S3/GCS URL), optional database and name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("New instance", parent)
        self.storage, self.db, self.name = instance_fields(self.form, self)
        self.finish()
