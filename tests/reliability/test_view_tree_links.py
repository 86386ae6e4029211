"""Issue 13, item 13: ``view_tree`` lists symbolic links as links and never follows them: a
link to ``/`` or a ``self -> .`` loop is one line, not a walk of the whole file system. It runs
in a child process with a time limit, so that following the links (the old behaviour) fails
the test instead of hanging it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import record, worker_env

CODE = """
import sys
import labshelf as ls
print(ls.UPath(sys.argv[1]).view_tree(level=int(sys.argv[2]), length_limit=1000, print_it=False))
"""


def _tree(folder: Path, level: int) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(folder), str(level)],
        capture_output=True,
        text=True,
        env=worker_env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_view_tree_does_not_follow_symlinked_folders(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.csv").write_text("b")
    os.symlink("/", folder / "root")
    os.symlink(".", folder / "self")
    os.symlink("..", folder / "sub" / "up")
    os.symlink("a.txt", folder / "alink")
    os.symlink("nowhere", folder / "dangling")
    t0 = time.monotonic()
    text = _tree(folder, level=5)
    seconds = time.monotonic() - t0
    lines = text.splitlines()
    assert lines[0] == (
        "1 sub-directory & 2 files with suffixes '.txt', '.csv' & 5 symbolic links (not followed)"
    ), lines[0]
    for shown in ("root -> /", "self -> .", "up -> ..", "alink -> a.txt", "dangling -> nowhere"):
        assert any(line.endswith(shown) for line in lines), (shown, text)
    assert len(lines) == 2 + 8, text  # summary, root, and the 8 entries: nothing below a link
    record(
        "view_tree with links to /, '.', '..'",
        "local",
        1,
        lost="-",
        dangling="-",
        clear_errors="links listed, not followed",
        numbers=f"{seconds:.1f} s in a child process",
    )
