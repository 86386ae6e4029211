"""`python -m app` / `labshelf gui`: create the application and show the main window."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the desktop app; returns the exit code."""
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow, open_settings
    from app.theme import apply_theme

    app = QApplication.instance() or QApplication(list(sys.argv if argv is None else argv))
    app.setApplicationName("labshelf")
    app.setOrganizationName("labshelf")
    apply_theme(app, str(open_settings().value("theme", "light")))
    window = MainWindow()
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
