"""Issue 13, item 15: a collection saved while another process permanently deleted one of its
artifacts names that artifact (not "FOREIGN KEY constraint failed"); odd database URLs raise one
sentence listing the supported schemes (never a driver's import error)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect

from .conftest import one_sentence, record, worker_env

SECRET = "pw-Zq81-secret"


def test_collection_save_names_a_member_deleted_meanwhile(
    instance: Path, tmp_path: Path, backend: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    members = []
    for name in ("a.csv", "b.csv", "c.csv"):
        (src / name).write_text(f"x\n{name}\n")
        members.append(ls.Artifact(str(src / name), key=f"set/{name}").save())
    pending = ls.Collection(members, name="trio")
    gone = members[1]
    code = f"import labshelf as ls; ls.Artifact.get({gone.uid!r}).delete(permanent=True)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=worker_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with pytest.raises(ls.IntegrityError) as info:
        pending.save()
    message = str(info.value)
    assert gone.uid in message and "set/b.csv" in message and "trio" in message, message
    assert "FOREIGN KEY" not in message.upper() and one_sentence(message)
    assert members[0].uid not in message
    assert ls.Collection.filter().count() == 0
    # without the deleted artifact it saves
    saved = ls.Collection([members[0], members[2]], name="trio").save()
    assert [a.uid for a in saved.artifacts] == [members[0].uid, members[2].uid]
    record(
        "collection saved after a member was deleted by another process",
        backend,
        1,
        lost=0,
        dangling="0/0",
        clear_errors="1/1 IntegrityError naming the artifact",
    )


BAD_URLS = [
    "postgresql+nodriver://u@127.0.0.1/db",
    "postgresql+psycopg2://u@127.0.0.1/db",
    "mysql://u@127.0.0.1/db",
    f"mysql+pymysql://u:{SECRET}@127.0.0.1/db",
    "oracle://u@127.0.0.1/db",
    "sqllite:///tmp/x.db",
    "sqlite:/tmp/x.db",
    "sqlite//tmp/x.db",
    "sqlite://",
    "sqlite:///:memory:",
    f"postgresql://u:{SECRET}@127.0.0.1:notaport/db",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_odd_database_urls_say_which_schemes_work(tmp_path: Path, url: str) -> None:
    try:
        with pytest.raises(ls.InvalidArgument) as info:
            ls.init(str(tmp_path / "store"), db=url)
        message = str(info.value)
        assert "sqlite:///" in message and "postgresql+psycopg://" in message, message
        assert SECRET not in message and one_sentence(message)
        if "://" in url:
            with pytest.raises(ls.LabshelfError) as again:
                ls.connect(url)
            assert SECRET not in str(again.value)
    finally:
        disconnect()


def test_postgresql_without_a_driver_and_relative_sqlite_paths_work(
    pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_server.create_database().url.replace("postgresql+psycopg://", "postgresql://")
    try:
        ls.init(str(tmp_path / "pg-store"), db=url)
        assert ls.settings.db.startswith("postgresql+psycopg://")
    finally:
        disconnect()
    monkeypatch.chdir(tmp_path)
    try:
        ls.init(str(tmp_path / "lite-store"), db="sqlite:///relative.db")
        assert current().config.db == f"sqlite:///{tmp_path / 'relative.db'}"
    finally:
        disconnect()
    record(
        "odd database URLs",
        "sqlite+postgresql",
        len(BAD_URLS),
        lost="-",
        dangling="-",
        clear_errors=f"{len(BAD_URLS)}/{len(BAD_URLS)} one sentence listing the schemes",
    )
