"""The scripting tutorial end to end, as a script and through the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.instance import disconnect

TUTORIAL = Path(__file__).parent / "scripts" / "tutorial.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A current instance (SQLite or PostgreSQL) that subprocesses connect to."""
    db = None
    if request.param == "postgresql":
        db = request.getfixturevalue("pg_server").create_database().url
    root = tmp_path / "store"
    ls.init(str(root), db=db)
    yield root
    disconnect()


def run(*argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_tutorial_script(storage: Path, tmp_path: Path) -> None:
    proc = run(str(TUTORIAL), str(tmp_path / "data"), str(tmp_path / "out"))
    assert (
        "3 sub-directories & 51 files with suffixes '.csv', '.jpg'" in proc.stdout
        or "3 sub-directories & 51 files with suffixes '.jpg', '.csv'" in proc.stdout
    )
    assert "Provenance" in proc.stdout and "(96, 96)" in proc.stdout

    collection = ls.Collection.get(name="Iris collection", is_latest=True)
    family = collection.versions.all()
    assert [c.version for c in family] == ["1", "2", "3"]
    assert [c.is_latest for c in family] == [False, False, True]
    studies = collection.artifacts.all()
    assert [a.key for a in studies] == [f"iris_studies/study{i}_raw_images" for i in range(3)]
    assert all(a.n_objects == 17 and a.hash_type == "md5-d" for a in studies)
    assert ls.Artifact.filter(key__startswith="iris_studies/images/").count() == 1

    run_ = collection.run
    assert run_.finished_at is not None
    assert run_.transform.type == "script" and run_.transform.key == "tests/e2e/scripts/tutorial.py"
    assert run_.transform.source_code == TUTORIAL.read_text()
    assert {"pandas", "pillow", "sqlalchemy"} <= {k.lower() for k in run_.environment}
    assert run_.outputs.count() == 4

    svg = (tmp_path / "out" / "lineage.svg").read_text()
    nodes = set(re.findall(r'class="node">\s*<title>([^<]+)</title>', svg))
    assert nodes == {collection.uid, run_.uid, *(a.uid for a in studies)}
    for text in (
        "Iris collection",
        "collection · v3",
        "iris_studies/study2_raw_images",
        "labshelf scripting tutorial",
    ):
        assert text in svg


def test_tutorial_through_the_cli(tmp_path: Path) -> None:
    """The same flow where the CLI has the commands: demo data, save, versions, queries."""

    def labshelf(*args: str) -> str:
        return run("-m", "labshelf.app.cli", *args).stdout

    ls.init(str(tmp_path / "store"))  # `labshelf init` itself is tested in test_cli
    disconnect()
    root = Path(labshelf("demo", str(tmp_path / "data")).strip())
    uids = [
        labshelf(
            "save",
            str(root / f"study{i}_raw_images"),
            "--key",
            f"iris_studies/study{i}_raw_images",
            "--description",
            f"Iris study {i}",
        ).split()[0]
        for i in range(3)
    ]
    image = sorted((root / "study0_raw_images").glob("*.jpg"))[0]
    labshelf("save", str(image), "--key", f"iris_studies/images/{image.name}")
    changed = tmp_path / "study0_v2"
    changed.mkdir()
    for f in (root / "study0_raw_images").iterdir():
        changed.joinpath(f.name).write_bytes(f.read_bytes())
    changed.joinpath("meta.csv").write_text("filename,species\n")
    v2 = labshelf("save", str(changed), "--revises", uids[0]).split()
    assert v2[0][:16] == uids[0][:16] and v2[-1] == "2"

    with ThreadPoolExecutor(max_workers=3) as pool:  # independent reads
        listed, described, cached = pool.map(
            lambda args: labshelf(*args),
            [
                ("ls", "--search", "study", "--filter", "is_latest=true"),
                ("describe", uids[1]),
                ("cache", uids[2]),
            ],
        )
    assert len(listed.splitlines()) == 4 and v2[0] in listed and uids[0] not in listed
    assert "Iris study 1" in described
    assert Path(cached.strip()).joinpath("meta.csv").exists()
    assert "loaded the iris studies" in labshelf("demo", str(tmp_path / "data"), "--load")
    again = run("-m", "labshelf.app.cli", "demo", str(tmp_path / "data"), "--load")
    assert "loaded already" in again.stderr
    with ThreadPoolExecutor(max_workers=2) as pool:
        collections, runs = pool.map(
            lambda args: labshelf(*args), [("ls", "collections"), ("ls", "runs")]
        )
    assert [line.split()[-4] for line in collections.splitlines()[1:]] == ["3", "2", "1"]
    assert runs.count("pipeline") == 2
    disconnect()
