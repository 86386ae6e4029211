"""Instances: ``init``, ``connect``, ``settings``; config, data and cache dirs.

An instance is a database (SQLite by default, or PostgreSQL) plus a default
storage root. Its settings file lives in the user config dir
(``instances/<name>.json``) and never holds a secret: a database password is
kept in memory for the process only (use ``PGPASSWORD``/``~/.pgpass`` for later
processes) and cloud credentials come from each backend's own configuration.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidArgument, LabshelfError, NotConnected

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
CLOUD_SCHEMES = ("s3", "gs")
SECRET_OPTION_WORDS = ("secret", "password", "token", "credential", "key_id", "private")


def _env_dir(var: str, kind: str) -> Path:
    value = os.environ.get(var)
    if value:
        return Path(value)
    import platformdirs

    fn = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
    }[kind]
    return Path(fn("labshelf", appauthor=False))


def config_dir() -> Path:
    return _env_dir("LABSHELF_CONFIG_DIR", "config")


def data_dir() -> Path:
    return _env_dir("LABSHELF_DATA_DIR", "data")


def default_cache_dir() -> Path:
    return _env_dir("LABSHELF_CACHE_DIR", "cache")


def user_handle() -> str:
    handle = os.environ.get("LABSHELF_USER")
    if handle:
        return handle
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "anonymous"


@dataclass
class InstanceConfig:
    """What the settings file of one instance holds (no secrets)."""

    name: str
    storage: str
    db: str
    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_dir: str | None = None
    cache_max_bytes: int | None = None

    @property
    def path(self) -> Path:
        return config_dir() / "instances" / f"{self.name}.json"

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.path)

    @classmethod
    def read(cls, name: str) -> InstanceConfig:
        path = config_dir() / "instances" / f"{name}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotConnected(
                f"No instance named '{name}' is configured on this machine; "
                "create it with ls.init(storage) or `labshelf init --storage ...`."
            ) from None
        except (OSError, ValueError) as exc:
            raise LabshelfError(f"The settings file {path} cannot be read: {exc}") from exc
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def all_configs() -> list[InstanceConfig]:
    folder = config_dir() / "instances"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(InstanceConfig.read(path.stem))
        except LabshelfError:
            continue
    return out


def _current_file() -> Path:
    return config_dir() / "current_instance"


def check_storage_options(options: dict[str, Any]) -> dict[str, Any]:
    """Refuse credentials in storage options: they would land in a settings file.

    Nested options count too (``client_kwargs={"aws_secret_access_key": …}``)."""
    for key, value in options.items():
        if isinstance(value, dict):
            check_storage_options(value)
        if any(word in str(key).lower() for word in SECRET_OPTION_WORDS):
            raise InvalidArgument(
                f"The storage option '{key}' looks like a credential; labshelf never stores "
                "secrets in its settings: use the backend's own configuration "
                "(AWS profile or environment, Google application default credentials)."
            )
    return options


class Instance:
    """A live connection to one instance in this process."""

    def __init__(self, config: InstanceConfig, password: str | None = None):
        from sqlalchemy.engine import make_url

        self.config = config
        url = make_url(config.db)
        if password:
            url = url.set(password=password)
        self.url = url
        self._default_storage_id: int | None = None
        self.storage_roots: dict[int, str] = {}

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def session(self):  # -> sqlalchemy.orm.Session
        """This thread's home session (records live here; reads in autocommit mode)."""
        from .db import sessions_for

        return sessions_for(self.url)[0]()

    def writer(self):  # -> sqlalchemy.orm.Session
        """This thread's writer session (one short transaction at a time)."""
        from .db import sessions_for

        return sessions_for(self.url)[1]()

    def engine(self):
        from .db import engine_for

        return engine_for(self.url)

    def cache_dir(self) -> Path:
        return Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()


_current: Instance | None = None
_current_lock = threading.Lock()


def _strip_password(db: str) -> tuple[str, str | None]:
    from sqlalchemy.engine import URL, make_url

    try:
        url = make_url(db)
    except Exception as exc:
        raise InvalidArgument(
            "The database URL is not valid; expected e.g. postgresql+psycopg://user@host:5432/db."
        ) from exc
    password = url.password
    # URL.set(password=None) keeps the old value, so rebuild the URL without it
    bare = URL.create(
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    )
    return bare.render_as_string(hide_password=False), (str(password) if password else None)


def normalize_storage(storage: str | os.PathLike) -> str:
    """A canonical storage root: an absolute local path or ``s3://bucket[/prefix]``."""
    text = os.fspath(storage).strip()
    if not text:
        raise InvalidArgument(
            "The storage location is empty; give a folder or an s3:// or gs:// URL."
        )
    if "://" in text:
        scheme, rest = text.split("://", 1)
        scheme = scheme.lower()
        if scheme == "gcs":
            scheme = "gs"
        if scheme == "file":
            return str(Path(rest).expanduser().resolve())
        if scheme not in CLOUD_SCHEMES:
            raise InvalidArgument(
                f"The storage URL '{text}' has the unsupported scheme '{scheme}://'; "
                "use a local folder, s3:// or gs://."
            )
        rest = rest.strip("/")
        if not rest:
            raise InvalidArgument(f"The storage URL '{text}' names no bucket.")
        return f"{scheme}://{rest}"
    return str(Path(text).expanduser().resolve())


def _default_name(root: str) -> str:
    if "://" in root:
        name = root.split("://", 1)[1].split("/")[0]
    else:
        name = Path(root).name or "default"
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip("-.") or "default"
    return name[:100]


def _default_db(root: str, name: str) -> str:
    if "://" in root:
        path = data_dir() / "instances" / f"{name}.db"
    else:
        path = Path(root) / ".labshelf" / "labshelf.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def init(
    storage: str | os.PathLike,
    db: str | None = None,
    name: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Instance:
    """Create an instance (or reopen it, if it exists already) and make it current."""
    from .storage import ensure_root

    root = normalize_storage(storage)
    name = name or _default_name(root)
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f"The instance name '{name}' is not valid: use letters, digits, '.', '_' or '-'."
        )
    options = check_storage_options(dict(storage_options or {}))
    existing = _find_config(name)
    if existing is not None and existing.storage != root:
        raise InvalidArgument(
            f"An instance named '{name}' already exists with storage {existing.storage}; "
            "choose another name or connect to it."
        )
    ensure_root(root, options)
    db_url, password = _strip_password(db) if db else (_default_db(root, name), None)
    config = existing or InstanceConfig(name=name, storage=root, db=db_url)
    if db:
        config.db = db_url
    if options:
        config.storage_options[root] = options
    instance = Instance(config, password)
    _open(instance, create=True)
    config.write()
    _set_current(instance, persist=True)
    from .log import say

    say(f"instance '{name}' ready: storage {root}, database {settings.db}")
    return instance


def _find_config(name: str) -> InstanceConfig | None:
    try:
        return InstanceConfig.read(name)
    except NotConnected:
        return None


def _open(instance: Instance, *, create: bool) -> None:
    """Bring the schema up to date and make sure the default storage row exists."""
    from .context import ensure_default_storage
    from .migrations import upgrade_if_needed

    upgrade_if_needed(instance, create=create)
    instance._default_storage_id = ensure_default_storage(instance)
    _record_meta(instance)


def _record_meta(instance: Instance) -> None:
    """Keep the instance's name and storage in its database (first writer wins)."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError as SAIntegrityError

    from .models import InstanceMeta

    wanted = {"name": instance.name, "storage": instance.config.storage}
    with instance.engine().connect() as conn:
        have = set(conn.execute(select(InstanceMeta.key)).scalars())
    missing = [{"key": k, "value": v} for k, v in wanted.items() if k not in have]
    if not missing:
        return
    try:
        with instance.engine().begin() as conn:
            conn.execute(InstanceMeta.__table__.insert(), missing)
    except SAIntegrityError:
        pass  # another process recorded them first


def _discover(url: str, password: str | None) -> InstanceConfig | None:
    """A config for a database that holds an instance not yet known on this machine."""
    from sqlalchemy import select

    from .models import InstanceMeta

    db_url, url_password = _strip_password(url)
    probe = Instance(InstanceConfig(name="probe", storage="", db=db_url), password or url_password)
    from .migrations import upgrade_if_needed

    upgrade_if_needed(probe, create=False)
    with probe.engine().connect() as conn:
        meta = dict(conn.execute(select(InstanceMeta.key, InstanceMeta.value)).all())
    if "name" not in meta or "storage" not in meta:
        return None
    config = InstanceConfig(name=meta["name"], storage=meta["storage"], db=db_url)
    config.write()
    return config


def connect(target: str, password: str | None = None) -> Instance:
    """Make an existing instance current, by name, storage root or database URL."""
    config = _resolve(target)
    if config is None and _is_db_url(target):
        config = _discover(target, password)
        password = password or _strip_password(target)[1]
    if config is None:
        raise NotConnected(
            f"No instance matches '{target}'; list them with `labshelf info` "
            "or create one with ls.init(storage)."
        )
    instance = Instance(config, password)
    _open(instance, create=False)
    _set_current(instance, persist=True)
    return instance


def _resolve(target: str) -> InstanceConfig | None:
    target = str(target)
    by_name = _find_config(target) if NAME_RE.match(target) else None
    if by_name is not None:
        return by_name
    configs = all_configs()
    if _is_db_url(target):
        wanted, _ = _strip_password(target)
        return next((c for c in configs if c.db == wanted), None)
    try:
        root = normalize_storage(target)
    except InvalidArgument:
        return None
    found = next((c for c in configs if c.storage == root), None)
    if found is None and "://" not in root and (Path(root) / ".labshelf" / "labshelf.db").exists():
        found = InstanceConfig(name=_default_name(root), storage=root, db=_default_db(root, ""))
        found.write()
    return found


def _is_db_url(target: str) -> bool:
    return "://" in target and not target.startswith(("s3://", "gs://", "gcs://", "file://"))


def _set_current(instance: Instance, *, persist: bool) -> None:
    global _current
    with _current_lock:
        _current = instance
    if persist:
        path = _current_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(instance.name)


def disconnect() -> None:
    """Forget the current instance in this process and close its connections."""
    global _current
    from .db import dispose_all

    with _current_lock:
        _current = None
    dispose_all()


def current_name() -> str:
    """The name of the instance a new connection opens (``LABSHELF_INSTANCE``, else the one
    made current last); "" when none is. Cheap: reads no database."""
    name = os.environ.get("LABSHELF_INSTANCE")
    if name:
        return name
    try:
        return _current_file().read_text().strip()
    except FileNotFoundError:
        return ""


def current() -> Instance:
    """The current instance; loads it from ``LABSHELF_INSTANCE`` or the config dir."""
    global _current
    if _current is not None:
        return _current
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
    _open(instance, create=False)
    with _current_lock:
        _current = instance
    return instance


def is_configured() -> bool:
    try:
        current()
    except NotConnected:
        return False
    return True


class Settings:
    """``ls.settings``: the current instance's name, db, storage, cache dir and user."""

    @property
    def instance(self) -> str:
        return current().name

    @property
    def db(self) -> str:
        from .db import mask_url

        return mask_url(current().url)

    @property
    def storage(self):  # -> Storage
        from .context import default_storage

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
        from .db import mask_url

        return (
            f"Settings(instance={inst.name!r}, db={mask_url(inst.url)!r}, "
            f"storage={inst.config.storage!r}, cache_dir={str(inst.cache_dir())!r}, "
            f"user={user_handle()!r})"
        )


settings = Settings()
