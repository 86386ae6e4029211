"""Issue 13, item 2: two catalogs on one storage.

A storage root records the catalog that manages it (``.labshelf/catalog.json``: the instance's
id and name and the kind of its database, never a secret). Two users running ``ls.init`` on one
bucket with their default SQLite each: the second init refuses with a sentence saying how to
reach the first catalog, creating nothing; with ``read_only_storage=True`` it registers the
bucket as storage it only reads (in-place files work, copies are refused, nothing is written
there). ``doctor --fix`` removes only what it can prove is its own leftover: never another
catalog's objects, not even where two catalogs share a root from before markers existed.
"""

from __future__ import annotations

import json
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect
from labshelf.storage.marker import MARKER_KEY

from .conftest import one_sentence, record


def _as_user(monkeypatch: pytest.MonkeyPatch, env: Path, who: str) -> None:
    """Another person on another computer: own config and data dirs (the default SQLite of a
    cloud storage lives in the data dir)."""
    disconnect()
    for var, sub in (("LABSHELF_CONFIG_DIR", "config"), ("LABSHELF_DATA_DIR", "data")):
        folder = env / who / sub
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(folder))
    monkeypatch.setenv("LABSHELF_USER", who)


def _files(tmp_path: Path, names: list[str]) -> list[Path]:
    out = []
    for name in names:
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}\n1\n")
        out.append(path)
    return out


def _labshelf_objects(root: str) -> list[str]:
    backend = current().backend(root)
    return sorted(name for name, _ in backend.objects())


@pytest.fixture(params=["s3", "gs"])
def bucket_root(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")
    return f"{request.param}://{server.create_bucket()}"


def test_a_second_catalog_on_a_bucket_is_refused_or_only_reads(
    bucket_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "people"
    kind = bucket_root.split("://")[0]
    try:
        _as_user(monkeypatch, env, "alice")
        ls.init(bucket_root)
        alice_id = current().instance_id
        saved = [ls.Artifact(str(p), key=f"a/{p.name}").save() for p in _files(tmp_path, ["1.csv"])]
        marker = json.loads(current().backend(bucket_root).read_bytes(MARKER_KEY))
        assert marker["instance_id"] == alice_id and marker["database"] == "sqlite"
        before = _labshelf_objects(bucket_root)

        _as_user(monkeypatch, env, "bob")
        with pytest.raises(ls.IntegrityError) as info:
            ls.init(bucket_root)
        message = str(info.value)
        assert "managed by another catalog" in message and alice_id in message, message
        assert "read_only_storage=True" in message and one_sentence(message), message
        assert not list((env / "bob").rglob("*.db")), "the refused init created a database"
        assert not list((env / "bob").rglob("*.json")), "the refused init wrote settings"

        # with the explicit option: a catalog that registers and reads, never writes there
        ls.init(bucket_root, read_only_storage=True)
        fs_root = current().backend(bucket_root)
        fs_root.fs.pipe_file(fs_root.fs_path("raw/x.csv"), b"x\n1\n")
        fs_root.fs.invalidate_cache()
        in_place = ls.Artifact(f"{bucket_root}/raw/x.csv").save()
        assert not in_place.key_is_virtual and in_place.load().shape == (1, 1)
        (copy,) = _files(tmp_path, ["bob.csv"])
        with pytest.raises(ls.StorageError, match="managed by another catalog") as refused:
            ls.Artifact(str(copy), key="b/bob.csv").save()
        assert one_sentence(str(refused.value))
        assert ls.Artifact.filter(key="b/bob.csv").count() == 0
        report = ls.doctor(fix=True, grace=0)
        assert not any(p.fixed for p in report.problems)
        assert any("managed by another catalog" in why for why in report.refused), str(report)
        assert _labshelf_objects(bucket_root) == before, "bob's catalog wrote or removed objects"

        _as_user(monkeypatch, env, "alice")
        ls.connect(bucket_root.split("://")[1])
        after = ls.doctor(fix=True, grace=0)
        assert after.ok, str(after)
        assert [a.load().shape for a in saved] == [(1, 1)]
    finally:
        disconnect()
    record(
        "second catalog on one bucket (default SQLite each)",
        kind,
        2,
        lost=0,
        dangling="0/0",
        clear_errors="init refused naming the catalog; read-only: copies refused, nothing written",
    )


@pytest.mark.parametrize("first", ["sqlite", "postgresql"])
def test_two_databases_on_one_folder(
    first: str, pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    pg_url = pg_server.create_database().url
    try:
        ls.init(str(root), db=pg_url if first == "postgresql" else None)
        marker = json.loads((root / MARKER_KEY).read_text())
        assert marker["database"] == first
        if first == "postgresql":
            assert marker["database_server"] and "@" not in marker["database_server"]
        else:
            assert marker["database_in_storage"] is True
        (a,) = _files(tmp_path, ["a.csv"])
        saved = ls.Artifact(str(a), key="a.csv").save()
        disconnect()
        second = None if first == "postgresql" else pg_server.create_database().url
        with pytest.raises(ls.IntegrityError) as info:
            ls.init(str(root), db=second, name="second")
        message = str(info.value)
        if first == "sqlite":
            assert f"ls.connect('{root}')" in message, message
        else:
            assert "ls.connect('postgresql+psycopg://" in message, message
            assert not (root / ".labshelf" / "labshelf.db").exists(), "a SQLite file was made"
        assert one_sentence(message)
        ls.connect(str(root) if first == "sqlite" else pg_url)
        assert ls.Artifact.get(saved.uid).load().shape == (1, 1)
    finally:
        disconnect()
    record(
        "second database on one storage folder",
        f"{first} first",
        1,
        lost=0,
        dangling="0/0",
        clear_errors="1/1 refused, saying how to connect",
    )


def test_doctor_never_removes_another_catalogs_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two catalogs on one folder from before markers existed (the marker removed): each one's
    doctor --fix sees the other's objects as objects without a row, and leaves them."""
    env = tmp_path / "people"
    root = tmp_path / "shared"
    try:
        _as_user(monkeypatch, env, "alice")
        ls.init(str(root), db=f"sqlite:///{tmp_path / 'alice.db'}")
        mine = [
            ls.Artifact(str(p), key=f"a/{p.name}").save()
            for p in _files(tmp_path, ["1.csv", "2.csv"])
        ]
        (root / MARKER_KEY).unlink()  # as a storage shared before labshelf wrote markers
        _as_user(monkeypatch, env, "bob")
        ls.init(str(root), db=f"sqlite:///{tmp_path / 'bob.db'}")
        (b,) = _files(tmp_path, ["bob.csv"])
        ls.Artifact(str(b), key="b/bob.csv").save()
        report = ls.doctor(fix=True, grace=0)
        orphans = report.of_kind("orphan")
        assert {p.key for p in orphans} == {f".labshelf/{a.uid}.csv" for a in mine}
        assert not any(p.fixed for p in report.problems) and report.refused
        assert all((root / ".labshelf" / f"{a.uid}.csv").exists() for a in mine)
    finally:
        disconnect()
    record(
        "doctor --fix with another catalog's objects in the folder",
        "sqlite",
        1,
        lost=0,
        dangling="0/2",
        clear_errors="2 objects without a row reported, none removed",
    )
