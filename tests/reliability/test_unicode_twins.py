"""Issue 13, item 11: Unicode twins.

"é" as one code point (NFC, typed on Linux) and as e + combining accent (NFD, macOS file names)
look the same. Keys, names, descriptions, user handles and search text are normalized to NFC
on the way in; lookups on text fields match either form; migration 0006 rewrites older rows.
An in-place key stays the file's real name (on a byte-exact file system the NFC name would be
another, missing, file).
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import labshelf as ls
import pytest
from alembic import command
from labshelf.instance import current, disconnect
from labshelf.migrations import HEAD, _alembic_config
from sqlalchemy import text

from .conftest import record

WORD = "café-Ünïcode"
NFC = unicodedata.normalize("NFC", WORD)
NFD = unicodedata.normalize("NFD", WORD)
assert NFC != NFD


def _file(tmp: Path, name: str, content: str) -> Path:
    path = tmp / name
    path.write_text(content)
    return path


def test_keys_names_descriptions_and_search_are_nfc(
    instance: Path, tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABSHELF_USER", f"jos{NFD}")
    a = ls.Artifact(
        str(_file(tmp_path, "a.csv", "x\n1\n")), key=f"{NFD}/data.csv", description=f"{NFD} run"
    ).save()
    assert a.key == f"{NFC}/data.csv" and a.description == f"{NFC} run"
    stored = ls.Artifact.get(a.uid)
    assert stored.key == f"{NFC}/data.csv" and stored.description == f"{NFC} run"
    assert stored.created_by.handle == f"jos{NFC}"
    for form in (NFC, NFD):
        assert ls.Artifact.filter(key=f"{form}/data.csv").one().uid == a.uid
        assert ls.Artifact.filter(key__startswith=f"{form}/").count() == 1
        assert ls.Artifact.filter(description__contains=form).count() == 1
        assert [r.uid for r in ls.Artifact.search(form)] == [a.uid], form
    # the same key in the other form is the same family: the next version, not a twin
    b = ls.Artifact(str(_file(tmp_path, "b.csv", "x\n2\n")), key=f"{NFC}/data.csv").save()
    assert b.stem_uid == a.stem_uid and b.version == "2"
    b.key = f"{NFD}/moved.csv"
    b.save()
    assert ls.Artifact.get(b.uid).key == f"{NFC}/moved.csv"
    c1 = ls.Collection([a], name=f"set {NFD}", description=NFD).save()
    assert c1.name == f"set {NFC}" and ls.Collection.get(c1.uid).description == NFC
    c2 = ls.Collection([b], name=f"set {NFC}").save()
    assert c2.stem_uid == c1.stem_uid, "the same name in the other form started a new family"
    assert ls.Collection.filter(name=f"set {NFD}").count() == 2  # both versions
    t = ls.Transform(name=f"pipe {NFD}", key=f"{NFD}.py", type="pipeline").save()
    assert ls.Transform.get(t.uid).name == f"pipe {NFC}"
    assert ls.Transform.filter(name__in=[f"pipe {NFD}"]).count() == 1
    record(
        "Unicode NFC/NFD twins on the way in",
        backend,
        8,
        lost="-",
        dangling="-",
        clear_errors="keys, names, descriptions, handle stored NFC; lookups/search match both",
    )


def test_an_in_place_file_keeps_its_real_name(sqlite_instance: Path) -> None:
    """ext4 keeps names byte for byte: an NFD-named file in the storage is found by its
    real name, and by lookups in either form."""
    path = sqlite_instance / f"{NFD}.csv"
    path.write_text("x\n1\n")
    a = ls.Artifact(str(path)).save()
    assert a.key == f"{NFD}.csv" and not a.key_is_virtual
    assert a.path.exists() and a.load().shape == (1, 1)
    assert ls.Artifact.filter(key=f"{NFC}.csv").one().uid == a.uid
    # a key given in NFC for the NFD-named file is the same key, not a conflict
    path2 = sqlite_instance / f"two-{NFD}.csv"
    path2.write_text("x\n2\n")
    assert ls.Artifact(str(path2), key=f"two-{NFC}.csv").save().key == f"two-{NFD}.csv"


def _sql(statement: str, **params: object) -> None:
    with current().engine().begin() as conn:
        conn.execute(text(statement), params)


def test_migration_0006_rewrites_rows_to_nfc(
    instance: Path, tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    virtual = ls.Artifact(str(_file(src, "v.csv", "v\n1\n")), key="v.csv", description="d").save()
    twin_nfc = ls.Artifact(str(_file(src, "t1.csv", "t\n1\n")), key=f"{NFC}.csv").save()
    twin_nfd = ls.Artifact(str(_file(src, "t2.csv", "t\n2\n")), key="twin.csv").save()
    in_place_path = instance / f"{NFD}-inplace.csv"
    in_place_path.write_text("p\n1\n")
    in_place = ls.Artifact(str(in_place_path)).save()
    coll = ls.Collection([virtual], name="c").save()
    tr = ls.Transform(name="t", key="t.py", type="pipeline").save()
    # rows as an older labshelf wrote them: NFD text, and a second user in the other form
    _sql(
        "UPDATE artifacts SET key = :k, description = :d WHERE uid = :u",
        k=f"{NFD}/v.csv",
        d=NFD,
        u=virtual.uid,
    )
    _sql("UPDATE artifacts SET key = :k WHERE uid = :u", k=f"{NFD}.csv", u=twin_nfd.uid)
    _sql(
        "UPDATE collections SET name = :n, description = :d WHERE uid = :u",
        n=NFD,
        d=NFD,
        u=coll.uid,
    )
    _sql("UPDATE transforms SET name = :n, key = :k WHERE uid = :u", n=NFD, k=f"{NFD}.py", u=tr.uid)
    _sql("UPDATE users SET handle = :h", h=f"jos{NFC}")
    _sql(
        "INSERT INTO users (uid, handle, created_at) VALUES ('twinUsr1', :h, :t)",
        h=f"jos{NFD}",
        t=virtual.created_at,
    )
    _sql(
        "UPDATE artifacts SET created_by_id = (SELECT id FROM users WHERE uid = 'twinUsr1') "
        "WHERE uid = :u",
        u=twin_nfd.uid,
    )
    with current().engine().begin() as conn:  # back to the schema before NFC (0005)
        command.downgrade(_alembic_config(conn), "0005")
    name = ls.settings.instance
    disconnect()
    with caplog.at_level(logging.WARNING, logger="labshelf"):
        ls.connect(name)
    with current().engine().connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        users = conn.execute(text("SELECT id, handle FROM users")).all()
        creators = set(conn.execute(text("SELECT DISTINCT created_by_id FROM artifacts")).scalars())
    assert [h for _, h in users] == [f"jos{NFC}"], users
    assert creators == {users[0][0]}
    got = ls.Artifact.get(virtual.uid)
    assert got.key == f"{NFC}/v.csv" and got.description == NFC
    assert ls.Artifact.get(in_place.uid).key == f"{NFD}-inplace.csv", "an in-place key was renamed"
    assert ls.Artifact.get(in_place.uid).path.exists()
    assert (
        ls.Collection.get(coll.uid).name == NFC and ls.Collection.get(coll.uid).description == NFC
    )
    assert ls.Transform.get(tr.uid).name == NFC and ls.Transform.get(
        tr.uid
    ).key == f"{NFD}.py".replace(NFD, NFC)
    # twin families: both kept, both found, and a warning names them
    twins = ls.Artifact.filter(key=f"{NFC}.csv").all()
    assert {t.uid for t in twins} == {twin_nfc.uid, twin_nfd.uid}
    assert all(t.is_latest for t in twins) and twins[0].stem_uid != twins[1].stem_uid
    assert {r.uid for r in ls.Artifact.search(NFC)} >= {twin_nfc.uid, twin_nfd.uid, virtual.uid}
    warned = "\n".join(caplog.messages)
    assert f"'{NFC}.csv' names 2 version families" in warned, warned
    assert "merged" in warned
    assert ls.doctor().ok
    record(
        "migration 0006: rows rewritten to NFC",
        backend,
        6,
        lost=0,
        dangling="0/0",
        clear_errors="twin families kept + warned; twin users merged",
    )
