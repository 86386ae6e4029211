"""Sizes for people, the same in the CLI, ``describe()`` and the desktop app."""

from __future__ import annotations


def human_size(n: int | None) -> str:
    """``1536`` -> ``1.5 KB``: powers of 1024, as file managers and ``du -h`` count."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
