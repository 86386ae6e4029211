"""S3 (moto_server) and GCS (gcp-storage-emulator) as default storage and as places to
register objects in place; bad cloud input fails fast with one clear sentence."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cloudtools as cloud
import labshelf as ls
import pytest
from labshelf.doctor import doctor
from labshelf.instance import disconnect


@pytest.fixture
def s3_root(s3_server) -> Iterator[str]:
    root = "s3://" + s3_server.create_bucket()
    ls.init(root)
    yield root
    disconnect()


@pytest.fixture
def gs_root(gcs_server) -> Iterator[str]:
    root = "gs://" + gcs_server.create_bucket()
    ls.init(root)
    yield root
    disconnect()


@pytest.fixture(params=["s3", "gs"])
def cloud_root(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_root")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "study0").mkdir(parents=True)
    for i, text in enumerate(["0", "0", "1"]):
        (folder / "study0" / f"{i}.txt").write_text(text)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "table.csv").write_text("x,y\n1,2\n3,4\n")
    return folder


def test_artifacts_on_cloud_default_storage(cloud_root: str, files: Path) -> None:
    a = ls.Artifact(files / "a.txt", key="letters/a.txt", description="one letter").save()
    assert (a.hash, a.hash_type, a.key_is_virtual) == ("DMF1ucDxtqgxw5niaXcmYQ", "md5", True)
    assert str(a.path) == f"{cloud_root}/.labshelf/{a.uid}.txt"
    assert a.path.read_bytes() == b"a"
    assert a.cache().read_bytes() == b"a"
    assert a.load() == "a"

    folder = ls.Artifact(files / "study0", key="study0").save()
    assert (folder.hash, folder.n_objects) == ("iGtHiFEBV3r1_TFovdQCgw", 3)
    assert sorted(p.name for p in folder.cache().iterdir()) == ["0.txt", "1.txt", "2.txt"]

    (files / "a.txt").write_bytes(b"b")
    a2 = ls.Artifact(files / "a.txt", key="letters/a.txt").save()
    assert a2.stem_uid == a.stem_uid and a2.is_latest
    assert [v.uid for v in a2.versions] == [a.uid, a2.uid]
    assert ls.Artifact.filter(key__startswith="letters/", is_latest=True).one().uid == a2.uid

    c = ls.Collection([a2, folder], name="both").save()
    assert [m.uid for m in c.artifacts] == [a2.uid, folder.uid]

    with pytest.raises(ls.IntegrityError, match="belongs to 1 collection"):
        a2.delete(permanent=True)  # the collection would no longer match its hash
    c.delete(permanent=True)
    a2.delete(permanent=True)
    assert not cloud.list_objects(f"{cloud_root}/.labshelf/{a2.uid}.txt")
    assert not doctor().problems


def test_register_cloud_objects_in_place(cloud_root: str, s3_server, files: Path) -> None:
    # objects in another bucket: the bucket becomes a storage, nothing is copied
    scheme = cloud_root.split("://")[0]
    other = _bucket(scheme, s3_server)
    fs = cloud.filesystem(f"{scheme}://{other}")
    for name, data in [("0.txt", b"0"), ("1.txt", b"0"), ("2.txt", b"1")]:
        fs.pipe_file(f"{other}/raw/study0/{name}", data)
    fs.pipe_file(f"{other}/raw/a.txt", b"a")
    fs.invalidate_cache()

    a = ls.Artifact(f"{scheme}://{other}/raw/a.txt").save()
    assert (a.hash, a.hash_type, a.key, a.key_is_virtual) == (
        "DMF1ucDxtqgxw5niaXcmYQ",
        "md5",
        "raw/a.txt",
        False,
    )
    assert ls.Storage.get(root=f"{scheme}://{other}").type == scheme
    folder = ls.Artifact(f"{scheme}://{other}/raw/study0").save()
    assert (folder.n_objects, folder.size, folder.hash_type) == (3, 3, "md5-d")
    assert str(folder.path) == f"{scheme}://{other}/raw/study0"
    assert sorted(p.name for p in folder.cache().iterdir()) == ["0.txt", "1.txt", "2.txt"]
    tree = ls.UPath(f"{scheme}://{other}/raw").view_tree(print_it=False)
    assert tree.startswith("1 sub-directory & 4 files with suffixes '.txt'")
    folder.delete(permanent=True)  # registered in place: the user's objects stay
    assert len(cloud.list_objects(f"{scheme}://{other}/raw/study0")) == 3


def _bucket(scheme: str, s3_server) -> str:
    if scheme == "s3":
        return s3_server.create_bucket()
    from services import unique_name

    name = unique_name("other")
    fs = cloud.filesystem(f"gs://{name}")
    fs.mkdir(name)
    fs.invalidate_cache()
    return name


def test_s3_etags_give_lamindb_hashes(s3_root: str) -> None:
    bucket = s3_root.split("://")[1]
    fs = cloud.filesystem(s3_root)
    fs.pipe_file(f"{bucket}/ext/big.bin", b"x" * (11 * 2**20), chunksize=5 * 2**20)
    facts = cloud.describe_cloud_source(f"{s3_root}/ext/big.bin")
    assert facts["hash_type"] == "md5-3" and len(facts["hash"]) == 22


def test_cache_refreshes_and_evicts(s3_root: str, files: Path) -> None:
    bucket = s3_root.split("://")[1]
    fs = cloud.filesystem(s3_root)
    fs.pipe_file(f"{bucket}/ext/t.txt", b"one")
    a = ls.Artifact(f"{s3_root}/ext/t.txt").save()
    path = a.cache()
    assert path == ls.settings.cache_dir / bucket / "ext" / "t.txt" and path.read_bytes() == b"one"
    time.sleep(1.1)  # S3 times have a resolution of one second
    fs.pipe_file(f"{bucket}/ext/t.txt", b"two!")
    fs.invalidate_cache()
    with pytest.raises(ls.StorageError, match="changed in the bucket after it was registered"):
        a.cache()  # the cache holds what was registered, or nothing
    a2 = ls.Artifact(f"{s3_root}/ext/t.txt").save()  # registered again: the next version
    assert a2.stem_uid == a.stem_uid and a2.cache().read_bytes() == b"two!"

    from labshelf.instance import current

    current().config.cache_max_bytes = 10
    b = ls.Artifact(files / "table.csv").save()
    b.cache()
    assert b.cache().exists() and not path.exists()  # the least recently used went


@pytest.mark.parametrize(
    "make_root,expected",
    [
        (lambda s3: "s3://no-such-bucket-here", "does not exist"),
        (lambda s3: "ftp://host/x", "unsupported scheme"),
    ],
)
def test_bad_cloud_input_fails_fast(s3_server, make_root: Callable, expected: str) -> None:
    started = time.monotonic()
    with pytest.raises(ls.LabshelfError, match=expected):
        ls.init(make_root(s3_server))
    assert time.monotonic() - started < 5
    assert not _configured()


def test_unreachable_endpoint_and_wrong_credentials(s3_server, monkeypatch, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ls.StorageError, match="cannot be reached"):
        ls.init("s3://anything", storage_options={"endpoint_url": f"http://127.0.0.1:{closed}"})
    assert time.monotonic() - started < 5

    from services import S3Server

    strict = S3Server({**_env(), "INITIAL_NO_AUTH_ACTION_COUNT": "0"}, tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(ls.StorageError, match="denied"):
            ls.init("s3://b", storage_options={"endpoint_url": strict.endpoint})
        assert time.monotonic() - started < 5
    finally:
        strict.close()
    assert not _configured()


def test_missing_credentials_say_how_to_set_them(s3_server, monkeypatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ls.StorageError) as caught:
        ls.init("s3://" + s3_server.create_bucket())
    message = str(caught.value)
    assert message.startswith("No credentials were found for the bucket")
    assert "~/.aws/credentials" in message and "AWS_ACCESS_KEY_ID" in message
    assert "Unable to locate credentials" not in message
    assert not _configured()


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _configured() -> bool:
    from labshelf.config import all_configs

    return bool(all_configs())


def test_bad_gcs_and_object_input(gcs_server, s3_root: str) -> None:
    started = time.monotonic()
    with pytest.raises(ls.StorageError, match="does not exist"):
        ls.init("gs://no-such-bucket-here", name="nope")
    with pytest.raises(ls.InvalidArgument, match="does not exist"):
        ls.Artifact(f"{s3_root}/no/such/key.csv")
    with pytest.raises(ls.InvalidArgument, match="unsupported scheme"):
        ls.Artifact("ftp://host/file.csv")
    assert time.monotonic() - started < 5
    assert ls.Artifact.filter().count() == 0
