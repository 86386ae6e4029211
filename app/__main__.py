"""`python -m app` / `labshelf gui`: create the application and show the main window, or the
welcome view when no instance is configured yet."""

from __future__ import annotations

import sys

SMOKE_FLAG = "--smoke-test"  # hidden: see labshelf.app.shell.smoke


def main(argv: list[str] | None = None) -> int:
    """Run the desktop app; returns the exit code."""
    from labshelf.app.base import qtcompat  # noqa: F401 - first: guards PySide6's refcount bug

    args = list(sys.argv if argv is None else argv)
    smoke = SMOKE_FLAG in args
    args = [a for a in args if a != SMOKE_FLAG]
    from labshelf.app.shell import app_settings
    from labshelf.app.shell.app_icon import app_icon
    from labshelf.app.instances.welcome import WelcomeWindow, instance_configured
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(args)
    app.setApplicationName("labshelf")
    app.setOrganizationName("labshelf")
    app.setDesktopFileName("labshelf")
    app.setWindowIcon(app_icon())
    app_settings.apply(app_settings.AppSettings.load())
    if instance_configured():
        from labshelf.app.shell.main_window import MainWindow

        window = MainWindow()
    else:
        window = WelcomeWindow()
    window.show()
    if smoke:
        from labshelf.app.shell.smoke import SmokeTest

        _keep = SmokeTest(window)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
