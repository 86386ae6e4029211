"""The change feed a live window follows: PostgreSQL LISTEN/NOTIFY (every write transaction
notifies), SQLite's data_version."""

from __future__ import annotations

import threading
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.db import ChangeFeed
from labshelf.instance import current


def test_a_write_elsewhere_is_heard_and_quiet_is_quiet(instance: Path, tmp_path: Path) -> None:
    feed = ChangeFeed(current().url)
    try:
        assert feed.wait(0.3) is False
        src = tmp_path / "a.txt"
        src.write_text("new content")
        saver = threading.Thread(target=lambda: ls.Artifact(src, key="a.txt").save())
        saver.start()
        assert feed.wait(10.0) is True
        saver.join()
        while feed.wait(0.3):  # the save's several transactions may be heard one by one
            pass
        assert feed.wait(0.3) is False
    finally:
        feed.close()


def test_a_lost_postgresql_connection_says_so(tmp_path: Path, pg_server) -> None:
    url = pg_server.create_database().url
    ls.init(str(tmp_path / "store"), db=url)
    feed = ChangeFeed(current().url)
    feed._pg.close()  # as if the server went away
    with pytest.raises(ls.LabshelfError, match="Lost the database's change feed"):
        feed.wait(0.2)
    from labshelf.instance import disconnect

    disconnect()
