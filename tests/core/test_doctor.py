"""doctor: re-hashes stored objects, lists missing/corrupt ones, pending rows, leftovers and
orphans; fix removes (past the grace period) only what it can prove is its own: pending rows
with their objects, and temporary objects and incomplete uploads named after one of its rows.
An orphan, or a leftover no row names, is reported and left alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cloudtools as cloud
import labshelf as ls
import pytest
from labshelf import artifact as art
from labshelf.doctor import doctor
from labshelf.instance import disconnect


@pytest.fixture
def local_root(tmp_path: Path) -> Iterator[str]:
    ls.init(str(tmp_path / "store"))
    yield str(tmp_path / "store")
    disconnect()


@pytest.fixture
def s3_root(s3_server) -> Iterator[str]:
    root = "s3://" + s3_server.create_bucket()
    ls.init(root)
    yield root
    disconnect()


def _inputs(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "folder").mkdir(parents=True)
    for name, text in [
        ("a.txt", "aaaa"),
        ("b.txt", "bbbb"),
        ("c.txt", "cccc"),
        ("folder/x.txt", "x"),
    ]:
        (src / name).write_text(text)
    return src


def _crash_after_pending(path: Path) -> ls.Artifact:
    """What a save killed between its pending row and its object leaves behind."""
    obj = ls.Artifact(path)
    art.insert_pending([obj])
    return obj


def test_doctor_local(local_root: str, tmp_path: Path) -> None:
    src = _inputs(tmp_path)
    a, b, c = (ls.Artifact(src / n).save() for n in ("a.txt", "b.txt", "c.txt"))
    ls.Artifact(src / "folder").save()
    assert doctor().ok and "all match" in str(doctor())
    assert ls.doctor().ok  # the export works although labshelf.doctor (the module) is imported

    Path(str(b.path)).write_text("BBBB")  # same size, other bytes
    Path(str(c.path)).unlink()
    objects = Path(local_root) / ".labshelf"
    (objects / ".tmp-a.txt-1234abcd").write_text("partial")
    (objects / f"{'Z' * 20}.txt").write_text("nobody's")
    (src / "d.txt").write_text("dddd")
    pending = _crash_after_pending(src / "d.txt")
    ours = objects / f".tmp-{pending.uid}.txt-5678abcd"
    ours.write_text("partial copy of d")

    report = doctor()
    assert {p.kind for p in report.problems} == {
        "corrupt",
        "missing",
        "leftover",
        "orphan",
        "pending",
    }
    assert report.of_kind("corrupt")[0].uid == b.uid and report.of_kind("missing")[0].uid == c.uid
    assert report.of_kind("pending")[0].uid == pending.uid
    assert "--fix" in str(report) and report.checked == 4

    kept = doctor(fix=True)  # within the grace period: nothing is removed
    assert not any(p.fixed for p in kept.problems)
    fixed = doctor(fix=True, grace=0)
    assert {p.key for p in fixed.problems if p.fixed} == {
        f".labshelf/{ours.name}",
        f".labshelf/{pending.uid}.txt",
    }
    assert not ours.exists()
    # nobody's: reported, never removed, and the report says why
    assert (objects / ".tmp-a.txt-1234abcd").exists() and (objects / f"{'Z' * 20}.txt").exists()
    assert fixed.refused and "named by no row of this catalog" in fixed.refused[0]
    after = doctor()
    assert {p.kind for p in after.problems} == {"corrupt", "missing", "leftover", "orphan"}
    assert not any(p.fixable for p in after.problems)
    assert ls.Artifact.filter(uid=a.uid).exists()


def test_doctor_s3(s3_root: str, tmp_path: Path) -> None:
    src = _inputs(tmp_path)
    report = ls.upload([src / "a.txt", src / "b.txt", src / "folder"])
    assert report.ok
    a, b, _folder = report.artifacts
    with pytest.raises(ls.InvalidArgument, match="labshelf's own folder"):
        ls.Artifact(f"{s3_root}/{str(a.path).split('/', 3)[3]}")  # an object of labshelf's
    bucket = s3_root.split("://")[1]
    fs = cloud.filesystem(s3_root)
    fs.pipe_file(f"{bucket}/.labshelf/{b.uid}.txt", b"BBBB")
    (src / "d.txt").write_text("dddd")
    pending = _crash_after_pending(src / "d.txt")
    fs.pipe_file(f"{bucket}/.labshelf/.tmp-{pending.uid}.txt-1234abcd/part", b"partial")
    fs.call_s3("create_multipart_upload", Bucket=bucket, Key=f".labshelf/{pending.uid}.txt")
    fs.pipe_file(f"{bucket}/.labshelf/.tmp-x-1234abcd/part", b"nobody's")
    fs.call_s3("create_multipart_upload", Bucket=bucket, Key=f".labshelf/{'Y' * 20}.bin")
    fs.invalidate_cache()
    assert doctor().checked == 3

    found = doctor()
    assert {p.kind for p in found.problems} == {"corrupt", "leftover", "pending"}
    assert found.of_kind("corrupt")[0].uid == b.uid and len(found.of_kind("leftover")) == 4
    assert sum(p.fixable for p in found.of_kind("leftover")) == 2
    doctor(fix=True, grace=0)
    left = doctor()
    assert {p.kind for p in left.problems} == {"corrupt", "leftover"}
    assert {p.key for p in left.of_kind("leftover")} == {
        ".labshelf/.tmp-x-1234abcd",
        f".labshelf/{'Y' * 20}.bin",
    }
    assert [u["Key"] for u in cloud.incomplete_uploads(s3_root)] == [f".labshelf/{'Y' * 20}.bin"]


def test_doctor_reports_an_unreachable_storage_once(s3_server, tcp_proxy, tmp_path: Path) -> None:
    import time

    proxy = tcp_proxy(s3_server.port)
    ls.init("s3://" + s3_server.create_bucket(), storage_options={"endpoint_url": proxy.url})
    try:
        assert ls.upload(list(_inputs(tmp_path).glob("*.txt"))).ok
        proxy.cut()
        started = time.monotonic()
        report = doctor()
        assert time.monotonic() - started < 5
        assert [p.kind for p in report.problems] == ["unreachable"] and report.checked == 0
        assert "not checked" in str(report)
    finally:
        disconnect()
