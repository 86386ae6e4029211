"""File → Open recent: the instances opened lately (kept in the app's settings, newest
first), then the other instances configured on this machine (read on a worker)."""

from __future__ import annotations

from labshelf.app import gateway
from labshelf.app.base.tasks import TaskRunner
from labshelf.app.shell.app_settings import open_settings
from PySide6.QtCore import QObject

MAX_RECENT = 8


class RecentInstances(QObject):
    """What File → Open recent lists: (target, label) pairs."""

    def __init__(self, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._configured: list[tuple[str, str]] = []
        self.current = ""

    def load(self) -> None:
        """Read the configured instances on a worker (the menu shows them once they arrive)."""
        self._runner.submit(
            lambda ctx: gateway.configured_instances(),
            done=self._set_configured,
            name="configured instances",
        )

    def _set_configured(self, pairs: list[tuple[str, str]]) -> None:
        self._configured = list(pairs)

    def _recent(self) -> list[tuple[str, str]]:
        value = open_settings().value("recent_instances", [])
        items = value if isinstance(value, list) else [value] if value else []
        pairs = []
        for item in items:
            name, _, storage = str(item).partition("\t")
            pairs.append((name, storage))
        return pairs

    def opened(self, name: str, storage: str) -> None:
        """`name` was opened: first in the list from now on."""
        self.current = name
        pairs = [(n, s) for n, s in self._recent() if n != name]
        pairs.insert(0, (name, storage))
        open_settings().setValue("recent_instances", [f"{n}\t{s}" for n, s in pairs[:MAX_RECENT]])

    def entries(self) -> list[tuple[str, str]]:
        """(name, menu label) of the instances to offer, the current one left out."""
        seen = {self.current}
        out = []
        for name, storage in [*self._recent(), *self._configured]:
            if name and name not in seen:
                seen.add(name)
                out.append((name, f"{name}  —  {storage}" if storage else name))
        return out
