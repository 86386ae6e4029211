"""ls.upload: states, progress, duplicates, collections; and the fault cases — a cut network,
a killed process, a cancel — leave no visible record without its object and a second upload
finishes exactly what is missing."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cloudtools as cloud
import labshelf as ls
import pytest
from labshelf import session as context
from labshelf import transfer
from labshelf.doctor import doctor
from labshelf.instance import disconnect
from labshelf.keys import object_key
from labshelf.models import PENDING, Artifact
from labshelf.storage import upload as upload_engine
from sqlalchemy import func, select


@pytest.fixture
def s3_root(s3_server) -> Iterator[str]:
    root = "s3://" + s3_server.create_bucket()
    ls.init(root)
    yield root
    disconnect()


@pytest.fixture
def local_root(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "store"
    ls.init(str(root))
    yield str(root)
    disconnect()


@pytest.fixture
def pg_local_root(tmp_path: Path, pg_server) -> Iterator[str]:
    root = tmp_path / "store"
    ls.init(str(root), db=pg_server.create_database().url)
    yield str(root)
    disconnect()


@pytest.fixture
def gs_root(gcs_server) -> Iterator[str]:
    root = "gs://" + gcs_server.create_bucket()
    ls.init(root)
    yield root
    disconnect()


def make_files(folder: Path, n: int, size: int = 2048) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i:04d}.bin").write_bytes(i.to_bytes(4, "big") * (size // 4))
    return folder


def n_pending() -> int:
    return context.read(
        lambda s: s.scalar(select(func.count()).where(Artifact.visibility == PENDING))
    )


def assert_consistent(root: str) -> None:
    """Every visible record has its object; every stored object has a record."""
    rows = context.read(
        lambda s: s.execute(
            select(Artifact.uid, Artifact.suffix, Artifact.visibility).where(
                Artifact.key_is_virtual.is_(True)
            )
        ).all()
    )
    keys = {object_key(uid, suffix): vis for uid, suffix, vis in rows}
    stored = set(_stored_keys(root))
    assert {k for k, vis in keys.items() if vis != PENDING} <= stored
    assert stored <= set(keys), "objects under final keys without a record"


def _stored_keys(root: str) -> list[str]:
    if "://" not in root:
        return [
            f".labshelf/{p.name}"
            for p in (Path(root) / ".labshelf").iterdir()
            if not p.name.startswith(("labshelf.db", ".tmp-", "catalog.json"))
        ]
    base = len(root.split("://")[1]) + 1
    return sorted(
        {
            "/".join(e.path[base:].split("/")[:2])
            for e in cloud.list_objects(f"{root}/.labshelf")
            if ".tmp-" not in e.path and not e.path.endswith("/.labshelf/catalog.json")
        }
    )


@pytest.mark.parametrize("where", ["local_root", "pg_local_root", "s3_root"])
def test_upload_states_progress_duplicates_collection(where: str, request, tmp_path: Path) -> None:
    root = request.getfixturevalue(where)
    src = make_files(tmp_path / "batch", 40)
    (src / "sub").mkdir()
    (src / "sub" / "same.bin").write_bytes((src / "f0001.bin").read_bytes())
    calls: list[ls.transfer.Progress] = []
    report = ls.upload(
        [src],
        as_folder=False,
        key_prefix="p",
        collection="batch",
        on_progress=calls.append,
        max_workers=4,
    )
    assert report.counts == {"done": 40, "duplicate": 1}, str(report)
    assert report.bytes_done == report.bytes_total == 41 * 2048
    assert calls[-1].finished and calls[-1].files_done == 41
    seen = {}
    for call in calls:
        seen.update(dict(call.changes))
    assert set(seen.values()) <= {"done", "duplicate"} and len(seen) == 41
    assert report.collection.name == "batch" and report.collection.artifacts.count() == 40
    a = ls.Artifact.get(key="p/batch/f0003.bin")
    assert a.cache().read_bytes() == (src / "f0003.bin").read_bytes()
    again = ls.upload([src], as_folder=False, key_prefix="p")
    assert again.counts == {"duplicate": 41}
    folder = ls.upload(src, key_prefix="folders")
    assert folder.counts == {"done": 1} and folder.artifacts[0].n_objects == 41
    assert n_pending() == 0
    assert_consistent(root)


def test_upload_to_gcs(gs_root: str, tmp_path: Path) -> None:
    src = make_files(tmp_path / "g", 3)
    report = ls.upload(src, as_folder=False, max_workers=2)
    assert report.counts == {"done": 3}, str(report)
    assert report.artifacts[0].cache().read_bytes() == (src / "f0000.bin").read_bytes()
    assert ls.upload(src, as_folder=False).counts == {"duplicate": 3}
    assert_consistent(gs_root)
    assert not doctor().problems


def test_progress_is_throttled(local_root: str, tmp_path: Path) -> None:
    src = make_files(tmp_path / "many", 300, size=64)
    stamps: list[float] = []
    ls.upload(src, as_folder=False, on_progress=lambda p: stamps.append(time.monotonic()))
    gaps = [b - a for a, b in itertools.pairwise(stamps[:-1])]
    assert all(g >= 0.09 for g in gaps)


@pytest.mark.parametrize("stage", ["store_object", "describe_source"])
def test_small_files_on_a_local_disk_are_copied_and_hashed_by_one_thread(
    local_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """Small files on a local disk: one thread hashes them and one copies them into local
    storage (two only trade the GIL and the folder's lock); larger files or a network share:
    the pool's threads, for both stages."""
    from labshelf import artifact as art

    threads: list[str] = []
    real = getattr(art, stage)

    def spy(*args, **kw):
        threads.append(threading.current_thread().name)
        time.sleep(0.002)  # a little disk time, so that two threads would both get work
        return real(*args, **kw)

    monkeypatch.setattr(art, stage, spy)
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: True)
    report = ls.upload(make_files(tmp_path / "small", 120), as_folder=False, max_workers=4)
    assert report.ok and len(threads) == 120
    assert len(set(threads)) == 1, set(threads)
    threads.clear()
    monkeypatch.setattr(art.statcache, "on_local_disk", lambda path: False)  # a network share
    report = ls.upload(make_files(tmp_path / "share", 120, 1024), as_folder=False, max_workers=4)
    assert report.ok and len(threads) == 120
    assert len(set(threads)) > 1, set(threads)


def test_bad_items_fail_alone(local_root: str, tmp_path: Path) -> None:
    src = make_files(tmp_path / "ok", 2)
    (tmp_path / "empty.txt").write_bytes(b"")
    report = ls.upload(
        [
            src / "f0000.bin",
            tmp_path / "missing.txt",
            tmp_path / "empty.txt",
            "s3://bucket/x",
            src / "f0001.bin",
        ]
    )
    assert [i.state for i in report.items] == ["done", "failed", "done", "failed", "done"]
    assert "does not exist" in report.items[1].error and report.artifacts[1].size == 0
    with pytest.raises(ls.InvalidArgument):
        ls.upload([])


def test_on_plan_gets_the_reports_items_once_before_anything_starts(
    local_root: str, tmp_path: Path
) -> None:
    src = make_files(tmp_path / "plan", 3)
    seen: list[tuple[list[transfer.UploadItem], list[str], str, int]] = []

    def on_plan(items: list[transfer.UploadItem]) -> None:
        seen.append((items, [i.state for i in items], threading.current_thread().name, n_pending()))

    report = ls.upload([src, tmp_path / "missing.txt"], as_folder=False, on_plan=on_plan)
    assert len(seen) == 1
    items, states, thread, pending = seen[0]
    assert thread == threading.current_thread().name and pending == 0
    assert states == ["queued", "queued", "queued", "failed"]
    assert len(items) == len(report.items) == 4
    assert all(a is b for a, b in zip(items, report.items, strict=True))
    assert [i.key for i in report.items[:3]] == [f"plan/f{n:04d}.bin" for n in range(3)]
    assert [i.state for i in report.items] == ["done", "done", "done", "failed"]


@pytest.mark.parametrize("where", ["local_root", "s3_root"])
def test_an_error_in_on_plan_aborts_before_anything_is_written(
    where: str, request, tmp_path: Path
) -> None:
    root = request.getfixturevalue(where)
    src = make_files(tmp_path / "p", 5)

    class Refused(Exception):
        pass

    def on_plan(items: list[transfer.UploadItem]) -> None:
        raise Refused("the app is gone")

    progress: list[object] = []
    with pytest.raises(Refused):
        ls.upload(src, as_folder=False, on_plan=on_plan, on_progress=progress.append)
    assert progress == []
    assert n_pending() == 0 and ls.Artifact.filter().count() == 0
    assert not _stored_keys(root)
    assert not [p for p in (tmp_path / "p").iterdir() if not p.name.endswith(".bin")]


def test_report_escapes_control_characters_in_failed_paths(tmp_path: Path) -> None:
    bad = tmp_path / "evil\nupload of 0 item(s)\x1b[2Jname.csv"
    report = transfer.UploadReport(
        items=[
            transfer.UploadItem(bad, None, state="failed", error=f"{bad} does not exist.\x1b[31m")
        ]
    )
    text = str(report)
    assert "\x1b" not in text and len(text.splitlines()) == 2
    assert "evil\\nupload of 0 item(s)\\x1b[2Jname.csv" in text.splitlines()[1]
    assert text.splitlines()[1].endswith("does not exist.\\x1b[31m")


def test_an_uploads_summary_shows_a_missing_files_odd_name_escaped(
    local_root: str, tmp_path: Path
) -> None:
    report = ls.upload([tmp_path / "a\nb\x1b[0m.csv"])
    assert report.items[0].state == "failed"
    lines = str(report).splitlines()
    assert len(lines) == 2 and "a\\nb\\x1b[0m.csv" in lines[1] and "\x1b" not in lines[1]


def _with_clutter(folder: Path) -> Path:
    """Two data files, and what macOS, Windows and file managers leave next to them."""
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "sub" / "b.csv").write_text("x\n2\n")
    for junk in (".DS_Store", "Thumbs.db", "._a.csv", "sub/desktop.ini"):
        (folder / junk).write_bytes(b"\0junk")
    (folder / "$RECYCLE.BIN").mkdir()
    (folder / "$RECYCLE.BIN" / "deleted.csv").write_text("gone\n")
    return folder


def test_os_clutter_is_skipped_by_default(local_root: str, tmp_path: Path) -> None:
    from labshelf.transfer import plan

    src = _with_clutter(tmp_path / "plate")
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # dropped by itself too
    skipped: list[Path] = []
    items = plan([src, tmp_path / ".DS_Store"], None, False, skipped=skipped)
    assert [i.key for i in items] == ["plate/a.csv", "plate/sub/b.csv"]
    assert sorted(p.name for p in skipped) == sorted(
        [".DS_Store", ".DS_Store", "Thumbs.db", "._a.csv", "desktop.ini", "$RECYCLE.BIN"]
    )
    report = ls.upload(src, as_folder=False)
    assert sorted(a.key for a in report.artifacts) == ["plate/a.csv", "plate/sub/b.csv"]
    folder = ls.upload(src, key_prefix="whole").artifacts[0]  # one artifact of the folder
    assert folder.n_objects == 2 and folder.size == 8
    assert sorted(p.name for p in Path(folder.cache()).rglob("*") if p.is_file()) == [
        "a.csv",
        "b.csv",
    ]
    everything = ls.upload(src, as_folder=False, key_prefix="all", skip_junk=False)
    assert len(everything.items) == 7


def test_chosen_keys_make_new_versions_of_existing_families(
    local_root: str, tmp_path: Path
) -> None:
    old = tmp_path / "old" / "cell_counts.csv"
    old.parent.mkdir()
    old.write_text("well,cells\nA1,10\n")
    first = ls.Artifact(old, key="plate/analysis/cell_counts.csv").save()
    edited = tmp_path / "cell_counts.csv"
    edited.write_text("well,cells\nA1,12\n")
    other = make_files(tmp_path / "more", 2)
    report = ls.upload(
        [edited, other],
        as_folder=False,
        keys={str(edited): "plate/analysis/cell_counts.csv", other / "f0001.bin": "x/one.bin"},
    )
    assert [i.key for i in report.items] == [
        "plate/analysis/cell_counts.csv",
        "more/f0000.bin",
        "x/one.bin",
    ]
    second = report.artifacts[0]
    assert second.stem_uid == first.stem_uid and second.version == "2" and second.is_latest
    assert ls.Artifact.get(first.uid).is_latest is False
    bad = ls.upload([edited], keys={edited: "../outside.csv"})
    assert bad.items[0].state == "failed" and "outside.csv" in bad.items[0].error


def test_a_cancel_ends_a_big_upload_within_a_second(
    local_root: str, tmp_path: Path, monkeypatch
) -> None:
    """3,000 items on a slow disk, cancelled after a tenth: nothing new is stored after the
    cancel, and the upload returns within a second (ending the unfinished items once took
    seconds: they were compared field by field)."""
    from labshelf import artifact

    src = make_files(tmp_path / "bigrun", 3000, size=4)
    store = artifact.store_object

    def slow_store(obj, **progress) -> None:
        time.sleep(0.01)
        store(obj, **progress)

    monkeypatch.setattr(artifact, "store_object", slow_store)
    cancel, seen = threading.Event(), {}

    def on_progress(p) -> None:
        if p.files_done >= 300 and not cancel.is_set():
            seen["cancelled_at"] = time.monotonic()
            cancel.set()

    report = ls.upload(src, as_folder=False, cancel=cancel, on_progress=on_progress)
    took = time.monotonic() - seen["cancelled_at"]
    assert report.cancelled and took < 1.0, took
    counts = report.counts
    assert counts["done"] + counts["cancelled"] == 3000 and counts["cancelled"] > 2000, counts
    assert ls.Artifact.filter().count() == counts["done"] and n_pending() == 0
    assert_consistent(local_root)


def test_cancel_mid_upload_then_finish(s3_root: str, tmp_path: Path) -> None:
    src = make_files(tmp_path / "c", 200)
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def on_progress(p) -> None:
        if p.files_done >= 30 and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.monotonic())

    report = ls.upload(src, as_folder=False, cancel=cancel, on_progress=on_progress, max_workers=4)
    assert time.monotonic() - cancelled_at[0] < 1.0
    assert report.cancelled and report.counts["cancelled"] > 0
    assert set(report.counts) <= {"done", "cancelled"}
    assert n_pending() == 0
    assert_consistent(s3_root)
    done = report.counts["done"]
    second = ls.upload(src, as_folder=False)
    assert second.counts == {"done": 200 - done, "duplicate": done}
    assert_consistent(s3_root)


def test_network_cut_mid_upload(s3_server, tcp_proxy, tmp_path: Path) -> None:
    proxy = tcp_proxy(s3_server.port)
    root = "s3://" + s3_server.create_bucket()
    ls.init(root, storage_options={"endpoint_url": proxy.url})
    try:
        src = make_files(tmp_path / "n", 200)

        def on_progress(p) -> None:
            if p.files_done >= 50 and not proxy.is_cut:
                proxy.cut()

        started = time.monotonic()
        report = ls.upload(src, as_folder=False, on_progress=on_progress)
        assert time.monotonic() - started < 20
        failed = report.failed
        assert failed and set(report.counts) == {"done", "failed"}
        assert all(i.error for i in failed)
        proxy.restore()
        assert_consistent(root)
        assert ls.Artifact.filter().count() == report.counts["done"]
        second = ls.upload(src, as_folder=False)
        assert second.counts == {"done": len(failed), "duplicate": 200 - len(failed)}, str(second)
        assert n_pending() == 0
        assert_consistent(root)
    finally:
        disconnect()


KILLED_UPLOAD = """
import sys
import labshelf as ls
def on_progress(p):
    print(p.files_done, flush=True)
ls.upload(sys.argv[1], as_folder=False, on_progress=on_progress, max_workers=4)
print("finished", flush=True)
"""


def test_killed_process_mid_upload(s3_root: str, tmp_path: Path) -> None:
    src = make_files(tmp_path / "k", 200)
    env = {**os.environ, "LABSHELF_QUIET": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_UPLOAD, str(src)], stdout=subprocess.PIPE, text=True, env=env
    )
    for line in child.stdout:
        if line.strip() == "finished" or int(line) >= 40:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    visible = ls.Artifact.filter().count()
    assert 0 < visible < 200 and n_pending() > 0  # killed between pending rows and publishing
    assert_consistent(s3_root)
    report = ls.upload(src, as_folder=False)
    assert report.counts == {"done": 200 - visible, "duplicate": visible}, str(report)
    reused = sum(i.reused for i in report.items)
    sent = sum(1 for i in report.items if i.state == "done" and not i.reused)
    assert sent + reused == 200 - visible
    assert n_pending() == 0
    assert_consistent(s3_root)


def test_brief_outage_is_retried(s3_server, tcp_proxy, tmp_path: Path) -> None:
    proxy = tcp_proxy(s3_server.port)
    ls.init("s3://" + s3_server.create_bucket(), storage_options={"endpoint_url": proxy.url})
    try:
        src = make_files(tmp_path / "r", 120)

        def on_progress(p) -> None:
            # cut once, early enough that the rest of the upload has to live through it
            if 10 <= p.files_done <= 80 and not timer.is_alive() and not timer.finished.is_set():
                proxy.cut()
                timer.start()

        timer = threading.Timer(0.3, proxy.restore)
        report = ls.upload(src, as_folder=False, on_progress=on_progress)
        timer.join(5)
        assert timer.finished.is_set(), "the connection was never cut: the test proved nothing"
        assert report.counts == {"done": 120}, str(report)
    finally:
        disconnect()


def test_missing_bucket_fails_items_at_once(s3_server, s3_root: str, tmp_path: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server.endpoint)
    bucket = s3_root.split("://")[1]
    client.delete_object(Bucket=bucket, Key=".labshelf/catalog.json")  # init's catalog marker
    client.delete_bucket(Bucket=bucket)
    src = make_files(tmp_path / "m", 5)
    started = time.monotonic()
    report = ls.upload(src, as_folder=False)
    assert time.monotonic() - started < 3
    assert report.counts == {"failed": 5}
    assert all("does not exist" in i.error for i in report.items)
    assert n_pending() == 0


def test_failed_publish_leaves_nothing(s3_root: str, tmp_path: Path, monkeypatch) -> None:
    from labshelf import artifact

    def broken(objs):
        raise ls.DatabaseError("The database went away while publishing.")

    monkeypatch.setattr(artifact, "publish", broken)
    with pytest.raises(ls.DatabaseError):
        ls.upload(make_files(tmp_path / "p", 5), as_folder=False)
    assert n_pending() == 0 and ls.Artifact.filter().count() == 0
    assert not _stored_keys(s3_root)


def test_large_files_go_up_in_verified_parts(s3_root: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(51 * 2**20))  # over 50 MiB: sha1-fl, 7 parts of 8 MiB
    report = ls.upload(big)
    assert report.ok, str(report)
    a = report.artifacts[0]
    assert a.hash_type == "sha1-fl"
    info = cloud.object_info(s3_root, object_key(a.uid, ".bin"))
    assert info["ETag"].strip('"').endswith("-7") and info["size"] == 51 * 2**20
    from labshelf.doctor import doctor

    assert doctor().ok  # re-hashed from the first and last 50 MiB


def test_cancel_during_a_multipart_upload(s3_root: str, tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40 * 2**20))
    cancel = threading.Event()
    start = upload_engine._start

    def start_then_cancel(fs, transfer, method, **kwargs):
        if method == "upload_part" and kwargs["PartNumber"] == 2:
            cancel.set()  # while part 1 may still be in flight
        return start(fs, transfer, method, **kwargs)

    monkeypatch.setattr(upload_engine, "_start", start_then_cancel)
    report = ls.upload(big, cancel=cancel)
    assert report.counts == {"cancelled": 1}
    assert not _stored_keys(s3_root) and not cloud.incomplete_uploads(s3_root) and n_pending() == 0


@pytest.mark.parametrize("where", ["local_root", "s3_root"])
def test_same_upload_twice_at_once(where: str, request, tmp_path: Path) -> None:
    root = request.getfixturevalue(where)
    src = make_files(tmp_path / "twice", 60)
    reports: list = []
    threads = [
        threading.Thread(
            target=lambda: reports.append(ls.upload(src, as_folder=False, max_workers=3))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
        time.sleep(0.05)  # the second one finds the first one's pending rows
    for t in threads:
        t.join()
    for report in reports:
        assert set(report.counts) <= {"done", "duplicate"}, str(report)
    assert ls.Artifact.filter().count() == 60 and n_pending() == 0
    assert_consistent(root)


def test_rows_removed_by_their_owner_are_not_reported_done(
    local_root: str, tmp_path: Path, monkeypatch
) -> None:
    from labshelf import artifact
    from sqlalchemy import delete

    publish = artifact.publish

    def owner_gave_up_first(objs):
        ids = [o.id for o in objs]
        context.write(lambda s: s.execute(delete(Artifact).where(Artifact.id.in_(ids))))
        return publish(objs)

    monkeypatch.setattr(artifact, "publish", owner_gave_up_first)
    report = ls.upload(make_files(tmp_path / "v", 3), as_folder=False)
    assert report.counts == {"failed": 3} and "upload the file again" in report.items[0].error
    assert ls.Artifact.filter().count() == 0


@pytest.mark.parametrize("where", ["local_root", "s3_root"])
def test_cancel_single_items(where: str, request, tmp_path: Path, monkeypatch) -> None:
    from labshelf import artifact

    root = request.getfixturevalue(where)
    src = make_files(tmp_path / "one", 200)
    cancelled = set(range(0, 200, 10))  # cancelled before they start
    late = set(range(5, 200, 10))  # cancelled half-way through the upload
    store, started = artifact.store_object, []

    def store_then_cancel(obj, **progress) -> None:
        started.append(obj)
        if len(started) == 60:
            cancelled.update(late)
        store(obj, **progress)
        if obj.key.endswith("f0003.bin"):
            cancelled.add(3)  # stored, not yet published: its object must go again

    monkeypatch.setattr(artifact, "store_object", store_then_cancel)
    report = ls.upload(src, as_folder=False, max_workers=4, cancel_item=cancelled.__contains__)
    states = [i.state for i in report.items]
    assert not report.cancelled and set(report.counts) == {"done", "cancelled"}
    assert all(states[i] == "cancelled" for i in [*range(0, 200, 10), 3])
    assert any(states[i] == "cancelled" for i in late), "the late cancel came too late to test"
    assert all(states[i] == "done" for i in range(200) if i not in cancelled)
    done = {i.key for i in report.items if i.state == "done"}
    assert {a.key for a in ls.Artifact.filter()} == done
    assert n_pending() == 0
    assert_consistent(root)
    second = ls.upload(src, as_folder=False)
    assert second.counts == {"done": report.counts["cancelled"], "duplicate": len(done)}, str(
        second
    )
    assert_consistent(root)


@pytest.mark.parametrize("watch", ["set", "callable"])
def test_items_cancelled_while_they_wait_for_a_worker_end_at_once(
    watch: str, local_root: str, tmp_path: Path, monkeypatch
) -> None:
    from labshelf import artifact

    src = make_files(tmp_path / "wait", 12)
    store, cancelled, seen, in_time = artifact.store_object, set(), [], []
    ended_early = threading.Event()

    def on_progress(progress) -> None:
        seen.append(progress)
        if (
            sum(1 for _i, state in (c for p in seen for c in p.changes) if state == "cancelled")
            == 8
        ):
            ended_early.set()

    def busy_workers(obj, **progress) -> None:
        cancelled.update(range(4, 12))
        in_time.append(ended_early.wait(5))
        store(obj, **progress)

    monkeypatch.setattr(artifact, "store_object", busy_workers)
    report = ls.upload(
        src,
        as_folder=False,
        max_workers=2,
        on_progress=on_progress,
        cancel_item=cancelled if watch == "set" else cancelled.__contains__,
    )
    assert in_time and all(in_time), "queued items were cancelled only once a worker was free"
    assert [i.state for i in report.items] == ["done"] * 4 + ["cancelled"] * 8
    assert (report.files_done, report.files_total, report.bytes_total) == (4, 4, 4 * 2048)
    assert seen[-1].files_total == 4 and seen[-1].bytes_done == seen[-1].bytes_total
    assert ls.Artifact.filter().count() == 4 and n_pending() == 0
    assert_consistent(local_root)


def test_cancel_one_item_during_its_multipart_upload(
    s3_root: str, tmp_path: Path, monkeypatch
) -> None:
    src = make_files(tmp_path / "mixed", 20)
    (src / "big.bin").write_bytes(os.urandom(40 * 2**20))
    start = upload_engine._start
    cancelled: set[int] = set()

    def start_then_cancel(fs, transfer, method, **kwargs):
        if method == "upload_part" and kwargs["PartNumber"] == 2:
            cancelled.add(0)  # big.bin sorts first; part 1 may still be in flight
        return start(fs, transfer, method, **kwargs)

    monkeypatch.setattr(upload_engine, "_start", start_then_cancel)
    report = ls.upload(src, as_folder=False, cancel_item=cancelled.__contains__)
    assert report.items[0].path.name == "big.bin"
    assert report.counts == {"cancelled": 1, "done": 20}, str(report)
    assert (
        report.bytes_done == report.bytes_total == 20 * 2048
    )  # the cancelled item left the totals
    assert report.files_done == report.files_total == 20
    assert ls.Artifact.filter().count() == 20 and n_pending() == 0
    assert not cloud.incomplete_uploads(s3_root)
    assert_consistent(s3_root)


# ---------------------------------------------------------------- windows (memory per window)


def _summary(report) -> list[tuple]:
    """What a report says of each item, without the uids (two instances differ in those)."""
    out = []
    for i in report.items:
        a = i.artifact if i.state in ("done", "duplicate") else None
        out.append(
            (
                i.path.name,
                i.key,
                i.state,
                i.uid is not None,
                a.key if a is not None else None,
                a.version if a is not None else None,
                a.hash if a is not None else None,
            )
        )
    return out


def _window_upload(tmp_path: Path, name: str, src: Path, window: int, monkeypatch):
    """An upload of ``src`` into a new local instance, ``window`` items at a time; one
    file's content is registered before (a duplicate of a record in the database)."""
    monkeypatch.setattr(transfer, "WINDOW", window)
    root = tmp_path / name
    ls.init(str(root))
    registered = tmp_path / f"registered-{name}.bin"
    registered.write_bytes((src / "f0009.bin").read_bytes())
    ls.Artifact(str(registered), key="before/f0009.bin").save()
    calls: list = []
    report = ls.upload(
        src, as_folder=False, key_prefix="w", collection="c", on_progress=calls.append
    )
    return root, report, calls


def test_windows_give_the_report_and_records_of_one_window(tmp_path: Path, monkeypatch) -> None:
    """In windows of 4 items: the same states, keys, records, duplicates (of registered
    content, and of content twice in the upload in two windows), progress and collection as
    in one window; the report holds ids, and loads the records when asked."""
    src = make_files(tmp_path / "many", 22)
    (src / "f0019.bin").write_bytes((src / "f0002.bin").read_bytes())  # window 5 = window 1
    (src / "f0003.bin").write_bytes((src / "f0001.bin").read_bytes())  # in one window
    summaries, collections = [], []
    for name, window in (("one", 1000), ("four", 4)):
        root, report, calls = _window_upload(tmp_path, name, src, window, monkeypatch)
        assert report.counts == {"done": 19, "duplicate": 3}, str(report)
        assert report.files_done == report.files_total == 22 and calls[-1].finished
        seen: dict[int, str] = {}
        for call in calls:
            seen.update(dict(call.changes))
        assert seen == {i: item.state for i, item in enumerate(report.items)}
        assert n_pending() == 0 and ls.Artifact.filter().count() == 20
        assert_consistent(str(root))
        summaries.append(_summary(report))
        collections.append(sorted(a.key for a in report.collection.artifacts))
        if window == 4:  # records dropped after their window: ids kept, loaded when asked
            assert all(i.held is None for i in report.items)
            dup = report.items[19]
            assert dup.state == "duplicate" and dup.artifact.uid == report.items[2].uid
            assert report.items[9].artifact.key == "before/f0009.bin"
            assert [a.uid for a in report.artifacts] == [i.uid for i in report.items]
        disconnect()
    assert summaries[0] == summaries[1]
    assert collections[0] == collections[1] and len(collections[0]) == 20


def test_a_cancel_between_windows_leaves_no_half_written_item(
    local_root: str, tmp_path: Path, monkeypatch
) -> None:
    """Cancelled in its third window of 5: the first windows' items are done (records and
    objects), every other item is cancelled with no record, no pending row, no object."""
    monkeypatch.setattr(transfer, "WINDOW", 5)
    src = make_files(tmp_path / "c", 30)
    cancel = threading.Event()

    def on_progress(p) -> None:
        if p.files_done >= 10:
            cancel.set()

    monkeypatch.setattr(transfer, "PROGRESS_INTERVAL", 0)
    report = ls.upload(src, as_folder=False, cancel=cancel, on_progress=on_progress)
    counts = report.counts
    assert report.cancelled and set(counts) == {"done", "cancelled"}, counts
    assert 10 <= counts["done"] < 30, counts
    assert ls.Artifact.filter().count() == counts["done"] and n_pending() == 0
    assert_consistent(local_root)
    assert len(_stored_keys(local_root)) == counts["done"]
    second = ls.upload(src, as_folder=False)
    assert second.counts == {"done": 30 - counts["done"], "duplicate": counts["done"]}


def test_a_failure_in_window_two_keeps_window_one(
    local_root: str, tmp_path: Path, monkeypatch
) -> None:
    """A database failure while publishing the second window: the error reaches the caller
    (as in one window), the first window's committed records and objects stay, the second
    window leaves no pending row and no object, the third never starts."""
    from labshelf import artifact

    monkeypatch.setattr(transfer, "WINDOW", 4)
    src = make_files(tmp_path / "f", 12)
    publish = artifact.publish

    def broken_in_window_two(objs):
        if any(o.key in {f"f/f{n:04d}.bin" for n in range(4, 8)} for o in objs):
            raise ls.DatabaseError("The database went away while publishing.")
        return publish(objs)

    monkeypatch.setattr(artifact, "publish", broken_in_window_two)
    with pytest.raises(ls.DatabaseError):
        ls.upload(src, as_folder=False)
    keys = sorted(a.key for a in ls.Artifact.filter())
    assert keys == [f"f/f{n:04d}.bin" for n in range(4)]
    assert n_pending() == 0
    assert_consistent(local_root)
    assert len(_stored_keys(local_root)) == 4
    monkeypatch.setattr(artifact, "publish", publish)
    again = ls.upload(src, as_folder=False)
    assert again.counts == {"duplicate": 4, "done": 8}, str(again)
