"""The Storage registry: the roots artifacts live under (a local folder, an S3 or GCS bucket).

``ls.Storage(root=…)`` infers the type from the root and keeps local roots absolute; saving
the same root from several threads or processes gives one record (the later savers get the
existing row). A storage saved here is seen at once by in-place registration in this process.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import select
from sqlalchemy.orm import Mapped

from . import schema
from .config import normalize_storage
from .errors import InvalidArgument
from .humanize import nfc
from .instance import current, ensure_storage_row
from .keys import OBJECTS_DIR, is_cloud, relative_key, storage_type, validate_key
from .log import say
from .records import Base, Record, as_saved, pending_edits, save_edits
from .relations import Relation
from .session import read, storage_roots
from .users import User


class Storage(Record, Base):
    __table__ = schema.storages

    id: Mapped[int]
    uid: Mapped[str]
    root: Mapped[str]
    description: Mapped[str | None]
    type: Mapped[str]
    region: Mapped[str | None]
    created_by_id: Mapped[int | None]
    created_at: Mapped[datetime]

    created_by = Relation[User]("created_by_id", "User")

    def __init__(self, *args: Any, **fields: Any):
        if args and "root" not in fields and len(args) == 1 and isinstance(args[0], str):
            fields["root"], args = args[0], ()
        super().__init__(*args, **fields)
        if not fields.get("root"):
            raise InvalidArgument("A storage needs a root: a folder, s3://bucket or gs://bucket.")
        self.root = normalize_storage(fields["root"])
        kind = storage_type(self.root)
        if fields.get("type") not in (None, kind):
            raise InvalidArgument(
                f"The storage {self.root} is of type '{kind}', not '{fields['type']}'."
            )
        self.type = kind

    def save(self) -> Self:
        if self.__dict__.get("id") is not None:
            if {"root", "type"} & set(pending_edits(self)):
                raise InvalidArgument(
                    f"The root of storage {self.uid} cannot change; register a new storage."
                )
            save_edits(self)
            return self
        storage_id = ensure_storage_row(current(), self.root, self.description)
        table = schema.storages
        row = read(
            lambda s: s.execute(select(table).where(table.c.id == storage_id)).mappings().one(),
            what="reading a storage",
        )
        as_saved(self, dict(row))
        return self


def storage_holding(path: str) -> tuple[int, str, str] | None:
    """(id, root, key) of the registered storage whose root holds ``path`` (the innermost),
    or None; keys inside a root's ``.labshelf/`` folder belong to no storage."""
    best: tuple[int, str, str] | None = None
    for storage_id, root in storage_roots():
        rel = relative_key(root, path)
        if rel is not None and (best is None or len(root) > len(best[1])):
            best = (storage_id, root, rel)
    return best


def in_place_key(root: str, rel: str) -> str:
    """The key of an object registered in place: its name, in NFC when the NFC form names the
    same object (file systems that normalize names, such as macOS's), else as it is (on a
    file system or bucket that keeps names byte for byte, the NFC form would be another,
    missing, object). A name that cannot be a key (not UTF-8, a control character) is
    refused."""
    rel = validate_key(rel, normalize=False)
    composed = nfc(rel)
    if composed == rel or is_cloud(root):
        return rel
    try:
        return composed if os.path.samefile(Path(root) / composed, Path(root) / rel) else rel
    except OSError:
        return rel


def check_not_storage(path: str) -> None:
    """Refuse a folder (or cloud prefix) that is a registered storage root itself, its
    ``.labshelf/`` folder or anything inside it, or a folder that holds a storage root:
    registering or uploading it would copy the store into itself. The one check every way in
    goes through (``ls.Artifact``, ``Artifact.from_dir``, ``ls.upload``, the watch, the app's
    drop)."""
    text = os.fspath(path)
    cloud = is_cloud(text)
    target = text.replace("gcs://", "gs://", 1).rstrip("/") if cloud else os.path.realpath(text)
    sep = "/" if cloud else os.sep
    for _, root in storage_roots():
        if is_cloud(root) != cloud:
            continue
        base = root.rstrip("/") if cloud else os.path.realpath(root)
        own = f"{base.rstrip(sep)}{sep}{OBJECTS_DIR}"
        if target == base:
            raise InvalidArgument(
                f"{text} is the storage {root} itself, where labshelf keeps this catalog's "
                "objects; registering it would copy the store into itself: register the "
                "folders inside it instead."
            )
        if target == own or target.startswith(own + sep):
            raise InvalidArgument(
                f"{text} lies inside labshelf's own folder of storage {root} ({OBJECTS_DIR}/), "
                "where it keeps its objects; it cannot be registered."
            )
        if base.startswith(target.rstrip(sep) + sep):
            raise InvalidArgument(
                f"The folder {text} contains the storage {root}, where labshelf keeps this "
                "catalog's objects; registering it would copy the store into itself: register "
                "the folders beside the storage one by one, or keep the storage elsewhere."
            )


def ensure_bucket_storage(url: str) -> None:
    """Register ``scheme://bucket`` as a storage unless a registered root holds ``url``."""
    if storage_holding(url.rstrip("/")) is not None:
        return
    scheme, rest = url.split("://", 1)
    root = f"{scheme}://{rest.split('/', 1)[0]}"
    ensure_storage_row(current(), root, None)
    say(f"registered the storage {root}")
