"""ls.annotate: a metadata table -> labels and feature values (issue 17): matched and unmatched
rows, artifacts without a row, refused values, dtype inference, folders, dry runs, the demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import labshelf as ls
import pandas as pd
import pytest


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (folder / name).write_bytes(name.encode() * 10)
    return folder


def _save(images: Path) -> list[ls.Artifact]:
    return [ls.Artifact(p, key=f"plate1/{p.name}").save() for p in sorted(images.glob("*.jpg"))]


def test_a_table_annotates_matched_artifacts_and_reports_the_rest(
    instance: Path, images: Path, tmp_path: Path
) -> None:
    arts = _save(images)
    table = tmp_path / "meta.csv"
    table.write_text(
        "filename,stain,temperature,plate,imaged_on,fixed\n"
        "a.jpg,DAPI,37.0,3,2024-05-01,yes\n"
        "b.jpg,GFP,37 °C,3,2024-05-02,no\n"  # a refused value: the rest of the row is kept
        "c.jpg,DAPI,30.5,4,2024-05-03,yes\n"
        "zz.jpg,DAPI,20,4,2024-05-03,no\n"  # no such file
    )
    ls.Feature("temperature", float, unit="°C").save()  # an existing feature keeps its dtype
    dry = ls.annotate(arts, table, on="filename", dry_run=True)
    assert ls.Feature.filter().count() == 1  # a dry run writes nothing
    assert arts[0].features.get_values() == {} and ls.ULabel.filter().count() == 0
    report = ls.annotate(arts, table, on="filename")
    for r in (dry, report):
        assert [m["value"] for m in r.matched] == ["a.jpg", "b.jpg", "c.jpg"]
        assert [(u["row"], u["value"]) for u in r.unmatched] == [(4, "zz.jpg")]
        assert "no artifact" in r.unmatched[0]["reason"]
        assert [w["key"] for w in r.without_row] == ["plate1/d.jpg"]
        assert [(x["row"], x["column"], x["value"]) for x in r.refused] == [
            (2, "temperature", "37 °C")
        ]
        assert "not a float" in r.refused[0]["reason"]
    assert {f["feature"]: (f["dtype"], f["new"]) for f in report.features} == {
        "stain": ("cat[stain]", True),
        "temperature": ("float", False),
        "plate": ("int", True),
        "imaged_on": ("date", True),
        "fixed": ("bool", True),
    }
    assert report.annotated == 3 and "3 of 4 row(s) matched" in report.summary()
    a, b, c, d = arts
    assert a.features.get_values() == {
        "stain": "DAPI",
        "temperature": 37.0,
        "plate": 3,
        "imaged_on": date(2024, 5, 1),
        "fixed": True,
    }
    assert "temperature" not in b.features.get_values() and b.features.get_values()["plate"] == 3
    assert d.features.get_values() == {}
    assert set(ls.Artifact.filter(stain="DAPI", temperature__gte=30)) == {a, c}
    assert [x.name for x in ls.ULabel.get(name="stain").children.order_by("name")] == [
        "DAPI",
        "GFP",
    ]
    # again with corrections: values are replaced, not added
    table.write_text("filename,stain,temperature\nb.jpg,DAPI,36.5\n")
    ls.annotate(arts, table, on="filename")
    assert b.features.get_values()["stain"] == "DAPI"
    assert b.features.get_values()["temperature"] == 36.5


def test_on_file_and_key_pick_the_matching_column(sqlite_instance: Path, images: Path) -> None:
    arts = _save(images)
    frame = pd.DataFrame(
        {"sample": ["S1", "S2"], "path": ["plate1/a.jpg", "plate1/b.jpg"], "od": [0.1, 0.2]}
    )
    report = ls.annotate(ls.Artifact.filter(key__startswith="plate1/"), frame, on="key")
    assert report.on == "path" and report.annotated == 2
    assert arts[0].features.get_values() == {"sample": "S1", "od": 0.1}
    frame = pd.DataFrame({"file": ["c.jpg"], "od": [0.3]})
    assert ls.annotate(arts, frame).on == "file"  # on="file": a column named so wins
    assert arts[2].features.get_values() == {"od": 0.3}
    with pytest.raises(ls.InvalidArgument, match="no column 'well'; its columns are file, od"):
        ls.annotate(arts, frame, on="well")
    with pytest.raises(ls.InvalidArgument, match="No column of the table holds keys"):
        ls.annotate(arts, pd.DataFrame({"x": ["nope"]}), on="key")


def test_ambiguous_names_bad_columns_and_bad_tables(
    sqlite_instance: Path, images: Path, tmp_path: Path
) -> None:
    arts = _save(images)
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"another a")
    twin = ls.Artifact(other / "a.jpg", key="plate2/a.jpg").save()
    frame = pd.DataFrame(
        {
            "filename": ["a.jpg", "plate2/a.jpg", None],
            "size": [1, 2, 3],  # a field of artifacts: no feature
            "Sepal length (cm)": [5.1, 4.9, 4.7],
            "empty": [None, None, None],
        }
    )
    report = ls.annotate([*arts, twin], frame, on="filename")
    assert [u["reason"] for u in report.unmatched] == [
        "several artifacts have this file name (plate1/a.jpg, plate2/a.jpg); match on keys",
        "the cell is empty",
    ]
    assert [s["column"] for s in report.skipped] == ["size", "empty"]
    assert twin.features.get_values() == {"Sepal_length_cm": 4.9}
    with pytest.raises(ls.InvalidArgument, match=r"not a table labshelf reads: use \.csv"):
        ls.annotate(arts, tmp_path / "meta.json")
    with pytest.raises(ls.DoesNotExist, match="does not exist"):
        ls.annotate(arts, tmp_path / "missing.csv")
    with pytest.raises(ls.InvalidArgument, match="takes artifacts"):
        ls.annotate("plate1", frame)


def test_table_formats(sqlite_instance: Path, images: Path, tmp_path: Path) -> None:
    arts = _save(images)
    frame = pd.DataFrame({"filename": ["a.jpg", "b.jpg"], "plate": [1, 2]})
    frame.to_parquet(tmp_path / "meta.parquet")
    frame.to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    assert ls.annotate(arts, tmp_path / "meta.parquet").annotated == 2
    assert ls.annotate(arts, tmp_path / "meta.tsv").annotated == 2
    table = ls.Artifact(tmp_path / "meta.parquet", key="meta.parquet").save()
    assert ls.annotate(arts, table).table == "meta.parquet"  # a table artifact
    pytest.importorskip("openpyxl")
    frame.assign(plate=[5, 6]).to_excel(tmp_path / "meta.xlsx", index=False)
    assert ls.annotate(arts, tmp_path / "meta.xlsx").annotated == 2
    assert arts[1].features.get_values() == {"plate": 6}


def test_a_folder_gets_shared_values_and_a_per_file_table(
    sqlite_instance: Path, images: Path
) -> None:
    folder = ls.Artifact(images, key="plate1").save()
    frame = pd.DataFrame(
        {
            "filename": ["a.jpg", "b.jpg", "c.jpg"],
            "study": ["s1", "s1", "s1"],
            "od": [0.1, 0.2, 0.3],
        }
    )
    preview = ls.annotate([folder], frame, dry_run=True)
    assert preview.tables == [{"folder": folder.uid, "table": None}]
    assert ls.Artifact.filter().count() == 1
    report = ls.annotate([folder], frame)
    values = folder.features.get_values()
    assert values["study"] == "s1" and "od" not in values
    table = ls.Artifact.get(values["file_annotations"])
    assert report.tables == [{"folder": folder.uid, "table": table.uid}]
    assert table.key == "plate1.annotations.parquet"
    loaded = table.load()
    assert list(loaded["file"]) == ["a.jpg", "b.jpg", "c.jpg"] and list(loaded["od"]) == [
        0.1,
        0.2,
        0.3,
    ]
    assert [m["artifacts"] for m in report.matched] == [[folder.uid]] * 3


def test_preview_of_a_drop_matches_file_paths(sqlite_instance: Path, tmp_path: Path) -> None:
    from labshelf.annotation import preview

    frame = pd.DataFrame({"filename": ["a.jpg", "x.jpg"], "stain": ["DAPI", "GFP"]})
    report = preview(frame, ["images/a.jpg", "images/b.jpg"])
    assert [m["artifacts"] for m in report.matched] == [["images/a.jpg"]]
    assert [u["value"] for u in report.unmatched] == ["x.jpg"]
    assert [w["key"] for w in report.without_row] == ["images/b.jpg"]
    assert report.dry_run and ls.Feature.filter().count() == 0


def test_the_demo_arrives_annotated(sqlite_instance: Path, tmp_path: Path) -> None:
    from labshelf.demo import load_demo

    records = load_demo(tmp_path / "demo")
    studies, image = records["studies"], records["image"]
    assert [s.features.get_values()["study"] for s in studies] == ["study0", "study1", "study2"]
    values = image.features.get_values()
    assert values["study"] == "study0" and values["species"] in (
        "setosa",
        "versicolor",
        "virginica",
    )
    assert isinstance(values["sepal_length"], float)
    assert set(ls.Artifact.filter(species=values["species"])) == {image}
    assert ls.Artifact.filter(ulabels__name="study1").one() == studies[1]
    per_file = ls.Artifact.get(studies[0].features.get_values()["file_annotations"]).load()
    assert len(per_file) == 16 and set(per_file["species"]) == {"setosa", "versicolor", "virginica"}
    tree = {n["name"]: n for n in __import__("labshelf.labels").labels.label_tree()}
    assert tree["species"]["is_type"] and tree["study"]["count"] == 4  # 3 folders + the image
