"""`python -m app` / `labshelf gui`: create the application and show the main window, or the
welcome view when no instance is configured yet."""

from __future__ import annotations

import sys

SMOKE_FLAG = "--smoke-test"  # hidden: see labshelf.app.smoke


def main(argv: list[str] | None = None, paths: list[str] | None = None) -> int:
    """Run the desktop app; returns the exit code. ``paths`` (``labshelf gui PATH…``, a file
    manager's "Open with") are offered for import as if dropped on the window."""
    from labshelf.app import qtcompat  # noqa: F401 - first: guards PySide6's refcount bug

    args = list(sys.argv if argv is None else argv)
    smoke = SMOKE_FLAG in args
    args = [a for a in args if a != SMOKE_FLAG]
    from labshelf.app import app_settings
    from labshelf.app.app_icon import app_icon
    from labshelf.app.welcome import WelcomeWindow, instance_configured
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(args)
    app.setApplicationName("labshelf")
    app.setOrganizationName("labshelf")
    app.setDesktopFileName("labshelf")
    app.setWindowIcon(app_icon())
    app_settings.apply(app_settings.AppSettings.load())
    if instance_configured():
        from labshelf.app.main_window import MainWindow

        window = MainWindow()
    else:
        window = WelcomeWindow()
    window.show()
    if paths:
        if isinstance(window, WelcomeWindow):
            print("labshelf: set up an instance first; then drop the files on the window")
        else:
            window.open_import(paths)
    if smoke:
        from labshelf.app.smoke import SmokeTest

        _keep = SmokeTest(window)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
