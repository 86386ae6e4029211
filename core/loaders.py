"""``load()``: turn a cached object into a Python object by its suffix (images →
``PIL.Image``, tables → ``pandas.DataFrame``, JSON → object, text → str). A file that cannot
be read as its suffix promises (truncated, corrupt, wrong encoding) raises one
``LabshelfError`` naming the artifact, never a raw Pillow, pandas or json error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InvalidArgument, LabshelfError
from .filekinds import IMAGE_SUFFIXES, TEXT_SUFFIXES


def load_path(path: Path, suffix: str, *, uid: str = "", **kwargs: Any) -> Any:
    suffix = suffix.lower()
    what = f"artifact {uid}" if uid else str(path)
    if path.is_dir():
        raise InvalidArgument(
            f"Artifact {uid} is a folder; use .cache() for its local path or load its files "
            "one by one."
        )
    if not _loadable(suffix):
        raise InvalidArgument(
            f"labshelf cannot load '{suffix or 'suffix-less'}' files of {what}; "
            "use .cache() to get a local path and open it with the right tool."
        )
    try:
        return _load(path, suffix, kwargs)
    except (LabshelfError, TypeError):
        raise  # a bad keyword argument is the caller's (TypeError names it)
    except MemoryError:
        raise LabshelfError(f"{what} ({path.name}) is too large to load into memory.") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LabshelfError(
            f"{what} ({path.name}) cannot be read as a '{suffix}' file: {first}. The file may "
            "be truncated or corrupt; `labshelf doctor` checks it against its record."
        ) from exc


TABLES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt.gz")


def _loadable(suffix: str) -> bool:
    return (
        suffix in IMAGE_SUFFIXES
        or suffix in TABLES
        or suffix in (".parquet", ".json")
        or (suffix in TEXT_SUFFIXES)
    )


def _load(path: Path, suffix: str, kwargs: dict[str, Any]) -> Any:
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image  # deferred: Pillow loads only for images

        img = Image.open(path)
        img.load()
        return img
    if suffix in TABLES:
        import pandas as pd  # deferred: pandas costs ~200 ms to import

        if path.stat().st_size == 0:
            return pd.DataFrame()  # an empty table file: no rows, no columns
        sep = "\t" if suffix.startswith(".tsv") else ","
        return pd.read_csv(path, sep=kwargs.pop("sep", sep), **kwargs)
    if suffix == ".parquet":
        import pandas as pd  # deferred: as above

        return pd.read_parquet(path, **kwargs)
    if suffix == ".json":
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return path.read_text(encoding=kwargs.get("encoding", "utf-8"))
