"""One drop of the desktop app, run by `labshelf.upload` — in a worker process of its own.

The engine's threads hash, copy and write records in Python; in the app's own process they
compete with the UI thread for the GIL, and the window stutters while thousands of files go
in. So the app starts `python -m labshelf.app.upload_worker` (the bundle: `labshelf --upload-worker`)
per drop and only relays what it reports. No Qt here. Core is imported inside the functions
that upload: the app's own process imports this module too (for its constants and, in tests,
`run_drop`), and must not load the upload engine on its UI thread.

Protocol: JSON lines.
- app → worker (stdin): first ``{"options": {...}, "max_workers": n}`` (a worker may be started
  ahead of it: it imports and connects meanwhile, and exits if none comes); then any number of
  ``{"cancel": true}`` and ``{"cancel_items": [plan index, ...]}``. End of input means the app
  is gone: the upload is cancelled (nothing half-written stays visible).
- worker → app (stdout): ``["plan", [item, ...]]`` once, ``["progress", {...}]`` at most
  every `PROGRESS_INTERVAL_S` (each item's state changes since the last one, coalesced: see
  `ProgressRelay`), the last one exact, then ``["done", result]`` (every item's final
  state and error) or ``["error", message, details]``.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from labshelf.app.data.transfers import (
    CANCELLED_PATHS,
    FINAL,
    KEYS,
    ItemState,
)
from labshelf.app.gateway import planned_items

UPLOAD_WORKER_FLAG = "--upload-worker"  # the bundle's executable runs this module with it
# A worker started ahead of its drop (while the import dialog is open) waits this long for it
# and then exits on its own.
IDLE_S = 600

# Local copies are bound by the disk and Python's own per-file work; cloud transfers wait on
# the network (GIL released), so more of them overlap latency. The app's settings change these.
LOCAL_UPLOAD_WORKERS = 4
CLOUD_UPLOAD_WORKERS = 8

# The app hears of progress at most this often (its queue repaints 4 times a second); the
# engine's own reports (up to ~10 a second, from its threads) are folded in meanwhile.
PROGRESS_INTERVAL_S = 0.2

Send = Callable[[str, Any], None]
RUN_PATHS = 50  # dropped paths listed in a run's params (a drop of "the rest" may have thousands)


def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labshelf")
    except PackageNotFoundError:
        import labshelf

        return labshelf.__version__


def upload_workers(root: str) -> int:
    """Parallel transfers for an upload to `root` (local folder, s3:// or gs://)."""
    return CLOUD_UPLOAD_WORKERS if root.startswith(("s3://", "gs://")) else LOCAL_UPLOAD_WORKERS


def drop_source(paths: list[str]) -> str:
    """Where a drop came from: the dropped file or folder, or the folder holding them all."""
    if len(paths) == 1:
        return os.path.abspath(paths[0])
    try:
        return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # paths on different drives
        return os.path.dirname(os.path.abspath(paths[0]))


def run_fields(options: dict[str, Any]) -> dict[str, Any]:
    """What the drop's run records: the dropped path (its `reference`), the machine and the
    import's choices (its `params`)."""
    paths = [str(p) for p in options["paths"]]
    return {
        "reference": drop_source(paths),
        "reference_type": "dropped files",
        "params": {
            "host": socket.gethostname(),
            "dropped": [os.path.abspath(p) for p in paths[:RUN_PATHS]],
            "n_dropped": len(paths),
            "key_prefix": options.get("key_prefix") or None,
            "as_folder": options.get("as_folder", True),
            "keys_chosen": len(options.get(KEYS) or {}),
        },
    }


def upload_drop(
    options: dict[str, Any],
    on_progress: Callable[[Any], None],
    cancel: threading.Event,
    cancel_item: set[int] | Callable[[int], bool] | None = None,
    max_workers: int | None = None,
    on_plan: Callable[[list[Any]], None] | None = None,
) -> tuple[dict[str, Any], Any]:
    """One drop: a run of the app's upload transform, `ls.upload` under it, the run finished.
    `cancel_item` (a set of plan indices, or a callable) cancels single items, `on_plan` gets
    the planned items before anything starts (see `ls.upload`). Returns the report as plain
    data, and the report itself: freeing its thousands of records takes a while, which the
    caller does after reporting."""
    import labshelf as ls
    from labshelf.provenance import finish_run, start_run, upload_transform

    collection = options.get("collection")
    if options.get("collection_uid"):
        collection = ls.Collection.get(options["collection_uid"])
    run = start_run(upload_transform(app_version()), **run_fields(options))
    try:
        report = ls.upload(
            options["paths"],
            key_prefix=options.get("key_prefix") or None,
            description=options.get("description") or None,
            as_folder=options.get("as_folder", True),
            storage=options.get("storage") or None,
            collection=collection or None,
            run=run,
            on_progress=on_progress,
            cancel=cancel,
            cancel_item=cancel_item,
            max_workers=max_workers
            or upload_workers(options.get("storage") or ls.settings.storage.root),
            keys=options.get(KEYS) or None,
            on_plan=on_plan,
        )
    finally:
        finish_run(run)
    return {
        "run": run.uid,
        "items": [{"state": i.state, "error": i.error} for i in report.items],
        "cancelled": report.cancelled,
        "collection": report.collection.uid if report.collection is not None else None,
        "seconds": report.seconds,
    }, report


def run_drop(
    options: dict[str, Any],
    cancel: threading.Event,
    cancelled: set[int],
    send: Send,
    max_workers: int | None = None,
) -> dict[str, Any]:
    """Upload one drop: `send("plan", items)` first (`ls.upload`'s own plan, through its
    `on_plan`), then `send("progress", p)` (a dict of `TransferProgress`'s fields, from
    `ProgressRelay`'s thread), last `send("done", result)`, which is also returned.
    `cancelled` is the live set of plan indices cancelled alone; those of a resumed drop (its
    `cancelled_paths`) are added to it once planned."""
    from labshelf.runtime import gc_paused

    skipped = set(options.get(CANCELLED_PATHS, ()))
    sent: list[bool] = []

    def on_plan(items: list[Any]) -> None:
        # ls.upload's own plan (planning again here took ~1 s of a drop of 10,000 files), sent
        # before anything is hashed; an error sending it aborts the upload with nothing written
        sent.append(True)  # (if sending fails, the app is gone: no second try)
        planned = planned_items(items)
        for index, item in enumerate(planned):
            if item["path"] in skipped and item["state"] not in FINAL:
                item["state"] = ItemState.CANCELLED
                cancelled.add(index)  # set.add is atomic; the other side only adds too
        send("plan", planned)

    # The whole drop holds off full collections, so that the upload's thousands of records are
    # freed by reference counting before one runs (it would hold the GIL for ~100 ms).
    with gc_paused():
        relay = ProgressRelay(lambda p: send("progress", p))
        try:
            result, report = upload_drop(options, relay, cancel, cancelled, max_workers, on_plan)
        except Exception:
            if not sent:  # failed before planning (no such collection, no database): the
                _plan_anyway(options, on_plan)  # app shows the items the failure ends
            raise
        finally:
            relay.close()  # the last report goes out before the outcome
        send("done", result)  # before the report's records are freed (on return)
        del report
        return result


def _plan_anyway(options: dict[str, Any], on_plan: Callable[[list[Any]], None]) -> None:
    """Plan a drop that failed before `ls.upload` planned it, and pass the items to `on_plan`
    (nothing if they cannot be planned either: the failure is reported alone)."""
    from labshelf.transfer import plan  # deferred with the upload engine (see the module doc)

    try:
        items = plan(
            options["paths"],
            options.get("key_prefix") or None,
            options.get("as_folder", True),
            keys=options.get(KEYS) or None,
        )
    except Exception:  # noqa: BLE001 - the drop's own error is the one reported
        return
    on_plan(items)


class ProgressRelay:
    """The engine's `on_progress`: folds its reports in and passes them on from a thread of
    its own, at most every `interval` seconds, so that the engine's threads never wait for
    the app to read the pipe, and the app gets a few reports a second however many items
    change.

    Item state changes are coalesced per item: the app gets each item's latest state, and
    for an item cancelled since the last report also the state it was cancelled in (the
    queue tells "cancelled" mid-way from "not started" by it). Totals are the latest.
    `close()` sends what is left (the engine's last report, `finished`) and stops.
    """

    def __init__(
        self, send: Callable[[dict[str, Any]], None], interval: float | None = None
    ) -> None:
        self._send = send
        self._interval = PROGRESS_INTERVAL_S if interval is None else interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._totals: dict[str, Any] | None = None
        self._changes: dict[int, tuple[str, ...]] = {}
        self._thread = threading.Thread(target=self._run, name="upload-progress", daemon=True)
        self._thread.start()

    def __call__(self, progress: Any) -> None:
        """Fold in one of the engine's reports (`labshelf.transfer.Progress`)."""
        cancelled = ItemState.CANCELLED.value
        with self._lock:
            self._totals = {
                "bytes_done": progress.bytes_done,
                "bytes_total": progress.bytes_total,
                "files_done": progress.files_done,
                "files_total": progress.files_total,
                "finished": progress.finished,
            }
            pending = self._changes
            for index, state in progress.changes:
                before = pending.get(index)
                state = str(state)
                if state == cancelled and before is not None:
                    pending[index] = (before[-1], state)
                else:
                    pending[index] = (state,)

    def _take(self) -> dict[str, Any] | None:
        with self._lock:
            if self._totals is None:
                return None
            changes = [(i, s) for i, states in self._changes.items() for s in states]
            report = dict(self._totals, changes=changes)
            self._totals, self._changes = None, {}
        return report

    def _flush(self) -> None:
        report = self._take()
        if report is not None:
            self._send(report)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._flush()
            except OSError:
                return  # the app is gone: the stdin listener cancels the upload

    def close(self) -> None:
        """Stop the thread and send what is left, in this thread."""
        self._stop.set()
        self._thread.join()
        self._flush()


def _warm_up() -> None:
    """Import and connect what an upload needs before the drop arrives: a worker started
    ahead (while the import dialog is open) then starts at once."""
    try:
        import labshelf as ls
        import labshelf.provenance
        import labshelf.transfer

        root = ls.settings.storage.root
        if root.startswith("s3://"):
            import s3fs  # noqa: F401
        elif root.startswith("gs://"):
            import gcsfs  # noqa: F401
    except Exception:  # noqa: BLE001 - the drop itself reports what is wrong, in its words
        pass


def main() -> int:
    """The worker process: read the drop from stdin, upload it, report on stdout."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # whatever else prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    lock = threading.Lock()

    def send(kind: str, payload: Any, *more: Any) -> None:
        line = json.dumps([kind, payload, *more])
        with lock:
            channel.write(line + "\n")
            channel.flush()

    _warm_up()
    ready, _, _ = select.select([sys.stdin], [], [], IDLE_S)
    first = sys.stdin.readline() if ready else ""
    if not first.strip():
        return 0  # no drop came (the app is gone, or had no use for this worker)
    start = json.loads(first)
    cancel = threading.Event()
    cancelled: set[int] = set()

    def listen() -> None:
        for line in sys.stdin:
            message = json.loads(line)
            if message.get("cancel"):
                cancel.set()
            cancelled.update(message.get("cancel_items", ()))
        cancel.set()  # the app is gone: stop, leaving nothing half-written

    threading.Thread(target=listen, name="upload-worker-stdin", daemon=True).start()
    try:
        run_drop(start["options"], cancel, cancelled, send, start.get("max_workers"))
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the app, in one line
        try:
            send("error", str(exc) or type(exc).__name__, traceback.format_exc())
        except OSError:
            pass  # the app is gone
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
