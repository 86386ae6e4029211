"""Core fixtures: a fresh instance per test on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A folder of sample inputs outside the storage root."""
    folder = tmp_path / "src"
    (folder / "study0").mkdir(parents=True)
    for i, text in enumerate(["0", "0", "1"]):
        (folder / "study0" / f"{i}.txt").write_text(text)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "table.csv").write_text("x,y\n1,2\n3,4\n")
    return folder


def text_files(folder: Path, n: int, salt: str = "") -> list[Path]:
    """``n`` small text files of distinct content (``salt`` changes every one) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"f{i:03d}.txt"
        path.write_text(f"{salt} file {i}\n")
        out.append(path)
    return out
