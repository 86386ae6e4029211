"""The upload worker's progress relay on its own: it coalesces the engine's reports, sends a
few a second from a thread of its own (the engine's threads never wait for the app), and
its last report is exact; folded into a `Drop`, the queue's outcome stays right."""

from __future__ import annotations

import threading
import time
from typing import Any

from labshelf.app.data.transfers import Drop, ItemState, TransferProgress, items_from_plan
from labshelf.app.upload_worker import ProgressRelay
from labshelf.transfer import Progress

N = 3000
INTERVAL = 0.05


def _final(i: int) -> list[str]:
    """The states item `i` goes through (as the engine reports them)."""
    if i % 100 == 1:
        return ["hashing", "queued", "uploading", "cancelled"]  # stopped mid-way
    if i % 100 == 2:
        return ["hashing", "queued", "cancelled"]  # cancelled while it waited
    if i % 100 == 3:
        return ["hashing", "failed"]
    if i % 10 == 4:
        return ["hashing", "duplicate"]
    return ["hashing", "queued", "uploading", "done"]


def _engine(relay: ProgressRelay, seconds: float) -> None:
    """Reports like the engine's: totals and the changes since the last report, from a
    thread, over `seconds`."""
    changes = [(i, state) for i in range(N) for state in _final(i)]
    batch = max(1, len(changes) // int(seconds / 0.002))
    for start in range(0, len(changes), batch):
        part = changes[start : start + batch]
        done = part[-1][0]
        relay(Progress(done * 10, N * 10, done, N, part))
        time.sleep(0.002)
    relay(Progress(N * 10, N * 10, N, N, [], finished=True))


def _drop() -> Drop:
    drop = Drop(1, {"paths": ["/data/plate"]})
    planned = [
        {"path": f"/data/plate/f{i}", "key": f"f{i}", "size": 10, "n_files": 1}
        | {"state": "queued", "error": None}
        for i in range(N)
    ]
    drop.plan(items_from_plan(planned))
    return drop


def test_reports_are_coalesced_throttled_and_the_last_is_exact() -> None:
    sent: list[dict[str, Any]] = []
    relay = ProgressRelay(sent.append, interval=INTERVAL)
    started = time.monotonic()
    engine = threading.Thread(target=_engine, args=(relay, 0.6))
    engine.start()
    engine.join()
    relay.close()
    elapsed = time.monotonic() - started

    assert len(sent) <= elapsed / INTERVAL + 2, (len(sent), elapsed)
    assert sent[-1]["finished"] and sent[-1]["files_done"] == N
    assert sum(len(r["changes"]) for r in sent) < sum(len(_final(i)) for i in range(N))
    drop = _drop()
    for report in sent:
        drop.progress(TransferProgress(**report))
    assert [item.state for item in drop.items] == [ItemState(_final(i)[-1]) for i in range(N)]
    assert drop.files_done == N
    outcome = drop.outcome()  # mid-way cancels are "cancelled", waiting ones "not started"
    assert outcome["cancelled"] == len(range(1, N, 100))
    assert outcome["not started"] == len(range(2, N, 100))
    assert outcome["failed"] == len(range(3, N, 100))


def test_the_engine_never_waits_for_a_slow_app() -> None:
    """The app reads the pipe late (its UI is busy): reports pile up in the relay, not in
    the engine's threads."""
    release = threading.Event()
    sent: list[dict[str, Any]] = []

    def slow_send(report: dict[str, Any]) -> None:
        release.wait(10)
        sent.append(report)

    relay = ProgressRelay(slow_send, interval=0.001)
    relay(Progress(0, N, 0, N, [(0, "hashing")]))
    time.sleep(0.05)  # the relay's thread is stuck in slow_send now
    started = time.monotonic()
    for i in range(1, N):
        relay(Progress(i, N, i, N, [(i, "hashing"), (i, "done")]))
    assert time.monotonic() - started < 1.0  # no report waited for the app
    release.set()
    relay.close()
    states: dict[int, str] = {}
    for report in sent:
        states.update(report["changes"])
    assert len(states) == N and states[N - 1] == "done"
    assert sent[-1]["files_done"] == N - 1
