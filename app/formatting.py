"""Human-readable cell values: sizes, times, booleans."""

from __future__ import annotations

from datetime import datetime


def human_size(n: int | None) -> str:
    """`1536` -> `1.5 KB` (powers of 1024, as file managers show)."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_time(value: datetime | None) -> str:
    """A local time, to the minute."""
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def format_value(kind: str, value: object) -> str:
    """The display text of a cell of the given column kind."""
    if value is None:
        return ""
    if kind == "size":
        return human_size(value)  # type: ignore[arg-type]
    if kind == "time":
        return human_time(value)  # type: ignore[arg-type]
    if kind == "bool":
        return "✓" if value else ""
    return str(value)
