"""`welcomeWindow`: the first window when no instance is configured. It shows the welcome view
and, once an instance is ready, opens the main window in its place."""

from __future__ import annotations

from labshelf.app.instances.welcome import WelcomeView
from labshelf.app.shell.main_window import MainWindow
from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QWidget


class WelcomeWindow(QMainWindow):
    """The welcome view in a window; `opened(main_window)` once it gave way to the main window."""

    opened = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeWindow")
        self.setWindowTitle("labshelf")
        self.view = WelcomeView(self)
        self.setCentralWidget(self.view)
        self.resize(720, 560)
        self.view.instance_ready.connect(self._open_main)
        self.main_window: MainWindow | None = None

    def _open_main(self, _summary: dict[str, str]) -> None:
        self.main_window = MainWindow()
        self.main_window.show()
        self.opened.emit(self.main_window)
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.view.shutdown()
        super().closeEvent(event)
