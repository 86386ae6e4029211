"""labshelf's core: ``import labshelf as ls``.

Names are loaded on first use (PEP 562) so that ``import labshelf`` stays cheap:
SQLAlchemy, pandas, Pillow, graphviz and the cloud libraries are imported only
when something needs them.
"""

from __future__ import annotations

if __name__ != "labshelf":  # one module, one name: core/ is installed as `labshelf`
    raise ImportError(
        f"labshelf's core was imported as '{__name__}'; import it as `labshelf` "
        "(pip install -e . maps the repository's core/ folder to that name)"
    )

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import __version__

_EXPORTS: dict[str, tuple[str, str]] = {
    # instances
    "init": ("labshelf.instance", "init"),
    "connect": ("labshelf.instance", "connect"),
    "settings": ("labshelf.settings", "settings"),
    # registries
    "Artifact": ("labshelf.models", "Artifact"),
    "Collection": ("labshelf.models", "Collection"),
    "Transform": ("labshelf.models", "Transform"),
    "Run": ("labshelf.models", "Run"),
    "User": ("labshelf.models", "User"),
    "Storage": ("labshelf.models", "Storage"),
    "ULabel": ("labshelf.models", "ULabel"),
    "Feature": ("labshelf.models", "Feature"),
    # labels and features
    "annotate": ("labshelf.annotation", "annotate"),
    # paths, queries, bulk work
    "UPath": ("labshelf.paths", "UPath"),
    "QuerySet": ("labshelf.query", "QuerySet"),
    "view": ("labshelf.query", "view"),
    "save": ("labshelf.artifact", "save_many"),
    "upload": ("labshelf.transfer", "upload"),
    "UploadReport": ("labshelf.transfer", "UploadReport"),
    "doctor": ("labshelf.doctor", "doctor"),
    # provenance
    "track": ("labshelf.provenance", "track"),
    "finish": ("labshelf.provenance", "finish"),
    # errors
    "LabshelfError": ("labshelf.errors", "LabshelfError"),
    "DoesNotExist": ("labshelf.errors", "DoesNotExist"),
    "MultipleResultsFound": ("labshelf.errors", "MultipleResultsFound"),
    "InvalidArgument": ("labshelf.errors", "InvalidArgument"),
    "StorageError": ("labshelf.errors", "StorageError"),
    "IntegrityError": ("labshelf.errors", "IntegrityError"),
    "DatabaseError": ("labshelf.errors", "DatabaseError"),
    "NotConnected": ("labshelf.errors", "NotConnected"),
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'labshelf' has no attribute '{name}'") from None
    if module != "labshelf.errors":
        import_module("labshelf.models")  # every registry class, so relations can find them
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDE completion only
    from .annotation import annotate  # noqa: F401
    from .artifact import save_many as save  # noqa: F401
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
    from .instance import connect, init  # noqa: F401
    from .models import (  # noqa: F401
        Artifact,
        Collection,
        Feature,
        Run,
        Storage,
        Transform,
        ULabel,
        User,
    )
    from .paths import UPath  # noqa: F401
    from .query import QuerySet, view  # noqa: F401
    from .settings import settings  # noqa: F401
