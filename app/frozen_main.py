"""Entry point of the PyInstaller bundle: `labshelf ARGS` is the command line, and
`labshelf` with no arguments (as a desktop launcher starts it) opens the desktop app."""

from __future__ import annotations

import multiprocessing
import sys


def run(argv: list[str]) -> int:
    """The exit code of `labshelf argv` (the GUI when `argv` is empty)."""
    from labshelf.app.upload_worker import UPLOAD_WORKER_FLAG

    if argv[:1] == [UPLOAD_WORKER_FLAG]:  # the desktop app's upload worker process
        from labshelf.app.upload_worker import main as upload_worker_main

        return upload_worker_main()
    from labshelf.app.cli import main as cli_main

    return cli_main(argv if argv else ["gui"])


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(run(sys.argv[1:]))
