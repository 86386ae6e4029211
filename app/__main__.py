"""`python -m labshelf.app` / `labshelf gui`: create the application and show the main window, or the
welcome view when no instance is configured yet."""

from __future__ import annotations

import sys
from typing import cast

SMOKE_FLAG = "--smoke-test"  # hidden: see labshelf.app.shell.smoke


def main(argv: list[str] | None = None, paths: list[str] | None = None) -> int:
    """Run the desktop app; returns the exit code. ``paths`` (``labshelf gui PATH…``, a file
    manager's "Open with") are offered for import as if dropped on the window."""
    # Imported here, not above: Qt and the app load only when the app runs (the command line
    # imports this module for `labshelf gui`, and must stay quick for its other commands).
    from labshelf.app.base import (
        qtcompat,  # noqa: F401 - first: guards PySide6's refcount bug
        qtmessages,
    )

    qtmessages.install()  # before the first window: platform chatter stays off the terminal

    args = list(sys.argv if argv is None else argv)
    smoke = SMOKE_FLAG in args
    args = [a for a in args if a != SMOKE_FLAG]
    from labshelf.app import gateway
    from labshelf.app.shell import app_settings
    from labshelf.app.shell.app_icon import app_icon
    from PySide6.QtWidgets import QApplication, QMainWindow

    # instance() is typed as the QCoreApplication base; this process only ever makes a QApplication
    app = cast(QApplication, QApplication.instance() or QApplication(args))
    app.setApplicationName("labshelf")
    app.setOrganizationName("labshelf")
    app.setDesktopFileName("labshelf")
    app.setWindowIcon(app_icon())
    app_settings.apply(app_settings.AppSettings.load())
    window: QMainWindow
    if gateway.instance_configured():
        from labshelf.app.shell.main_window import MainWindow

        window = MainWindow()
        window.show()
        if paths:
            window.open_import(paths)
    else:
        from labshelf.app.shell.welcome_window import WelcomeWindow

        window = WelcomeWindow()
        window.show()
        if paths:
            print("labshelf: set up an instance first; then drop the files on the window")
    if smoke:
        from labshelf.app.shell.smoke import SmokeTest

        _keep = SmokeTest(window)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
