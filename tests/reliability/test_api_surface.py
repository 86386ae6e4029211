"""The public names stay what API.md says, however the process imported things."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO, worker_env


def test_ls_doctor_is_callable_after_importing_the_module() -> None:
    """`import labshelf.doctor` binds the submodule to the name of the lazy export (fixed in 259b585)."""
    code = "import labshelf.doctor\nimport labshelf as ls\nassert callable(ls.doctor), type(ls.doctor)\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-500:]
