"""Odd files: names that are not UTF-8 or hold newlines, huge folders, a 5 GB sparse file,
symlinks that leave the folder."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.keys import suffix_of

from .conftest import audit, finish_worker, one_sentence, record, start_worker

MiB = 1024 * 1024


def _b64(d: bytes) -> str:
    return base64.urlsafe_b64encode(d).decode().rstrip("=")[:22]


def lamindb_file_hash(data: bytes) -> str:
    """LaminDB's hash of file bytes (written out independently of labshelf.hashing)."""
    if len(data) <= 50 * MiB:
        return _b64(hashlib.md5(data).digest())
    first, last = hashlib.sha1(data[: 50 * MiB]).digest(), hashlib.sha1(data[-50 * MiB :]).digest()
    return _b64(hashlib.sha1(first + last).digest())


def lamindb_folder_hash(contents: list[bytes]) -> str:
    digests = sorted(lamindb_file_hash(c) for c in contents)
    return _b64(hashlib.md5(b"".join(hashlib.md5(d.encode()).digest() for d in digests)).digest())


ODD_NAMES = [
    b"caf\xe9.txt",  # Latin-1, not UTF-8
    b"\xff\xfe raw bytes.csv",
    b"line\nbreak.txt",
    b"carriage\rreturn.txt",
    b"tab\tname.txt",
    b" leading space.txt",
    "ünïcödé 日本.txt".encode(),
    b"plain.txt",
]


def _odd_folder(base: Path) -> tuple[Path, list[bytes]]:
    folder = base / "odd"
    folder.mkdir()
    contents = []
    for n, name in enumerate(ODD_NAMES):
        data = f"content {n}\n".encode()
        with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
            fh.write(data)
        contents.append(data)
    return folder, contents


def test_folder_with_odd_names_is_copied(instance: Path, tmp_path: Path, backend: str) -> None:
    folder, contents = _odd_folder(tmp_path)
    a = ls.Artifact(folder, key="odd/folder").save()
    assert a.hash == lamindb_folder_hash(contents) and a.hash_type == "md5-d"
    assert a.n_objects == len(ODD_NAMES)
    stored = instance / ".labshelf" / a.uid
    names = sorted(os.listdir(os.fsencode(stored)))
    assert names == sorted(ODD_NAMES)
    state = audit(instance)
    state.assert_consistent()
    record(
        "folder with non-UTF-8 / newline names (copied)",
        backend,
        len(ODD_NAMES),
        lost=0,
        dangling=state.dangling,
        numbers=f"hash {a.hash} = LaminDB's md5-d; names kept byte for byte",
    )


def test_folder_with_odd_names_in_place(instance: Path, backend: str) -> None:
    """Inside the storage root: registered in place; the key is the folder's (UTF-8) name."""
    folder, contents = _odd_folder(instance)
    a = ls.Artifact(folder).save()
    assert a.key == "odd" and not a.key_is_virtual
    assert a.hash == lamindb_folder_hash(contents)


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda b: repr(b)[2:14])
def test_single_file_with_odd_name(instance: Path, tmp_path: Path, name: bytes) -> None:
    """A file with an odd name: copied (key given) and in place (key from the name) — a record
    or one clear error, never a raw encoding error."""
    path = os.path.join(os.fsencode(tmp_path), name)
    with open(path, "wb") as fh:
        fh.write(b"payload " + name)
    suffix = suffix_of(os.fsdecode(name))  # a key keeps the file's suffix
    a = ls.Artifact(os.fsdecode(path), key=f"odd/one{suffix}").save()
    assert a.hash == lamindb_file_hash(b"payload " + name)
    inside = os.path.join(os.fsencode(instance), name)
    with open(inside, "wb") as fh:
        fh.write(b"in place " + name)
    try:
        b = ls.Artifact(os.fsdecode(inside)).save()
    except ls.LabshelfError as exc:
        assert one_sentence(str(exc)), str(exc)
        # keys refuse names that are not UTF-8 and control characters (newline, tab, ESC…)
        assert not name.isascii() or any(c < 0x20 for c in name)
        return
    assert b.hash == lamindb_file_hash(b"in place " + name)
    assert ls.Artifact.get(b.uid).key == b.key


def test_upload_folder_with_odd_names(instance: Path, tmp_path: Path, backend: str) -> None:
    """ls.upload, one artifact per file: odd names fail alone (clear message), the rest upload."""
    folder, _ = _odd_folder(tmp_path)
    report = ls.upload([folder], key_prefix="up", as_folder=False)
    states = report.counts
    for item in report.failed:
        assert one_sentence(item.error), item.error
    done = [i for i in report.items if i.state == "done"]
    assert len(done) >= 3, str(report)  # the plain, unicode and space names at least
    state = audit(instance)
    state.assert_consistent()
    assert state.pending == 0
    record(
        "ls.upload of a folder with non-UTF-8 / newline names",
        backend,
        len(ODD_NAMES),
        lost=0,
        dangling=state.dangling,
        clear_errors=f"{len(report.failed)}/{len(report.failed)} failed items with one sentence",
        numbers=f"states {states}",
    )


def _rss_note(result: dict) -> str:
    return (
        f"{result['rss_before_kb'] / 1024:.0f} MB after imports; getrusage ru_maxrss "
        f"{result['ru_maxrss_kb'] / 1024:.0f} MB, which on Linux includes the forking parent's peak"
    )


def test_many_files(sqlite_instance: Path, tmp_path: Path, scale) -> None:
    n = scale(5_000, 100_000)
    folder = tmp_path / "many"
    for d in range(max(1, n // 1000)):
        (folder / f"d{d:03d}").mkdir(parents=True)
    t0 = time.monotonic()
    for i in range(n):
        (folder / f"d{i % max(1, n // 1000):03d}" / f"{i}.txt").write_text(f"{i}\n")
    made = time.monotonic() - t0
    result = finish_worker(start_worker("register", folder, "many/folder"), timeout=1800)
    assert result["n_objects"] == n
    contents = [f"{i}\n".encode() for i in range(n)]
    assert result["hash"] == lamindb_folder_hash(contents)
    peak_mb = result["rss_peak_kb"] / 1024
    state = audit(sqlite_instance, rehash=False)
    state.assert_consistent()
    record(
        f"folder of {n:,} files",
        "sqlite",
        1,
        lost=0,
        dangling=state.dangling,
        numbers=f"hash {result['hash_seconds']:.1f} s, hash+copy+record {result['seconds']:.1f} s, "
        f"peak RSS {peak_mb:.0f} MB ({_rss_note(result)}); "
        f"creating the files took {made:.1f} s",
    )
    assert peak_mb < 200 + n / 1000 * 2, f"peak RSS {peak_mb:.0f} MB"


def test_five_gb_sparse_file(sqlite_instance: Path) -> None:
    """sha1-fl over a 5 GB sparse file inside the storage root (registered in place, not copied):
    LaminDB's hash, constant memory."""
    size = 5 * 1024**3
    path = sqlite_instance / "huge.bin"
    head, tail = b"HEAD" * 1000, b"TAIL" * 1000
    with open(path, "wb") as fh:
        fh.write(head)
        fh.seek(size - len(tail))
        fh.write(tail)
    assert path.stat().st_size == size
    first = hashlib.sha1(head + bytes(50 * MiB - len(head))).digest()
    last = hashlib.sha1(bytes(50 * MiB - len(tail)) + tail).digest()
    expected = _b64(hashlib.sha1(first + last).digest())
    result = finish_worker(start_worker("register", path, "-"), timeout=600)
    assert result["hash"] == expected and result["hash_type"] == "sha1-fl"
    assert result["size"] == size
    peak_mb = result["rss_peak_kb"] / 1024
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"
    record(
        "5 GB sparse file (sha1-fl, in place)",
        "sqlite",
        1,
        lost=0,
        numbers=f"hash {result['hash_seconds']:.2f} s, peak RSS {peak_mb:.0f} MB "
        f"({_rss_note(result)})",
    )


def test_symlinks_leaving_the_folder(sqlite_instance: Path, tmp_path: Path, capfd) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside data\n")
    (outside / "dir").mkdir()
    (outside / "dir" / "x.txt").write_text("x\n")
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "own.txt").write_text("own\n")
    (folder / "inner.txt").symlink_to(folder / "own.txt")
    (folder / "escape.txt").symlink_to(outside / "secret.txt")
    (folder / "escape-dir").symlink_to(outside / "dir")
    capfd.readouterr()
    a = ls.Artifact(folder, key="links/default")
    err = capfd.readouterr().err
    assert a.n_objects == 2  # own.txt and the link to it inside the folder
    assert "escape.txt" in err and "not followed" in err, err
    assert "escape-dir" in err, err
    a.save()
    stored = sorted(p.name for p in (sqlite_instance / ".labshelf" / a.uid).rglob("*"))
    assert stored == ["inner.txt", "own.txt"]
    b = ls.Artifact(folder, key="links/followed", follow_symlinks=True)
    assert b.n_objects == 3
    b.save()
    # ls.upload says so too
    capfd.readouterr()
    report = ls.upload([folder], key_prefix="up", as_folder=False)
    err = capfd.readouterr().err
    uploaded = sorted(i.path.name for i in report.items)
    assert "escape.txt" not in uploaded
    said = "escape.txt" in err and "not followed" in err
    record(
        "symlinks leaving a folder",
        "sqlite",
        3,
        lost=0,
        clear_errors=f"Artifact(): said so; ls.upload per file: {'said so' if said else 'SILENT'}",
        numbers="skipped unless follow_symlinks=True; links inside the folder are followed",
    )
    assert said, f"ls.upload skipped a symlink without saying so: {err!r}"
