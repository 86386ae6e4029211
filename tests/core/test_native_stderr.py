"""Native chatter is filtered at the source, real errors are not (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from labshelf.runtime import native_stderr_filtered

HARMLESS = (
    b'Fontconfig warning: "/usr/share/fontconfig/conf.avail/05-reset-dirs-sample.conf", '
    b'line 6: unknown element "reset-dirs"\n'
)


def test_only_the_known_harmless_lines_are_dropped(capfd: pytest.CaptureFixture[str]) -> None:
    with native_stderr_filtered():
        os.write(2, b"before\n" + HARMLESS + b"Fontconfig error: cannot load default config\n")
        os.write(2, b"after, without a newline")
    err = capfd.readouterr().err
    assert "reset-dirs" not in err
    assert "before\n" in err and "Fontconfig error: cannot load default config" in err
    assert err.endswith("after, without a newline")


def test_an_exception_restores_stderr_and_keeps_what_was_written(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RuntimeError), native_stderr_filtered():
        os.write(2, b"the library said why\n")
        raise RuntimeError("boom")
    os.write(2, b"later\n")
    assert capfd.readouterr().err == "the library said why\nlater\n"


def test_nested_filters_pass_everything_on(capfd: pytest.CaptureFixture[str]) -> None:
    with native_stderr_filtered():
        os.write(2, b"outer\n")
        with native_stderr_filtered():
            os.write(2, b"inner\n" + HARMLESS)
    assert capfd.readouterr().err == "outer\ninner\n"


def test_a_first_lineage_graph_prints_nothing_but_notes(tmp_path: os.PathLike[str]) -> None:
    """In a fresh process (fontconfig initialises once per process), `view_lineage` leaves the
    terminal clean: on Debian 12 the wheel's fontconfig warned about the system's config."""
    code = (
        "import labshelf as ls, pathlib\n"
        f"ls.init({str(tmp_path)!r} + '/store')\n"
        f"p = pathlib.Path({str(tmp_path)!r}) / 'a.txt'; p.write_text('x')\n"
        "a = ls.Artifact(p, key='a.txt').save()\n"
        f"a.view_lineage({str(tmp_path)!r} + '/g.svg')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    stray = [line for line in proc.stderr.splitlines() if not line.startswith("→ ")]
    assert not stray, stray
