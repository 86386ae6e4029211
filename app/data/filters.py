"""What a filter chip's typed value means: date ranges in the forms people write, file types
with or without their dot, users by handle or by name. Every function returns the lookup
value or raises `ValueError` with one sentence saying what is wrong and what to write.
No Qt here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

DATE_HINT = "like 2024-03-01 to 2024-03-31, 2024-03 (a month), 2024 (a year) or 2024-03-05"

# "A to B", "A..B", "A - B" and the same with an en or em dash (U+2013, U+2014)
_RANGE = re.compile(r"\s*(?:\.\.|\bto\b|\u2013|\u2014|\s-\s)\s*", re.IGNORECASE)
_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y")


def _day(text: str) -> tuple[date, date]:
    """The first and last day a date, a month (`2024-03`, `March 2024`) or a year stands for."""
    text = text.strip().replace(",", "")
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        return date(year, 1, 1), date(year, 12, 31)
    month = re.fullmatch(r"(\d{4})[-/](\d{1,2})", text)
    if month:
        return _month(int(month.group(1)), int(month.group(2)), text)
    for fmt in ("%b %Y", "%B %Y"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return _month(parsed.year, parsed.month, text)
    for fmt in _FORMATS:
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return day, day
    raise ValueError(f"'{text}' is not a date; write it as {DATE_HINT}.")


def _month(year: int, month: int, text: str) -> tuple[date, date]:
    if not 1 <= month <= 12:
        raise ValueError(f"'{text}' has no month {month}; months run from 1 to 12.")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def parse_date_range(text: str) -> tuple[datetime, datetime]:
    """`2024-03-01 to 2024-03-31` (also `..`, ` - `, a dash), a single day, a month or a year ->
    (start of the first day, start of the day after the last), UTC. Either side of a range
    may be empty ("2024-03-01 .." = from then on)."""
    text = text.strip()
    if not text:
        raise ValueError(f"Give a date or a range, {DATE_HINT}.")
    parts = _RANGE.split(text, maxsplit=1)
    if len(parts) == 2:
        first = _day(parts[0])[0] if parts[0].strip() else date(1970, 1, 1)
        last = _day(parts[1])[1] if parts[1].strip() else date(9998, 12, 31)
    else:
        first, last = _day(text)
    if last < first:
        raise ValueError(
            f"The range ends ({last:%Y-%m-%d}) before it starts ({first:%Y-%m-%d}); "
            "swap the two dates."
        )
    return _start(first), _start(last) + timedelta(days=1)


def date_range(first: date, last: date) -> tuple[datetime, datetime]:
    """The lookup range of the days `first` to `last` (both included), as the pickers give."""
    if last < first:
        raise ValueError(
            f"The range ends ({last:%Y-%m-%d}) before it starts ({first:%Y-%m-%d}); "
            "swap the two dates."
        )
    return _start(first), _start(last) + timedelta(days=1)


def describe_range(value: tuple[datetime, datetime]) -> str:
    """How a chip reads a range: `2024-03-01 to 2024-03-31`, `2024-03-05`."""
    first, end = value[0].date(), (value[1] - timedelta(days=1)).date()
    if first == end:
        return f"{first:%Y-%m-%d}"
    if first.year <= 1970:
        return f"until {end:%Y-%m-%d}"
    if end.year >= 9998:
        return f"since {first:%Y-%m-%d}"
    return f"{first:%Y-%m-%d} to {end:%Y-%m-%d}"


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def normalize_suffix(text: str) -> str:
    """`csv`, `.CSV`, `*.csv` -> `.csv`; `ome.tif` -> `.ome.tif`."""
    cleaned = text.strip().lstrip("*").strip().lower()
    if not cleaned or not re.fullmatch(r"\.?[a-z0-9_+-]+(\.[a-z0-9_+-]+)*", cleaned):
        raise ValueError(f"'{text.strip()}' is not a file type; write it like csv or .tif.")
    return cleaned if cleaned.startswith(".") else "." + cleaned


@dataclass(frozen=True)
class Choice:
    """One value a filter can take, from the data: what the list shows and the lookup value."""

    label: str
    value: Any
    aliases: tuple[str, ...] = ()  # other words people type for it (a user's name)
    count: int | None = None  # how many records have it


def match_choice(text: str, choices: Sequence[Choice]) -> Choice | None:
    """The choice `text` names (its label, value or an alias, ignoring case), or None."""
    wanted = text.strip().casefold()
    for choice in choices:
        names = (choice.label, str(choice.value), *choice.aliases)
        if wanted in (n.casefold() for n in names):
            return choice
    return None


def filter_value(kind: str, text: str, choices: Sequence[Choice] = ()) -> tuple[Any, str]:
    """(lookup value, chip text) of a typed filter value; `ValueError` says what is wrong."""
    text = text.strip()
    if kind == "date":
        value = parse_date_range(text)
        return value, describe_range(value)
    if not text:
        raise ValueError("Type a value or pick one from the list.")
    if kind == "suffix":
        return normalize_suffix(text), normalize_suffix(text)
    found = match_choice(text, choices)
    if found is not None:
        return found.value, found.label
    if kind == "created_by" and choices:
        known = ", ".join(c.label for c in choices[:5])
        raise ValueError(f"No user is called '{text}'; pick one from the list ({known}).")
    return text, text
