"""Instances: ``init``, ``connect``, the current instance of this process, and what an open
instance keeps for the process (its engine, its storage roots, the current user's row id).

An instance is a database (SQLite by default, or PostgreSQL) plus a default storage root;
its settings file is ``config.InstanceConfig`` (no secrets). Opening an instance brings its
schema up to date (``migrations``) and makes sure its default storage row exists.

Each catalog has an id (``instance_meta``), and a storage root records the catalog that
manages it (``storage.marker``): ``init`` on a root another catalog manages refuses and says
how to connect to that catalog (or, with ``read_only_storage=True``, registers it as storage
this catalog only reads from); every write under a root goes through ``Instance.backend``,
which refuses writes where another catalog's marker is and writes this catalog's marker where
there is none.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from . import schema
from .config import (
    NAME_RE,
    InstanceConfig,
    all_configs,
    check_storage_options,
    current_file,
    current_name,
    default_cache_dir,
    default_db,
    default_name,
    find_config,
    normalize_storage,
    user_handle,
    write_private,
)
from .db import (
    PASSWORD_QUERY_KEYS,
    as_database_error,
    check_writable,
    create_sqlite_file,
    dispose_all,
    drop_stale_engine,
    engine_for,
    is_read_only,
    is_secret_query_key,
    mask_url,
    sqlite_path,
)
from .errors import DatabaseError, IntegrityError, InvalidArgument, LabshelfError, NotConnected
from .keys import storage_type
from .log import say
from .migrations import upgrade_if_needed
from .storage import Backend, backend
from .storage.marker import GuardedBackend, Marker, RootGuard, new_marker, read_marker, write_marker
from .uids import base62

STORAGE_UID_LENGTH = int(schema.storages.c.uid.type.length)  # type: ignore[attr-defined]
USER_UID_LENGTH = int(schema.users.c.uid.type.length)  # type: ignore[attr-defined]
INSTANCE_ID_LENGTH = 12


class Instance:
    """A live connection to one instance in this process, and what it keeps for the process:

    - ``storage_roots``: id → root of every storage row this process has seen (roots never
      change, so entries never go stale);
    - ``storage_list``: (id, root) of every registered storage, for finding which root holds
      a path; ``None`` until read, and forgotten whenever this process registers a storage;
    - ``default_storage_id`` and ``user_ids`` (handle → users.id), filled on first use.
    """

    def __init__(self, config: InstanceConfig, password: str | None = None):
        self.config = config
        url = make_url(config.db)
        if password:
            url = url.set(password=password)
        self.url: URL = url
        self.default_storage_id: int | None = None
        self.storage_roots: dict[int, str] = {}
        self.storage_list: list[tuple[int, str]] | None = None
        self.user_ids: dict[str, int] = {}
        self.lock = threading.Lock()
        self.instance_id: str | None = None  # read when the instance is opened
        self.guard: RootGuard | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def engine(self) -> Engine:
        return engine_for(self.url)

    def cache_dir(self) -> Path:
        return Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()

    def backend(self, root: str) -> Backend:
        """The storage backend of ``root``, with this instance's options for it; its writes
        are refused where another catalog manages the root (see ``storage.marker``)."""
        if self.guard is None:
            self.guard = RootGuard(self.instance_id, self.new_marker)
        return GuardedBackend(backend(root, self.config.options_for(root)), self.guard)

    def new_marker(self) -> Marker:
        """The marker naming this catalog (its id, name and kind of database; no secret)."""
        assert self.instance_id is not None  # set when the instance was opened
        server: str | None = None
        in_storage = False
        if self.dialect == "postgresql":
            u = self.url
            server = URL.create(
                u.drivername, None, None, u.host, u.port, u.database
            ).render_as_string(hide_password=True)
        else:
            path = sqlite_path(self.url)
            storage = self.config.storage
            in_storage = (
                path is not None and "://" not in storage and (Path(storage) in path.parents)
            )
        return new_marker(
            self.instance_id,
            self.name,
            self.dialect,
            database_in_storage=in_storage,
            database_server=server,
        )

    def storage_options(self, url: str) -> dict[str, Any]:
        return self.config.options_for(url)

    def forget_storages(self) -> None:
        """After registering a storage: the next lookup of roots reads them again."""
        with self.lock:
            self.storage_list = None


_current: Instance | None = None
_current_lock = threading.Lock()


SUPPORTED_DATABASES = (
    "sqlite:///path/to/labshelf.db or postgresql+psycopg://user@host:5432/db "
    "(postgresql:// means the same)"
)
# URL schemes labshelf connects with: (backend, driver) -> the drivername it uses
_DRIVERS = {
    ("sqlite", ""): "sqlite",
    ("sqlite", "pysqlite"): "sqlite",
    ("postgresql", ""): "postgresql+psycopg",
    ("postgres", ""): "postgresql+psycopg",
    ("postgresql", "psycopg"): "postgresql+psycopg",
}


def parse_db_url(db: str) -> URL:
    """A database URL labshelf can use, or ``InvalidArgument`` listing the supported schemes
    (never an import error of a driver that is not there, never the URL's password)."""
    try:
        url = make_url(db)
    except Exception:  # noqa: BLE001 - any parse failure is the same mistake for the user
        raise InvalidArgument(
            f"The database URL is not valid; labshelf supports {SUPPORTED_DATABASES}."
        ) from None
    backend_name, _, driver = url.drivername.lower().partition("+")
    drivername = _DRIVERS.get((backend_name, driver))
    if drivername is None:
        raise InvalidArgument(
            f"The database URL scheme '{url.drivername}://' is not supported; labshelf "
            f"supports {SUPPORTED_DATABASES}."
        )
    url = url.set(drivername=drivername)
    if drivername == "sqlite":
        if url.database in (None, "", ":memory:") or str(url.database).startswith("file:"):
            raise InvalidArgument(
                f"The database URL '{mask_url(url)}' names no database file; labshelf supports "
                f"{SUPPORTED_DATABASES}."
            )
        url = url.set(database=os.path.abspath(os.path.expanduser(str(url.database))))
    return url


def strip_password(db: str) -> tuple[str, str | None]:
    """(the URL without its password, the password)."""
    url = parse_db_url(db)
    password = url.password
    query = dict(url.query)
    for key in list(query):
        if key.lower() in PASSWORD_QUERY_KEYS:  # ?password=… is the password, kept in memory
            value = query.pop(key)
            password = password or (value[-1] if isinstance(value, tuple) else value)
        elif is_secret_query_key(key):
            raise InvalidArgument(
                f"The database URL's parameter '{key}' holds a secret, which labshelf never "
                "stores; give it through the driver's own configuration (e.g. ~/.pgpass or "
                "PG* environment variables) instead."
            )
    # URL.set(password=None) keeps the old value, so rebuild the URL without it
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, query)
    return bare.render_as_string(hide_password=False), (str(password) if password else None)


def init(
    storage: str | os.PathLike[str],
    db: str | None = None,
    name: str | None = None,
    storage_options: dict[str, Any] | None = None,
    *,
    read_only_storage: bool = False,
) -> Instance:
    """Create an instance (or reopen it, if it exists already) and make it current.

    A storage root another catalog manages (its marker names another instance) is refused
    with a sentence saying how to connect to that catalog, unless ``read_only_storage``: then
    this catalog registers and reads the files there in place and never writes there."""
    root = normalize_storage(storage)
    name = name or default_name(root)
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f"The instance name '{name}' is not valid: use letters, digits, '.', '_' or '-'."
        )
    options = check_storage_options(dict(storage_options or {}))
    existing = find_config(name)
    if existing is not None and existing.storage != root:
        raise InvalidArgument(
            f"An instance named '{name}' already exists with storage {existing.storage}; "
            "choose another name or connect to it."
        )
    root_backend = backend(root, options)
    root_backend.ensure()
    marker = read_marker(root_backend)
    db_url, password = strip_password(db) if db else (default_db(root, name), None)
    if not db:
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = existing or InstanceConfig(name=name, storage=root, db=db_url)
    if db:
        config.db = db_url
    if options:
        config.storage_options[root] = options
    instance = Instance(config, password)
    # before anything is created: the database must be the catalog the marker names
    foreign = marker is not None and _stored_instance_id(instance) != marker.instance_id
    if marker is not None and foreign and not read_only_storage:
        raise IntegrityError(_managed_elsewhere(root, marker))
    open_instance(instance, create=True)
    if marker is None and instance.instance_id is not None:
        marker = write_marker(root_backend, instance.new_marker())
        if marker.instance_id != instance.instance_id and not read_only_storage:
            raise IntegrityError(_managed_elsewhere(root, marker))  # another init won the race
    config.write()
    _set_current(instance, persist=True)
    say(f"instance '{name}' ready: storage {root}, database {mask_url(instance.url)}")
    if marker is not None and marker.instance_id != instance.instance_id:
        say(
            f"the storage {root} is managed by the catalog '{marker.instance_name}': this "
            "catalog registers and reads its files in place and never writes there"
        )
    return instance


def _managed_elsewhere(root: str, marker: Marker) -> str:
    return (
        f"The storage {root} is managed by another catalog ('{marker.instance_name}', id "
        f"{marker.instance_id}, a {marker.database} database), and one storage has one catalog; "
        f"{marker.how_to_connect(root)}; or register and read its files from a catalog of your "
        f"own with ls.init('{root}', read_only_storage=True) "
        f"(`labshelf init --storage {root} --read-only-storage`)."
    )


def _stored_instance_id(instance: Instance) -> str | None:
    """The catalog id a database holds already (None: no file, no schema or no id yet)."""
    try:
        engine = instance.engine()  # SQLite: a missing file raises, and is not created
    except DatabaseError:
        return None
    meta = schema.instance_meta
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(meta.name):
                return None
            found = conn.execute(select(meta.c.value).where(meta.c.key == "instance_id"))
            return found.scalar()
    except DBAPIError as exc:
        raise as_database_error(exc, f"opening instance '{instance.name}'") from exc


def open_instance(instance: Instance, *, create: bool) -> None:
    """Bring the schema up to date and make sure the default storage row exists.

    Only ``create`` (``init``) makes a new SQLite file or schema; opening an instance whose
    database is missing or empty raises ``DatabaseError`` instead."""
    drop_stale_engine(instance.url)
    if create:
        create_sqlite_file(instance.url)
    upgrade_if_needed(instance.engine(), instance.name, create=create)
    instance.default_storage_id = ensure_storage_row(
        instance, instance.config.storage, f"default storage of instance {instance.name}"
    )
    _record_meta(instance)
    instance.guard = None  # made again with the instance id


def ensure_user(instance: Instance, handle: str) -> int:
    """The id of the ``users`` row of ``handle``, created if missing (any process may race)."""
    known = instance.user_ids.get(handle)
    if known is not None:
        return known
    engine = instance.engine()
    users = schema.users
    for _ in range(3):
        with engine.connect() as conn:
            found = conn.execute(select(users.c.id).where(users.c.handle == handle)).scalar()
        if found is not None:
            instance.user_ids[handle] = found
            return int(found)
        check_writable(instance.url, f"creating the user '{handle}'")
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(users).values(uid=base62(USER_UID_LENGTH), handle=handle, name=None)
                )
        except SAIntegrityError:
            continue  # another process created it meanwhile
    raise LabshelfError(f"The user row of '{handle}' could not be created; try again.")


def ensure_storage_row(instance: Instance, root: str, description: str | None) -> int:
    """The id of the storage row of ``root``, created if missing (one row per root, whoever
    races)."""
    storages = schema.storages
    engine = instance.engine()
    with engine.connect() as conn:
        found = conn.execute(select(storages.c.id).where(storages.c.root == root)).scalar()
    if found is None:
        user = ensure_user(instance, user_handle())
        check_writable(instance.url, f"registering the storage {root}")
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(storages).values(
                        uid=base62(STORAGE_UID_LENGTH),
                        root=root,
                        type=storage_type(root),
                        created_by_id=user,
                        description=description,
                        created_at=schema.utcnow(),
                    )
                )
        except SAIntegrityError:
            pass  # another thread or process registered it first
        with engine.connect() as conn:
            found = conn.execute(select(storages.c.id).where(storages.c.root == root)).scalar_one()
        instance.forget_storages()
    instance.storage_roots[int(found)] = root
    return int(found)


def _record_meta(instance: Instance) -> None:
    """Keep the instance's name, storage and id in its database (first writer wins each), and
    the id on ``instance``."""
    meta = schema.instance_meta
    wanted = {
        "name": instance.name,
        "storage": instance.config.storage,
        "instance_id": base62(INSTANCE_ID_LENGTH),
    }
    with instance.engine().connect() as conn:
        have = {str(k): str(v) for k, v in conn.execute(select(meta.c.key, meta.c.value))}
    missing = {k: v for k, v in wanted.items() if k not in have}
    if missing and not is_read_only(instance.url):
        check_writable(instance.url, "recording the instance's name")
        for key, value in missing.items():
            try:
                with instance.engine().begin() as conn:
                    conn.execute(meta.insert().values(key=key, value=value))
            except SAIntegrityError:
                pass  # another process recorded it first
        with instance.engine().connect() as conn:
            have = {str(k): str(v) for k, v in conn.execute(select(meta.c.key, meta.c.value))}
    instance.instance_id = have.get("instance_id")


def _discover(url: str, password: str | None) -> InstanceConfig | None:
    """A config for a database that holds an instance not yet known on this machine."""
    db_url, url_password = strip_password(url)
    probe = Instance(InstanceConfig(name="probe", storage="", db=db_url), password or url_password)
    upgrade_if_needed(probe.engine(), probe.name, create=False)
    meta = schema.instance_meta
    with probe.engine().connect() as conn:
        found = {str(k): str(v) for k, v in conn.execute(select(meta.c.key, meta.c.value))}
    if "name" not in found or "storage" not in found:
        return None
    config = InstanceConfig(name=found["name"], storage=found["storage"], db=db_url)
    config.write()
    return config


def connect(target: str, password: str | None = None) -> Instance:
    """Make an existing instance current, by name, storage root or database URL."""
    config = _resolve(target)
    if config is None and _is_db_url(target):
        config = _discover(target, password)
        password = password or strip_password(target)[1]
    if config is None:
        raise NotConnected(
            f"No instance matches '{target}'; list them with `labshelf info` "
            "or create one with ls.init(storage)."
        )
    instance = Instance(config, password)
    open_instance(instance, create=False)
    _set_current(instance, persist=True)
    return instance


def _resolve(target: str) -> InstanceConfig | None:
    target = str(target)
    by_name = find_config(target) if NAME_RE.match(target) else None
    if by_name is not None:
        return by_name
    configs = all_configs()
    if _is_db_url(target):
        wanted, _ = strip_password(target)
        return next((c for c in configs if c.db == wanted), None)
    try:
        root = normalize_storage(target)
    except InvalidArgument:
        return None
    found = next((c for c in configs if c.storage == root), None)
    if found is None and "://" not in root and (Path(root) / ".labshelf" / "labshelf.db").exists():
        name = default_name(root)
        found = InstanceConfig(name=name, storage=root, db=default_db(root, name))
        found.write()
    return found


def _is_db_url(target: str) -> bool:
    return "://" in target and not target.startswith(("s3://", "gs://", "gcs://", "file://"))


def _set_current(instance: Instance, *, persist: bool) -> None:
    global _current
    with _current_lock:
        _current = instance
    if persist:
        write_private(current_file(), instance.name)


def disconnect() -> None:
    """Forget the current instance in this process and close its connections."""
    global _current
    with _current_lock:
        _current = None
    dispose_all()


def current() -> Instance:
    """The current instance; loads it from ``LABSHELF_INSTANCE`` or the config dir."""
    global _current
    found = _current  # read once outside the lock; checked again inside it
    if found is not None:
        return found
    with _current_lock:
        if _current is not None:
            return _current
        name = current_name()
        if not name:
            raise NotConnected(
                "No labshelf instance is set up yet; create one with "
                "ls.init('path/to/folder') or `labshelf init --storage PATH`."
            )
        config = _resolve(name)
        if config is None:
            raise NotConnected(f"The instance '{name}' is not configured on this machine.")
        instance = Instance(config)
    open_instance(instance, create=False)
    with _current_lock:
        _current = instance
    return instance


def is_configured() -> bool:
    try:
        current()
    except NotConnected:
        return False
    return True


def storage_options_for(url: str) -> dict[str, Any]:
    """The current instance's options for a cloud URL ({} without an instance)."""
    try:
        return current().storage_options(url)
    except LabshelfError:
        return {}
