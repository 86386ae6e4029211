"""Issue 13, item 7: ``doctor`` always finishes.

A stored folder replaced by a file, a file replaced by a folder, an unreadable object, a folder
with an unreadable subfolder, an orphan (never removed: no row proves it is this catalog's) and
a leftover of a pending save that cannot be removed: each is one problem in the report, with a
sentence; doctor never stops with a raw NotADirectoryError/PermissionError.
Permission errors need the checking process to lack root's file-permission override, so doctor
runs in a child process (with those capabilities dropped when the tests run as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf import artifact as art

from .conftest import one_sentence, record, worker_env

CODE = """
import json, sys
import labshelf as ls
report = ls.doctor(fix=sys.argv[1] == "fix", grace=0)
print(json.dumps({"checked": report.checked, "text": str(report), "problems": [
    {"kind": p.kind, "key": p.key, "uid": p.uid, "detail": p.detail, "fixed": p.fixed}
    for p in report.problems]}))
"""
ORPHAN = "A" * 16 + "0000"


def _run_doctor(fix: bool) -> dict:
    argv = [sys.executable, "-c", CODE, "fix" if fix else "check"]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv is needed to drop root's file-permission override")
        caps = "-dac_override,-dac_read_search,-fowner"
        argv = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, env=worker_env(), timeout=120)
    assert out.returncode == 0, f"doctor stopped (exit {out.returncode}):\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def _file(tmp: Path, name: str, content: str) -> ls.Artifact:
    path = tmp / name
    path.write_text(content)
    return ls.Artifact(str(path), key=f"doc/{name}").save()


def _folder(tmp: Path, name: str, files: dict[str, str]) -> ls.Artifact:
    folder = tmp / name
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content)
    return ls.Artifact(str(folder), key=f"doc/{name}").save()


def test_doctor_reports_each_broken_object_and_finishes(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    objects = sqlite_instance / ".labshelf"
    src = tmp_path / "src"
    src.mkdir()
    healthy = _file(src, "ok.txt", "fine")
    became_folder = _file(src, "f.txt", "file content")
    unreadable = _file(src, "secret.txt", "locked away")
    became_file = _folder(src, "d1", {"a.txt": "a", "b.txt": "b"})
    locked_sub = _folder(src, "d2", {"sub/x.txt": "x", "y.txt": "y"})

    (objects / f"{became_folder.uid}.txt").unlink()
    (objects / f"{became_folder.uid}.txt").mkdir()
    (objects / f"{became_folder.uid}.txt" / "inner").write_text("x")
    shutil.rmtree(objects / became_file.uid)
    (objects / became_file.uid).write_text("a file now")
    (objects / f"{unreadable.uid}.txt").chmod(0)
    (objects / locked_sub.uid / "sub").chmod(0)
    orphan = objects / ORPHAN
    (orphan / "keep").mkdir(parents=True)
    (orphan / "keep" / "z.txt").write_text("z")
    (src / "p.txt").write_text("a save killed after its pending row")
    pending = ls.Artifact(str(src / "p.txt"), key="doc/p.txt")
    art.insert_pending([pending])
    leftover = objects / f".tmp-{pending.uid}.txt-abcd1234"
    (leftover / "keep").mkdir(parents=True)
    (leftover / "keep" / "z.txt").write_text("z")
    (leftover / "keep").chmod(0o555)  # its file cannot be deleted
    try:
        checked = _run_doctor(fix=False)
        fixed = _run_doctor(fix=True)
    finally:
        for p in (
            objects / f"{unreadable.uid}.txt",
            objects / locked_sub.uid / "sub",
            leftover / "keep",
        ):
            p.chmod(0o755)
    for result in (checked, fixed):
        by_uid = {p["uid"]: p for p in result["problems"] if p["uid"]}
        assert healthy.uid not in by_uid
        assert by_uid[became_folder.uid]["kind"] == "corrupt"
        assert (
            "a folder is stored where the record says a file" in by_uid[became_folder.uid]["detail"]
        )
        assert by_uid[became_file.uid]["kind"] == "corrupt"
        assert (
            "a file is stored where the record says a folder" in by_uid[became_file.uid]["detail"]
        )
        assert by_uid[unreadable.uid]["kind"] == "unreadable"
        assert "permission denied" in by_uid[unreadable.uid]["detail"]
        assert by_uid[locked_sub.uid]["kind"] == "unreadable"
        assert "permission denied" in by_uid[locked_sub.uid]["detail"]
        assert result["checked"] == 5
        for p in result["problems"]:
            assert one_sentence(p["detail"]), p
            assert "Error" not in p["detail"], p  # no raw exception names
        orphans = [p for p in result["problems"] if p["kind"] == "orphan"]
        assert [p["key"] for p in orphans] == [f".labshelf/{ORPHAN}"]
    orphan_fix = next(p for p in fixed["problems"] if p["kind"] == "orphan")
    assert not orphan_fix["fixed"] and "cannot prove" in orphan_fix["detail"]
    assert (orphan / "keep" / "z.txt").exists()
    leftover_fix = next(p for p in fixed["problems"] if p["key"] == f".labshelf/{leftover.name}")
    assert not leftover_fix["fixed"] and "could not be removed" in leftover_fix["detail"]
    assert (leftover / "keep" / "z.txt").exists()
    record(
        "doctor: folder->file, file->folder, unreadable, locked subfolder, unremovable leftover",
        "sqlite",
        2,
        lost="-",
        dangling="-",
        clear_errors="5/5 problems reported, doctor finished (check and --fix)",
    )
