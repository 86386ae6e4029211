"""Issue 13, item 1: names read from a cloud listing, and a listing changed after registration.

An object name in a bucket can be anything: ``../../x``, ``/abs/path`` (``data//abs/path``),
``a\\b``. Anyone who can write to the bucket could make ``.cache()`` write outside the cache
directory, and ``view_tree`` list the parent (``..``) or the folder again (an empty name). Every
name read from a listing is checked: registering a folder holding such a name, and caching a
registered folder that got one later, are refused with one sentence naming the object, and
nothing is written outside the cache; ``view_tree`` shows the name escaped, never follows it,
and finishes. A folder's cache holds exactly what was registered: a listing changed after
registration (other content of the same size, an extra or a missing file) raises
``StorageError``, also when an older copy is in the cache already.

S3 (moto) stores such names as given. The GCS emulator refuses or cleans them on upload (real
GCS keeps them), so on GCS the listing the server returns is given the hostile names at the
JSON API layer of gcsfs (``_call_list_objects``): the code under test sees exactly what a real
GCS listing would return.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect

from .conftest import one_sentence, record

# kind -> (object name below the folder, what it would reach from <cache>/<bucket>/data)
HOSTILE = {
    "dotdot": "../../../escape.txt",
    "absolute": "/{tmp}/abs.txt",
    "backslash": "sub\\..\\..\\..\\..\\escape2.txt",
}


class Bucket:
    def __init__(self, kind: str, server: Any, root: str, mp: pytest.MonkeyPatch) -> None:
        self.kind, self.server, self.root, self.mp = kind, server, root, mp
        self.name = root.split("://", 1)[1]
        self.fake: list[str] = []  # GCS: hostile names the listing returns

    def put(self, key: str, data: bytes) -> None:
        """Write an object under exactly this name (no client-side path cleaning)."""
        if self.kind == "gs" and ("\\" in key or any(p in ("", "..") for p in key.split("/"))):
            self._fake_listing(key)  # the emulator would clean or refuse the name
            return
        if self.kind == "s3":
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=self.server.endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            client.put_object(Bucket=self.name, Key=key, Body=data)
        else:
            self.server.filesystem().pipe_file(f"{self.name}/{key}", data)
        self.refresh()

    def remove(self, key: str) -> None:
        backend = current().backend(self.root)
        backend.fs.rm_file(backend.fs_path(key))
        self.refresh()

    def refresh(self) -> None:
        current().backend(self.root).fs.invalidate_cache()
        ls.UPath(self.root).fs.invalidate_cache()

    def _fake_listing(self, key: str) -> None:
        import gcsfs

        if not self.fake:
            original = gcsfs.GCSFileSystem._call_list_objects
            fake = self.fake

            async def listing(fs: Any, bucket: str, **kwargs: Any) -> dict[str, Any]:
                page = await original(fs, bucket, **kwargs)
                prefix, delimiter = kwargs.get("prefix") or "", kwargs.get("delimiter")
                items = page.get("items") or []
                if kwargs.get("pageToken") or not items:
                    return page
                for name in fake:
                    if not name.startswith(prefix):
                        continue
                    rest = name[len(prefix) :]
                    if delimiter and delimiter in rest:
                        pre = prefix + rest[: rest.index(delimiter) + 1]
                        page.setdefault("prefixes", [])
                        if pre not in page["prefixes"]:
                            page["prefixes"].append(pre)
                    else:
                        item = copy.deepcopy(items[0])
                        item["name"] = name
                        items.append(item)
                page["items"] = items
                return page

            self.mp.setattr(gcsfs.GCSFileSystem, "_call_list_objects", listing)
        self.fake.append(key)
        self.refresh()


@pytest.fixture(params=["s3", "gs"])
def bucket(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bucket]:
    server = request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")
    root = f"{request.param}://{server.create_bucket()}"
    ls.init(root)
    current().config.cache_dir = str(tmp_path / "cache")
    try:
        yield Bucket(request.param, server, root, monkeypatch)
    finally:
        disconnect()


def _refused(attempt: Any, shown: str) -> str:
    with pytest.raises((ls.InvalidArgument, ls.StorageError)) as info:
        attempt()
    message = str(info.value)
    assert one_sentence(message) and shown in message, message
    return message


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_hostile_object_names_are_refused(bucket: Bucket, tmp_path: Path, hostile: str) -> None:
    rel = HOSTILE[hostile].format(tmp=str(tmp_path).strip("/"))
    outside = [tmp_path / "escape.txt", tmp_path / "abs.txt", tmp_path / "escape2.txt"]
    bucket.put("data/a.csv", b"a\n1\n")
    registered = ls.Artifact(f"{bucket.root}/data").save()
    count = ls.Artifact.filter().count()
    # a name added after registration: caching is refused, naming it
    bucket.put(f"data/{rel}", b"evil")
    _refused(registered.cache, rel)
    # a folder holding such a name is not registered
    bucket.put("fresh/b.csv", b"b\n2\n")
    bucket.put(f"fresh/{rel}", b"evil")
    _refused(lambda: ls.Artifact(f"{bucket.root}/fresh").save(), rel)
    assert ls.Artifact.filter().count() == count
    assert not [p for p in outside if p.exists()], "a file was written outside the cache"
    # view_tree shows the name escaped, does not follow it, and finishes
    tree = ls.UPath(f"{bucket.root}/data").view_tree(level=6, print_it=False)
    lines = tree.splitlines()
    assert tree.count("a.csv") == 1 and len(lines) <= 5, tree  # ".." not walked, "" not again
    for line in lines[2:]:
        if "escape" in line or "abs.txt" in line or ".." in line:
            assert "not a plain object name; not followed" in line, tree
    if bucket.kind == "s3":  # gcsfs itself drops an empty folder name ("data//") from ls
        assert "not a plain object name" in tree, tree
    record(
        f"cloud object named {hostile!r}: cache, register, view_tree",
        bucket.kind,
        3,
        lost=0,
        dangling="0/0",
        clear_errors="2/2 refused with a sentence naming the object; 0 files outside the cache",
    )


def test_cache_holds_exactly_what_was_registered(bucket: Bucket) -> None:
    bucket.put("data/a.csv", b"a\n1\n")
    bucket.put("data/sub/b.csv", b"b\n2\n")
    art = ls.Artifact(f"{bucket.root}/data").save()
    local = Path(art.cache())
    (local / "stray.txt").write_text("not registered")
    local = Path(art.cache())
    files = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert files == ["a.csv", "sub/b.csv"], files
    changes = {
        "other content, same size": lambda: bucket.put("data/a.csv", b"a\n9\n"),
        "an extra file": lambda: bucket.put("data/c.csv", b"c\n"),
        "a missing file": lambda: bucket.remove("data/sub/b.csv"),
    }
    undo = {
        "other content, same size": lambda: bucket.put("data/a.csv", b"a\n1\n"),
        "an extra file": lambda: bucket.remove("data/c.csv"),
        "a missing file": lambda: bucket.put("data/sub/b.csv", b"b\n2\n"),
    }
    for label, change in changes.items():
        change()
        with pytest.raises(ls.StorageError) as info:
            art.cache()
        assert one_sentence(str(info.value)) and "registered" in str(info.value), (label, info)
        undo[label]()
    assert (Path(art.cache()) / "a.csv").read_bytes() == b"a\n1\n"
    record(
        "cloud folder changed after registration (content, extra, missing)",
        bucket.kind,
        len(changes),
        lost=0,
        dangling="0/0",
        clear_errors=f"{len(changes)}/{len(changes)} StorageError; cache = registered files",
    )
