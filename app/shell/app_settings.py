"""The desktop app's own settings (user handle, upload workers, thumbnail size, theme), kept in
`desktop.ini` next to the instance settings, and how they take effect at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import cast

from labshelf.app import gateway, upload_worker
from labshelf.app.base.theme import apply_theme
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")
DEFAULT_UPLOAD_WORKERS = 4
DEFAULT_THUMB_SIZE = 160
THUMB_SIZES = (96, 128, 160, 200, 256)


def open_settings() -> QSettings:
    """The app's settings: `desktop.ini` in labshelf's config dir (`LABSHELF_CONFIG_DIR`),
    next to the instance settings, so one variable isolates both."""
    return QSettings(str(gateway.config_dir() / "desktop.ini"), QSettings.Format.IniFormat)


def _int(settings: QSettings, key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(cast("str | int", settings.value(key, default)))  # ini text or the default
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


@dataclass
class AppSettings:
    """The values of the settings dialog that belong to the app, not to an instance."""

    user: str = ""
    upload_workers: int = DEFAULT_UPLOAD_WORKERS
    thumbnail_size: int = DEFAULT_THUMB_SIZE
    theme: str = "system"

    @classmethod
    def load(cls) -> AppSettings:
        s = open_settings()
        theme = str(s.value("theme", "system"))
        return cls(
            user=str(s.value("user", "") or ""),
            upload_workers=_int(s, "upload_workers", DEFAULT_UPLOAD_WORKERS, 1, 32),
            thumbnail_size=_int(s, "thumbnail_size", DEFAULT_THUMB_SIZE, 64, 512),
            theme=theme if theme in THEMES else "system",
        )

    def save(self) -> None:
        s = open_settings()
        s.setValue("user", self.user)
        s.setValue("upload_workers", self.upload_workers)
        s.setValue("thumbnail_size", self.thumbnail_size)
        s.setValue("theme", self.theme)
        s.sync()


def resolved_theme(theme: str) -> str:
    """`light` or `dark`; `system` follows the desktop's colour scheme."""
    if theme in ("light", "dark"):
        return theme
    app = QApplication.instance()
    hints = app.styleHints() if isinstance(app, QApplication) else None
    if hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark:
        return "dark"
    return "light"


def apply(settings: AppSettings) -> None:
    """Make `settings` take effect in this process (theme, user handle, upload workers)."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        apply_theme(app, resolved_theme(settings.theme))
    if settings.user:
        os.environ["LABSHELF_USER"] = settings.user  # core reads the handle from here
    # Cloud transfers wait on the network more than local copies do: twice the threads.
    upload_worker.LOCAL_UPLOAD_WORKERS = settings.upload_workers
    upload_worker.CLOUD_UPLOAD_WORKERS = 2 * settings.upload_workers
