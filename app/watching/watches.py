"""The plain-data side of watch folders (no Qt): a watch's options as the dialog fills them
and the settings store them (`WatchSpec`), the checks done before a watch starts, and the
state of one "Watched folders" row as its events change it (`WatchRow`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import PurePath
from typing import Any

UNITS = ("file", "folder")

# a row's state, as the panel shows it
NOT_STARTED, STARTING, CATCHING_UP, WATCHING, PAUSED, FOLDER_MISSING, STOPPING, STOPPED, ERROR = (
    "not started",
    "starting",
    "catching up",
    "watching",
    "paused",
    "folder missing",
    "stopping",
    "stopped",
    "error",
)
RESTORED_REASON = "not resumed since labshelf started; Resume to catch up"
USER_PAUSE = "paused by the user"


@dataclass(frozen=True)
class WatchSpec:
    """What to watch and how: the dialog's values, stored in the app settings as they are
    (folder and options only; never a secret). `instance` is the instance the watch registers
    into; `auto_resume` starts it again when labshelf starts (otherwise it comes back paused)."""

    folder: str
    instrument: str
    key_prefix: str = ""
    unit: str = "file"
    settle: float = 10.0
    marker: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    collection: str = ""
    auto_resume: bool = False
    instance: str = ""

    def options(self) -> dict[str, Any]:
        """The options `gateway.start_watch` takes."""
        out = asdict(self)
        out.pop("auto_resume")
        out.pop("instance")
        out["include"], out["exclude"] = list(self.include), list(self.exclude)
        return out

    def same_watch(self, other: WatchSpec) -> bool:
        """Whether both register the same folder the same way (core allows one such watch)."""
        return (self.folder, self.key_prefix, self.unit, self.instance) == (
            other.folder,
            other.key_prefix,
            other.unit,
            other.instance,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WatchSpec | None:
        """The spec stored as `text`; None for text that is no spec (a damaged setting)."""
        try:
            data = json.loads(text)
            known = {f.name for f in fields(cls)}
            values = {k: v for k, v in data.items() if k in known}
            values["include"] = tuple(str(p) for p in values.get("include", ()))
            values["exclude"] = tuple(str(p) for p in values.get("exclude", ()))
            values["settle"] = float(values.get("settle", 10.0))
            spec = cls(**values)
        except (TypeError, ValueError, AttributeError):
            return None
        if not spec.folder or not spec.instrument or spec.unit not in UNITS:
            return None
        return spec


def default_instrument(folder: str, host: str) -> str:
    """The instrument name a watch gets unless the user names one: "<folder> on <host>", as
    `labshelf watch` does."""
    name = PurePath(folder.rstrip("/\\")).name if folder.strip() else ""
    return f"{name} on {host}" if name else host


def split_globs(text: str) -> tuple[str, ...]:
    """Patterns from a text field: separated by commas or new lines, blanks dropped."""
    parts = text.replace("\n", ",").split(",")
    return tuple(p.strip() for p in parts if p.strip())


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a watch filter (one sentence), or None."""
    if pattern.startswith(("/", "\\")) or (len(pattern) > 1 and pattern[1] == ":"):
        return (
            f"The pattern '{pattern}' is an absolute path; patterns match names or paths "
            "inside the watched folder, e.g. '*.tif' or 'raw/*.czi'."
        )
    if ".." in pattern.replace("\\", "/").split("/"):
        return f"The pattern '{pattern}' leaves the watched folder ('..'); drop that part."
    depth = 0
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    if depth:
        return f"The pattern '{pattern}' opens a '[' it never closes, e.g. write '[0-9]'."
    return None


def spec_problem(spec: WatchSpec) -> str | None:
    """What is wrong with `spec` that can be told without the disk (one sentence), or None.
    The folder itself and the key prefix are checked by the gateway, on a worker."""
    if not spec.folder.strip():
        return "Choose the folder to watch."
    if not spec.instrument.strip():
        return "Name the instrument the files come from, e.g. 'Confocal 2'."
    if spec.unit not in UNITS:
        return f"'{spec.unit}' is no watch unit; choose file or folder."
    if spec.settle < 0:
        return "The settle time cannot be negative."
    if spec.marker and spec.unit != "folder":
        return "A marker file completes a folder: choose 'folder' as the unit, or no marker."
    if spec.marker and ("/" in spec.marker or "\\" in spec.marker or spec.marker in (".", "..")):
        return f"The marker '{spec.marker}' must be a plain file name such as DONE."
    for pattern in (*spec.include, *spec.exclude):
        problem = glob_problem(pattern)
        if problem:
            return problem
    return None


@dataclass
class WatchRow:
    """One row of the panel: a watch's state as its events tell it (events are dicts with
    the fields of `labshelf.watch.WatchEvent.as_dict()` and "text")."""

    spec: WatchSpec
    watch_id: int | None = None
    state: str = NOT_STARTED
    reason: str = ""
    registered: int = 0
    skipped: int = 0
    failed: int = 0
    last_file: str = ""
    last_error: str = ""
    catching_up: bool = False
    user_paused: bool = False
    fault: str = ""
    folder_missing: bool = False
    saved: bool = True  # kept in the settings (a watch the user stopped is not)
    changed_at: float = field(default_factory=time.monotonic)

    @property
    def active(self) -> bool:
        """Whether a watcher runs (or is being started or stopped) for this row."""
        return self.watch_id is not None or self.state in (STARTING, STOPPING)

    @property
    def can_pause(self) -> bool:
        return self.watch_id is not None and self.state != STOPPING and not self.user_paused

    @property
    def can_resume(self) -> bool:
        """Resume a paused watch, or start one that is not running (restored, stopped, failed)."""
        if self.watch_id is None:
            return self.state not in (STARTING, STOPPING)
        return self.user_paused and self.state != STOPPING

    @property
    def can_stop(self) -> bool:
        return self.watch_id is not None and self.state not in (STOPPING, STOPPED)

    def state_text(self) -> str:
        """The state as the panel shows it, with the reason where there is one."""
        return f"{self.state} — {self.reason}" if self.reason else self.state

    def restored(self) -> None:
        """Back after a restart, not started: paused until the user resumes."""
        self.state, self.reason = PAUSED, RESTORED_REASON

    def starting(self) -> None:
        self.state, self.reason = STARTING, ""
        self.user_paused, self.fault, self.folder_missing = False, "", False

    def started(self, watch_id: int) -> None:
        """The watcher runs (its first events may have come already)."""
        self.watch_id = watch_id
        self.state = WATCHING
        self._derive_state()

    def start_failed(self, message: str) -> None:
        self.state, self.reason, self.last_error = ERROR, message, message
        self.watch_id = None

    def stopping(self) -> None:
        self.state, self.reason = STOPPING, ""

    def apply(self, event: dict[str, Any]) -> None:
        """Update the row from one watch event."""
        kind = event.get("event", "")
        message = event.get("message") or ""
        path = event.get("path")
        if kind in ("registered", "new_version"):
            self.registered += 1
            self.last_file = path or self.last_file
        elif kind == "skipped":
            self.skipped += 1
        elif kind == "failed":
            self.failed += 1 if path else 0
            self.last_error = f"{path}: {message}" if path else message
        elif kind == "catchup":
            self.catching_up = bool(event.get("count"))
        elif kind == "catchup_done":
            self.catching_up = False
        elif kind == "paused":
            if message == USER_PAUSE:
                self.user_paused = True
            else:
                self.fault = message
        elif kind == "resumed":
            if message == "resumed by the user":
                self.user_paused = False
            else:
                self.fault = ""
        elif kind == "folder_missing":
            self.folder_missing = True
            self.last_error = message
        elif kind == "folder_back":
            self.folder_missing = False
        elif kind == "stopped":
            self.state, self.reason, self.watch_id = STOPPED, message, None
        self.changed_at = time.monotonic()
        if kind != "stopped" and self.state not in (STOPPED, ERROR):
            self._derive_state()

    def _derive_state(self) -> None:
        if self.state in (STARTING, STOPPING):  # until the start or stop has returned
            return
        if self.folder_missing:
            self.state, self.reason = FOLDER_MISSING, "the folder is gone (unmounted?)"
        elif self.user_paused:
            self.state, self.reason = PAUSED, USER_PAUSE
        elif self.fault:
            self.state, self.reason = PAUSED, self.fault
        else:
            self.state, self.reason = (CATCHING_UP if self.catching_up else WATCHING), ""
