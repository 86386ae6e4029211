"""Settings files and folders: the config, data and cache dirs, the user handle, and each
instance's settings file (``instances/<name>.json`` in the config dir), which never holds a
secret: a database password is kept in memory for the process only (use ``PGPASSWORD`` or
``~/.pgpass`` for later processes) and cloud credentials come from each backend's own
configuration.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidArgument, LabshelfError, NotConnected
from .keys import CLOUD_SCHEMES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SECRET_OPTION_WORDS = ("secret", "password", "token", "credential", "key_id", "private")


def _env_dir(var: str, kind: str) -> Path:
    value = os.environ.get(var)
    if value:
        return Path(value)
    import platformdirs  # deferred: only when no LABSHELF_*_DIR is set

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

    def options_for(self, url: str) -> dict[str, Any]:
        """The storage options of the longest configured root that holds ``url``."""
        matches = [
            root
            for root in self.storage_options
            if url == root or url.startswith(root.rstrip("/") + "/")
        ]
        return dict(self.storage_options[max(matches, key=len)]) if matches else {}


def find_config(name: str) -> InstanceConfig | None:
    try:
        return InstanceConfig.read(name)
    except NotConnected:
        return None


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


def current_file() -> Path:
    """Where the name of this machine's current instance is kept."""
    return config_dir() / "current_instance"


def current_name() -> str:
    """The name of the instance a new connection opens (``LABSHELF_INSTANCE``, else the one
    made current last); "" when none is. Cheap: reads no database."""
    name = os.environ.get("LABSHELF_INSTANCE")
    if name:
        return name
    try:
        return current_file().read_text().strip()
    except FileNotFoundError:
        return ""


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


def normalize_storage(storage: str | os.PathLike[str]) -> str:
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


def default_name(root: str) -> str:
    """An instance name from a storage root: the folder or bucket name."""
    if "://" in root:
        name = root.split("://", 1)[1].split("/")[0]
    else:
        name = Path(root).name or "default"
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip("-.") or "default"
    return name[:100]


def default_db(root: str, name: str) -> str:
    """The SQLite URL an instance gets when no database is given."""
    if "://" in root:
        path = data_dir() / "instances" / f"{name}.db"
    else:
        path = Path(root) / ".labshelf" / "labshelf.db"
    return f"sqlite:///{path}"
