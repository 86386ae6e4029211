"""The upload worker process on its own: the protocol the app relays, its one-line errors, and
that it stops — leaving nothing half-written — when the app goes away."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from labshelf.app.uploads.manager import worker_command
from slow_worker import slow_worker_command

ROOT = Path(__file__).resolve().parents[2]


def _start(instance: str, slow: bool = False) -> subprocess.Popen:
    """The worker; ``slow``: with a slow disk (5 ms per object), so that a cancel or the app's
    end lands mid-drop however quickly small files are copied."""
    env = {**os.environ, "LABSHELF_INSTANCE": instance}
    return subprocess.Popen(
        slow_worker_command(0.005) if slow else worker_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _send(process: subprocess.Popen, message: dict[str, Any]) -> None:
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


def _files(folder: Path, n: int, size: int = 4096) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i:04d}.bin").write_bytes(i.to_bytes(4, "big") * (size // 4))
    return folder


def test_input_ending_at_once_cancels_the_drop(instance: Path, tmp_path: Path) -> None:
    import labshelf as ls

    folder = _files(tmp_path / "five", 5)
    process = _start(ls.settings.instance)
    _send(process, {"options": {"paths": [str(folder)], "as_folder": False}})
    process.stdin.close()  # as if the app died right after starting the drop
    messages = [json.loads(line) for line in process.stdout.read().splitlines()]
    assert process.wait(60) == 0, process.stderr.read()
    assert messages[0][0] == "plan" and [i["key"] for i in messages[0][1]] == [
        f"five/f{i:04d}.bin" for i in range(5)
    ]
    assert messages[-1][0] == "done" and messages[-1][1]["cancelled"] is True
    assert ls.Artifact.filter().count() == 0  # nothing behind


def test_the_worker_uploads_and_reports_progress(instance: Path, tmp_path: Path) -> None:
    import labshelf as ls

    folder = _files(tmp_path / "ten", 10)
    process = _start(ls.settings.instance)
    _send(
        process,
        {
            "options": {"paths": [str(folder)], "as_folder": False, "description": "plate 7"},
            "max_workers": 2,
        },
    )
    lines = _reports(process)  # stdin stays open meanwhile: the app is still there
    process.stdin.close()
    assert process.wait(30) == 0
    kinds = [m[0] for m in lines]
    assert kinds[0] == "plan" and kinds[-1] == "done" and "progress" in kinds, kinds
    last = [m[1] for m in lines if m[0] == "progress"][-1]
    assert last["finished"] and last["files_done"] == last["files_total"] == 10
    result = lines[-1][1]
    assert [i["state"] for i in result["items"]] == ["done"] * 10 and not result["cancelled"]
    run = ls.Run.get(result["run"])
    assert run.transform.key == "labshelf-desktop-upload" and run.transform.type == "upload"
    assert {a.run.uid for a in ls.Artifact.filter(description="plate 7")} == {result["run"]}


def test_cancel_items_and_the_whole_drop_through_the_protocol(
    instance: Path, tmp_path: Path
) -> None:
    import labshelf as ls

    folder = _files(tmp_path / "many", 3000)
    process = _start(ls.settings.instance, slow=True)
    _send(process, {"options": {"paths": [str(folder)], "as_folder": False}, "max_workers": 2})
    _send(process, {"cancel_items": [2999, 2998]})  # before they can start
    states: dict[int, str] = {}
    for line in process.stdout:
        kind, payload, *_ = json.loads(line)
        if kind == "progress":
            states.update(payload["changes"])
            if sum(1 for s in states.values() if s == "done") >= 50:
                _send(process, {"cancel": True})
        if kind in ("done", "error"):
            break
    process.stdin.close()
    assert process.wait(30) == 0 and kind == "done", payload
    final = [i["state"] for i in payload["items"]]
    assert payload["cancelled"] and final[2998:] == ["cancelled", "cancelled"]
    assert 50 <= final.count("done") < 2998
    assert set(final) <= {"done", "cancelled"}
    done_keys = {f"many/f{i:04d}.bin" for i, s in enumerate(final) if s == "done"}
    assert {a.key for a in ls.Artifact.filter()} == done_keys


def _reports(process: subprocess.Popen) -> list[Any]:
    """The worker's reports up to its last one (done or error)."""
    messages = []
    for line in process.stdout:
        messages.append(json.loads(line))
        if messages[-1][0] in ("done", "error"):
            break
    return messages


def _run(instance: str, options: dict[str, Any]) -> tuple[list[Any], int]:
    process = _start(instance)
    _send(process, {"options": options})
    messages = _reports(process)
    process.stdin.close()
    return messages, process.wait(30)


def test_bad_input_comes_back_in_one_sentence(instance: Path, tmp_path: Path) -> None:
    import labshelf as ls

    missing = str(tmp_path / "not-there")
    messages, code = _run(ls.settings.instance, {"paths": [missing], "as_folder": False})
    (kind, plan), (end, result) = messages[0][:2], messages[-1][:2]
    assert kind == "plan" and plan[0]["state"] == "failed" and missing in plan[0]["error"]
    assert end == "done" and code == 0 and result["items"][0]["state"] == "failed"

    folder = _files(tmp_path / "two", 2)
    runs = ls.Run.filter().count()  # the drop above is one
    messages, code = _run(
        ls.settings.instance, {"paths": [str(folder)], "collection_uid": "nosuchuid0000000"}
    )
    kind, message, details = messages[-1]
    assert messages[0][0] == "plan" and len(messages[0][1]) == 1  # the items the error ends
    assert kind == "error" and code == 1
    assert "nosuchuid0000000" in message and "\n" not in message, message
    assert "Traceback" in details  # for the queue's "details"
    assert ls.Artifact.filter().count() == 0 and ls.Run.filter().count() == runs  # no run left open


def test_the_worker_stops_when_the_app_is_killed(instance: Path, tmp_path: Path) -> None:
    """End of input (the app's pipe closes when it dies) cancels the upload: the worker exits
    by itself and leaves no pending record and no object without its record."""
    import labshelf as ls
    from labshelf import session as context
    from labshelf.models import PENDING, Artifact
    from sqlalchemy import select

    folder = _files(tmp_path / "kill", 3000)
    process = _start(ls.settings.instance, slow=True)
    _send(process, {"options": {"paths": [str(folder)], "as_folder": False}, "max_workers": 2})
    done = 0
    for line in process.stdout:
        kind, payload, *_ = json.loads(line)
        if kind == "progress":
            done = payload["files_done"]
            if done >= 100:
                break
    started = time.monotonic()
    process.stdin.close()  # what the kernel does when the app is killed
    process.stdout.close()
    assert process.wait(30) in (0, 1)
    stopped_after = time.monotonic() - started
    assert stopped_after < 10, stopped_after
    rows = context.read(
        lambda s: s.execute(select(Artifact.uid, Artifact.suffix, Artifact.visibility)).all()
    )
    assert 100 <= len(rows) < 3000 and not [r for r in rows if r.visibility == PENDING]
    store = Path(ls.settings.storage.root) / ".labshelf"
    objects = {
        p.name
        for p in store.iterdir()
        if not p.name.startswith("labshelf.db") and p.name != "catalog.json"
    }  # catalog.json: the storage's marker naming its catalog
    assert objects == {
        f"{r.uid}{r.suffix}" for r in rows
    }  # no object without its record, no temp file


def test_progress_reaches_the_app_throttled_and_its_end_exact(
    instance: Path, tmp_path: Path
) -> None:
    """A few reports a second whatever the number of items; the last one (finished) and the
    outcome exact, for new items, items registered already and one that cannot be read."""
    import labshelf as ls
    from labshelf.app.upload_worker import PROGRESS_INTERVAL_S

    folder = _files(tmp_path / "many", 1500)
    first, code = _run(ls.settings.instance, {"paths": [str(folder)], "as_folder": False})
    assert code == 0 and first[-1][0] == "done"
    for i in range(1500, 2000):  # 500 new files beside the 1,500 registered
        (folder / f"f{i:04d}.bin").write_bytes(i.to_bytes(4, "big") * 1024)
    missing = str(tmp_path / "not-there")
    process = _start(ls.settings.instance)
    started = time.monotonic()
    _send(process, {"options": {"paths": [str(folder), missing], "as_folder": False}})
    messages = _reports(process)
    elapsed = time.monotonic() - started
    process.stdin.close()
    assert process.wait(30) == 0

    progress = [m[1] for m in messages if m[0] == "progress"]
    assert [m[0] for m in messages[-2:]] == ["progress", "done"]
    assert len(progress) <= elapsed / PROGRESS_INTERVAL_S + 2, (len(progress), elapsed)
    last, result = progress[-1], messages[-1][1]
    assert last["finished"] and last["files_done"] == 2000  # the one failed is not done
    states: dict[int, str] = {}
    for report in progress:
        states.update(report["changes"])  # coalesced: each item's latest state
    final = [item["state"] for item in result["items"]]
    assert [states.get(i, "failed") for i in range(len(final))] == final
    assert final.count("duplicate") == 1500 and final.count("done") == 500
    failed = [item for item in result["items"] if item["state"] == "failed"]
    assert len(failed) == 1 and missing in failed[0]["error"]
    assert ls.Artifact.filter().count() == 2000


def test_a_drop_is_planned_once(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan the app gets is `ls.upload`'s own (its `on_plan`), sent before anything is
    hashed: the same fields, and a resumed drop's items cancelled alone by path."""
    import threading

    from labshelf import transfer
    from labshelf.app.data.transfers import CANCELLED_PATHS
    from labshelf.app.gateway import plan_upload
    from labshelf.app.upload_worker import run_drop

    folder = _files(tmp_path / "six", 6)
    options = {"paths": [str(folder)], "as_folder": False}
    expected = plan_upload([str(folder)], None, False)
    calls: list[int] = []
    real_plan = transfer.plan

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(transfer, "plan", counted)
    messages: list[tuple[str, Any]] = []
    cancelled: set[int] = set()
    skipped = str(folder / "f0004.bin")
    options[CANCELLED_PATHS] = [skipped]
    result = run_drop(options, threading.Event(), cancelled, lambda k, p: messages.append((k, p)))
    assert len(calls) == 1
    assert messages[0][0] == "plan" and messages[-1] == ("done", result)
    planned = messages[0][1]
    assert [p["state"] for p in planned] == ["queued"] * 4 + ["cancelled", "queued"]
    planned[4]["state"] = "queued"
    assert planned == expected and cancelled == {4}
    assert [i["state"] for i in result["items"]] == ["done"] * 4 + ["cancelled", "done"]
