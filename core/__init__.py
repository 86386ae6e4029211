"""labshelf's core: ``import core as ls``.

Names are loaded on first use (PEP 562) so that ``import core`` stays cheap:
SQLAlchemy, pandas, Pillow, graphviz and the cloud libraries are imported only
when something needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, str]] = {
    # instances
    "init": ("core.instance", "init"),
    "connect": ("core.instance", "connect"),
    "settings": ("core.instance", "settings"),
    # registries
    "Artifact": ("core.models", "Artifact"),
    "Collection": ("core.models", "Collection"),
    "Transform": ("core.models", "Transform"),
    "Run": ("core.models", "Run"),
    "User": ("core.models", "User"),
    "Storage": ("core.models", "Storage"),
    # paths, queries, bulk work
    "UPath": ("core.paths", "UPath"),
    "QuerySet": ("core.query", "QuerySet"),
    "view": ("core.query", "view"),
    "save": ("core.records", "save_many"),
    "upload": ("core.transfer", "upload"),
    "UploadReport": ("core.transfer", "UploadReport"),
    "doctor": ("core.doctor", "doctor"),
    # provenance
    "track": ("core.provenance", "track"),
    "finish": ("core.provenance", "finish"),
    # errors
    "LabshelfError": ("core.errors", "LabshelfError"),
    "DoesNotExist": ("core.errors", "DoesNotExist"),
    "MultipleResultsFound": ("core.errors", "MultipleResultsFound"),
    "InvalidArgument": ("core.errors", "InvalidArgument"),
    "StorageError": ("core.errors", "StorageError"),
    "IntegrityError": ("core.errors", "IntegrityError"),
    "DatabaseError": ("core.errors", "DatabaseError"),
    "NotConnected": ("core.errors", "NotConnected"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'core' has no attribute '{name}'") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDE completion only
    from .errors import (  # noqa: F401
        DatabaseError,
        DoesNotExist,
        IntegrityError,
        InvalidArgument,
        LabshelfError,
        MultipleResultsFound,
        NotConnected,
        StorageError,
    )
    from .instance import connect, init, settings  # noqa: F401
    from .models import Artifact, Collection, Run, Storage, Transform, User  # noqa: F401
    from .paths import UPath  # noqa: F401
    from .query import QuerySet, view  # noqa: F401
    from .records import save_many as save  # noqa: F401
