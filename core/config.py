"""Settings files and folders: the config, data and cache dirs, the user handle, and each
instance's settings file (``instances/<name>.json`` in the config dir), which never holds a
secret: a database password is kept in memory for the process only (use ``PGPASSWORD`` or
``~/.pgpass`` for later processes) and cloud credentials come from each backend's own
configuration. Storage options pass a whitelist of keys known to hold no secret. The files
labshelf writes in the config dir are private (0600, folders 0700), whatever the umask.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidArgument, LabshelfError, NotConnected
from .humanize import nfc
from .keys import CLOUD_SCHEMES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Storage options that hold no secret, and may therefore be kept in a settings file: a
# whitelist (a nested dict gives the allowed keys below an option). Anything else is refused.
_S3_CONFIG = {"addressing_style", "payload_signing_enabled", "use_accelerate_endpoint"}
SAFE_STORAGE_OPTIONS: dict[str, Any] = {
    "endpoint_url": True,
    "region": True,
    "region_name": True,
    "project": True,
    "anon": True,
    "requester_pays": True,
    "use_ssl": True,
    "version_aware": True,
    "cache_regions": True,
    "default_block_size": True,
    "default_fill_cache": True,
    "default_cache_type": True,
    "consistency": True,
    "access": True,
    "timeout": True,
    "requests_timeout": True,
    "fixed_upload_size": True,
    "max_concurrency": True,
    "skip_instance_cache": True,
    "use_listings_cache": True,
    "listings_expiry_time": True,
    "client_kwargs": {"region_name": True, "endpoint_url": True, "verify": True, "use_ssl": True},
    "config_kwargs": {
        "region_name": True,
        "signature_version": True,
        "connect_timeout": True,
        "read_timeout": True,
        "max_pool_connections": True,
        "retries": {"max_attempts": True, "total_max_attempts": True, "mode": True},
        "s3": dict.fromkeys(_S3_CONFIG, True),
    },
    "s3_additional_kwargs": dict.fromkeys(
        ("ServerSideEncryption", "SSEKMSKeyId", "ACL", "StorageClass", "RequestPayer"), True
    ),
}
# ``token`` names a way to find credentials, never a credential itself
SAFE_TOKENS = ("anon", "google_default", "cloud")
_URL_OPTIONS = ("endpoint_url",)

SETTINGS_FILE_MODE = 0o600
SETTINGS_DIR_MODE = 0o700


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
    """``LABSHELF_USER``, else the login name; in Unicode NFC (one user, whatever the OS)."""
    handle = os.environ.get("LABSHELF_USER")
    if not handle:
        try:
            handle = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name in some containers
            return "anonymous"
    return nfc(handle)


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
        write_private(self.path, json.dumps(asdict(self), indent=2))

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


def _private_dirs(folder: Path) -> None:
    """Create ``folder`` (and the config dir above it) readable by the owner only."""
    top = config_dir()
    chain = [folder, *folder.parents]
    mine = chain[: chain.index(top) + 1] if top in chain else [folder]
    for d in reversed(mine):
        d.mkdir(mode=SETTINGS_DIR_MODE, parents=True, exist_ok=True)
        if d.stat().st_mode & 0o077:
            d.chmod(SETTINGS_DIR_MODE)


def write_private(path: Path, text: str) -> None:
    """Write a file of the config dir atomically, readable by its owner only (0600; its
    folders 0700), whatever the umask."""
    _private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SETTINGS_FILE_MODE)
    try:
        os.fchmod(fd, SETTINGS_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def _refuse_option(path: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"The storage option '{path}' {why}, so labshelf does not store it: settings files "
        "hold no secrets, and credentials come from the backend's own configuration (AWS "
        "profile or environment, Google application default credentials)."
    )


def check_storage_options(
    options: dict[str, Any], _allowed: dict[str, Any] | None = None, _prefix: str = ""
) -> dict[str, Any]:
    """Keep only storage options known to hold no secret (``SAFE_STORAGE_OPTIONS``);
    anything else is refused with one sentence that never echoes a value."""
    allowed = SAFE_STORAGE_OPTIONS if _allowed is None else _allowed
    for key, value in options.items():
        path = f"{_prefix}{key}"
        rule = allowed.get(key) if isinstance(key, str) else None
        if path == "token":
            if value is None or value in SAFE_TOKENS:
                continue
            raise _refuse_option(
                path, f"is a credential unless it is one of {', '.join(SAFE_TOKENS)}"
            )
        if rule is None:
            raise _refuse_option(path, "is not one labshelf knows to be free of credentials")
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise _refuse_option(path, "must be a mapping of options")
            check_storage_options(value, rule, f"{path}.")
            continue
        if isinstance(value, dict | list | tuple | set):
            raise _refuse_option(path, "must be a single value")
        if key in _URL_OPTIONS and isinstance(value, str) and "@" in urlsplit(value).netloc:
            raise _refuse_option(path, "holds a user name or password in its URL")
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
