"""Issue 13, item 10: control characters and bidi overrides.

Keys and names holding ESC, other C0/C1 controls, U+202E and other bidi controls are refused
with ``InvalidArgument``; free text (descriptions) is accepted and escaped wherever core prints
it (``describe()``, log messages, error messages, the doctor report, ``view_tree``), through
one function: ``labshelf.humanize.printable``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import labshelf as ls
import pytest
from labshelf.humanize import printable, unsafe_char

from .conftest import one_sentence, record

HOSTILE = {
    "esc-csi": "a\x1b[2J\x1b[31mred",
    "bell": "ding\x07",
    "c1-csi": "x\x9b31my",
    "del": "a\x7fb",
    "rlo": "invoice\u202etxt.exe",
    "lri": "a\u2066b\u2069",
    "lrm": "a\u200eb",
    "zero-width-space": "ad\u200bmin",
    "tab": "a\tb",
    "line-separator": "a\u2028b",
}


def _raw_controls(text: str) -> list[str]:
    """Characters in printed text that a terminal or a text view would interpret."""
    return [
        ch
        for ch in text
        if ch != "\n" and (unicodedata.category(ch) in ("Cc", "Zl", "Zp") or unsafe_char(ch))
    ]


def test_printable_escapes_controls_and_keeps_text() -> None:
    for cp in [*range(0x20), *range(0x7F, 0xA0), 0x202E, 0x2066, 0x200F, 0xFEFF, 0xDCFF]:
        shown = printable(f"a{chr(cp)}b")
        assert not _raw_controls(shown) and shown.startswith("a\\") and shown.endswith("b"), cp
    for text in ("plain key/0001.csv", "Zürich é 日本 🧪", "👩\u200d🔬 team", "50 µm"):
        assert printable(text) == text
    assert printable("a\x1b[31m") == "a\\x1b[31m"
    assert printable("x\u202ey") == "x\\u202ey"
    assert printable(42) == "42"


@pytest.mark.parametrize("name", list(HOSTILE))
def test_keys_with_control_characters_are_refused(
    instance: Path, tmp_path: Path, name: str, backend: str
) -> None:
    key = f"data/{HOSTILE[name]}.csv"
    src = tmp_path / "a.csv"
    src.write_text(f"x\n{name}\n")
    with pytest.raises(ls.InvalidArgument) as info:
        ls.Artifact(str(src), key=key)
    message = str(info.value)
    assert not _raw_controls(message) and one_sentence(message), repr(message)
    assert "cannot hold control" in message
    saved = ls.Artifact(str(src), key="data/ok.csv").save()
    saved.key = key
    with pytest.raises(ls.InvalidArgument):
        saved.save()
    assert ls.Artifact.get(saved.uid).key == "data/ok.csv"
    assert ls.Artifact.filter().count() == 1


def test_in_place_file_with_a_control_character_is_refused(
    sqlite_instance: Path,
) -> None:
    path = sqlite_instance / f"raw/{HOSTILE['esc-csi']}.csv"
    path.parent.mkdir()
    path.write_text("x\n1\n")
    with pytest.raises(ls.InvalidArgument) as info:
        ls.Artifact(str(path))
    assert not _raw_controls(str(info.value))


@pytest.mark.parametrize("name", ["esc-csi", "rlo", "c1-csi"])
def test_names_with_control_characters_are_refused(
    sqlite_instance: Path, tmp_path: Path, name: str
) -> None:
    src = tmp_path / "a.csv"
    src.write_text("x\n1\n")
    a = ls.Artifact(str(src), key="a.csv").save()
    with pytest.raises(ls.InvalidArgument, match="names cannot hold") as info:
        ls.Collection([a], name=HOSTILE[name]).save()
    assert not _raw_controls(str(info.value))
    c = ls.Collection([a], name="fine").save()
    with pytest.raises(ls.InvalidArgument):
        c.name = HOSTILE[name]
    with pytest.raises(ls.InvalidArgument):
        ls.Transform(name=HOSTILE[name], type="pipeline")
    assert ls.Collection.filter().count() == 1 and ls.Collection.get(c.uid).name == "fine"


def test_descriptions_are_kept_and_escaped_on_output(
    sqlite_instance: Path, tmp_path: Path, capsys, caplog
) -> None:
    description = "".join(HOSTILE.values())
    src = tmp_path / "a.csv"
    src.write_text("x\n1\n")
    a = ls.Artifact(str(src), key="a.csv", description=description).save()
    assert ls.Artifact.get(a.uid).description == description  # stored as given
    tree = a.describe()
    printed = capsys.readouterr().out
    for text in (tree, printed, repr(a)):
        assert not _raw_controls(text), repr(text)
    assert "\\x1b[2J" in tree and "\\u202e" in tree
    c = ls.Collection([a], name="c", description=description).save()
    assert not _raw_controls(c.describe(print_it=False))
    # a message echoing user text (here a source path) is escaped too
    odd = tmp_path / f"odd{HOSTILE['esc-csi']}"
    odd.mkdir()
    (odd / "f.txt").write_text("f")
    (odd / "link").symlink_to(tmp_path / "a.csv")
    with caplog.at_level("INFO", logger="labshelf"):
        ls.Artifact(str(odd), key="odd")
    assert caplog.messages and all(not _raw_controls(m) for m in caplog.messages)
    assert not _raw_controls(capsys.readouterr().err)
    # and every LabshelfError's text
    assert not _raw_controls(str(ls.InvalidArgument(f"the path {odd} is bad")))


def test_doctor_report_and_view_tree_are_escaped(sqlite_instance: Path, tmp_path: Path) -> None:
    objects = sqlite_instance / ".labshelf"
    (objects / f".tmp-{HOSTILE['esc-csi']}").write_text("left over")
    report = ls.doctor()
    assert report.of_kind("leftover")
    assert not _raw_controls(str(report)), repr(str(report))
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / f"{HOSTILE['rlo']}").write_text("x")
    (folder / f"s{HOSTILE['c1-csi']}.c\x1b").write_text("x")
    text = ls.UPath(folder).view_tree(print_it=False)
    assert not _raw_controls(text), repr(text)
    record(
        "control characters in keys, names, descriptions, outputs",
        "sqlite+postgresql",
        len(HOSTILE),
        lost="-",
        dangling="-",
        clear_errors="keys/names refused; describe, logs, errors, doctor, view_tree escaped",
    )


def test_cli_and_app_show_descriptions_escaped(
    sqlite_instance: Path, tmp_path: Path, capsys
) -> None:
    """`labshelf ls` / `describe` and the app's cells never send a description's ESC or U+202E
    raw to the terminal or a text view."""
    from labshelf.app import cli
    from labshelf.app.data.formatting import format_value

    description = HOSTILE["esc-csi"] + HOSTILE["rlo"]
    src = tmp_path / "a.csv"
    src.write_text("x\n1\n")
    a = ls.Artifact(str(src), key="a.csv", description=description).save()
    capsys.readouterr()
    assert cli.main(["ls"]) == 0
    listed = capsys.readouterr().out
    assert "\\x1b[2J" in listed and not _raw_controls(listed), repr(listed)
    assert cli.main(["describe", a.uid]) == 0
    described = capsys.readouterr().out
    assert "\\u202e" in described and not _raw_controls(described), repr(described)
    shown = format_value("text", description)
    assert shown == printable(description) and not _raw_controls(shown)
