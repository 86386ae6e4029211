"""The registries' record classes, gathered: ``from labshelf.models import Artifact``.

Each class lives with its behaviour (``artifact``, ``collection``, ``provenance``, ``users``,
``storages``, ``labels``, ``features``) and maps a table of ``schema``; importing this module loads them all, so
every registry is available by name (``labshelf.registry``).
"""

from __future__ import annotations

from typing import Any

from .artifact import Artifact
from .collection import Collection
from .features import Feature
from .labels import ULabel
from .provenance import Run, Transform
from .records import Base, Record
from .schema import HIDDEN, PENDING, TRASH, VISIBLE, utcnow
from .storages import Storage
from .users import User

REGISTRIES: dict[str, type[Any]] = {
    "artifact": Artifact,
    "collection": Collection,
    "transform": Transform,
    "run": Run,
    "user": User,
    "storage": Storage,
    "ulabel": ULabel,
    "feature": Feature,
}

__all__ = [
    "HIDDEN",
    "PENDING",
    "REGISTRIES",
    "TRASH",
    "VISIBLE",
    "Artifact",
    "Base",
    "Collection",
    "Feature",
    "Record",
    "Run",
    "Storage",
    "Transform",
    "ULabel",
    "User",
    "utcnow",
]
