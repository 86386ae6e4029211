"""Issue 13, item 9: the storage root registered into itself.

Dropping the storage folder on the app (or ``ls.Artifact(root)``, ``ls.upload([root])``) copied
the whole store into itself with an external database, doubling it each time, and failed with a
misleading "changed while reading" with the default SQLite. The root itself, its ``.labshelf/``
folder and any folder holding the root are refused with one sentence, by every way in (one check
in core: ``ls.Artifact``, ``Artifact.from_dir``, ``ls.upload``, and the app's drop, which plans
through ``ls.upload``); nothing is stored. A folder inside the root is still registered in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current

from .conftest import one_sentence, record


def _stored(root: Path) -> list[str]:
    return sorted(
        p.name
        for p in (root / ".labshelf").iterdir()
        if not p.name.startswith(("labshelf.db", "catalog.json"))
    )


def test_the_store_is_never_registered_into_itself(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    from labshelf.app.gateway import plan_upload  # the app's drop plans through ls.upload

    (instance / "raw").mkdir()
    (instance / "raw" / "in-place.csv").write_text("x\n1\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text("a\n1\n")
    ls.Artifact(str(src / "a.csv"), key="a.csv").save()
    os.symlink(instance, tmp_path / "link-to-store")
    before, count = _stored(instance), ls.Artifact.filter().count()
    cases = {
        "the root": (instance, "itself"),
        "the root by a symlink": (tmp_path / "link-to-store", "itself"),
        "its .labshelf folder": (instance / ".labshelf", "own folder"),
        "a folder holding the root": (tmp_path, "contains the storage"),
    }
    messages = []
    for label, (path, says) in cases.items():
        for way, attempt in (
            ("Artifact", lambda p=path: ls.Artifact(str(p)).save()),
            ("from_dir", lambda p=path: ls.Artifact.from_dir(str(p))),
        ):
            with pytest.raises(ls.InvalidArgument) as info:
                attempt()
            message = str(info.value)
            assert says in message and one_sentence(message), (label, way, message)
            messages.append(message)
        report = ls.upload([str(path)])
        assert [i.state for i in report.items] == ["failed"], (label, str(report))
        assert says in report.items[0].error, (label, report.items[0].error)
        (planned,) = plan_upload([str(path)], None, True)
        assert planned["state"] == "failed" and says in planned["error"], (label, planned)
    assert _stored(instance) == before, "something was stored"
    assert ls.Artifact.filter().count() == count
    # inside the root, a folder is still registered in place
    inside = ls.Artifact(str(instance / "raw")).save()
    assert not inside.key_is_virtual and inside.key == "raw"
    record(
        "storage root registered into itself (root, symlink, .labshelf, parent)",
        backend,
        len(messages) + 2 * len(cases),
        lost=0,
        dangling="0/0",
        clear_errors=f"{len(messages) + 2 * len(cases)}/{len(messages) + 2 * len(cases)} refused "
        "with a sentence (Artifact, from_dir, upload, the app's plan)",
    )


@pytest.fixture(params=["s3", "gs"])
def bucket_instance(request: pytest.FixtureRequest):
    from labshelf.instance import disconnect

    server = request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")
    root = f"{request.param}://{server.create_bucket()}"
    ls.init(root)
    try:
        yield root
    finally:
        disconnect()


def test_a_bucket_root_is_never_registered_into_itself(bucket_instance: str) -> None:
    root = bucket_instance
    backend = current().backend(root)
    backend.fs.pipe_file(backend.fs_path("raw/x.csv"), b"x\n1\n")
    backend.fs.invalidate_cache()
    for url, says in (
        (root, "itself"),
        (f"{root}/", "itself"),
        (f"{root}/.labshelf", "own folder"),
    ):
        with pytest.raises(ls.InvalidArgument) as info:
            ls.Artifact(url)
        assert says in str(info.value) and one_sentence(str(info.value)), str(info.value)
    assert ls.Artifact.filter().count() == 0
    assert not ls.Artifact(f"{root}/raw").save().key_is_virtual
