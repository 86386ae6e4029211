"""Bad input: one clear labshelf error each, and nothing written (no record, no object)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current
from sqlalchemy import text


def _nothing_written(root: Path) -> None:
    with current().engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM artifacts")).scalar() == 0
    leftovers = [
        p.name
        for p in (root / ".labshelf").iterdir()
        if p.name not in ("labshelf.db", "labshelf.db-wal", "labshelf.db-shm", "catalog.json")
    ]
    assert leftovers == []


def test_missing_path(instance: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ls.InvalidArgument, match=f"The path {tmp_path / 'nope.csv'} does not exist"
    ):
        ls.Artifact(str(tmp_path / "nope.csv"))
    _nothing_written(instance)


def test_file_given_as_folder(instance: Path, src: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="ends with '/' but is a file"):
        ls.Artifact(str(src / "a.txt") + "/")
    _nothing_written(instance)


def test_folder_where_a_file_is_expected(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "a.txt")).save()
    with pytest.raises(ls.InvalidArgument, match=f"Artifact {a.uid} is a file; .* is a folder"):
        a.replace(str(src / "study0"))
    assert ls.Artifact.filter().count() == 1


def test_file_where_a_folder_is_expected(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "study0")).save()
    with pytest.raises(ls.InvalidArgument, match=f"Artifact {a.uid} is a folder; .* is a file"):
        a.replace(str(src / "a.txt"))
    with pytest.raises(ls.InvalidArgument, match="is a folder; use .cache\\(\\)"):
        a.load()
    assert ls.Artifact.filter().count() == 1


def test_broken_symlink(instance: Path, tmp_path: Path) -> None:
    link = tmp_path / "dangling.csv"
    link.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(ls.InvalidArgument, match="points to .*gone.csv, which does not exist"):
        ls.Artifact(str(link))
    _nothing_written(instance)


def test_broken_symlink_inside_a_folder(instance: Path, src: Path) -> None:
    (src / "study0" / "bad").symlink_to(src / "missing")
    with pytest.raises(ls.InvalidArgument, match="which does not exist"):
        ls.Artifact(str(src / "study0"))
    _nothing_written(instance)


def test_symlink_loop_inside_a_folder(instance: Path, src: Path) -> None:
    (src / "study0" / "loop1").symlink_to(src / "study0" / "loop2")
    (src / "study0" / "loop2").symlink_to(src / "study0" / "loop1")
    with pytest.raises(ls.InvalidArgument, match="symlink loop"):
        ls.Artifact(str(src / "study0"))
    _nothing_written(instance)


def test_symlink_leaving_the_folder_is_not_followed(
    instance: Path, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret elsewhere")
    (src / "study0" / "escape.txt").symlink_to(outside)
    a = ls.Artifact(str(src / "study0")).save()
    assert a.n_objects == 3  # the link was skipped …
    assert "symlink leaving the folder, not followed" in capsys.readouterr().err  # … and we said so
    b = ls.Artifact(str(src / "study0"), follow_symlinks=True).save()
    assert b.n_objects == 4


def test_empty_folder(instance: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ls.InvalidArgument, match="contains no files"):
        ls.Artifact(str(tmp_path / "empty"))
    _nothing_written(instance)


def test_empty_files_are_artifacts_of_their_own(instance: Path, tmp_path: Path) -> None:
    """All empty files share one hash: each is registered on its own, not deduplicated."""
    (tmp_path / "zero.csv").touch()
    (tmp_path / "other.csv").touch()
    a = ls.Artifact(str(tmp_path / "zero.csv"), key="empty/zero.csv").save()
    b = ls.Artifact(str(tmp_path / "other.csv"), key="empty/other.csv").save()
    assert a != b and a.size == b.size == 0 and a.hash == b.hash
    assert ls.Artifact.filter(key__startswith="empty/").count() == 2
    assert a.cache().read_bytes() == b"" and a.load().empty


@pytest.mark.parametrize(
    "key, why",
    [
        ("../escape.csv", "'..'"),
        ("a/../../b", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a//b.csv", "empty path segment"),
        ("", "empty"),
        ("a\\b.csv", "backslash"),
    ],
)
def test_bad_keys(instance: Path, src: Path, key: str, why: str) -> None:
    with pytest.raises(ls.InvalidArgument, match=why):
        ls.Artifact(str(src / "a.txt"), key=key)
    _nothing_written(instance)


def test_bad_key_set_on_a_saved_record(instance: Path, src: Path) -> None:
    a = ls.Artifact(str(src / "a.txt"), key="ok.txt").save()
    a.key = "../../x"
    with pytest.raises(ls.InvalidArgument, match="'..'"):
        a.save()
    assert ls.Artifact.get(a.uid).key == "ok.txt"


def test_unknown_url_scheme(instance: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="unsupported scheme 'ftp://'"):
        ls.Artifact("ftp://example.org/data.csv")
    _nothing_written(instance)


def test_unknown_argument(instance: Path, src: Path) -> None:
    with pytest.raises(ls.InvalidArgument, match="unknown argument.*descripton"):
        ls.Artifact(str(src / "a.txt"), descripton="typo")


def test_unreadable_file(sqlite_instance: Path, tmp_path: Path) -> None:
    """Permission denied: as root, run with the capabilities that bypass file modes dropped."""
    secret = tmp_path / "locked.csv"
    secret.write_text("x,y\n")
    secret.chmod(0)
    code = (
        "import labshelf as ls\n"
        "try:\n"
        f"    ls.Artifact({str(secret)!r}).save()\n"
        "except ls.StorageError as e:\n"
        "    print('ERR', e)\n"
        "print('COUNT', ls.Artifact.filter().count())\n"
    )
    argv = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv is needed to drop root's file-permission override")
        caps = "-dac_override,-dac_read_search"
        argv = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, env=os.environ, timeout=60)
    assert f"ERR The file {secret} cannot be read: permission denied." in out.stdout, out.stderr
    assert "COUNT 0" in out.stdout
    _nothing_written(sqlite_instance)


def test_file_changing_during_save_is_refused(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "growing.csv"
    f.write_text("a,b\n1,2\n")
    a = ls.Artifact(str(f))
    f.write_text("a,b\n1,2\n3,4\n")  # the instrument appended a row after hashing
    with pytest.raises(
        ls.StorageError, match="changed while it was being copied|changed after it was hashed"
    ):
        a.save()
    _nothing_written(instance)
