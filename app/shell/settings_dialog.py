"""`settingsDialog`: user handle, cache folder and size cap (of the current instance), upload
workers, thumbnail size and theme. The instance part is read and written on a worker."""

from __future__ import annotations

from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.instances.dialogs import folder_row
from labshelf.app.shell import app_settings
from labshelf.app.shell.app_settings import THEMES, THUMB_SIZES, AppSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

GB = 1_000_000_000


class SettingsDialog(QDialog):
    """Edit the app settings (and the current instance's cache settings)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self.runner = TaskRunner(max_threads=1, parent=self)
        self.values = AppSettings.load()
        form = QFormLayout(self)
        self.user = named(QLineEdit(self.values.user), "userHandle")
        self.user.setPlaceholderText("default: your login name")
        self.cache_dir = named(QLineEdit(), "cacheDir")
        self.cache_dir.setEnabled(False)
        self.cache_cap = named(
            QDoubleSpinBox(decimals=1, maximum=100_000.0, suffix=" GB"), "cacheCap"
        )
        self.cache_cap.setEnabled(False)
        self.cache_cap.setSpecialValueText("no limit")
        self.workers = named(
            QSpinBox(minimum=1, maximum=32, value=self.values.upload_workers), "uploadWorkers"
        )
        self.workers.setToolTip("Parallel transfers for local storage (twice as many for S3/GCS)")
        self.thumb = named(QComboBox(), "thumbnailSize")
        for size in THUMB_SIZES:
            self.thumb.addItem(f"{size} px", size)
        self.thumb.setCurrentIndex(max(0, self.thumb.findData(self.values.thumbnail_size)))
        self.theme = named(QComboBox(), "themeChoice")
        for theme in THEMES:
            self.theme.addItem(theme.capitalize(), theme)
        self.theme.setCurrentIndex(self.theme.findData(self.values.theme))
        self.status = named(QLabel(wordWrap=True), "settingsStatus")
        form.addRow("User handle:", self.user)
        form.addRow("Cache folder:", folder_row(self.cache_dir, self))
        form.addRow("Cache size cap:", self.cache_cap)
        form.addRow("Upload workers:", self.workers)
        form.addRow("Thumbnail size:", self.thumb)
        form.addRow("Theme:", self.theme)
        form.addRow(self.status)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.has_instance = False
        self.status.setText("Reading the instance's cache settings…")
        self.runner.submit(
            lambda ctx: gateway.read_cache_settings(),
            done=self._fill_cache,
            error=lambda msg, _d: self.status.setText(msg),
            name="read settings",
        )

    def _fill_cache(self, cache: dict[str, Any] | None) -> None:
        if cache is None:
            self.status.setText("No instance is open: the cache settings belong to an instance.")
            return
        self.has_instance = True
        self.cache_dir.setText(cache["cache_dir"])
        self.cache_dir.setPlaceholderText(cache["effective"])
        self.cache_cap.setValue((cache["cache_max_bytes"] or 0) / GB)
        self.cache_dir.setEnabled(True)
        self.cache_cap.setEnabled(True)
        self.status.setText(f"Cache settings of instance '{cache['name']}'.")

    def chosen(self) -> AppSettings:
        """The app settings as the dialog shows them."""
        return AppSettings(
            user=self.user.text().strip(),
            upload_workers=self.workers.value(),
            thumbnail_size=int(self.thumb.currentData()),
            theme=str(self.theme.currentData()),
        )

    def save(self) -> None:
        """Store and apply the app settings; the instance's cache settings on a worker."""
        values = self.chosen()
        values.save()
        app_settings.apply(values)
        if not self.has_instance:
            self.accept()
            return
        cache_dir = self.cache_dir.text().strip()
        cap = int(self.cache_cap.value() * GB) or None
        self.buttons.setEnabled(False)
        self.runner.submit(
            lambda ctx: gateway.write_cache_settings(cache_dir, cap),
            done=lambda _r: self.accept(),
            error=self._failed,
            name="write settings",
        )

    def _failed(self, message: str, _details: str) -> None:
        self.buttons.setEnabled(True)
        self.status.setText(f"The cache settings could not be saved: {message}")

    def done(self, result: int) -> None:
        self.runner.shutdown()
        super().done(result)
