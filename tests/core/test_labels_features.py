"""Labels and features (issue 17) on SQLite and PostgreSQL: the label tree, the managers,
typed values and their validation, feature lookups, version hand-over, the audit trail and
refused deletes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import labshelf as ls
import pandas as pd
import pytest
from labshelf.provenance import finish_run, start_run

from tests.core.conftest import text_files


@pytest.fixture
def arts(instance: Path, tmp_path: Path) -> list[ls.Artifact]:
    return [ls.Artifact(p, key=f"data/{p.name}").save() for p in text_files(tmp_path / "in", 4)]


def test_labels_form_a_tree_with_names_unique_per_type(instance: Path) -> None:
    stain = ls.ULabel("Stain", is_type=True).save()
    dapi = ls.ULabel("DAPI", type=stain).save()
    assert ls.ULabel("DAPI", type="Stain").uid == dapi.uid  # the existing label, not a twin
    plain = ls.ULabel("DAPI").save()  # another type (none): another label
    assert plain.uid != dapi.uid and dapi.type == stain and plain.type is None
    assert [x.name for x in stain.children] == ["DAPI"]
    with pytest.raises(ls.InvalidArgument, match="exists already as a type"):
        ls.ULabel("Stain")
    with pytest.raises(ls.InvalidArgument, match="no label type 'Marker'"):
        ls.ULabel("GFP", type="Marker")
    with pytest.raises(ls.InvalidArgument, match="not a type"):
        ls.ULabel("GFP", type=plain)
    with pytest.raises(ls.InvalidArgument, match="needs a name"):
        ls.ULabel("  ")
    assert ls.ULabel.search("dap").count() == 2
    assert ls.ULabel.lookup().stain == stain


def test_ulabels_add_remove_set_all(arts: list[ls.Artifact]) -> None:
    a, b = arts[:2]
    a.ulabels.add("DAPI", "plate3")  # names create their labels
    b.ulabels.add(ls.ULabel.get(name="DAPI"))
    assert sorted(x.name for x in a.ulabels.all()) == ["DAPI", "plate3"]
    assert "DAPI" in a.ulabels and len(b.ulabels) == 1
    a.ulabels.add("DAPI")  # present already: nothing twice
    assert a.ulabels.all().count() == 2
    a.ulabels.remove("plate3")
    assert [x.name for x in a.ulabels] == ["DAPI"]
    a.ulabels.set(["GFP", "plate4"])
    assert sorted(x.name for x in a.ulabels) == ["GFP", "plate4"]
    dapi = ls.ULabel.get(name="DAPI")
    assert list(dapi.artifacts) == [b]
    with pytest.raises(ls.InvalidArgument, match="no label 'nope'"):
        a.ulabels.remove("nope")
    ls.ULabel("DAPI", type=ls.ULabel("Stain", is_type=True).save()).save()
    with pytest.raises(
        ls.InvalidArgument, match=r"Several labels are called 'DAPI' \(.*Stain/DAPI"
    ):
        a.ulabels.add("DAPI")


def test_a_name_written_as_type_slash_label_names_the_typed_label(arts: list[ls.Artifact]) -> None:
    """'Stain/DAPI' (as label paths are shown) is the label DAPI of type Stain, not a new plain
    label of that literal name; a literal name with a slash still wins, and so does a slash
    without such a type."""
    a = arts[0]
    stain = ls.ULabel("Stain", is_type=True).save()
    dapi = ls.ULabel("DAPI", type=stain).save()
    a.ulabels.add("Stain/DAPI", "Stain/GFP")  # GFP: created in the type Stain
    gfp = ls.ULabel.get(name="GFP")
    assert gfp.type == stain and sorted(x.name for x in a.ulabels) == ["DAPI", "GFP"]
    assert ls.ULabel.filter(name__contains="/").count() == 0
    a.ulabels.remove("Stain/DAPI")
    assert [x.name for x in a.ulabels] == ["GFP"] and ls.ULabel.filter(type=stain).count() == 2
    assert dapi.artifacts.count() == 0
    a.ulabels.add("n/a")  # no type 'n': a plain label of that name
    assert ls.ULabel.get(name="n/a").type is None
    ls.ULabel("n", is_type=True).save()
    arts[1].ulabels.add("n/a")  # the label literally called so wins over the type 'n'
    assert [x.name for x in arts[1].ulabels] == ["n/a"] and ls.ULabel.filter(name="a").count() == 0
    with pytest.raises(ls.InvalidArgument, match="no label 'Stain/Cy5'"):
        a.ulabels.remove("Stain/Cy5")


def test_collections_take_labels_and_features(arts: list[ls.Artifact]) -> None:
    c = ls.Collection(arts[:2], name="screen").save()
    c.ulabels.add("pilot")
    ls.Feature("plate", int).save()
    c.features.add_values({"plate": 3})
    assert [x.name for x in c.ulabels] == ["pilot"] and c.features.get_values() == {"plate": 3}
    assert ls.Collection.filter(ulabels__name="pilot", plate=3).one() == c
    assert ls.Artifact.filter(ulabels__name="pilot").count() == 0  # registries stay apart
    v2 = ls.Collection(arts[:3], revises=c).save()
    assert [x.name for x in v2.ulabels] == ["pilot"] and v2.features.get_values() == {"plate": 3}


def test_label_queries_search_and_exclude(arts: list[ls.Artifact]) -> None:
    a, b, c, _ = arts
    a.ulabels.add("DAPI")
    b.ulabels.add("DAPI", "GFP")
    c.ulabels.add("GFP")
    dapi, gfp = ls.ULabel.get(name="DAPI"), ls.ULabel.get(name="GFP")
    assert set(ls.Artifact.filter(ulabels=dapi)) == {a, b}
    assert set(ls.Artifact.filter(ulabels__name="GFP")) == {b, c}
    assert set(ls.Artifact.filter(ulabels=dapi).filter(ulabels=gfp)) == {b}
    assert set(ls.Artifact.filter(ulabels__in=[dapi, "GFP"])) == {a, b, c}
    assert set(ls.Artifact.filter(ulabels__name__startswith="GF")) == {b, c}
    assert ls.Artifact.filter(ulabels__isnull=True).count() == 1
    assert set(ls.Artifact.exclude(ulabels=dapi)) == {c, arts[3]}
    assert set(ls.Artifact.search("dapi")) == {a, b}  # search also matches label names
    assert ls.Artifact.search("dapi").count() == 2
    assert set(ls.Artifact.search("dapi")[:10]) == {a, b}  # a page, as the app asks
    # the label condition's own text, not a cached one's (the same SQL, another label)
    assert set(ls.Artifact.search("gfp")[:10]) == {b, c}
    assert ls.Artifact.search("gfp").count() == 2
    with pytest.raises(ls.InvalidArgument, match="compares labels"):
        ls.Artifact.filter(ulabels__gte=dapi)


def test_feature_values_are_typed_and_validated(arts: list[ls.Artifact]) -> None:
    ls.ULabel("Stain", is_type=True).save()
    features = [
        ls.Feature("temperature", float, unit="°C"),
        ls.Feature("plate", int),
        ls.Feature("operator", str),
        ls.Feature("fixed", bool),
        ls.Feature("imaged_on", date),
        ls.Feature("imaged_at", datetime),
        ls.Feature("stain", "cat[Stain]"),
    ]
    for f in features:
        f.save()
    a = arts[0]
    a.features.add_values(
        {
            "temperature": "37.5",
            "plate": 3,
            "operator": "ana",
            "fixed": "yes",
            "imaged_on": "2024-05-01",
            "imaged_at": datetime(2024, 5, 1, 14, 30),
            "stain": ["DAPI", "GFP"],
        }
    )
    assert a.features.get_values() == {
        "temperature": 37.5,
        "plate": 3,
        "operator": "ana",
        "fixed": True,
        "imaged_on": date(2024, 5, 1),
        "imaged_at": datetime(2024, 5, 1, 14, 30, tzinfo=UTC),
        "stain": ["DAPI", "GFP"],
    }
    assert {x.name: x.type.name for x in ls.ULabel.filter(name__in=["DAPI", "GFP"])} == {
        "DAPI": "Stain",
        "GFP": "Stain",
    }
    with pytest.raises(
        ls.InvalidArgument, match=r"The value '37 °C' of feature 'temperature' is not a float"
    ):
        a.features.add_values({"plate": 4, "temperature": "37 °C"})
    assert a.features.get_values()["plate"] == 3  # the good value was not written either
    for bad, match in [
        ({"plate": 3.5}, "is not a int"),
        ({"fixed": "maybe"}, "true or false"),
        ({"imaged_on": "May 1st"}, "YYYY-MM-DD"),
        ({"operator": 7}, "is not a str"),
        ({"temperature": [1, 2]}, "one value per record"),
        ({"humidity": 40}, "no feature 'humidity'.*create_features=True"),
    ]:
        with pytest.raises(ls.InvalidArgument, match=match):
            a.features.add_values(bad)
    a.features.add_values({"humidity": 40, "sample": "S1"}, create_features=True)
    assert ls.Feature.get(name="humidity").dtype == "int"
    assert ls.Feature.get(name="sample").dtype == "cat"
    a.features.add_values({"temperature": 38})  # a scalar replaces the value
    a.features.add_values({"stain": "Cy5"})  # labels add to a categorical value
    values = a.features.get_values()
    assert values["temperature"] == 38.0 and values["stain"] == ["Cy5", "DAPI", "GFP"]
    a.features.remove_values("stain", "GFP")
    a.features.remove_values("operator")
    values = a.features.get_values()
    assert values["stain"] == ["Cy5", "DAPI"] and "operator" not in values
    with pytest.raises(ls.InvalidArgument, match="not a feature dtype"):
        ls.Feature("ph", "number")
    with pytest.raises(ls.InvalidArgument, match="field or lookup of artifacts"):
        ls.Feature("size", int)
    with pytest.raises(ls.InvalidArgument, match="cannot be used in lookups"):
        ls.Feature("sepal length", float)
    with pytest.raises(ls.InvalidArgument, match="exists already with dtype float"):
        ls.Feature("temperature", int)
    assert ls.Feature("temperature", float).uid == features[0].uid


def test_chained_filters_on_labels_and_features_combine(arts: list[ls.Artifact]) -> None:
    """Label and feature conditions of several filter() calls intersect (their id sets used to
    nest one INTERSECT in another, which SQLite refuses)."""
    ls.Feature("temperature", float).save()
    ls.Feature("stain", "cat").save()
    for i, a in enumerate(arts):
        a.features.add_values({"temperature": 20.0 + 10 * i, "stain": "DAPI" if i % 2 else "GFP"})
    arts[1].ulabels.add("plate3")
    arts[3].ulabels.add("plate3")
    expected = {arts[1], arts[3]}
    queries = [
        ls.Artifact.filter(stain="DAPI", temperature__gte=30, ulabels__name="plate3"),
        ls.Artifact.filter(stain="DAPI", temperature__gte=30).filter(ulabels__name="plate3"),
        ls.Artifact.filter(ulabels__name="plate3").filter(stain="DAPI").filter(temperature__gte=30),
        ls.Artifact.filter(stain="DAPI", temperature__gte=30)
        .filter(ulabels__name="plate3", temperature__lt=100)
        .filter(key__startswith="data/"),
    ]
    for query in queries:
        assert set(query) == expected and query.count() == 2
    narrower = queries[1].filter(temperature__gte=40).exclude(stain="GFP")
    assert list(narrower) == [arts[3]]


def test_feature_lookups_compare_by_type(arts: list[ls.Artifact]) -> None:
    ls.Feature("temperature", float).save()
    ls.Feature("plate", int).save()
    ls.Feature("operator", str).save()
    ls.Feature("fixed", bool).save()
    ls.Feature("imaged_on", date).save()
    ls.Feature("stain", "cat").save()
    rows = [
        (9.0, 9, "Ana", True, "2024-01-09", "DAPI"),
        (10.0, 10, "bob", False, "2024-01-10", "GFP"),
        (37.0, 100, "ana", True, "2024-02-01", ["DAPI", "GFP"]),
    ]
    for a, (t, p, o, fx, d, st) in zip(arts, rows, strict=False):
        a.features.add_values(
            {"temperature": t, "plate": p, "operator": o, "fixed": fx, "imaged_on": d, "stain": st}
        )
    a, b, c, d = arts

    def found(**lookups: object) -> set:
        return set(ls.Artifact.filter(**lookups))

    assert found(temperature__gte=10) == {b, c}  # numbers, not text ("9" > "10")
    assert found(plate__lt=10) == {a} and found(plate__gt=9.5) == {b, c}
    assert found(temperature__range=(9.5, 40)) == {b, c}
    assert found(plate__in=["9", 100]) == {a, c}
    assert found(operator="ana") == {c} and found(operator__iexact="ANA") == {a, c}
    assert found(operator__icontains="B") == {b}
    assert found(fixed=True) == {a, c}
    assert found(imaged_on__gte=date(2024, 1, 10)) == {b, c}
    assert found(imaged_on__lt="2024-01-10") == {a}
    assert found(stain="DAPI") == {a, c} and found(stain__in=["GFP"]) == {b, c}
    assert found(stain__name__startswith="GF") == {b, c}
    assert found(stain__isnull=True) == {d} and found(temperature=None) == {d}
    assert found(temperature__gte=30, stain="DAPI", fixed=True) == {c}
    assert set(ls.Artifact.exclude(temperature__gte=10)) == {a, d}
    for bad, match in [
        ({"temperature__gte": "warm"}, "not a float .*feature 'temperature'"),
        ({"fixed__gt": True}, "orders a yes/no feature"),
        ({"plate__contains": "1"}, "compares text"),
        ({"stain__gte": "A"}, "labels compare by name"),
        ({"temprature__gte": 3}, "not a valid lookup.*also.*temperature"),
    ]:
        with pytest.raises(ls.InvalidArgument, match=match):
            ls.Artifact.filter(**bad)
    frame = (
        ls.Artifact.filter(key__startswith="data/")
        .order_by("key")
        .df(features=["temperature", "stain"])
    )
    assert list(frame["temperature"])[:3] == [9.0, 10.0, 37.0]
    assert list(frame["stain"])[:3] == ["DAPI", "GFP", ["DAPI", "GFP"]]
    assert frame["temperature"].isna().tolist()[3]
    with pytest.raises(ls.InvalidArgument, match="no feature 'nope'"):
        ls.Artifact.filter().to_dataframe(features=["nope"])


def test_construction_values_and_new_versions(instance: Path, tmp_path: Path) -> None:
    ls.Feature("temperature", float).save()
    ls.Feature("stain", "cat").save()
    path = tmp_path / "img.txt"
    path.write_text("v1")
    with pytest.raises(ls.InvalidArgument, match="not a float"):
        ls.Artifact(path, key="img.txt", features={"temperature": "hot"})
    v1 = ls.Artifact(path, key="img.txt", features={"temperature": 37, "stain": "DAPI"}).save()
    v1.ulabels.add("plate3")
    assert v1.features.get_values() == {"temperature": 37.0, "stain": "DAPI"}
    path.write_text("v2")
    v2 = ls.Artifact(path, key="img.txt").save()  # a new version of the key
    assert v2.stem_uid == v1.stem_uid and v2.version == "2"
    assert v2.features.get_values() == {"temperature": 37.0, "stain": "DAPI"}
    assert sorted(x.name for x in v2.ulabels) == ["DAPI", "plate3"]
    assert {h["action"] for h in v2.features.history()} == {"inherit"}
    path.write_text("v3")
    v3 = ls.Artifact(path, revises=v2, features={"stain": "GFP"}).save()
    assert v3.features.get_values() == {"temperature": 37.0, "stain": "GFP"}  # given wins
    assert v1.features.get_values()["stain"] == "DAPI"  # old versions keep theirs
    again = ls.Artifact(path, key="img.txt", features={"temperature": 4})  # same content
    assert again == v3 and again.save().features.get_values()["temperature"] == 4.0


def test_history_says_who_when_and_which_run(arts: list[ls.Artifact]) -> None:
    transform = ls.Transform(name="curation", type="pipeline").save()
    run = start_run(transform)
    a = arts[0]
    a.ulabels.add("DAPI", run=run)
    ls.Feature("temperature", float).save()
    a.features.add_values({"temperature": 37}, run=run)
    a.features.add_values({"temperature": 30})
    a.ulabels.remove("DAPI")
    finish_run(run)
    history = a.features.history()
    assert [(h["action"], h["feature"], h["value"]) for h in history] == [
        ("add", None, "DAPI"),
        ("add", "temperature", "37.0"),
        ("remove", "temperature", "37.0"),
        ("add", "temperature", "30.0"),
        ("remove", None, "DAPI"),
    ]
    assert [h["run"] for h in history[:2]] == [run.uid, run.uid] and history[2]["run"] is None
    assert {h["user"] for h in history} == {"testuser"}
    assert all(isinstance(h["at"], datetime) for h in history)


def test_deleting_a_label_or_feature_in_use_is_refused_with_the_count(
    arts: list[ls.Artifact],
) -> None:
    stain = ls.ULabel("Stain", is_type=True).save()
    ls.Feature("stain", "cat[Stain]").save()
    for a in arts[:3]:
        a.features.add_values({"stain": "DAPI"})
    dapi = ls.ULabel.get(name="DAPI")
    with pytest.raises(ls.IntegrityError, match="'Stain/DAPI' is on 3 artifacts.*force=True"):
        dapi.delete()
    with pytest.raises(ls.IntegrityError, match="groups 1 label"):
        stain.delete()
    feature = ls.Feature.get(name="stain")
    with pytest.raises(ls.IntegrityError, match="has values on 3 artifacts"):
        feature.delete()
    dapi.delete(force=True)
    assert ls.ULabel.filter(name="DAPI").count() == 0
    assert arts[0].features.get_values() == {}
    assert arts[0].features.history()[-1]["action"] == "remove"
    with pytest.raises(ls.IntegrityError, match="type of the values of feature"):
        stain.delete()
    feature.delete()
    stain.delete()
    assert ls.ULabel.filter().count() == 0 and ls.Feature.filter().count() == 0


def test_describe_and_the_unsaved_and_permanent_delete(instance: Path, tmp_path: Path) -> None:
    ls.Feature("temperature", float, unit="°C").save()
    path = tmp_path / "x.txt"
    path.write_text("x")
    unsaved = ls.Artifact(path, key="x.txt")
    with pytest.raises(ls.InvalidArgument, match="not saved yet"):
        unsaved.ulabels.add("DAPI")
    a = unsaved.save()
    a.ulabels.add("DAPI")
    a.features.add_values({"temperature": 37})
    text = a.describe(print_it=False)
    assert "Labels & features" in text and ".temperature = 37.0 °C (float)" in text
    assert ".ulabels = DAPI" in text
    a.delete(permanent=True)  # links, values and history go with the record
    assert ls.ULabel.get(name="DAPI").artifacts.count() == 0
    from labshelf.features import feature_usage

    assert feature_usage(ls.Feature.get(name="temperature").id) == {"artifact": 0, "collection": 0}


def test_postgresql_queries_are_planned_for_their_values(arts: list[ls.Artifact]) -> None:
    """No server-side prepared statements on PostgreSQL: after a few runs of the same query a
    generic plan (one for any values) took 47 s instead of 0.1 s for three feature conditions
    at 10^5 artifacts (bench_annotate.py --postgres). The plan of every run is a custom one."""
    from labshelf.instance import current
    from sqlalchemy import text

    if not ls.settings.db.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    ls.Feature("temperature", float).save()
    arts[0].features.add_values({"temperature": 37.0})
    for _ in range(12):  # psycopg would prepare after 5 runs, PostgreSQL go generic after 5 more
        assert ls.Artifact.filter(temperature__gte=30).count() == 1
    with current().engine().connect() as conn:
        assert conn.connection.driver_connection.prepare_threshold is None
        prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
        assert prepared == 0


def test_set_labels_adds_a_plain_label_that_is_also_a_feature_value(
    arts: list[ls.Artifact],
) -> None:
    """A label that is a record's feature value and one of its plain labels are two links:
    setting the plain labels gives the plain one even when the value link is there."""
    ls.ULabel("Stain", is_type=True).save()
    ls.Feature("stain", "cat[Stain]").save()
    a = arts[0]
    a.features.add_values({"stain": "DAPI"})
    a.ulabels.set(["Stain/DAPI"])
    a.features.remove_values("stain")
    assert [x.name for x in a.ulabels] == ["DAPI"]


def test_a_bulk_write_of_values_or_labels_refreshes_the_planner_statistics(
    arts: list[ls.Artifact], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a write of ANALYZE_AFTER_ROWS values or label links or more ANALYZEs the
    table it filled, so filters on the new values are planned with statistics at once (not
    only after autovacuum's next pass); smaller writes leave it to autovacuum."""
    from labshelf import session
    from labshelf.instance import current
    from sqlalchemy import text

    if not ls.settings.db.startswith("postgresql"):
        pytest.skip("PostgreSQL only")

    def analyzed(table: str) -> bool:
        with current().engine().connect() as conn:
            stamp = conn.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            ).scalar()
        return stamp is not None

    ls.Feature("temperature", float).save()
    arts[0].features.add_values({"temperature": 37.0})  # one row: below the threshold
    assert not analyzed("artifact_feature_values")
    monkeypatch.setattr(session, "ANALYZE_AFTER_ROWS", 2)
    for a in arts[:2]:
        a.features.add_values({"temperature": 30.0})
    assert not analyzed("artifact_feature_values")  # still one row per write
    table = pd.DataFrame(
        {"file": [a.key.rsplit("/", 1)[1] for a in arts], "od": [0.5 * i for i in range(4)]}
    )
    ls.annotate(arts, table, on="file")  # four values in one write
    assert analyzed("artifact_feature_values")
    assert not analyzed("artifact_ulabels")
    arts[1].ulabels.add("DAPI")  # one link
    assert not analyzed("artifact_ulabels")
    from labshelf.labels import actor, add_labels

    add_labels("artifact", [a.id for a in arts], [ls.ULabel("GFP").save()], actor(None))
    assert analyzed("artifact_ulabels")
    assert ls.Artifact.filter(ulabels__name="GFP", od__gte=0).count() == 4
