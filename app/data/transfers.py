"""The items of the transfer queue and their states, without Qt.

A `Drop` is one import (one run of the app's upload transform); its `DropItem`s are the
ones core's upload planner lists, in the order the engine's progress refers to. The states
are core's upload engine's (`ItemState`, `DropState`), shared by the upload worker process,
the manager (`labshelf.app.uploads.manager`) and the queue's model. `QueueStore` keeps the
unfinished drops in a small JSON file, so that they are offered again after a restart.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from labshelf.app import gateway

ItemState = gateway.ItemState  # core's upload states (labshelf.states): one list
FINAL = gateway.FINAL_STATES
# A state by its value: a dict lookup, where `ItemState(value)` costs a few microseconds,
# which thousands of items a report (on the UI thread) add up to a stall.
STATE_OF: dict[str, ItemState] = {state.value: state for state in ItemState}
STARTED = (ItemState.HASHING, ItemState.UPLOADING)


class DropState(StrEnum):
    """Where a whole drop stands."""

    PLANNING = "planning"  # its items are being listed
    RUNNING = "running"
    DONE = "done"  # every item ended, none failed
    FAILED = "failed"  # an item failed, or the drop's worker did
    CANCELLED = "cancelled"


CANCELLED_PATHS = "cancelled_paths"  # option of a resumed drop: items cancelled one by one
KEYS = "keys"  # option: the key of single items, by local path (the import dialog's choices)
TITLE = "title"  # option: what the queue calls the drop (a drop of "the rest" keeps its name)

# What became of a drop's items, in the order the queue lists them.
OUTCOMES = ("done", "already registered", "failed", "cancelled", "not started")


@dataclass
class DropItem:
    """One artifact of a drop.

    Attributes:
        path: the local file or folder.
        key: the key it gets (None when it cannot be read).
        size: bytes to upload.
        n_files: files in it (1 for a file).
        state: where it stands.
        error: why it failed, in one sentence.
        started: it was being hashed or uploaded when last heard of (a cancel stopped it
            mid-way rather than before it started).
    """

    path: str
    key: str | None
    size: int
    n_files: int = 1
    state: ItemState = ItemState.QUEUED
    error: str | None = None
    started: bool = False


def items_from_plan(planned: list[dict[str, Any]]) -> list[DropItem]:
    """DropItems of the plain dicts `gateway.plan_upload` returns (and the worker sends)."""
    return [
        DropItem(p["path"], p["key"], p["size"], p["n_files"], STATE_OF[p["state"]], p["error"])
        for p in planned
    ]


@dataclass
class TransferProgress:
    """What a running drop reports: totals, and the item state changes since the last report
    as (plan index, state) pairs (the upload worker's `ProgressRelay` coalesces them)."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    changes: list[tuple[int, str]]
    finished: bool = False


@dataclass
class Drop:
    """One import.

    Attributes:
        id: its number in this session of the app.
        options: what `UploadManager.start` got (paths, key_prefix, description, as_folder,
            storage, collection or collection_uid; `CANCELLED_PATHS` when resumed).
        items: its items, once planned (empty while `state` is PLANNING).
        state: where it stands.
        bytes_done, bytes_total, files_done, files_total: progress over the items not
            cancelled.
        started: `time.monotonic()` when it started.
        created: the wall-clock time it started (the queue shows it).
        message: a summary ("30 done · 10 cancelled · 960 not started") or why it failed.
        run_uid: the upload run that recorded it, once done.
        worker_pid: the worker process uploading it.
        cancel: set to cancel the whole drop.
        cancelled_items: plan indices the user cancelled alone (the engine's threads read it;
            set lookups and adds are atomic).
    """

    id: int
    options: dict[str, Any]
    items: list[DropItem] = field(default_factory=list)
    state: DropState = DropState.PLANNING
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    started: float = field(default_factory=time.monotonic)
    created: datetime = field(default_factory=datetime.now)
    message: str = ""
    run_uid: str | None = None
    worker_pid: int | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    cancelled_items: set[int] = field(default_factory=set, repr=False)

    @property
    def title(self) -> str:
        if self.options.get(TITLE):
            return str(self.options[TITLE])
        names = [Path(p).name for p in self.options["paths"]]
        return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1:,} more"

    @property
    def source(self) -> str:
        """The folder the dropped files and folders came from (their common parent)."""
        parents = [str(Path(p).parent) for p in self.options["paths"]]
        try:
            return os.path.commonpath(parents) if parents else ""
        except ValueError:  # paths on different drives
            return parents[0]

    def outcome(self) -> dict[str, int]:
        """How many items ended how (`OUTCOMES`, only those that occur): done, already
        registered, failed, cancelled (stopped mid-way, or cancelled alone by the user) and
        not started (left when the whole drop was cancelled)."""
        out = dict.fromkeys(OUTCOMES, 0)
        for index, item in enumerate(self.items):
            out[self._outcome_of(index, item)] += 1
        return {label: n for label, n in out.items() if n}

    def _outcome_of(self, index: int, item: DropItem) -> str:
        if item.state == ItemState.DONE:
            return "done"
        if item.state == ItemState.DUPLICATE:
            return "already registered"
        if item.state == ItemState.FAILED:
            return "failed"
        if item.state == ItemState.CANCELLED:
            alone = index in self.cancelled_items
            return "cancelled" if item.started or alone else "not started"
        return "not started"

    def item_state_text(self, index: int) -> str:
        """What the queue says of one item: its state, in the words of the drop's summary
        ("already registered", "not started" for what a cancel left)."""
        item = self.items[index]
        if item.state in (ItemState.CANCELLED, ItemState.DUPLICATE):
            return self._outcome_of(index, item)
        return str(item.state)

    def bytes_of(self, state: ItemState) -> int:
        return sum(i.size for i in self.items if i.state == state)

    def rest(self) -> list[int]:
        """Plan indices of what a cancel of the whole drop left undone (not the items the user
        cancelled alone, nor failed ones: those are retried)."""
        return [
            index
            for index, item in enumerate(self.items)
            if item.state == ItemState.CANCELLED and index not in self.cancelled_items
        ]

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        elapsed = time.monotonic() - self.started
        return self.bytes_done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, if known."""
        rate = self.rate
        if rate > 0 and self.state == DropState.RUNNING:
            return (self.bytes_total - self.bytes_done) / rate
        return None

    @property
    def finished(self) -> bool:
        return self.state in (DropState.DONE, DropState.FAILED, DropState.CANCELLED)

    def counts(self) -> dict[ItemState, int]:
        """How many items are in each state."""
        out: dict[ItemState, int] = {}
        for item in self.items:
            out[item.state] = out.get(item.state, 0) + 1
        return out

    def plan(self, items: list[DropItem]) -> None:
        """The drop's items arrived: totals over those not cancelled before a restart (which
        the user had cancelled alone)."""
        self.items = items
        self.cancelled_items.update(
            i for i, item in enumerate(items) if item.state == ItemState.CANCELLED
        )
        kept = [i for i in items if i.state != ItemState.CANCELLED]
        self.bytes_total = sum(i.size for i in kept)
        self.files_total = sum(i.n_files for i in kept)
        self.state = DropState.RUNNING

    def progress(self, report: TransferProgress) -> list[int]:
        """Fold a progress report in; the plan indices whose state changed."""
        self.bytes_done, self.bytes_total = report.bytes_done, report.bytes_total
        self.files_done, self.files_total = report.files_done, report.files_total
        changed = []
        items, count = self.items, len(self.items)
        for index, value in report.changes:
            if index < count:
                item = items[index]
                item.state = state = STATE_OF[value]
                if state in STARTED:
                    item.started = True
                elif state == ItemState.QUEUED:
                    item.started = False  # hashed, waiting for its upload
                changed.append(index)
        return changed

    def end(self, result: dict[str, Any]) -> None:
        """The drop ended with the worker's `result` (final item states, run, cancelled)."""
        for item, final in zip(self.items, result["items"], strict=False):
            item.state, item.error = STATE_OF[final["state"]], final["error"]
        self.run_uid = result["run"]
        counts = self.counts()
        if result["cancelled"]:
            self.state = DropState.CANCELLED
        elif counts.get(ItemState.FAILED):
            self.state = DropState.FAILED
        elif (
            counts.get(ItemState.CANCELLED)
            and not counts.get(ItemState.DONE)
            and not counts.get(ItemState.DUPLICATE)
        ):
            self.state = DropState.CANCELLED  # every item was cancelled alone
        else:
            self.state = DropState.DONE
        self.message = " · ".join(f"{n:,} {label}" for label, n in self.outcome().items())

    def fail(self, message: str) -> None:
        """The drop's worker failed: every item not ended yet failed with it."""
        self.state, self.message = DropState.FAILED, message
        for item in self.items:
            if item.state not in FINAL:
                item.state, item.error = ItemState.FAILED, message

    def resumable(self) -> dict[str, Any]:
        """What the queue file keeps of an unfinished drop: its options and the paths of the
        items the user cancelled alone (by path: plan indices may differ once files change)."""
        cancelled = set(self.options.get(CANCELLED_PATHS, ()))
        cancelled.update(
            self.items[i].path for i in list(self.cancelled_items) if i < len(self.items)
        )
        if not cancelled:
            return self.options
        return dict(self.options, **{CANCELLED_PATHS: sorted(cancelled)})


class QueueStore:
    """Unfinished drops' options in a JSON file (written on pool threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._written = 0  # sequence number of the snapshot on disk

    def load(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads(self.path.read_text()).get("drops", []))
        except (FileNotFoundError, ValueError):
            return []

    def save(self, drops: list[dict[str, Any]], seq: int = 0) -> None:
        """Write snapshot number `seq` (saves run on pool threads: an older snapshot that comes
        late is dropped)."""
        with self._lock:
            if seq and seq < self._written:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"drops": drops}, indent=1))
            os.replace(tmp, self.path)
            self._written = seq


def default_store() -> QueueStore:
    """`<data dir>/desktop/uploads.json`."""
    return QueueStore(gateway.data_dir() / "desktop" / "uploads.json")
