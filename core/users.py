"""The User registry: who made what. A user's row is created on their first write, from
``LABSHELF_USER`` or the login name (``session.user_id``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped

from . import schema
from .records import Base, Record, nfc_text


class User(Record, Base):
    __table__ = schema.users

    id: Mapped[int]
    uid: Mapped[str]
    handle: Mapped[str]
    name: Mapped[str | None]
    created_at: Mapped[datetime]


nfc_text(User.name)
