"""Provenance: the active run of this process and the inputs it reads.

``track``/``finish`` and transform detection land on top of this (see the
provenance issue); artifact saving and reading call ``current_run`` and
``note_input``.
"""

from __future__ import annotations

import threading
from typing import Any

_state = threading.local()
_global: dict[str, Any] = {"run": None}


def current_run() -> Any | None:
    """The run every save in this process links to, if one is active."""
    return _global["run"]


def set_current_run(run: Any | None) -> None:
    _global["run"] = run


def note_input(record: Any) -> None:
    """Record that the active run read ``record`` (never the run's own outputs)."""
    run = current_run()
    if run is None or getattr(record, "run_id", None) == run.id:
        return
    from sqlalchemy import insert, select

    from . import context
    from .models import Artifact, Collection, RunInputArtifact, RunInputCollection

    link, column = (
        (RunInputArtifact, RunInputArtifact.artifact_id)
        if isinstance(record, Artifact)
        else (RunInputCollection, RunInputCollection.collection_id)
    )
    if not isinstance(record, Artifact | Collection):
        return

    def add(s: Any) -> None:
        exists = s.execute(select(link.id).where(link.run_id == run.id, column == record.id)).first()
        if exists is None:
            s.execute(insert(link).values({"run_id": run.id, column.key: record.id}))

    context.write(add, what="recording a run input")
