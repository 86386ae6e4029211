"""Worker processes for the reliability tests: ``python worker.py MODE [args]``.

Each mode prints one JSON line with what it did; errors are counted, not raised,
so the parent sees every failure a user would have seen. The instance is the
current one of the environment (LABSHELF_CONFIG_DIR), as for any labshelf script.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import labshelf as ls


def _wait_until(at: float) -> None:
    while time.time() < at:
        time.sleep(min(0.005, max(0.0, at - time.time())))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"


def saves(tag: str, n: int, src: str, start_at: float) -> dict:
    """Save ``n`` small files of unique content one by one, keys ``<tag>/<i>.txt``."""
    folder = Path(src) / tag
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.txt"
        p.write_text(f"{tag}:{i}\n")
        paths.append(p)
    ls.settings.instance  # noqa: B018 - connect before the clock starts
    _wait_until(start_at)
    uids, errors = [], []
    started = time.monotonic()
    for i, p in enumerate(paths):
        try:
            a = ls.Artifact(p, key=f"{tag}/{i}.txt").save()
            uids.append(a.uid)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(_error(exc))
    return {
        "uids": uids,
        "errors": errors[:20],
        "n_errors": len(errors),
        "seconds": time.monotonic() - started,
    }


def reader(stop_file: str, prefix: str) -> dict:
    """Search and count until ``stop_file`` exists; check counts never go down and that
    every family with shown members has exactly one latest at every look."""
    from labshelf.instance import current
    from sqlalchemy import text

    family_sql = text(
        "SELECT stem_uid, SUM(CASE WHEN is_latest THEN 1 ELSE 0 END) AS n_latest, "
        "SUM(CASE WHEN visibility >= 0 THEN 1 ELSE 0 END) AS n_shown "
        "FROM artifacts GROUP BY stem_uid"
    )
    reads, errors, violations, last = 0, [], [], 0
    deadline = time.monotonic() + 600
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        try:
            total = ls.Artifact.filter(key__startswith=prefix).count()
            hits = ls.Artifact.search(prefix).count()
            ls.Artifact.search(f"{prefix}0/1").first()
            if total < last:
                violations.append(f"count went down: {last} -> {total}")
            last = total
            if hits < 0:
                violations.append("negative count")
            with current().engine().connect() as conn:
                for stem, n_latest, n_shown in conn.execute(family_sql):
                    if n_shown and n_latest != 1:
                        violations.append(f"family {stem}: {n_latest} latest, {n_shown} shown")
            reads += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(_error(exc))
        time.sleep(0.01)
    return {
        "reads": reads,
        "errors": errors[:20],
        "n_errors": len(errors),
        "violations": violations[:20],
        "n_violations": len(violations),
        "last_count": last,
    }


def versions(
    base_uid: str, tag: str, rounds: int, src: str, start_at: float, gap: float, how: str
) -> dict:
    """In each round (all workers at the same instant), save a new version of one family."""
    base = ls.Artifact.get(base_uid)
    folder = Path(src) / tag
    folder.mkdir(parents=True, exist_ok=True)
    uids, errors, seconds = [], [], []
    for r in range(rounds):
        p = folder / f"v{r}.txt"
        p.write_text(f"{tag} round {r}\n")
        _wait_until(start_at + r * gap)
        t0 = time.monotonic()
        try:
            if how == "revises":
                a = ls.Artifact(p, revises=base).save()
            else:
                a = ls.Artifact(p, key=base.key).save()
            uids.append(a.uid)
        except Exception as exc:  # noqa: BLE001
            errors.append(_error(exc))
        seconds.append(time.monotonic() - t0)
    return {
        "uids": uids,
        "errors": errors[:20],
        "n_errors": len(errors),
        "max_seconds": max(seconds) if seconds else 0,
    }


def collection_versions(
    base_uid: str, tag: str, rounds: int, src: str, start_at: float, gap: float
) -> dict:
    """In each round (all workers at the same instant), save a new version of one collection."""
    base = ls.Collection.get(base_uid)
    folder = Path(src) / tag
    folder.mkdir(parents=True, exist_ok=True)
    members = []
    for r in range(rounds):  # unique members per round, so every version has its own hash
        p = folder / f"m{r}.txt"
        p.write_text(f"{tag} member {r}\n")
        members.append(ls.Artifact(p, key=f"members/{tag}/{r}.txt").save())
    uids, errors = [], []
    for r in range(rounds):
        _wait_until(start_at + r * gap)
        try:
            uids.append(ls.Collection([members[r]], revises=base).save().uid)
        except Exception as exc:  # noqa: BLE001
            errors.append(_error(exc))
    return {"uids": uids, "errors": errors[:20], "n_errors": len(errors)}


def trash_restore(uid: str, seconds: float, start_at: float) -> dict:
    """Move the family's latest version to the trash and back, again and again, while
    others add versions (each cycle flips ``is_latest`` twice)."""
    stem = ls.Artifact.get(uid).stem_uid
    _wait_until(start_at)
    n, errors = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            a = ls.Artifact.filter(stem_uid=stem, is_latest=True).first()
            if a is None:
                continue
            a.delete()
            a.restore()
            n += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(_error(exc))
    return {"cycles": n, "errors": errors[:20], "n_errors": len(errors)}


def init(root: str, db: str, start_at: float, tag: str) -> dict:
    """ls.init of the same new instance from several processes at once, then one save."""
    _wait_until(start_at)
    try:
        ls.init(root, db=None if db == "-" else db)
        p = Path(root).parent / f"init-{tag}.txt"
        p.write_text(f"saved by {tag}\n")
        uid = ls.Artifact(p, key=f"init/{tag}.txt").save().uid
        return {"uid": uid, "errors": [], "n_errors": 0}
    except Exception as exc:  # noqa: BLE001
        return {"uid": None, "errors": [_error(exc)], "n_errors": 1}


def save_bulk(src: str, kill_at: str) -> dict:
    """``ls.save`` of every file under ``src`` (keys relative to it); with ``kill_at`` set,
    SIGKILL ourselves at that point of the save (``phase:n``)."""
    _arm(kill_at)
    paths = sorted(p for p in Path(src).rglob("*") if p.is_file())
    print("READY", flush=True)
    records = [ls.Artifact(p, key=f"bulk/{p.relative_to(src).as_posix()}") for p in paths]
    new = [r for r in records if r.id is None]
    if new:
        ls.save(new)
    return {"n": len(records), "new": len(new)}


def upload(src: str, kill_at: str) -> dict:
    _arm(kill_at)
    print("READY", flush=True)
    report = ls.upload([src], key_prefix="up", as_folder=False, max_workers=4)
    return {
        "counts": report.counts,
        "ok": report.ok,
        "failed": [f"{i.path}: {i.error}" for i in report.failed][:10],
    }


def _arm(kill_at: str) -> None:
    """Kill this process with SIGKILL at a named point of the save (``phase:n`` = n-th call)."""
    if not kill_at or kill_at == "-":
        return
    phase, _, nth = kill_at.partition(":")
    count = {"n": 0}
    limit = int(nth or 1)
    sig = signal.SIGKILL
    if phase.startswith("freeze-"):  # SIGSTOP instead: a frozen process (a laptop gone to sleep)
        phase, sig = phase.removeprefix("freeze-"), signal.SIGSTOP

    def boom() -> None:
        count["n"] += 1
        if count["n"] == limit:
            os.kill(os.getpid(), sig)

    from labshelf import artifact, hashing, versioning
    from labshelf.storage import local as storage

    def wrap(module, name: str, before: bool = True) -> None:
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            if before:
                boom()
            result = original(*args, **kwargs)
            if not before:
                boom()
            return result

        setattr(module, name, wrapped)

    if phase == "hashing":  # while hashing the sources
        wrap(hashing, "hash_file")
        artifact.hash_file = hashing.hash_file
    elif phase == "copying":  # mid-copy: after n blocks were written to the temporary object
        original = storage.copy_file_hashing

        def copy_then_die(src, dst, expected_size, cancel=None, on_bytes=None):
            def tick(n: int) -> None:
                if on_bytes is not None:
                    on_bytes(n)
                boom()

            return original(src, dst, expected_size, cancel, tick)

        storage.copy_file_hashing = copy_then_die
    elif phase == "stored":  # after an object reached its final key, before publishing
        wrap(artifact, "store_object", before=False)
    elif phase == "publish":  # inside the publish transaction, before it commits
        wrap(versioning, "recompute_latest")
        artifact.recompute_latest = versioning.recompute_latest
    elif phase == "published":  # right after the publish transaction committed
        wrap(artifact, "publish", before=False)
        from labshelf import transfer

        transfer.art = artifact
    else:
        raise SystemExit(f"unknown kill phase {phase}")


def disk_full(src: str, limit: int) -> dict:
    """Save with a file-size limit (EFBIG instead of SIGXFSZ): the error a full disk gives."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    ls.settings.instance  # noqa: B018 - open the database before the limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    out = {}
    for name in sorted(os.listdir(src)):
        path = Path(src) / name
        try:
            ls.Artifact(path, key=f"full/{name}").save()
            out[name] = "saved"
        except ls.LabshelfError as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001
            out[name] = f"UNEXPECTED {_error(exc)}"
    return out


def register(path: str, key: str) -> dict:
    """Register a big folder or file; report time and peak memory (RSS) of this process."""
    import resource

    ls.settings.instance  # noqa: B018
    before = _vm_hwm_kb()
    t0 = time.monotonic()
    a = ls.Artifact(path, key=key if key != "-" else None)
    hashed = time.monotonic() - t0
    a = a.save()
    return {
        "uid": a.uid,
        "hash": a.hash,
        "hash_type": a.hash_type,
        "n_objects": a.n_objects,
        "size": a.size,
        "hash_seconds": hashed,
        "seconds": time.monotonic() - t0,
        "rss_before_kb": before,
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_peak_kb": _vm_hwm_kb(),
    }


def _vm_hwm_kb() -> int:
    """Peak RSS of this process image. ru_maxrss survives exec on Linux, so a child started
    from a big pytest process reports the parent's peak; /proc's VmHWM does not."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "saves":
        result = saves(args[0], int(args[1]), args[2], float(args[3]))
    elif mode == "reader":
        result = reader(args[0], args[1])
    elif mode == "versions":
        result = versions(
            args[0], args[1], int(args[2]), args[3], float(args[4]), float(args[5]), args[6]
        )
    elif mode == "collection_versions":
        result = collection_versions(
            args[0], args[1], int(args[2]), args[3], float(args[4]), float(args[5])
        )
    elif mode == "trash_restore":
        result = trash_restore(args[0], float(args[1]), float(args[2]))
    elif mode == "init":
        result = init(args[0], args[1], float(args[2]), args[3])
    elif mode == "save_bulk":
        result = save_bulk(args[0], args[1])
    elif mode == "upload":
        result = upload(args[0], args[1])
    elif mode == "register":
        result = register(args[0], args[1])
    elif mode == "disk_full":
        result = disk_full(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
