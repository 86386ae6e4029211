"""`watchDialog`: *File → Watch a folder…* — the folder, key prefix, instrument (by default
"<folder> on <host>"), unit (file or folder), settle time, marker file for folder units,
include/exclude patterns, collection, and whether the watch resumes when labshelf starts.

"Start watching" checks what can be told at once (one sentence under the form), then the
manager checks the folder and starts the watch on a worker; the dialog closes once the
watch runs, or says why it did not start — nothing is started then."""

from __future__ import annotations

from collections.abc import Callable

from labshelf.app import gateway
from labshelf.app.base.named import named
from labshelf.app.watching.watches import (
    WatchRow,
    WatchSpec,
    default_instrument,
    spec_problem,
    split_globs,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

Starter = Callable[[WatchSpec, Callable[[WatchRow], object], Callable[[str], object]], None]


class WatchFolderDialog(QDialog):
    """Asks what to watch; `start` (`WatchManager.start`) starts it."""

    def __init__(self, start: Starter, parent: QWidget | None = None, folder: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("watchDialog")
        self.setWindowTitle("Watch a folder")
        self.setMinimumWidth(640)
        self._start = start
        self._host = gateway.host_name()
        self._starting = False
        self._build()
        self.folder.setText(folder)
        self._on_unit()
        self._on_folder()

    def _build(self) -> None:
        self.folder = named(QLineEdit(), "watchFolder")
        self.folder.setPlaceholderText("the folder the instrument writes into")
        choose = named(QPushButton("Choose…"), "watchChoose")
        choose.clicked.connect(self.choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(choose)
        self.key_prefix = named(QLineEdit(), "watchKeyPrefix")
        self.key_prefix.setPlaceholderText("optional, e.g. confocal2/2026")
        self.instrument = named(QLineEdit(), "watchInstrument")
        self.unit = named(QComboBox(), "watchUnit")
        self.unit.addItem("Each file is one artifact", "file")
        self.unit.addItem("Each subfolder is one artifact (an acquisition)", "folder")
        self.settle = named(QDoubleSpinBox(decimals=1, suffix=" s"), "watchSettle")
        self.settle.setRange(0.0, 3600.0)
        self.settle.setValue(10.0)
        self.settle.setToolTip(
            "A file is registered once its size and time stayed the same this long "
            "(and no program here still writes it)"
        )
        self.marker = named(QLineEdit(), "watchMarker")
        self.marker.setPlaceholderText(
            "optional, e.g. DONE: the folder is complete once it appears"
        )
        self.include = named(QLineEdit(), "watchInclude")
        self.include.setPlaceholderText("all files; or e.g. *.tif, *.czi")
        self.exclude = named(QLineEdit(), "watchExclude")
        self.exclude.setPlaceholderText("none; or e.g. *.tmp, ~*")
        self.collection = named(QLineEdit(), "watchCollection")
        self.collection.setPlaceholderText("optional: add every file to this collection")
        self.auto_resume = named(
            QCheckBox("Resume this watch when labshelf starts (otherwise it comes back paused)"),
            "watchAutoResume",
        )
        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Key prefix", self.key_prefix)
        form.addRow("Instrument", self.instrument)
        form.addRow("Unit", self.unit)
        form.addRow("Settle time", self.settle)
        form.addRow("Marker file", self.marker)
        form.addRow("Include", self.include)
        form.addRow("Exclude", self.exclude)
        form.addRow("Collection", self.collection)
        form.addRow("", self.auto_resume)
        self.error = named(QLabel(wordWrap=True), "watchError")
        self.error.setProperty("error", True)
        self.error.hide()
        intro = named(
            QLabel(  # lines broken by hand: a wrapping label leaves the form too short
                "labshelf registers each file the instrument writes here once it is complete:\n"
                "unchanged for the settle time and no longer open for writing. Files that arrive\n"
                "while labshelf is closed are registered when the watch runs again."
            ),
            "watchIntro",
        )
        intro.setProperty("muted", True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Start watching")
        self._cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(intro)
        column.addLayout(form)
        column.addWidget(self.error)
        column.addWidget(self.buttons)
        self.unit.currentIndexChanged.connect(lambda _i: self._on_unit())
        self.folder.textChanged.connect(lambda _t: self._on_folder())

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to watch", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _on_unit(self) -> None:
        self.marker.setEnabled(self.unit.currentData() == "folder")

    def _on_folder(self) -> None:
        self.instrument.setPlaceholderText(
            default_instrument(self.folder.text().strip(), self._host)
        )

    def spec(self) -> WatchSpec:
        """The watch the form describes."""
        folder = self.folder.text().strip()
        unit = str(self.unit.currentData())
        return WatchSpec(
            folder=folder,
            instrument=self.instrument.text().strip() or default_instrument(folder, self._host),
            key_prefix=self.key_prefix.text().strip().strip("/"),
            unit=unit,
            settle=self.settle.value(),
            marker=self.marker.text().strip() if unit == "folder" else "",
            include=split_globs(self.include.text()),
            exclude=split_globs(self.exclude.text()),
            collection=self.collection.text().strip(),
            auto_resume=self.auto_resume.isChecked(),
        )

    def start(self) -> None:
        """Check the form and start the watch; close once it runs."""
        spec = self.spec()
        problem = spec_problem(spec)
        if problem:
            self.show_error(problem)
            return
        self.show_error("")
        self.ok.setEnabled(False)
        self.ok.setText("Starting…")
        self._cancel.setEnabled(False)  # a start cannot be taken back half-way
        self._starting = True
        self._start(spec, self._started, self.show_error)

    def _started(self, _row: WatchRow) -> None:
        self._starting = False
        self.accept()

    def reject(self) -> None:
        """Cancel (and Esc, and the close button) — not while a watch is starting."""
        if not self._starting:
            super().reject()

    def show_error(self, message: str) -> None:
        """Say why the watch cannot start (empty: nothing to say); the form stays as it is."""
        self._starting = False
        self.error.setText(message)
        self.error.setVisible(bool(message))
        self.adjustSize()
        self.ok.setEnabled(True)
        self.ok.setText("Start watching")
        self._cancel.setEnabled(True)
