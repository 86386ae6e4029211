"""The gateway's labels and features (issue 17), as plain data and without Qt: the label tree,
a record's chips and feature table, bulk label/feature writes and their undo, feature columns,
filter lookups, and the import dialog's metadata offer and dry run."""

from __future__ import annotations

from pathlib import Path

import labshelf as ls
import pytest
from labshelf.app import gateway


@pytest.fixture
def uids(sqlite_instance: Path, tmp_path: Path) -> list[str]:
    folder = tmp_path / "drop" / "plate1"
    folder.mkdir(parents=True)
    out = []
    for name in ("a.tif", "b.tif", "c.tif"):
        (folder / name).write_bytes(name.encode() * 30)
        out.append(ls.Artifact(folder / name, key=f"plate1/{name}").save().uid)
    return out


def test_bulk_labels_the_tree_and_the_chips(uids: list[str]) -> None:
    ls.ULabel("Stain", is_type=True).save()
    added = gateway.add_labels("Artifact", uids, ["DAPI"], type_name="Stain")
    dapi = ls.ULabel.get(name="DAPI")
    assert sorted(added) == sorted((u, dapi.uid) for u in uids)
    again = gateway.add_labels("Artifact", uids[:2], [dapi.uid, "plate1"])  # a uid or a name
    assert len(again) == 2  # DAPI was there already: only plate1 is new, on two records
    tree = gateway.label_tree()
    assert [(n["name"], n["count"], n["is_type"]) for n in tree] == [
        ("Stain", 3, True),
        ("plate1", 2, False),
    ]
    assert [(c["name"], c["count"]) for c in tree[0]["children"]] == [("DAPI", 3)]
    chips = gateway.record_annotations("Artifact", uids[0])["labels"]
    assert [(c["type"], c["name"], c["feature"]) for c in chips] == [
        (None, "plate1", None),
        ("Stain", "DAPI", None),
    ]
    assert [x["name"] for x in gateway.search_labels("dap")] == ["DAPI"]
    lookups = gateway.label_lookups([dapi.uid])
    assert gateway.count_rows("Artifact", lookups, "", (), False) == 3
    stain = ls.ULabel.get(name="Stain")
    assert gateway.count_rows("Artifact", gateway.label_lookups([stain.uid]), "", (), False) == 3
    assert gateway.remove_label_links("Artifact", again) == 2  # undo of the second add
    assert ls.ULabel.get(name="plate1").artifacts.count() == 0
    removed = gateway.remove_labels("Artifact", uids[:1], [dapi.uid])
    assert removed == [(uids[0], dapi.uid, None)]
    history = gateway.annotation_history("Artifact", uids[0])
    assert [(h["action"], h["value"]) for h in history] == [
        ("add", "DAPI"),
        ("add", "plate1"),
        ("remove", "plate1"),
        ("remove", "DAPI"),
    ]


def test_set_a_feature_for_many_then_undo(uids: list[str]) -> None:
    ls.Feature("temperature", float, unit="°C").save()
    ls.Feature("stain", "cat").save()
    gateway.set_feature("Artifact", uids[:1], "temperature", "30")
    previous = gateway.set_feature("Artifact", uids, "temperature", "37.5")
    assert previous == {uids[0]: 30.0, uids[1]: None, uids[2]: None}
    gateway.set_feature("Artifact", uids[:2], "stain", ["DAPI", "GFP"])
    features = gateway.record_annotations("Artifact", uids[0])["features"]
    assert [(f["feature"], f["text"], f["dtype"]) for f in features] == [
        ("stain", "DAPI, GFP", "cat"),
        ("temperature", "37.5 °C", "float"),
    ]
    with pytest.raises(gateway.LabshelfError, match="'37 °C' of feature 'temperature'"):
        gateway.set_feature("Artifact", uids, "temperature", "37 °C")
    gateway.restore_feature("Artifact", "temperature", previous)
    assert [ls.Artifact.get(u).features.get_values().get("temperature") for u in uids] == [
        30.0,
        None,
        None,
    ]
    columns = {f["name"]: f for f in gateway.feature_list()}
    assert columns["temperature"]["count"] == 1 and columns["stain"]["count"] == 2
    ids = [gateway.record_id("Artifact", u) for u in uids]
    cells = gateway.feature_values("Artifact", ids, ["temperature", "stain"])
    assert cells[ids[0]] == {"temperature": "30.0 °C", "stain": "DAPI, GFP"}
    assert cells[ids[2]] == {}
    lookups = gateway.feature_lookup("Artifact", "temperature", "gte", "25")
    assert lookups == {"temperature__gte": "25"}
    assert gateway.count_rows("Artifact", lookups, "", (), False) == 1
    assert gateway.feature_lookup("Artifact", "stain", "in", "DAPI, Cy5") == {
        "stain__in": ["DAPI", "Cy5"]
    }
    with pytest.raises(gateway.LabshelfError, match="not a float"):
        gateway.feature_lookup("Artifact", "temperature", "gte", "warm")
    assert gateway.remove_feature("Artifact", uids, "stain") == 4


def test_the_import_dialog_offers_and_previews_a_metadata_table(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    drop = tmp_path / "drop" / "study0"
    drop.mkdir(parents=True)
    for name in ("x1.jpg", "x2.jpg", "x3.jpg"):
        (drop / name).write_bytes(name.encode() * 10)
    (drop / "meta.csv").write_text(
        'filename,species,length\nx1.jpg,setosa,5.1\nx2.jpg,setosa,"4,9"\nx9.jpg,virginica,6.0\n'
    )
    (drop / "other.csv").write_text("a,b\n1,2\n")
    offers = gateway.find_metadata_tables([str(drop)])
    assert offers == [
        {"table": str(drop / "meta.csv"), "column": "filename", "matches": 2, "rows": 3}
    ]
    report = gateway.preview_metadata(offers[0]["table"], [str(drop)])
    assert (len(report["matched"]), len(report["unmatched"])) == (2, 1)
    assert report["matched"][0]["artifacts"] == ["study0/x1.jpg"]
    assert [w["key"] for w in report["without_row"]] == [
        "study0/meta.csv",
        "study0/other.csv",
        "study0/x3.jpg",
    ]
    assert [(r["row"], r["column"], r["value"]) for r in report["refused"]] == [
        (2, "length", "4,9")
    ]
    assert ls.Feature.filter().count() == 0  # a preview writes nothing
    folder = ls.Artifact(drop, key="study0").save()
    run = ls.Run(transform=ls.Transform(name="desktop upload", type="upload").save()).save()
    done = gateway.annotate_uploaded([folder.uid], str(drop / "meta.csv"), run_uid=run.uid)
    assert done["annotated"] == 1 and not done["dry_run"]
    assert folder.features.get_values()["species"] == "setosa"  # shared by its matched files
    assert gateway.annotation_history("Artifact", folder.uid)[0]["run"] == run.uid
