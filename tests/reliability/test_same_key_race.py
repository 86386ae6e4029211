"""Issue 13, item 6: the same new key saved by two processes at once.

Two real processes construct ``ls.Artifact(path, key=K)`` for a key no record has yet (both
find no family), wait for each other, then ``save()`` together. With different content the
result is one version family (the second save is its next version, one ``is_latest``); with
the same content it is one record, and the loser's ``save()`` returns the winner's record (its
id and uid, both in the database). Eight rounds of each, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import labshelf as ls
from labshelf.instance import current
from sqlalchemy import text

from .conftest import audit, record, worker_env

# Saves one file per round under the round's key, after waiting (once constructed) until the
# other worker has constructed its artifact too; prints what each save() returned.
_WORKER = """
import json, sys, time
from pathlib import Path
import labshelf as ls

src, sync, me, other, rounds = Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:5], int(sys.argv[5])
out = []
for r in range(rounds):
    a = ls.Artifact(str(src / f"{me}-{r}.csv"), key=f"race/{r}.csv")
    (sync / f"{r}-{me}").touch()
    deadline = time.monotonic() + 60
    while not (sync / f"{r}-{other}").exists():
        if time.monotonic() > deadline:
            sys.exit(f"round {r}: the other worker never came")
        time.sleep(0.002)
    a.save()
    out.append({"round": r, "id": a.id, "uid": a.uid, "stem": a.stem_uid})
print(json.dumps(out))
"""


def _race(tmp_path: Path, same: list[bool]) -> list[list[dict]]:
    """Two workers, one round per entry of ``same`` (the same content, or each its own)."""
    src, sync = tmp_path / "src", tmp_path / "sync"
    src.mkdir()
    sync.mkdir()
    rounds = len(same)
    for r in range(rounds):
        for me in ("p", "q"):
            body = f"round {r}\n" if same[r] else f"round {r} from {me}\n"
            (src / f"{me}-{r}.csv").write_text(body)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(src), str(sync), me, other, str(rounds)],
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("p", "q"), ("q", "p"))
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _rows(key: str) -> list[tuple]:
    with current().engine().connect() as conn:
        return conn.execute(
            text(
                "SELECT id, uid, stem_uid, is_latest, hash FROM artifacts "
                "WHERE key = :k AND visibility >= 0 ORDER BY uid"
            ),
            {"k": key},
        ).all()


def test_same_new_key_from_two_processes(
    instance: Path, tmp_path: Path, backend: str, scale
) -> None:
    each = scale(8, 24)  # rounds of different content, then as many of the same content
    same = [False] * each + [True] * each
    p, q = _race(tmp_path, same)
    families = 0
    for r in range(len(same)):
        key = f"race/{r}.csv"
        rows = _rows(key)
        ids = {row.id: row for row in rows}
        mine = [p[r], q[r]]
        if not same[r]:
            assert len(rows) == 2, (r, rows)
            assert len({row.stem_uid for row in rows}) == 1, f"round {r}: two families {rows}"
            assert [row.is_latest for row in rows] == [False, True], (r, rows)
            assert ls.Artifact.get(key=key, is_latest=True).uid == rows[-1].uid
            assert {m["id"] for m in mine} == set(ids) and {m["uid"] for m in mine} == {
                row.uid for row in rows
            }
        else:
            assert len(rows) == 1, f"round {r}: the same content registered twice: {rows}"
            (row,) = rows
            for m in mine:  # the loser's save() returned the winner's record
                assert (m["id"], m["uid"]) == (row.id, row.uid), (r, m, row)
        families += len({row.stem_uid for row in rows})
    state = audit(instance)
    state.assert_consistent()
    assert state.pending == 0
    record(
        "same new key from two processes (different, then same content)",
        backend,
        len(same),
        lost=0,
        dangling=state.dangling,
        clear_errors="-",
        numbers=f"{families} families for {len(same)} keys; same content: both save()s "
        f"returned the one record in {each}/{each} rounds",
    )
