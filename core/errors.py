"""The exceptions core raises: each reads as one plain sentence naming what is at fault."""

from __future__ import annotations


class LabshelfError(Exception):
    """Base class of every error labshelf raises on purpose."""


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
