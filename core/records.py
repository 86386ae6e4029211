"""Saving records of any registry: new artifacts go through the verified
three-step save, collections through theirs, everything else is a plain upsert.
"""

from __future__ import annotations

from typing import Any

from .models import Artifact, Collection


def save(record: Any) -> Any:
    if isinstance(record, Artifact):
        from .artifact import save as save_artifact

        return save_artifact(record)
    if isinstance(record, Collection):
        from .collection import save as save_collection

        return save_collection(record)
    from .artifact import save_edits

    return save_edits(record)


def save_many(records: list[Any], max_workers: int = 8) -> list[Any]:
    """``ls.save([...])``: many records, new artifacts in one bulk transaction."""
    from .artifact import save_many as save_artifacts

    return save_artifacts(list(records), max_workers=max_workers)
