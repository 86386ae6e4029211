"""Crashes and faults: SIGKILL mid-save, a full disk, files that change under our feet.

After a killed save the catalog must hold no visible record without its object and
no object under a final key without a row; pending rows, their objects and ``.tmp-``
objects are leftovers for ``doctor --fix``; running the same job again completes it.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import disconnect

from .conftest import audit, finish_worker, one_sentence, record, run_doctor, start_worker

N_FILES = 500


@pytest.fixture(scope="module")
def five_hundred(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 files in nested folders, sizes 10 B .. 300 KB (a few large enough to be mid-copy)."""
    src = tmp_path_factory.mktemp("bulk")
    rng = random.Random(7)
    for i in range(N_FILES):
        sub = src / f"d{i % 7}" / f"e{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        size = rng.choice([10, 100, 4096, 65536, 300_000])
        (sub / f"f{i:03d}.bin").write_bytes(i.to_bytes(4, "big") + rng.randbytes(size))
    return src


def _fresh_instance(base: Path, name: str, db: str | None = None) -> Path:
    disconnect()
    root = base / name
    ls.init(str(root), db=db)
    return root


_LAST_RUN = {"seconds": 0.0}


def _run_killed(mode: str, src: Path, kill_at: str, delay: float | None) -> str:
    """Run a worker; it kills itself at ``kill_at``, or we SIGKILL it ``delay`` s after READY."""
    proc = start_worker(mode, src, kill_at)
    try:
        line = proc.stdout.readline()
        ready = time.monotonic()
        assert line.strip() == "READY", (line, proc.stderr.read()[-2000:])
        if delay is not None:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        _LAST_RUN["seconds"] = time.monotonic() - ready
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode == -signal.SIGKILL:
        return "killed"
    assert proc.returncode == 0, err[-2000:]
    return "finished"


def _check_after(root: Path, expect_keys: set[str] | None) -> tuple[int, str, dict]:
    state = audit(root)
    state.assert_consistent()
    leftovers = dict(
        pending=state.pending,
        pending_objects=len(state.pending_objects),
        tmp=len(state.tmp_leftovers),
    )
    lost = 0
    if expect_keys is not None:
        lost = len(expect_keys - _keys(root))
    return lost, state.dangling, leftovers


def _rerun(mode: str, src: Path) -> None:
    """The same job as the worker's, in this process (no second interpreter start-up)."""
    import logging

    quiet = logging.getLogger("labshelf")
    was, quiet.disabled = quiet.disabled, True
    try:
        if mode == "save_bulk":
            paths = sorted(p for p in src.rglob("*") if p.is_file())
            records = [ls.Artifact(p, key=f"bulk/{p.relative_to(src).as_posix()}") for p in paths]
            new = [r for r in records if r.id is None]
            if new:
                ls.save(new)
        else:
            report = ls.upload([src], key_prefix="up", as_folder=False, max_workers=4)
            assert report.ok, str(report)
    finally:
        quiet.disabled = was


def _keys(root: Path) -> set[str]:
    from labshelf.instance import current
    from sqlalchemy import text

    with current().engine().connect() as conn:
        keys = conn.execute(text("SELECT key FROM artifacts WHERE visibility >= 0")).scalars().all()
    assert len(keys) == len(set(keys)), "a key is registered twice"
    return set(keys)


def _crash_scenario(
    mode: str,
    src: Path,
    tmp_path: Path,
    kill_points: list[tuple[str, float | None]],
    label: str,
    pg_server=None,
) -> None:
    prefix = "bulk/" if mode == "save_bulk" else f"up/{src.name}/"
    expect = {prefix + p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    outcomes, worst_leftovers, dangling_seen = (
        [],
        {"pending": 0, "pending_objects": 0, "tmp": 0},
        [],
    )
    for n, (kill_at, delay) in enumerate(kill_points):
        db = pg_server.create_database().url if pg_server is not None else None
        root = _fresh_instance(tmp_path, f"store{n}", db)
        outcome = _run_killed(mode, src, kill_at, delay)
        outcomes.append(outcome)
        _, dangling, leftovers = _check_after(root, None)  # right after the crash
        dangling_seen.append(dangling)
        found = run_doctor()
        if found is not None:  # doctor agrees: nothing missing, corrupt or unnamed
            kinds = {p.kind for p in found.problems}
            assert not kinds & {"missing", "corrupt", "orphan"}, str(found)
            assert len(found.of_kind("pending")) == leftovers["pending"], str(found)
            assert len(found.of_kind("leftover")) == leftovers["tmp"], str(found)
        for k, v in leftovers.items():
            worst_leftovers[k] = max(worst_leftovers[k], v)
        # the same job again completes it
        _rerun(mode, src)
        lost, dangling, _ = _check_after(root, expect)
        assert lost == 0, f"{lost} files missing after re-running ({kill_at}, {delay})"
        assert _keys(root) == expect
        if run_doctor(fix=True) is not None:
            state = audit(root, rehash=False)
            state.assert_consistent()
            assert state.pending == 0 and not state.pending_objects and not state.tmp_leftovers
    killed = outcomes.count("killed")
    record(
        label,
        "postgresql" if pg_server is not None else "sqlite",
        len(kill_points),
        lost=0,
        dangling=f"{sum(int(d.split('/')[0]) for d in dangling_seen)}/"
        f"{sum(int(d.split('/')[1]) for d in dangling_seen)}",
        clear_errors="-",
        numbers=f"{killed} killed mid-job; leftovers for doctor at most {worst_leftovers['pending']} "
        f"pending rows, {worst_leftovers['pending_objects']} final objects of pending rows, "
        f"{worst_leftovers['tmp']} .tmp- objects; doctor --fix cleaned all",
    )


PHASES = ["hashing:250", "copying:40", "stored:120", "publish:1", "published:1"]
LONG_PHASES = ["stored:499", "copying:400", "hashing:1"]


def _kill_points(seeds: int, calibration: float, long: bool) -> list[tuple[str, float | None]]:
    points: list[tuple[str, float | None]] = [(p, None) for p in PHASES + LONG_PHASES * long]
    for seed in range(seeds):
        rng = random.Random(1000 + seed)
        points.append(("-", rng.uniform(0.02, 0.95 * calibration)))
    return points


def _calibrate(mode: str, src: Path, tmp_path: Path, runs_: int = 2) -> float:
    """Seconds from READY to the end of an uninterrupted job (the fastest run), so random
    kill points fall inside the job."""
    runs = []
    for n in range(runs_):
        _fresh_instance(tmp_path, f"calibration{n}")
        assert _run_killed(mode, src, "-", None) == "finished"
        runs.append(_LAST_RUN["seconds"])
    return min(runs)


def test_sigkill_during_bulk_save(
    five_hundred: Path, tmp_path: Path, scale, long_run: bool
) -> None:
    seconds = _calibrate("save_bulk", five_hundred, tmp_path)
    print(f"[reliability] one ls.save of {N_FILES} files in a subprocess: {seconds:.2f} s")
    points = _kill_points(scale(3, 20), seconds, long_run)
    _crash_scenario(
        "save_bulk",
        five_hundred,
        tmp_path,
        points,
        f"SIGKILL during ls.save of {N_FILES} files (phases + random points)",
    )


def test_sigkill_during_upload(five_hundred: Path, tmp_path: Path, scale, long_run: bool) -> None:
    seconds = _calibrate("upload", five_hundred, tmp_path)
    print(f"[reliability] one ls.upload of {N_FILES} files in a subprocess: {seconds:.2f} s")
    points = _kill_points(scale(3, 20), seconds, long_run)
    _crash_scenario(
        "upload",
        five_hundred,
        tmp_path,
        points,
        f"SIGKILL during ls.upload of {N_FILES} files (phases + random points)",
    )


@pytest.mark.parametrize("mode", ["save_bulk", "upload"])
def test_sigkill_on_postgres(
    five_hundred: Path, tmp_path: Path, pg_server, mode: str, scale
) -> None:
    """The phases where PostgreSQL matters: objects stored but unpublished, inside the publish
    transaction, right after it; plus random points."""
    points: list[tuple[str, float | None]] = [("stored:200", None), ("publish:1", None)]
    if scale(False, True):
        points.append(("published:1", None))
    db = pg_server.create_database().url
    disconnect()
    ls.init(str(tmp_path / "calibration-pg"), db=db)
    proc_seconds = []
    assert _run_killed(mode, five_hundred, "-", None) == "finished"
    proc_seconds.append(_LAST_RUN["seconds"])
    seconds = min(proc_seconds)
    points += [
        ("-", random.Random(2000 + s).uniform(0.02, 0.95 * seconds)) for s in range(scale(1, 10))
    ]
    what = "ls.save" if mode == "save_bulk" else "ls.upload"
    _crash_scenario(
        mode,
        five_hundred,
        tmp_path,
        points,
        f"SIGKILL during {what} of {N_FILES} files (phases + random points)",
        pg_server,
    )


# ---------------------------------------------------------------- disk full


def test_disk_full_while_copying(sqlite_instance: Path, tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes write() fail with EFBIG, as a full disk or quota would."""
    src = tmp_path / "src"
    src.mkdir()
    limit = 8 * 1024 * 1024
    (src / "a-small.txt").write_text("fits\n")
    (src / "b-big.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    folder = src / "c-folder"
    folder.mkdir()
    (folder / "1.txt").write_text("one\n")
    (folder / "2.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    outcome = finish_worker(start_worker("disk_full", src, limit), timeout=120)
    assert outcome["a-small.txt"] == "saved", outcome
    clear = 0
    for name in ("b-big.bin", "c-folder"):
        message = outcome[name]
        assert message.startswith("StorageError: "), message
        sentence = message.removeprefix("StorageError: ")
        assert one_sentence(sentence), sentence
        assert "size" in sentence or "full" in sentence, sentence
        assert name in sentence and ".tmp-" not in sentence, sentence  # the user's file, not ours
        clear += 1
    state = audit(sqlite_instance)
    state.assert_consistent()
    assert state.pending == 0 and not state.tmp_leftovers and not state.pending_objects
    assert ls.Artifact.filter().count() == 1
    objects = [
        p
        for p in (sqlite_instance / ".labshelf").iterdir()
        if not p.name.startswith(("labshelf.db", "catalog.json"))
    ]
    assert len(objects) == 1 and objects[0].stat().st_size == 5
    record(
        "disk full (RLIMIT_FSIZE) while copying a file / a folder",
        "sqlite",
        2,
        lost=0,
        dangling=state.dangling,
        clear_errors=f"{clear}/2 one-sentence StorageError",
        numbers=f'e.g. "{outcome["b-big.bin"][:90]}…"; nothing half-written',
    )


# ---------------------------------------------------------------- files that change


@pytest.mark.parametrize("size", [3_000_000, 60 * 1024 * 1024], ids=["md5", "sha1-fl"])
def test_file_changed_between_hash_and_copy(
    sqlite_instance: Path, tmp_path: Path, size: int
) -> None:
    """Same size, different bytes after hashing: the save fails; never a mismatching record."""
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(size))
    a = ls.Artifact(path, key="changing/data.bin")
    with open(path, "r+b") as fh:  # rewrite the middle in place: size and name unchanged
        fh.seek(size // 2)
        fh.write(os.urandom(4096))
    with pytest.raises(ls.StorageError) as info:
        a.save()
    assert one_sentence(str(info.value)) and "changed" in str(info.value)
    state = audit(sqlite_instance)
    state.assert_consistent()
    assert state.visible == 0 and state.pending == 0 and not state.tmp_leftovers
    record(
        f"file rewritten between hash and copy ({a.hash_type})",
        "sqlite",
        1,
        lost=0,
        dangling=state.dangling,
        clear_errors="1/1 StorageError 'changed'",
    )


def test_folder_changed_between_hash_and_copy(sqlite_instance: Path, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    for i in range(20):
        (folder / f"{i}.txt").write_text(f"row {i}\n")
    a = ls.Artifact(folder, key="changing/study")
    (folder / "7.txt").write_text("row X\n")  # same size, other bytes
    with pytest.raises(ls.StorageError) as info:
        a.save()
    assert one_sentence(str(info.value))
    state = audit(sqlite_instance)
    state.assert_consistent()
    assert state.visible == 0 and not state.tmp_leftovers


def test_file_rewritten_while_saving(sqlite_instance: Path, tmp_path: Path, scale) -> None:
    """A writer thread keeps rewriting the file while it is hashed and copied."""
    reps = scale(6, 30)
    failed = saved = 0
    for rep in range(reps):
        path = tmp_path / f"live{rep}.bin"
        size = 4 * 1024 * 1024 if rep % 2 else 56 * 1024 * 1024
        path.write_bytes(os.urandom(size))
        stop = threading.Event()

        def scribble(
            p: Path = path, n: int = size, done: threading.Event = stop, seed: int = rep
        ) -> None:
            rng = random.Random(seed)
            with open(p, "r+b") as fh:
                while not done.is_set():
                    fh.seek(rng.randrange(0, n - 1024))
                    fh.write(rng.randbytes(1024))
                    fh.flush()
                    time.sleep(0.0005)

        t = threading.Thread(target=scribble)
        t.start()
        try:
            ls.Artifact(path, key=f"live/{rep}.bin").save()
            saved += 1
        except ls.StorageError as exc:
            assert one_sentence(str(exc)), str(exc)
            failed += 1
        finally:
            stop.set()
            t.join()
    state = audit(sqlite_instance)
    state.assert_consistent()  # every record's hash matches its stored bytes
    assert not state.tmp_leftovers and state.pending == 0
    record(
        "file rewritten while hashed and copied",
        "sqlite",
        reps,
        lost=0,
        dangling=state.dangling,
        clear_errors=f"{failed}/{failed} one-sentence StorageError",
        numbers=f"{failed} detected and refused, {saved} saved with matching bytes",
    )


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 8 MB file system (tmpfs; needs root, skipped otherwise)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        disconnect()
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_real_disk_full_objects_and_database(small_disk: Path, tmp_path: Path) -> None:
    """Storage and SQLite database on an 8 MB disk: a copy that does not fit, then a disk so
    full that the database cannot grow. Clear errors, nothing half-written, and the same
    process saves again once space is freed."""
    root = small_disk / "store"
    ls.init(str(root))
    small = tmp_path / "small.txt"
    small.write_text("fits\n")
    ls.Artifact(small, key="small.txt").save()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    messages = []
    with pytest.raises(ls.StorageError) as info:
        ls.Artifact(big, key="big.bin").save()
    messages.append(str(info.value))
    assert "full" in str(info.value) and one_sentence(str(info.value)), str(info.value)
    assert str(big) in str(info.value) and f"into {root} (" in str(info.value), str(info.value)
    assert ".tmp-" not in str(info.value)  # the user's file and storage folder, not our temp name
    # fill the disk to the brim, then keep saving small files until something gives
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    failures = 0
    for i in range(60):
        f = tmp_path / f"many{i}.txt"
        f.write_text(f"many {i}\n" * 200)
        try:
            ls.Artifact(f, key=f"many/{i}.txt").save()
        except ls.LabshelfError as exc:
            failures += 1
            messages.append(f"{type(exc).__name__}: {exc}")
            assert one_sentence(str(exc)), str(exc)
            assert isinstance(exc, ls.StorageError | ls.DatabaseError), repr(exc)
    assert failures, "a full disk went unnoticed"
    filler.unlink()
    state = audit(root)
    state.assert_consistent()
    again = tmp_path / "after.txt"
    again.write_text("space again\n")
    ls.Artifact(again, key="after.txt").save()
    assert ls.Artifact.filter(key="after.txt").count() == 1
    leftovers = f"{state.pending} pending rows, {len(state.tmp_leftovers)} .tmp- objects"
    kinds = sorted({m.split(":")[0] for m in messages[1:]})
    record(
        "real full disk (8 MB tmpfs: objects + SQLite)",
        "sqlite",
        61,
        lost=0,
        dangling=state.dangling,
        clear_errors=f"{len(messages)}/{len(messages)} one-sentence ({', '.join(kinds)})",
        numbers=f"leftovers {leftovers}; saves again after freeing space; "
        f'e.g. "{messages[0][:80]}"',
    )
