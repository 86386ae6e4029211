"""`emptyState`: the message an empty table shows over its rows — why nothing is there and
what to do next (the words are `labshelf.app.data.empty_states`)."""

from __future__ import annotations

from html import escape

from labshelf.app.data.empty_states import EmptyState
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QWidget


class EmptyStateOverlay(QLabel):
    """A centred note over a view's viewport; hidden while the view has rows."""

    def __init__(self, view: QAbstractScrollArea, name: str = "emptyState") -> None:
        super().__init__(view.viewport())
        self.setObjectName(name)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setProperty("muted", True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.state: EmptyState | None = None
        view.viewport().installEventFilter(self)
        self.hide()

    def show_state(self, state: EmptyState | None) -> None:
        """Show `state` (None hides the note)."""
        self.state = state
        if state is None:
            self.hide()
            return
        self.setText(f"<p><b>{escape(state.title)}</b></p><p>{escape(state.hint)}</p>")
        self._fit()
        self.show()
        self.raise_()

    def _fit(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            width = min(parent.width() - 40, 520)
            self.setGeometry((parent.width() - width) // 2, 30, max(width, 120), 120)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Resize and isinstance(watched, QWidget):
            self._fit()
        return False

    @property
    def message(self) -> str:
        """The note as plain text (tests, accessibility)."""
        return "" if self.state is None else f"{self.state.title} {self.state.hint}"


__all__ = ["EmptyStateOverlay"]
