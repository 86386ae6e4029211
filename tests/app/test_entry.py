"""`python -m labshelf.app` / `labshelf gui`: main() shows the main window on the current instance.

Run in a child process: main() owns the event loop and the process's lifetime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv)

def check_and_quit():
    shown = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow" and w.isVisible()]
    print("SHOWN", len(shown), flush=True)
    for window in shown:
        window.close()
    app.quit()

QTimer.singleShot(500, check_and_quit)
from labshelf.app.__main__ import main
sys.exit(main([]))
"""


def test_main_shows_the_window_and_returns_zero(instance) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=root,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "SHOWN 1" in result.stdout
