"""``labshelf gui PATH…`` (the .desktop file's ``Exec=labshelf gui %F``): the window opens with
the import of those paths, as if they had been dropped on it.

Run in a child process: the GUI's main() owns the event loop and the process's lifetime."""

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
    dialogs = [w for w in QApplication.topLevelWidgets() if w.objectName() == "importDialog"]
    for d in dialogs:
        print("IMPORT", d.isVisible(), "|".join(d.paths), flush=True)
    for w in QApplication.topLevelWidgets():
        w.close()
    app.quit()

QTimer.singleShot(800, check_and_quit)
from labshelf.app.cli import main
sys.exit(main(["gui", "-platform", "offscreen", *sys.argv[1:]]))
"""


def test_gui_with_paths_opens_their_import(sqlite_instance: Path, tmp_path: Path) -> None:
    (tmp_path / "plate.csv").write_text("A1,1\n")
    (tmp_path / "run 2").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "plate.csv"), str(tmp_path / "run 2")],
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = f"IMPORT True {tmp_path / 'plate.csv'}|{tmp_path / 'run 2'}"
    assert expected in result.stdout.splitlines(), result.stdout + result.stderr


def test_desktop_entry_accepts_files() -> None:
    entry = Path(__file__).resolve().parents[2] / "resources" / "labshelf.desktop"
    lines = entry.read_text().splitlines()
    assert "Exec=labshelf gui %F" in lines
    assert any(line.startswith("MimeType=") and "inode/directory" in line for line in lines)
