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
    """A summary ("3 sub-directories & 151 files with suffixes '.jpg', '.csv'") and the tree.

    Symbolic links are listed as links (``name -> target``) and never followed, so a link to
    ``/`` or a ``self -> .`` loop is one line, not a walk of the file system."""
    root = path if isinstance(path, _UPath) else UPath(path)
    n_dirs, n_files, n_links, n_odd = 0, 0, 0, 0
    suffixes: Counter[str] = Counter()
    lines: list[str] = []

    def walk(folder: Any, prefix: str, depth: int) -> None:
        nonlocal n_dirs, n_files, n_links, n_odd
        try:
            children = _children(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        except PermissionError:
            lines.append(f"{prefix}└── (cannot be listed: permission denied)")
            return
        for i, (name, child, is_dir) in enumerate(children):
            link = None if child is None else _link_target(child)
            is_dir = is_dir and link is None
            if child is None:  # an object name that is no plain name: shown, never followed
                n_odd += 1
            elif link is not None:
                n_links += 1
            elif is_dir:
                n_dirs += 1
            else:
                n_files += 1
                suffixes[child.suffix or "(none)"] += 1
            if depth <= level and (is_dir or not limit_to_directories):
                if len(lines) < length_limit:
                    branch = "└── " if i == len(children) - 1 else "├── "
                    shown = printable(name) + ("/" if is_dir else "")
                    if child is None:
                        shown = f"'{shown}' (not a plain object name; not followed)"
                    elif link is not None:
                        shown += f" -> {printable(link)}"
                    lines.append(f"{prefix}{branch}{shown}")
                elif len(lines) == length_limit:
                    lines.append(f"{prefix}... (more entries not shown)")
            if is_dir:
                walk(child, prefix + ("    " if i == len(children) - 1 else "│   "), depth + 1)

    walk(root, "", 1)
    listed = ", ".join(f"'{printable(s)}'" for s, _ in suffixes.most_common())
    summary = f"{n_dirs} sub-director{'y' if n_dirs == 1 else 'ies'} & {n_files} file{'s' if n_files != 1 else ''}"
    if suffixes:
        summary += f" with suffixes {listed}"
    if n_links:
        summary += f" & {n_links} symbolic link{'s' if n_links != 1 else ''} (not followed)"
    if n_odd:
        summary += (
            f" & {n_odd} object name{'s' if n_odd != 1 else ''} that {'are' if n_odd != 1 else 'is'}"
            " no plain relative name (not followed)"
        )
    text = "\n".join([summary, f"{printable(root.name or str(root))}/", *lines])
    if print_it:
        print(text)
    return text


def _children(folder: Any) -> list[tuple[str, Any, bool]]:
    """``(name, path, is_dir)`` of a folder's entries, sorted by name. In a bucket an object
    name can be anything: a name that is empty (``a//b``), ``.``, ``..`` or holds a backslash
    comes with path None, so it is shown but never joined to a path or walked (``..`` would
    list the parent, an empty name the same folder again, forever)."""
    if getattr(folder, "protocol", "") in ("", "file", "local"):
        return sorted(((c.name, c, c.is_dir()) for c in folder.iterdir()), key=lambda c: c[0])
    fs, base = folder.fs, folder.path.rstrip("/")
    found: list[tuple[str, Any, bool]] = []
    for info in fs.ls(base, detail=True):
        full = str(info.get("name", ""))
        if not full.startswith(base + "/"):
            continue  # the folder itself
        is_dir = info.get("type") == "directory"
        name = full[len(base) + 1 :]
        if is_dir and name.endswith("/"):
            name = name[:-1]
        if name in ("", ".", "..") or "/" in name or "\\" in name:
            found.append((name, None, False))
        else:
            found.append((name, folder / name, is_dir))
    return sorted(found, key=lambda c: c[0])


def _link_target(path: Any) -> str | None:
    """Where a local symbolic link points (None for anything else, and for cloud paths)."""
    local = getattr(path, "path", None)
    if getattr(path, "protocol", "") not in ("", "file", "local") or not isinstance(local, str):
        return None
    try:
        return os.readlink(local) if os.path.islink(local) else None
    except OSError:
        return "?"


# universal-pathlib makes its paths in a factory, so the method is added to its two public
# bases (cloud paths and local paths) once, here, rather than subclassing every implementation.
_UPath.view_tree = view_tree  # type: ignore[attr-defined]
LocalPath.view_tree = view_tree  # type: ignore[attr-defined]
