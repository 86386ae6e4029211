"""First run: `welcomeView` offers the demo, a new instance or an existing one; every check
and every instance operation runs on a worker, so the window stays responsive while a server
is slow to answer. What a check finds is said right under the field it is about (storage,
database, name, the instance to open), in words that say what to do; the status line under
the buttons says what is going on. (The window around it, which opens the main window once
an instance is ready, is the shell's `WelcomeWindow`.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.data.formatting import mask_secrets
from labshelf.app.instances.connection_check import (
    DATABASE,
    NAME,
    STORAGE,
    check_each,
    field_of,
)
from labshelf.app.instances.dialogs import folder_row, instance_fields
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

DEMO_INSTANCE = "iris-demo"
INTRO = (
    "labshelf keeps your lab's files as versioned, searchable artifacts and remembers "
    "which script, notebook or upload made each of them."
)


TARGET = "target"  # the open page's field
ERROR_STYLE = "color: #c0392b;"


def _button(text: str, name: str, hint: str) -> QPushButton:
    button = named(QPushButton(f"{text}\n{hint}"), name)
    button.setMinimumHeight(64)
    return button


def _note(name: str) -> QLabel:
    """The line under a field that says what its check found."""
    label = named(QLabel(wordWrap=True), name)
    label.setVisible(False)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class WelcomeView(QWidget):
    """Three ways in: try the demo, create an instance, open an instance.
    `instance_ready(summary)` fires once an instance is current."""

    instance_ready = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeView")
        self.runner = TaskRunner(parent=self)
        self.pages = QStackedWidget()
        self.status = named(QLabel(wordWrap=True), "welcomeStatus")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = named(QProgressBar(maximum=0), "welcomeProgress")
        self.progress.setVisible(False)
        self.notes = {
            STORAGE: _note("storageNote"),
            DATABASE: _note("dbNote"),
            NAME: _note("nameNote"),
            TARGET: _note("targetNote"),
        }
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 32, 48, 32)
        title = QLabel("<h1>Welcome to labshelf</h1>")
        layout.addWidget(title)
        layout.addWidget(QLabel(INTRO, wordWrap=True))
        layout.addWidget(self.pages)
        layout.addWidget(self.progress)  # right under the buttons, not at the window's foot
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.pages.addWidget(self._home_page())
        self.pages.addWidget(self._create_page())
        self.pages.addWidget(self._open_page())

    # -- pages -----------------------------------------------------------------------------
    def _home_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.demo_button = _button(
            "Try the demo", "tryDemoButton", "A local instance with the iris studies to explore"
        )
        self.create_button = _button(
            "Create an instance",
            "createInstanceButton",
            "A folder, or an S3 / GCS bucket; optionally PostgreSQL",
        )
        self.open_button = _button(
            "Open an instance",
            "openInstanceButton",
            "One configured on this machine, a folder or a URL",
        )
        self.demo_button.clicked.connect(self.try_demo)
        self.create_button.clicked.connect(lambda: self._show_page(1))
        self.open_button.clicked.connect(self.show_open_page)
        for button in (self.demo_button, self.create_button, self.open_button):
            layout.addWidget(button)
        layout.addStretch(1)
        return page

    def _create_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.storage, self.db, self.name = instance_fields(form, self)
        for row, field in ((1, STORAGE), (3, DATABASE), (5, NAME)):  # under each field
            form.insertRow(row, "", self.notes[field])
        self.test_button = named(QPushButton("Test connection"), "testConnectionButton")
        self.create_ok = named(QPushButton("Create"), "createConfirmButton")
        self.test_button.clicked.connect(self.test_connection)
        self.create_ok.clicked.connect(self.create_instance)
        form.addRow(self._row(self.test_button, self.create_ok))
        return page

    def _open_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("Instances configured on this machine:"))
        self.instances = named(QListWidget(), "instanceList")
        self.instances.itemDoubleClicked.connect(
            lambda item: self.open_instance(item.data(Qt.ItemDataRole.UserRole))
        )
        layout.addWidget(self.instances, 1)
        self.target = named(QLineEdit(), "instanceTarget")
        self.target.setPlaceholderText("or: a storage folder, s3://… / gs://… or a database URL")
        layout.addWidget(folder_row(self.target, self))
        layout.addWidget(self.notes[TARGET])
        self.open_ok = named(QPushButton("Open"), "openConfirmButton")
        self.open_ok.clicked.connect(self._open_chosen)
        layout.addWidget(self._row(self.open_ok))
        return page

    def _row(self, *buttons: QPushButton) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        back = QPushButton("Back")
        back.clicked.connect(lambda: self._show_page(0))
        layout.addWidget(back)
        layout.addStretch(1)
        for button in buttons:
            layout.addWidget(button)
        return row

    def _show_page(self, index: int) -> None:
        self.say("")
        self.clear_notes()
        self.pages.setCurrentIndex(index)

    # -- feedback --------------------------------------------------------------------------
    def say(self, text: str, ok: bool = True) -> None:
        """The status line under the buttons (what is going on; errors no field is about)."""
        self.status.setProperty("error", not ok)
        self.status.setStyleSheet("" if ok else ERROR_STYLE)
        self.status.setText(text)

    def note(self, field: str, text: str, ok: bool = True) -> None:
        """What a check found about `field`, under it; errors in red."""
        label = self.notes[field]
        label.setProperty("error", not ok)
        label.setProperty("muted", ok)
        label.setStyleSheet("" if ok else ERROR_STYLE)
        label.setText(text)
        label.setVisible(bool(text))

    def clear_notes(self) -> None:
        for field in self.notes:
            self.note(field, "")

    def _show_checks(self, results: dict[str, tuple[bool, str]]) -> bool:
        """Each check's answer under its field; whether all passed."""
        for field, (ok, text) in results.items():
            self.note(field, text, ok)
        return all(ok for ok, _ in results.values())

    def _busy(self, text: str | None) -> None:
        self.progress.setVisible(text is not None)
        self.pages.setEnabled(text is None)
        if text is not None:
            self.say(text)

    def _work(self, fn: Callable[[], Any], done: Callable[[Any], None], what: str) -> None:
        def finished(result: Any) -> None:
            self._busy(None)
            done(result)

        def failed(message: str, _details: str) -> None:
            self._busy(None)
            self.say(message, ok=False)

        self._busy(what)
        self.runner.submit(lambda ctx: fn(), done=finished, error=failed, name=what)

    def _ready(self, summary: dict[str, str]) -> None:
        self.say(f"Instance '{summary['name']}' is ready.")
        self.instance_ready.emit(summary)

    # -- actions ---------------------------------------------------------------------------
    def try_demo(self) -> None:
        self._work(
            lambda: gateway.create_demo_instance(DEMO_INSTANCE),
            self._ready,
            "Setting up the demo: writing and registering the iris studies…",
        )

    def test_connection(self) -> None:
        storage, db = self.storage.text(), self.db.text()
        self.clear_notes()

        def tested(results: dict[str, tuple[bool, str]]) -> None:
            passed = self._show_checks(results)
            self.say("Both can be used." if passed else "")

        self._work(lambda: check_each(storage, db), tested, "Testing the connection…")

    def create_instance(self) -> None:
        storage, db, name = (
            self.storage.text().strip(),
            self.db.text().strip(),
            self.name.text().strip(),
        )
        self.clear_notes()

        def create() -> dict[str, Any]:
            checks = check_each(storage, db)
            if not all(ok for ok, _ in checks.values()):
                return {"checks": checks}
            try:
                return {"checks": checks, "summary": gateway.create_instance(storage, db, name)}
            except gateway.LabshelfError as exc:
                return {"checks": checks, "failed": (field_of(str(exc)), str(exc))}

        def created(result: dict[str, Any]) -> None:
            self._show_checks(result["checks"])
            if "failed" in result:
                field, message = result["failed"]
                self.note(field, message, ok=False)
            if "summary" in result:
                self._ready(result["summary"])
            else:
                self.say("")

        self._work(create, created, "Creating the instance…")

    def show_open_page(self) -> None:
        self._show_page(2)
        self._work(gateway.configured_instances, self._fill_instances, "Looking for instances…")

    def _fill_instances(self, rows: list[tuple[str, str]]) -> None:
        self.instances.clear()
        for name, storage in rows:
            item = QListWidgetItem(f"{name}    {storage}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.instances.addItem(item)
        if rows:
            self.instances.setCurrentRow(0)
        self.say("" if rows else "No instance is configured yet: enter a folder or URL below.")

    def _open_chosen(self) -> None:
        target = self.target.text().strip()
        item = self.instances.currentItem()
        if not target and item is not None:
            target = item.data(Qt.ItemDataRole.UserRole)
        if not target:
            self.note(TARGET, "Choose an instance in the list, or enter a folder or URL.", False)
            return
        self.open_instance(target)

    def open_instance(self, target: str) -> None:
        self.note(TARGET, "")

        def opened(result: dict[str, Any]) -> None:
            if "failed" in result:
                self.say("")
                self.note(TARGET, result["failed"], ok=False)
            else:
                self._ready(result["summary"])

        self._work(lambda: _open(target), opened, f"Opening {mask_secrets(target)}…")

    def shutdown(self) -> None:
        self.runner.shutdown()


def _open(target: str) -> dict[str, Any]:
    """Open `target` (on a worker): {"summary": …}, or {"failed": why}."""
    try:
        return {"summary": gateway.open_instance(target)}
    except gateway.LabshelfError as exc:
        return {"failed": str(exc)}
