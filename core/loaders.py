"""``load()``: turn a cached object into a Python object by its suffix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InvalidArgument

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
TEXT_SUFFIXES = {
    ".txt",
    ".md",
    ".py",
    ".r",
    ".log",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".fasta",
    ".fa",
    ".sh",
}


def load_path(path: Path, suffix: str, *, uid: str = "", **kwargs: Any) -> Any:
    suffix = suffix.lower()
    if path.is_dir():
        raise InvalidArgument(
            f"Artifact {uid} is a folder; use .cache() for its local path or load its files one by one."
        )
    if suffix in IMAGE_SUFFIXES or suffix in {".ome.tif", ".ome.tiff"}:
        from PIL import Image

        img = Image.open(path)
        img.load()
        return img
    if suffix in (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt.gz"):
        import pandas as pd

        sep = "\t" if suffix.startswith(".tsv") else ","
        return pd.read_csv(path, sep=kwargs.pop("sep", sep), **kwargs)
    if suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path, **kwargs)
    if suffix == ".json":
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    if suffix in TEXT_SUFFIXES:
        return path.read_text(encoding=kwargs.get("encoding", "utf-8"))
    raise InvalidArgument(
        f"labshelf cannot load '{suffix or 'suffix-less'}' files of artifact {uid}; "
        "use .cache() to get a local path and open it with the right tool."
    )
