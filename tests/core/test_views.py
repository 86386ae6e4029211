"""Read-only copies named after the key (`Artifact.read_only_copy`): what the app opens,
reveals and drags out, instead of labshelf's own stored object."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.storage.cache import evict
from labshelf.storage.views import VIEWS_DIR, prune, read_only_view


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_copied_file_opens_read_only_under_its_key(sqlite_instance: Path, tmp_path: Path) -> None:
    src = tmp_path / "counts.csv"
    src.write_text("well,n\nA1,3\n")
    art = ls.Artifact(src, key="plate/analysis/cell_counts.csv").save()
    view = art.read_only_copy()
    assert view.name == "cell_counts.csv"
    assert view.parts[-4:] == (art.uid, "plate", "analysis", "cell_counts.csv")
    assert view.read_text() == "well,n\nA1,3\n"
    assert (
        _mode(view) == 0o444 and _mode(view.parent) == 0o555 and _mode(view.parent.parent) == 0o555
    )
    stored = Path(art.cache())
    assert view.stat().st_ino == stored.stat().st_ino  # a hard link: no bytes copied
    assert art.read_only_copy() == view  # reused
    assert list((view.parents[2]).iterdir()) == [view.parents[2] / "plate"]  # only this file


def test_a_file_registered_in_place_is_copied_and_left_alone(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    mine = sqlite_instance / "mine" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("my own file")
    mine.chmod(0o644)
    art = ls.Artifact(mine).save()
    assert not art.key_is_virtual
    view = art.read_only_copy()
    assert view.read_text() == "my own file" and view.stat().st_ino != mine.stat().st_ino
    assert _mode(mine) == 0o644  # the user's file keeps its permissions
    assert view.name == "notes.txt" and view.parent.name == "mine"


def test_a_folder_view_and_a_changed_source(tmp_path: Path) -> None:
    source = tmp_path / "plate"
    (source / "raw").mkdir(parents=True)
    (source / "raw" / "a.tif").write_bytes(b"a")
    (source / "b.csv").write_text("x")
    views = tmp_path / VIEWS_DIR
    view = read_only_view(source, views / "uid1", "study/plate", link=False)
    assert sorted(p.relative_to(view).as_posix() for p in view.rglob("*") if p.is_file()) == [
        "b.csv",
        "raw/a.tif",
    ]
    assert _mode(view / "raw") == 0o555 and _mode(view / "raw" / "a.tif") == 0o444
    (source / "b.csv").write_text("changed")
    os.utime(source / "b.csv", (1, 1))
    again = read_only_view(source, views / "uid1", "study/plate", link=False)
    assert (again / "b.csv").read_text() == "changed"


def test_views_are_pruned_oldest_first_and_eviction_leaves_them(tmp_path: Path) -> None:
    src = tmp_path / "x.txt"
    src.write_text("x" * 100)
    views = tmp_path / "cache" / VIEWS_DIR
    made = [read_only_view(src, views / f"u{i}", "x.txt", link=False) for i in range(4)]
    for i, view in enumerate(made):
        os.utime(view.parent, (i, i))
    assert prune(views, kept=2) == 2
    assert sorted(p.name for p in views.iterdir()) == ["u2", "u3"]
    assert evict(tmp_path / "cache", max_bytes=0) == 0  # not the download cache's files


def test_keys_must_stay_below_the_view(tmp_path: Path) -> None:
    src = tmp_path / "x.txt"
    src.write_text("x")
    with pytest.raises(ls.InvalidArgument, match="plain relative path"):
        read_only_view(src, tmp_path / "v", "../escape.txt", link=False)
