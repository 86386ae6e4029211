"""Links between records: a many-to-one field (``artifact.storage``, ``run.transform``, …)
that holds the other record's id and reads the record itself when it is first asked for.

A ``Relation`` replaces an ORM relationship on purpose: records are detached plain objects
(see ``session``), so nothing may load lazily through a session that is gone. Reading
``artifact.run`` runs one short query and keeps the result on the record; assigning
``run.report = artifact`` sets ``report_id`` (the record must be saved).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from .errors import InvalidArgument
from .registry import BY_NAME
from .session import read

T = TypeVar("T")


class Relation(Generic[T]):
    """A many-to-one link to a record of the registry ``target`` through column ``fk``."""

    def __init__(self, fk: str, target: str):
        self.fk = fk
        self.target = target
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.cache = f"_ls_rel_{name}"

    @property
    def model(self) -> type[Any]:
        return BY_NAME[self.target].model

    @overload
    def __get__(self, obj: None, owner: type) -> Relation[T]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> T | None: ...

    def __get__(self, obj: object | None, owner: type) -> Relation[T] | T | None:
        if obj is None:
            return self
        value = getattr(obj, self.fk)
        if value is None:
            return None
        cached = obj.__dict__.get(self.cache)
        if cached is not None and cached.id == value:
            return cached
        model = self.model
        found = read(lambda s: s.get(model, value), what=f"reading {self.name}")
        obj.__dict__[self.cache] = found
        return found

    def __set__(self, obj: object, value: T | None) -> None:
        if value is None:
            setattr(obj, self.fk, None)
            obj.__dict__.pop(self.cache, None)
            return
        model = self.model
        if not isinstance(value, model):
            raise InvalidArgument(
                f"{type(obj).__name__}.{self.name} takes a {model.__name__}, "
                f"not {type(value).__name__}."
            )
        if getattr(value, "id", None) is None:
            raise InvalidArgument(
                f"The {model.__name__.lower()} given as {self.name} is not saved yet; "
                "save it first."
            )
        setattr(obj, self.fk, value.id)
        obj.__dict__[self.cache] = value


def relations_of(model: type) -> dict[str, Relation[Any]]:
    """The relations of a record class, by name."""
    found: dict[str, Relation[Any]] = {}
    for klass in reversed(model.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Relation):
                found[name] = value
    return found


def columns_of(model: type) -> dict[str, Any]:
    """The mapped column attributes of a record class, by name."""
    return {c.key: c for c in model.__mapper__.column_attrs}  # type: ignore[attr-defined]
