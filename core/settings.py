"""``ls.settings``: the current instance's name, database, default storage, cache dir and
user, for people and scripts (no secret: the database URL's password is masked)."""

from __future__ import annotations

from pathlib import Path

from .config import user_handle
from .db import mask_url
from .errors import NotConnected
from .instance import current
from .storages import Storage
from .transfer import default_storage


class Settings:
    """``ls.settings``: the current instance's name, db, storage, cache dir and user."""

    @property
    def instance(self) -> str:
        return current().name

    @property
    def db(self) -> str:
        return mask_url(current().url)

    @property
    def storage(self) -> Storage:
        return default_storage()

    @property
    def cache_dir(self) -> Path:
        return current().cache_dir()

    @property
    def user(self) -> str:
        return user_handle()

    def __repr__(self) -> str:
        try:
            inst = current()
        except NotConnected:
            return "Settings(no instance)"
        return (
            f"Settings(instance={inst.name!r}, db={mask_url(inst.url)!r}, "
            f"storage={inst.config.storage!r}, cache_dir={str(inst.cache_dir())!r}, "
            f"user={user_handle()!r})"
        )


settings = Settings()
