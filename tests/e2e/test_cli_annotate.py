"""The CLI's labels and features (issue 17): `label add|rm|ls|new|delete`, `feature
set|rm|ls|new|history|delete`, `ls --label --feature`, `annotate TABLE --on COLUMN [--dry-run]`,
`save --label`; --json documents, exit codes, and the runs the work is recorded under.

Commands run in this process (`cli.main`), except one end-to-end call through a fresh
interpreter, to keep the file fast."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.app import cli
from labshelf.instance import disconnect


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "store"
    ls.init(str(root), name="lab")
    yield root
    disconnect()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "plate1"
    folder.mkdir()
    for name in ("a.tif", "b.tif", "c.tif"):
        (folder / name).write_bytes(name.encode() * 20)
    return folder


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_labels_from_the_command_line(store: Path, images: Path, capsys) -> None:
    saved = as_json(capsys, "save", str(images), "--per-file", "--label", "DAPI", "--label", "p1")
    uids = [i["uid"] for i in saved["items"]]
    assert len(uids) == 3
    assert {x.name for x in ls.Artifact.get(uids[0]).ulabels} == {"DAPI", "p1"}
    assert len(as_json(capsys, "ls", "--label", "DAPI", "--label", "p1")) == 3
    code, _, err = run(capsys, "label", "add", uids[0], "GFP", "--type", "Stain")
    assert code == 2 and "labshelf label new Stain --is-type" in err
    as_json(capsys, "label", "new", "Stain", "--is-type")
    labels = as_json(capsys, "label", "add", uids[0], "GFP", "--type", "Stain")
    assert {(x["type"], x["name"]) for x in labels["labels"]} == {
        (None, "DAPI"),
        (None, "p1"),
        ("Stain", "GFP"),
    }
    as_json(capsys, "label", "rm", uids[1], "DAPI")
    tree = {n["name"]: n for n in as_json(capsys, "label", "ls")}
    assert tree["DAPI"]["count"] == 2 and tree["Stain"]["count"] == 1
    assert [c["name"] for c in tree["Stain"]["children"]] == ["GFP"]
    assert [n["name"] for n in as_json(capsys, "label", "ls", "--type", "Stain")] == ["GFP"]
    code, out, _ = run(capsys, "label", "ls")
    assert code == 0 and "Stain  1" in out and "  GFP  1" in out
    code, _, err = run(capsys, "label", "delete", "DAPI")
    assert code == 4 and "is on 2 artifacts" in err and "--force" in err
    assert as_json(capsys, "label", "delete", "DAPI", "--force")["deleted"]
    assert ls.ULabel.filter(name="DAPI").count() == 0
    cli_runs = ls.Run.filter(transform__key=cli.CLI_TRANSFORM_KEY)
    commands = [r.params["command"] for r in cli_runs.order_by("started_at")]
    assert commands == ["save", "label", "label", "label", "label"]  # not the refused ones


def test_typed_labels_by_path_in_save_add_and_ls(store: Path, images: Path, capsys) -> None:
    """`Stain/GFP`, as `label ls` shows a typed label, names the label GFP of type Stain in
    `save --label`, `label add` and `ls --label` (combined with feature conditions)."""
    as_json(capsys, "label", "new", "Stain", "--is-type")
    saved = as_json(capsys, "save", str(images), "--per-file", "--label", "Stain/GFP")
    uids = [i["uid"] for i in saved["items"]]
    gfp = ls.ULabel.get(name="GFP")
    assert gfp.type.name == "Stain" and ls.ULabel.filter(name="Stain/GFP").count() == 0
    as_json(capsys, "label", "add", uids[0], "Stain/DAPI")
    as_json(capsys, "feature", "new", "plate", "int")
    for uid, plate in zip(uids, (1, 2, 3), strict=True):
        as_json(capsys, "feature", "set", uid, f"plate={plate}")
    found = as_json(capsys, "ls", "--label", "Stain/GFP", "--feature", "plate__gte=2")
    assert sorted(r["uid"] for r in found) == sorted(uids[1:])
    found = as_json(capsys, "ls", "--label", "Stain/GFP", "--label", "Stain/DAPI")
    assert [r["uid"] for r in found] == [uids[0]]
    code, _, err = run(capsys, "ls", "--label", "Stain/Cy5")
    assert code == 2 and "no label 'Stain/Cy5'" in err


def test_features_from_the_command_line(store: Path, images: Path, capsys) -> None:
    uid = as_json(capsys, "save", str(images / "a.tif"))["items"][0]["uid"]
    other = as_json(capsys, "save", str(images / "b.tif"))["items"][0]["uid"]
    code, _, err = run(capsys, "feature", "set", uid, "temperature=37.5")
    assert code == 2 and "labshelf feature new temperature DTYPE" in err and "--create" in err
    as_json(capsys, "feature", "new", "temperature", "float", "--unit", "°C")
    code, _, err = run(capsys, "feature", "set", uid, "temperature=37 °C")
    assert code == 2 and err.strip() == (
        "labshelf: error: The value '37 °C' of feature 'temperature' is not a float."
    )
    values = as_json(
        capsys, "feature", "set", uid, "temperature=37.5", "stain=DAPI", "stain=GFP", "--create"
    )
    assert values["features"] == {
        "stain": {"value": ["DAPI", "GFP"], "dtype": "cat", "unit": None},
        "temperature": {"value": 37.5, "dtype": "float", "unit": "°C"},
    }
    as_json(capsys, "feature", "set", other, "temperature=25", "plate=3", "--create")
    assert ls.Feature.get(name="plate").dtype == "int"
    found = as_json(capsys, "ls", "--feature", "temperature__gte=30", "--feature", "stain=GFP")
    assert [r["uid"] for r in found] == [uid]
    found = as_json(capsys, "ls", "--filter", "temperature__range=20,30")  # features are lookups
    assert [r["uid"] for r in found] == [other]
    listed = {f["name"]: f for f in as_json(capsys, "feature", "ls")}
    assert listed["temperature"]["count"] == 2 and listed["plate"]["dtype"] == "int"
    assert as_json(capsys, "feature", "rm", uid, "stain=GFP")["features"]["stain"] == {
        "value": "DAPI",
        "dtype": "cat",
        "unit": None,
    }
    history = as_json(capsys, "feature", "history", uid)
    assert [(h["action"], h["feature"], h["value"]) for h in history][-1] == (
        "remove",
        "stain",
        "GFP",
    )
    assert all(h["run"] for h in history) and all(h["user"] == "testuser" for h in history)
    code, out, _ = run(capsys, "describe", uid)
    assert "Labels & features" in out and ".temperature = 37.5 °C (float)" in out
    code, _, err = run(capsys, "feature", "delete", "plate")
    assert code == 4 and "has values on 1 artifact" in err
    assert as_json(capsys, "feature", "delete", "plate", "--force")["deleted"]


def test_annotate_from_a_table(store: Path, images: Path, tmp_path: Path, capsys) -> None:
    as_json(capsys, "save", str(images), "--per-file", "--key-prefix", "screen")
    table = tmp_path / "meta.csv"
    table.write_text("file,condition,dose\na.tif,drug X,1.5\nb.tif,control,zero\nq.tif,x,1\n")
    runs_before = ls.Run.filter().count()
    dry = as_json(capsys, "annotate", str(table), "--on", "file", "--dry-run")
    assert dry["dry_run"] and ls.Run.filter().count() == runs_before
    assert ls.Feature.filter().count() == 0
    report = as_json(capsys, "annotate", str(table), "--on", "file", "--key-prefix", "screen/")
    for r in (dry, report):
        assert [m["value"] for m in r["matched"]] == ["a.tif", "b.tif"]
        assert [u["value"] for u in r["unmatched"]] == ["q.tif"]
        assert [w["key"] for w in r["without_row"]] == ["screen/plate1/c.tif"]
        assert [(x["row"], x["value"]) for x in r["refused"]] == [(2, "zero")]
    assert {f["feature"]: f["dtype"] for f in report["features"]} == {
        "condition": "cat[condition]",
        "dose": "float",
    }
    found = as_json(capsys, "ls", "--label", "drug X", "--feature", "dose__gt=1")
    assert [r["key"] for r in found] == ["screen/plate1/a.tif"]
    runs = ls.Run.filter(transform__key=cli.CLI_TRANSFORM_KEY).order_by("-started_at")
    assert runs.first().params["command"] == "annotate"
    code, out, _ = run(capsys, "annotate", str(table), "--dry-run")
    assert code == 0 and "2 of 3 row(s) matched, 1 unmatched" in out
    assert "row 3 ('q.tif'): no artifact" in out
    code, _, err = run(capsys, "annotate", str(tmp_path / "none.csv"))
    assert code == 3 and "does not exist" in err
    code, _, err = run(capsys, "annotate", str(table), "--on", "well")
    assert code == 2 and "no column 'well'" in err


def test_one_command_through_a_fresh_interpreter(store: Path, images: Path) -> None:
    disconnect()
    done = subprocess.run(
        [sys.executable, "-m", "labshelf.app.cli", "label", "ls", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stderr
