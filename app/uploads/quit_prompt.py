"""The question asked when the window closes while imports run: quit when they are done, stop
them and quit, continue them next time, or cancel (stay). One "Cancel", and it means what it
means everywhere: do nothing."""

from __future__ import annotations

from labshelf.app.uploads.manager import UploadManager
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

WAIT, STOP, CONTINUE, STAY = "wait", "cancel", "continue", "stay"


def close_box(
    parent: QWidget, manager: UploadManager
) -> tuple[QMessageBox, dict[QPushButton, str]]:
    """The box and what each of its buttons answers (`WAIT`, `STOP`, `CONTINUE`, `STAY`)."""
    running = manager.running()
    files_done = sum(d.files_done for d in running)
    files_total = sum(d.files_total for d in running)
    what = "An import is" if len(running) == 1 else f"{len(running)} imports are"
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Imports are running",
        f"{what} still running ({files_done:,} of {files_total:,} files done).",
        parent=parent,
    )
    box.setObjectName("quitPrompt")
    box.setInformativeText(
        "Quit when they are done, stop them now (what is done stays imported), or continue "
        "them the next time labshelf starts?"
    )
    buttons = {
        box.addButton("Quit when done", QMessageBox.ButtonRole.AcceptRole): WAIT,
        box.addButton("Stop imports and quit", QMessageBox.ButtonRole.DestructiveRole): STOP,
        box.addButton("Continue next time", QMessageBox.ButtonRole.ActionRole): CONTINUE,
    }
    stay = box.addButton(QMessageBox.StandardButton.Cancel)
    buttons[stay] = STAY
    box.setEscapeButton(stay)
    box.setDefaultButton(stay)
    return box, buttons


def ask_close_choice(parent: QWidget, manager: UploadManager) -> str:
    """Ask (modal) what to do with the running imports; `WAIT`, `STOP`, `CONTINUE` or `STAY`."""
    box, buttons = close_box(parent, manager)
    box.exec()
    return buttons.get(box.clickedButton(), STAY)  # type: ignore[call-overload]
