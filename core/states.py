"""The states of an upload item, one list for the whole program: core's upload engine
(``ls.upload``, watch folders), the app's transfer queue and its upload worker process.

Light on purpose (no SQLAlchemy): the app imports it at start-up through its gateway.
"""

from __future__ import annotations

from enum import StrEnum


class ItemState(StrEnum):
    """Where an upload item stands (values are the strings ``Progress.changes`` carries)."""

    QUEUED = "queued"
    HASHING = "hashing"
    UPLOADING = "uploading"
    DONE = "done"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    CANCELLED = "cancelled"


STATES = tuple(ItemState)
FINAL_STATES = frozenset(
    {ItemState.DONE, ItemState.DUPLICATE, ItemState.FAILED, ItemState.CANCELLED}
)
