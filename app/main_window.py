"""`labshelf.app.main_window.MainWindow`: the name API.md binds; the window lives in the shell."""

from labshelf.app.shell.main_window import MainWindow

__all__ = ["MainWindow"]
