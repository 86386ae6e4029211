"""Local sources: checking a path the user asked to register and walking a folder's files.

Symlinks to files inside a folder are followed; symlinks that leave it are skipped (and
reported) unless asked; symlinked folders are never followed; broken links and loops are
errors; operating-system clutter (``.DS_Store``, ``._x``, ``Thumbs.db``) is skipped on request.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InvalidArgument, StorageError
from ..filekinds import is_os_junk
from .base import LocalFile

OS_CLUTTER = "operating-system clutter"  # how a skipped junk file is noted: "<path> (<this>)"


def _describe_symlink_problem(path: Path) -> str | None:
    try:
        path.stat()
    except FileNotFoundError:
        return f"The symlink {path} points to {os.readlink(path)}, which does not exist."
    except RuntimeError:
        return f"The symlink {path} is part of a symlink loop."
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return f"The symlink {path} is part of a symlink loop."
        return f"The symlink {path} cannot be followed: {exc.strerror}."
    return None


def check_local_source(path: Path) -> os.stat_result:
    """stat() of a local path the user asked to register, or one clear error."""
    if path.is_symlink():
        problem = _describe_symlink_problem(path)
        if problem:
            raise InvalidArgument(problem)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidArgument(f"The path {path} does not exist.") from None
    except PermissionError:
        raise StorageError(f"The path {path} cannot be accessed: permission denied.") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InvalidArgument(f"The path {path} is neither a regular file nor a folder.")
    return st


def walk_folder(
    folder: Path, *, follow_outside_symlinks: bool = False, skip_junk: bool = False
) -> tuple[list[LocalFile], list[str]]:
    """All files below ``folder`` sorted by relative path, and the notes to tell the user.

    Symlinks to files inside the folder are followed; symlinks that leave it are
    skipped (and reported) unless asked; broken symlinks and loops are errors.
    ``skip_junk`` leaves out operating-system clutter (imports do; ``ls.Artifact(folder)``
    hashes every file, as LaminDB does).
    """
    files: list[LocalFile] = []
    skipped: list[str] = []
    root_real = folder.resolve()
    stack = [(str(folder), "")]  # (folder, its path relative to the walked one + "/")
    while stack:
        current_dir, prefix = stack.pop()
        try:
            entries = list(os.scandir(current_dir))
        except PermissionError:
            raise StorageError(
                f"The folder {current_dir} cannot be read: permission denied."
            ) from None
        for entry in entries:  # plain strings: a folder may hold 10^5 files and more
            if skip_junk and is_os_junk(entry.name):
                skipped.append(f"{entry.path} ({OS_CLUTTER})")
                continue
            if entry.is_symlink():
                path = Path(entry.path)
                problem = _describe_symlink_problem(path)
                if problem:
                    raise InvalidArgument(problem)
                target = path.resolve()
                inside = target == root_real or root_real in target.parents
                if target.is_dir():
                    skipped.append(f"{path} (symlink to a folder, not followed)")
                    continue
                if not inside and not follow_outside_symlinks:
                    skipped.append(f"{path} (symlink leaving the folder, not followed)")
                    continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{prefix}{entry.name}/"))
                continue
            st = entry.stat()  # follows a symlink to a file inside the folder
            if not stat.S_ISREG(st.st_mode):
                skipped.append(f"{entry.path} (not a regular file)")
                continue
            files.append(LocalFile(entry.path, prefix + entry.name, st.st_size))
    files.sort(key=lambda f: f.rel)
    return files, skipped
