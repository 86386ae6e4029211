"""The exceptions core raises: each reads as one plain sentence naming what is at fault."""

from __future__ import annotations

from .humanize import printable


class LabshelfError(Exception):
    """Base class of every error labshelf raises on purpose.

    Its text is safe to print: a key, name or path it echoes cannot smuggle terminal
    control sequences or bidi overrides (see ``labshelf.humanize.printable``)."""

    def __str__(self) -> str:
        return printable(super().__str__())


class DoesNotExist(LabshelfError):
    """No record matches a lookup."""


class MultipleResultsFound(LabshelfError):
    """Several records match a lookup that must match one."""


class InvalidArgument(LabshelfError, ValueError):
    """A bad key, lookup, path, URL scheme or argument value."""


class StorageError(LabshelfError, OSError):
    """Storage is unreachable, denied, missing, or full."""


class IntegrityError(LabshelfError):
    """The request would break the catalog's integrity (e.g. a duplicate in the trash)."""


class DatabaseError(LabshelfError):
    """The database cannot be reached or refused the operation."""


class NotConnected(LabshelfError):
    """No instance is current."""
