"""Issue 13, item 8: a password in a URL's query is masked everywhere and never stored; the
files labshelf writes in the config dir are private (0600, folders 0700); storage options
pass through a whitelist of keys known to hold no secret (an S3 SSE-C key does not)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import current, disconnect

from .conftest import REPO, one_sentence, record, worker_env

PASSWORD = "Qp-s3cr3t-91ZxQUERY"
TOKEN = "sse-c-key-0123456789abcdef0123456789ab"


def _files_with(secret: str, *folders: Path) -> list[str]:
    needle = secret.encode()
    return [
        str(p)
        for f in folders
        if f.exists()
        for p in f.rglob("*")
        if p.is_file() and needle in p.read_bytes()
    ]


def test_password_in_the_url_query_is_masked_and_never_stored(
    pg_server, tmp_path: Path, capfd, grab_logs, _isolated_env: Path
) -> None:
    db = pg_server.create_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_server.port}/{db.name}?password={PASSWORD}"
    root = tmp_path / "store"
    seen: dict[str, str] = {}
    try:
        ls.init(str(root), db=url)
        src = tmp_path / "a.csv"
        src.write_text("x\n1\n")
        ls.Artifact(str(src), key="a.csv").save()
        seen["settings.db"] = ls.settings.db
        seen["repr(settings)"] = repr(ls.settings)
        seen["config.db"] = current().config.db
        disconnect()
        ls.connect(url)  # the same URL finds the instance again, password kept in memory only
        seen["settings.db after connect"] = ls.settings.db
        assert ls.Artifact.filter(key="a.csv").count() == 1
    finally:
        disconnect()
    out, err = capfd.readouterr()
    seen["init message and output"] = out + err
    seen["logs"] = "\n".join(grab_logs)
    cli = subprocess.run(
        [sys.executable, "-m", "labshelf.app.cli", "info"],
        cwd=REPO,
        env=worker_env(PGPASSWORD=PASSWORD),
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen["labshelf info"] = cli.stdout + cli.stderr
    leaked = [k for k, v in seen.items() if PASSWORD in v]
    assert not leaked, f"the password appears in: {leaked}"
    assert not _files_with(PASSWORD, _isolated_env, root), "the password is written to a file"
    assert "password=***" in seen["settings.db"] or "password" not in seen["settings.db"]
    assert "instance 'store' ready" in seen["logs"]  # the init message was checked
    record(
        "PostgreSQL password in the URL query",
        "postgresql",
        len(seen),
        lost="-",
        dangling="-",
        clear_errors=f"0 leaks in {len(seen)} outputs and the config/storage files",
    )


def test_other_secret_url_parameters_are_refused(pg_server, tmp_path: Path) -> None:
    db = pg_server.create_database()
    url = f"{db.url}?sslpassword={PASSWORD}"
    with pytest.raises(ls.InvalidArgument) as info:
        ls.init(str(tmp_path / "store"), db=url)
    disconnect()
    assert PASSWORD not in str(info.value) and "sslpassword" in str(info.value)
    assert one_sentence(str(info.value))


def test_masking_a_url_hides_every_password_like_part() -> None:
    from labshelf.db import mask_url

    url = f"postgresql+psycopg://u:{PASSWORD}@h/db?password={PASSWORD}&sslpassword=x&passfile=/p"
    masked = mask_url(url)
    assert PASSWORD not in masked and "sslpassword=***" in masked
    assert "passfile=%2Fp" in masked  # a path, not a secret


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_settings_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_env: Path
) -> None:
    config = _isolated_env / "fresh" / "labshelf-config"  # not there yet: labshelf makes it
    monkeypatch.setenv("LABSHELF_CONFIG_DIR", str(config))
    old_umask = os.umask(0o022)
    try:
        ls.init(str(tmp_path / "store"), storage_options={"anon": False})
        disconnect()
        ls.connect("store")  # writes current_instance again
        disconnect()
    finally:
        os.umask(old_umask)
    files = [p for p in config.rglob("*") if p.is_file()]
    dirs = [config, *(p for p in config.rglob("*") if p.is_dir())]
    assert {p.name for p in files} >= {"store.json", "current_instance"}
    assert {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}
    assert {str(p): oct(_mode(p)) for p in dirs if _mode(p) != 0o700} == {}
    # an existing, too open settings file becomes private when labshelf writes it again
    (config / "instances" / "store.json").chmod(0o644)
    ls.connect("store")
    disconnect()
    assert _mode(config / "current_instance") == 0o600
    ls.init(str(tmp_path / "store"))
    disconnect()
    assert _mode(config / "instances" / "store.json") == 0o600
    record(
        "settings files and folders private",
        "sqlite",
        len(files) + len(dirs),
        lost="-",
        dangling="-",
        clear_errors="files 0600, folders 0700 (umask 022)",
    )


@pytest.mark.parametrize(
    "options, refused",
    [
        (
            {"s3_additional_kwargs": {"SSECustomerKey": TOKEN, "SSECustomerAlgorithm": "AES256"}},
            True,
        ),
        ({"s3_additional_kwargs": {"ServerSideEncryption": "aws:kms"}}, False),
        ({"client_kwargs": {"region_name": "eu-west-1", "endpoint_url": "http://h:9000"}}, False),
        ({"client_kwargs": {"aws_session_token": TOKEN}}, True),
        ({"endpoint_url": f"http://minio:{TOKEN}@h:9000"}, True),
        ({"endpoint_url": "http://127.0.0.1:9000", "anon": True, "requester_pays": True}, False),
        (
            {"config_kwargs": {"retries": {"max_attempts": 3}, "s3": {"addressing_style": "path"}}},
            False,
        ),
        ({"config_kwargs": {"proxies": {"https": f"http://u:{TOKEN}@proxy"}}}, True),
        ({"token": "anon", "project": "lab"}, False),
        ({"token": TOKEN}, True),
        ({"sse_customer_key": TOKEN}, True),
        ({"some_future_option": TOKEN}, True),
    ],
    ids=[
        "sse-c-key",
        "sse-kms",
        "client-region-endpoint",
        "client-session-token",
        "endpoint-with-userinfo",
        "endpoint-anon-requester-pays",
        "config-retries-addressing",
        "config-proxy-with-password",
        "gcs-anon-token",
        "gcs-token-value",
        "top-level-sse-key",
        "unknown-option",
    ],
)
def test_storage_options_whitelist(
    tmp_path: Path, options: dict, refused: bool, capfd, grab_logs, _isolated_env: Path
) -> None:
    root = tmp_path / "store"
    try:
        if refused:
            with pytest.raises(ls.InvalidArgument) as info:
                ls.init(str(root), storage_options=options)
            message = str(info.value)
            assert TOKEN not in message and one_sentence(message)
            assert "credential" in message
        else:
            ls.init(str(root), storage_options=options)
            assert current().config.storage_options[str(root.resolve())] == options
    finally:
        disconnect()
    out, err = capfd.readouterr()
    assert TOKEN not in out + err + "\n".join(grab_logs)
    assert not _files_with(TOKEN, _isolated_env, root)
