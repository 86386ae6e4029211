"""The desktop app never shows, logs or writes a database password typed into a URL: not in
the welcome view's status line, the window's labels, tooltips and titles, the settings dialog,
the upload queue file, the app's settings files, nor the log (incl. the task names it logs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QTreeView,
    QWidget,
)

PASSWORD = "Pw-gui-s3cr3t-41xQ"
TYPED_INTO = {"instanceTarget", "newDb"}  # fields the user typed the URL into


def _texts(root: QWidget) -> dict[str, str]:
    """Every text the widget tree shows or offers (labels, buttons, fields, tooltips, titles,
    list and combo entries, tree cells), by widget."""
    out: dict[str, str] = {}
    for n, widget in enumerate([root, *root.findChildren(QWidget)]):
        parts = [
            widget.windowTitle(),
            widget.toolTip(),
            widget.statusTip(),
            widget.accessibleName(),
        ]
        if isinstance(widget, QLabel | QAbstractButton):
            parts.append(widget.text())
        if isinstance(widget, QLineEdit) and widget.objectName() not in TYPED_INTO:
            parts.append(widget.text())
        if isinstance(widget, QListWidget):
            parts += [
                widget.item(i).text() + widget.item(i).toolTip() for i in range(widget.count())
            ]
        if isinstance(widget, QComboBox):
            parts += [widget.itemText(i) for i in range(widget.count())]
        if isinstance(widget, QTreeView) and widget.model() is not None:
            model = widget.model()
            parts += [
                str(model.index(r, c).data())
                for r in range(min(model.rowCount(), 50))
                for c in range(model.columnCount())
            ]
        out[f"{n}:{type(widget).__name__}:{widget.objectName()}"] = "\n".join(p for p in parts if p)
    return out


def _leaks(texts: dict[str, str]) -> list[str]:
    return [name for name, text in texts.items() if PASSWORD in text]


def test_a_password_in_the_database_url_stays_out_of_the_app(
    qtbot, pg_server: Any, tmp_path: Path, _isolated_env: Path, caplog
) -> None:
    import labshelf as ls
    from labshelf.app.instances.welcome import WelcomeView
    from labshelf.app.main_window import MainWindow
    from labshelf.instance import disconnect

    caplog.set_level(logging.DEBUG)
    db = pg_server.create_database()
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{pg_server.port}/{db.name}"
    ls.init(str(tmp_path / "store"), db=url, name="pwlab")
    disconnect()
    seen: dict[str, str] = {}
    try:
        welcome = WelcomeView()
        qtbot.addWidget(welcome)
        welcome.show()
        welcome.show_open_page()
        qtbot.waitUntil(lambda: not welcome.progress.isVisible(), timeout=30000)  # the list is in
        welcome.target.setText(url)  # the user pastes the URL with its password
        welcome._open_chosen()
        seen["welcome while opening"] = welcome.status.text()
        qtbot.waitUntil(lambda: not welcome.progress.isVisible(), timeout=30000)
        assert "ready" in welcome.status.text(), welcome.status.text()
        seen.update({f"welcome {k}": v for k, v in _texts(welcome).items()})
        welcome.shutdown()

        window = MainWindow()
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: "pwlab" in window.instance_label.text(), timeout=30000)
        folder = tmp_path / "plates"
        folder.mkdir()
        (folder / "p1.csv").write_text("well,od\nA1,0.1\n")
        drop = window.uploads.start({"paths": [str(folder)], "as_folder": False})
        qtbot.waitUntil(lambda: drop.finished, timeout=60000)
        assert drop.state == "done", drop.message
        qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)
        seen.update({f"window {k}": v for k, v in _texts(window).items()})
        dialog = window.open_settings_dialog()
        seen.update({f"settings {k}": v for k, v in _texts(dialog).items()})
        dialog.reject()
        window.close()
    finally:
        disconnect()
    assert any("pwlab" in v for v in seen.values())  # the texts were really collected
    assert not _leaks(seen), f"the password is shown in: {_leaks(seen)}"
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert PASSWORD not in logged
    files = [
        p for p in _isolated_env.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()
    ]
    assert not files, f"the password is written to: {files}"  # desktop.ini, uploads.json, instances
