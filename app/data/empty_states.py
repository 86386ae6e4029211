"""What an empty table says, and what it suggests doing next. No Qt here."""

from __future__ import annotations

from dataclasses import dataclass

from labshelf.app.data.registries import LOOKS


@dataclass(frozen=True)
class EmptyState:
    """The message over an empty table: a headline and the next step."""

    title: str
    hint: str


def empty_state(
    registry: str, search: str = "", n_filters: int = 0, trash: bool = False
) -> EmptyState:
    """Why `registry`'s table (or its trash) shows no row, and what to do about it."""
    look = LOOKS.get(registry)
    many = look.noun[1] if look is not None else "records"
    if search and n_filters:
        return EmptyState(
            f"No {many} match “{search}” with these filters.",
            "Check the spelling, or remove a filter chip (click its ✕).",
        )
    if search:
        return EmptyState(
            f"No {many} match “{search}”.",
            "Check the spelling or try a shorter word; Esc clears the search.",
        )
    if n_filters:
        return EmptyState(
            f"No {many} match these filters.",
            "Remove a filter chip (click its ✕) or pick another value.",
        )
    if trash:
        return EmptyState(
            f"The trash holds no {many}.",
            "What you move to the trash waits here until you restore or delete it.",
        )
    hints = {
        "Artifact": "Drop files or folders on this window, or use File → Import folder….",
        "Collection": "Select artifacts, then Record → New collection from selection….",
        "Transform": "Scripts and notebooks appear here once they call ls.track(); "
        "imports from this window are recorded too.",
        "Run": "Each import and each ls.track() run is listed here.",
    }
    return EmptyState(f"No {many} yet.", hints.get(registry, "Nothing is registered here yet."))
