"""The test servers and fixtures themselves work (fast; each server starts once per session)."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def test_isolated_env_points_away_from_home(_isolated_env: Path) -> None:
    for var in ("LABSHELF_CONFIG_DIR", "LABSHELF_DATA_DIR", "LABSHELF_CACHE_DIR", "HOME"):
        path = Path(os.environ[var])
        assert path.is_dir() and path.is_relative_to(_isolated_env)
    assert os.environ["LABSHELF_USER"] == "testuser"
    assert "LABSHELF_INSTANCE" not in os.environ
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"
    assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"


def test_postgres_select_and_pg_trgm(pg_server) -> None:
    import sqlalchemy as sa

    name, url = pg_server.create_database()
    assert url == pg_server.url(name)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            extensions = conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars().all()
            assert "pg_trgm" in extensions
            assert conn.execute(sa.text("SELECT similarity('iris', 'iris')")).scalar_one() == 1
    finally:
        engine.dispose()


def test_postgres_databases_are_fresh(pg_server) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    assert first.name != second.name


def test_postgres_stop_and_start_keep_data(pg_server) -> None:
    import psycopg

    name, _ = pg_server.create_database()
    with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    pg_server.stop()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_server.dsn(name), connect_timeout=2)
    finally:
        pg_server.start()
    with psycopg.connect(pg_server.dsn(name)) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)


def test_s3_put_and_get_through_s3fs(s3_server) -> None:
    import s3fs

    assert os.environ["AWS_ENDPOINT_URL"] == s3_server.endpoint
    bucket = s3_server.create_bucket()
    # No endpoint given: s3fs finds moto through AWS_ENDPOINT_URL, as core will.
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe(f"{bucket}/dir/hello.txt", b"hello s3")
    assert fs.cat(f"{bucket}/dir/hello.txt") == b"hello s3"
    assert fs.ls(f"{bucket}/dir") == [f"{bucket}/dir/hello.txt"]
    assert s3_server.create_bucket() != bucket


def test_gcs_put_and_get_through_gcsfs(gcs_server) -> None:
    import gcsfs

    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_server.endpoint
    bucket = gcs_server.create_bucket()
    # No endpoint given: gcsfs finds the emulator through STORAGE_EMULATOR_HOST.
    fs = gcsfs.GCSFileSystem(project="test", token="anon", skip_instance_cache=True)
    fs.pipe(f"{bucket}/dir/hello.txt", b"hello gcs")
    assert fs.cat(f"{bucket}/dir/hello.txt") == b"hello gcs"
    assert fs.ls(f"{bucket}/dir") == [f"{bucket}/dir/hello.txt"]


def _s3_via(url: str):
    """An s3fs client that gives up at once, so a cut line shows as an error, not a retry loop."""
    import s3fs

    fs = s3fs.S3FileSystem(
        endpoint_url=url,
        skip_instance_cache=True,
        use_listings_cache=False,
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2, "read_timeout": 2},
    )
    fs.retries = 1  # s3fs's own retry loop (a class attribute, not an argument)
    return fs


def test_proxy_cut_and_restore_between_s3fs_and_moto(s3_server, tcp_proxy) -> None:
    from botocore.exceptions import EndpointConnectionError

    bucket = s3_server.create_bucket()
    proxy = tcp_proxy(s3_server.port)
    fs = _s3_via(proxy.url)
    fs.pipe(f"{bucket}/a.txt", b"through the proxy")
    assert fs.cat(f"{bucket}/a.txt") == b"through the proxy"

    proxy.cut()
    started = time.monotonic()
    # s3fs lets botocore's connection errors through as they are (not as OSError).
    with pytest.raises((OSError, EndpointConnectionError)):
        fs.cat(f"{bucket}/a.txt")
    assert time.monotonic() - started < 5

    proxy.restore()
    assert fs.cat(f"{bucket}/a.txt") == b"through the proxy"


def test_proxy_cut_with_hang_times_out_and_recovers(s3_server, tcp_proxy) -> None:
    proxy = tcp_proxy(s3_server.port)
    assert urllib.request.urlopen(proxy.url, timeout=5).status == 200

    proxy.cut(hang=True)
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        urllib.request.urlopen(proxy.url, timeout=1)
    assert 0.9 < time.monotonic() - started < 5

    proxy.restore()
    assert urllib.request.urlopen(proxy.url, timeout=5).status == 200
