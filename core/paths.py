"""``ls.UPath``: universal-pathlib paths for local, s3:// and gs:// locations, with
``view_tree()``."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from upath import UPath as _UPath
from upath.implementations.local import LocalPath

from .humanize import printable
from .instance import storage_options_for
from .storage.remote import split_url, with_defaults


def UPath(path: Any, **storage_options: Any) -> _UPath:  # noqa: N802 - mirrors the class name
    """A universal path; cloud options come from the instance settings when not given."""
    text = os.fspath(path) if not isinstance(path, str) else path
    if text.startswith(("s3://", "gs://", "gcs://")) and not storage_options:
        storage_options = with_defaults(split_url(text)[0], storage_options_for(text))
    return _UPath(text, **storage_options)


def view_tree(
    path: Any,
    level: int = 2,
    limit_to_directories: bool = False,
    length_limit: int = 60,
    print_it: bool = True,
) -> str:
    """A summary ("3 sub-directories & 151 files with suffixes '.jpg', '.csv'") and the tree."""
    root = path if isinstance(path, _UPath) else UPath(path)
    n_dirs, n_files, suffixes = 0, 0, Counter()
    lines: list[str] = []

    def walk(folder: Any, prefix: str, depth: int) -> None:
        nonlocal n_dirs, n_files
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        shown = 0
        for i, child in enumerate(children):
            is_dir = child.is_dir()
            if is_dir:
                n_dirs += 1
            else:
                n_files += 1
                suffixes[child.suffix or "(none)"] += 1
            if depth <= level and (is_dir or not limit_to_directories):
                if len(lines) < length_limit:
                    branch = "└── " if i == len(children) - 1 else "├── "
                    lines.append(f"{prefix}{branch}{printable(child.name)}{'/' if is_dir else ''}")
                    shown += 1
                elif len(lines) == length_limit:
                    lines.append(f"{prefix}... (more entries not shown)")
            if is_dir:
                walk(child, prefix + ("    " if i == len(children) - 1 else "│   "), depth + 1)

    walk(root, "", 1)
    listed = ", ".join(f"'{printable(s)}'" for s, _ in suffixes.most_common())
    summary = f"{n_dirs} sub-director{'y' if n_dirs == 1 else 'ies'} & {n_files} file{'s' if n_files != 1 else ''}"
    if suffixes:
        summary += f" with suffixes {listed}"
    text = "\n".join([summary, f"{printable(root.name or str(root))}/", *lines])
    if print_it:
        print(text)
    return text


# universal-pathlib makes its paths in a factory, so the method is added to its two public
# bases (cloud paths and local paths) once, here, rather than subclassing every implementation.
_UPath.view_tree = view_tree  # type: ignore[attr-defined]
LocalPath.view_tree = view_tree  # type: ignore[attr-defined]
