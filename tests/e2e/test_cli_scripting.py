"""The CLI as scripts use it: multi-path save, --json documents, exit codes, progress only on
a terminal, shell completion, the runs CLI work is recorded under, cache of a cloud folder."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.app import cli
from labshelf.instance import InstanceConfig, disconnect


def labshelf(*args: str) -> subprocess.CompletedProcess:
    """``labshelf ARGS`` in a fresh interpreter (the test's isolated environment)."""
    return subprocess.run(
        [sys.executable, "-m", "labshelf.app.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(*args: str) -> str:
    proc = labshelf(*args)
    assert proc.returncode == 0, f"labshelf {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """A current SQLite instance named 'lab' (made in-process: faster than a subprocess)."""
    root = tmp_path / "store"
    ls.init(str(root), name="lab")
    disconnect()
    yield root
    disconnect()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two loose files and a folder of three."""
    folder = tmp_path / "data"
    (folder / "plate1").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "b.csv").write_text("x\n2\n")
    for i in range(3):
        (folder / "plate1" / f"well{i}.txt").write_text(f"well {i}")
    return folder


def as_json(*args: str) -> object:
    return json.loads(ok(*args, "--json"))


def test_save_many_paths_is_one_recorded_run(store: Path, data: Path) -> None:
    result = as_json(
        "save",
        str(data / "a.csv"),
        str(data / "b.csv"),
        str(data / "plate1"),
        "--key-prefix",
        "screen",
        "--description",
        "first plate",
    )
    assert result["counts"] == {"done": 3}
    assert [(i["key"], i["state"], i["version"]) for i in result["items"]] == [
        ("screen/a.csv", "done", "1"),
        ("screen/b.csv", "done", "1"),
        ("screen/plate1", "done", "1"),
    ]
    per_file = as_json("save", str(data / "plate1"), "--per-file", "--key-prefix", "wells")
    assert sorted(i["key"] for i in per_file["items"]) == [
        f"wells/plate1/well{i}.txt" for i in range(3)
    ]
    assert {i["state"] for i in per_file["items"]} == {"done"}
    again = as_json("save", str(data / "a.csv"), str(data / "b.csv"))
    assert again["counts"] == {"duplicate": 2}

    ls.connect("lab")
    folder = ls.Artifact.get(result["items"][2]["uid"])
    assert (folder.n_objects, folder.description) == (3, "first plate")
    run = ls.Run.get(result["run"])
    assert (run.transform.key, run.transform.type) == ("labshelf-cli", "upload")
    assert run.params["command"] == "save" and run.params["key_prefix"] == "screen"
    assert run.params["path"] == [str(data / n) for n in ("a.csv", "b.csv", "plate1")]
    assert run.finished_at is not None and folder.run.uid == run.uid
    assert ls.Transform.filter(key="labshelf-cli").count() == 1


def test_save_into_a_collection_and_with_a_key(store: Path, data: Path) -> None:
    result = as_json("save", str(data / "a.csv"), str(data / "b.csv"), "--collection", "screen")
    ls.connect("lab")
    collection = ls.Collection.get(result["collection"])
    assert collection.name == "screen" and collection.artifacts.count() == 2
    keyed = as_json("save", str(data / "plate1"), "--key", "plates/p1")
    assert keyed["items"][0]["key"] == "plates/p1"
    (data / "plate1" / "well3.txt").write_text("well 3")
    newer = as_json("save", str(data / "plate1"), "--revises", keyed["items"][0]["uid"][:10])
    assert (newer["items"][0]["key"], newer["items"][0]["version"]) == ("plates/p1", "2")


def test_exit_codes(store: Path, data: Path, tmp_path: Path) -> None:
    def code(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        proc = subprocess.run(
            [sys.executable, "-m", "labshelf.app.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
            check=False,
        )
        lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("→")]
        return proc.returncode, "\n".join(lines)

    uid = ok("save", str(data / "a.csv")).split()[0]
    assert code("save", str(data / "a.csv"), str(data / "b.csv"), "--key", "k")[0] == 2
    assert code("ls", "--limit", "many")[0] == 2  # argparse
    assert code("frobnicate")[0] == 2
    rc, line = code("describe", "zzzzzz")
    assert rc == 3 and line.startswith("labshelf: error: No record")
    rc, line = code("save", str(data / "a.csv"), str(tmp_path / "nope.csv"))
    assert rc == 3 and "nope.csv does not exist; nothing was saved" in line
    ok("delete", uid)
    rc, line = code("save", str(data / "a.csv"), str(data / "b.csv"))
    assert rc == 4 and f"error: {data / 'a.csv'}: The same content is in the trash" in line
    assert line.endswith("1 of 2 item(s) not saved")  # b.csv is saved all the same
    InstanceConfig(
        name="dead", storage=str(tmp_path / "dead"), db="postgresql+psycopg://u@127.0.0.1:9/x"
    ).write()
    rc, line = code("info", env={"LABSHELF_INSTANCE": "dead"})
    assert rc == 5 and "Connection refused" in line
    (store / ".labshelf" / f"{uid}.csv").unlink()  # doctor: a missing object is an error
    rc, _ = code("doctor", "--json")
    assert rc == 1


def test_json_documents(store: Path, data: Path, tmp_path: Path) -> None:
    uid = as_json("save", str(data / "plate1"))["items"][0]["uid"]
    info, described, listed, doctor, cached, migrated = (
        as_json("info"),
        as_json("describe", uid),
        as_json("ls"),
        as_json("doctor"),
        as_json("cache", uid),
        as_json("migrate"),
    )
    assert info["instance"] == "lab" and info["counts"]["artifact"] == 1
    assert set(info) == {
        "instance",
        "storage",
        "database",
        "cache",
        "user",
        "counts",
        "other_instances",
    }
    assert described["registry"] == "artifact" and described["uid"] == uid
    assert described["n_objects"] == 3 and listed[0]["uid"] == uid
    assert doctor == {"checked": 1, "ok": True, "problems": []}
    assert (cached["files"], cached["bytes"]) == (3, sum(len(f"well {i}") for i in range(3)))
    assert migrated["up_to_date"] is True
    demo = as_json("demo", str(tmp_path / "demo"))
    assert demo["collection"] is None and demo["path"].endswith("iris_studies")
    deleted = as_json("delete", uid)
    assert deleted == {"registry": "artifact", "uid": uid, "permanent": False}
    ls.connect("lab")
    assert ls.Run.filter(transform__key="labshelf-cli").count() == 2  # save and delete


def test_progress_only_on_a_terminal(store: Path, data: Path) -> None:
    stream = io.StringIO()
    bar = cli.ProgressBar("save", True, file=stream)
    bar.update(1, 4, 1024, 4096, force=True)
    bar.update(4, 4, 4096, 4096)
    bar.close()
    drawn = stream.getvalue()
    assert "4/4 files" in drawn and "4.00k/4.00k" in drawn.replace("KB", "k")
    proc = labshelf("save", str(data / "plate1"))  # piped: no bar, only the result
    assert proc.returncode == 0 and "files" not in proc.stderr and "|" not in proc.stderr
    quiet = labshelf("save", str(data / "a.csv"), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_progress_does_not_flood(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    bar = cli.ProgressBar("save", True, file=stream)
    draws = []
    monkeypatch.setattr(bar, "_draw", lambda *a: draws.append(a))
    start = time.monotonic()
    for i in range(20_000):
        bar.update(i, 20_000, i, 20_000)
    elapsed = time.monotonic() - start
    assert len(draws) <= 2 + elapsed / cli.PROGRESS_INTERVAL
    bar.close()


def test_cli_params_mask_passwords() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["init", "--storage", "/s", "--db", "postgresql://u:secret@h/db"])
    params = cli.cli_params(args)
    assert params["db"] == "postgresql://u:***@h/db" and "secret" not in json.dumps(params)
    assert params["command"] == "init"


def test_completion_scripts_and_uid_answers(store: Path, data: Path, tmp_path: Path) -> None:
    bash = ok("completion", "bash")
    script = tmp_path / "labshelf.bash"
    script.write_text(bash)
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "_labshelf_uids" in bash and "__complete-uids" in bash and "watch" in bash
    zsh = ok("completion", "zsh")
    assert zsh.startswith("#compdef labshelf") and "_labshelf_uids" in zsh
    uid = ok("save", str(data / "a.csv")).split()[0]
    assert ok("__complete-uids", uid[:3]).split() == [uid]
    assert ok("__complete-uids", "zzzz") == ""
    assert "__complete-uids" not in ok("--help")
    start = time.perf_counter()
    assert cli.complete_uids(uid[:2]) == [uid]
    assert time.perf_counter() - start < 0.1


def test_cache_downloads_a_cloud_folder_in_parallel(s3_server, tmp_path: Path) -> None:
    ls.init("s3://" + s3_server.create_bucket(), name="cloud")
    disconnect()
    folder = tmp_path / "tiles"
    folder.mkdir()
    for i in range(12):
        (folder / f"t{i:02}.bin").write_bytes(bytes([i]) * 1000)
    uid = as_json("save", str(folder))["items"][0]["uid"]
    cached = as_json("cache", uid)
    path = Path(cached["path"])
    assert (cached["files"], cached["bytes"]) == (12, 12_000)
    assert sorted(p.name for p in path.iterdir()) == [f"t{i:02}.bin" for i in range(12)]
    assert (path / "t05.bin").read_bytes() == bytes([5]) * 1000
