"""Version families: uid allocation and the one-``is_latest``-per-family rule.

A family is every row sharing a ``stem_uid``. The latest is the visible (or
hidden) member with the highest version index; the partial unique index
``uq_<table>_one_latest`` makes two latest rows impossible, and a transaction
that would create them fails and is retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from .uids import SUFFIX_LEN, decode_index, versioned_uid


def next_index(session: Session, model: type[Any], stem: str) -> int:
    """The next free version index of the family ``stem`` (0 for a new family)."""
    top = session.execute(select(func.max(model.uid)).where(model.stem_uid == stem)).scalar()
    return 0 if top is None else decode_index(top[-SUFFIX_LEN:]) + 1


def next_uid(session: Session, model: type[Any], stem: str) -> str:
    return versioned_uid(stem, next_index(session, model, stem))


def recompute_latest(session: Session, model: type[Any], stems: Iterable[str]) -> None:
    """Make the highest visible version of each family its only ``is_latest`` row."""
    stems = list(set(stems))
    for i in range(0, len(stems), 500):
        for statement in latest_updates(model, stems[i : i + 500]):
            session.execute(statement.execution_options(synchronize_session=False))


def latest_updates(model: type[Any], stems: list[str]) -> tuple[Any, Any]:
    """The two statements of ``recompute_latest`` for a few hundred families: clear their
    ``is_latest``, then set it on each family's highest visible (or hidden) uid."""
    clear = (
        update(model)
        .where(model.stem_uid.in_(stems), model.is_latest == true())
        .values(is_latest=False)
    )
    top = select(func.max(model.uid)).where(model.stem_uid.in_(stems))
    if hasattr(model, "visibility"):
        top = top.where(model.visibility >= 0)
    top = top.group_by(model.stem_uid)
    return clear, update(model).where(model.uid.in_(top)).values(is_latest=True)


def version_label(uid: str) -> str:
    """A human version number ("1", "2", …) from a uid's suffix."""
    return str(decode_index(uid[-SUFFIX_LEN:]) + 1)
