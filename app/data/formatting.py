"""Human-readable cell values: sizes, times, booleans; passwords masked in URLs; control and
text-direction characters shown as escapes. No Qt."""

from __future__ import annotations

import re
from datetime import datetime

from labshelf.app.gateway import human_size, printable

__all__ = ["count_of", "format_value", "human_size", "human_time", "version_text"]


def human_time(value: datetime | None) -> str:
    """A local time, to the minute."""
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def count_of(n: int, one: str, many: str | None = None) -> str:
    """`1 member`, `3 members`, `1,024 files`: a count with the noun it takes."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def version_text(version: object, n_versions: object = None) -> str:
    """`v2`, or `v2 of 3` when the family has more versions; labels that are not plain
    numbers (a pipeline's `0.1.0`) read as they are."""
    if version is None or version == "":
        return ""
    label = f"v{version}" if str(version).isdigit() else str(version)
    if isinstance(n_versions, int) and n_versions > 1:
        return f"{label} of {n_versions}"
    return label


def format_value(kind: str, value: object) -> str:
    """The display text of a cell of the given column kind."""
    if value is None:
        return ""
    if kind == "version":
        return version_text(value)
    if kind == "size":
        return human_size(value)  # type: ignore[arg-type]
    if kind == "time":
        return human_time(value)  # type: ignore[arg-type]
    if kind == "bool":
        return "✓" if value else ""
    return printable(value)  # a description may hold ESC or U+202E: shown, never obeyed


_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """`text` with the password of any URL in it masked (for status lines and task names:
    whatever a user typed into a URL field must not be shown or logged)."""
    return _URL_PASSWORD.sub(r"\1***@", text)
