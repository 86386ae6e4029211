"""What kind of file a suffix names (image, table, text, …) and which files are OS clutter.

One list for the whole program: ``load()``, the app's previews and thumbnails, and every
import (drops, ``ls.upload``, watch folders) read it from here.
"""

from __future__ import annotations

import fnmatch
import re

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".ome.tif", ".ome.tiff", ".bmp", ".gif", ".webp"}
)
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet"})
JSON_SUFFIXES = frozenset({".json"})
TEXT_SUFFIXES = frozenset(
    {
        ".txt", ".md", ".log", ".py", ".r", ".sh", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".xml", ".html", ".fasta", ".fa", ".fastq", ".sam", ".vcf", ".bed", ".gff", ".ipynb",
    }
)  # fmt: skip

# Files operating systems and file managers leave in folders: never data (skipped on import).
OS_JUNK_PATTERNS = (".DS_Store", "._*", "Thumbs.db", "ehthumbs.db", "desktop.ini", ".directory",
                    ".Spotlight-V100", ".Trashes", ".fseventsd", "$RECYCLE.BIN")  # fmt: skip


def kind_of(suffix: str) -> str:
    """ "image", "table", "json", "text" or "other" for a suffix such as ".csv"."""
    suffix = suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return "other"


# the patterns as one expression: ``fnmatchcase`` of each, in one match (a folder walk asks
# this of every file)
_OS_JUNK = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in OS_JUNK_PATTERNS))


def is_os_junk(name: str) -> bool:
    """Whether a file or folder name is operating-system clutter (``.DS_Store``, ``._x``, …)."""
    return _OS_JUNK.match(name) is not None
