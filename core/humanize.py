"""Sizes for people, the same in the CLI, ``describe()`` and the desktop app; text made safe
to print (``printable``, ``unsafe_char``); one Unicode form for equal-looking text (``nfc``)."""

from __future__ import annotations

import unicodedata


def human_size(n: int | None) -> str:
    """``1536`` -> ``1.5 KB``: powers of 1024, as file managers and ``du -h`` count."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- text that is safe to print

# Characters that change how a terminal or a text view shows what follows: bidi embeddings,
# overrides and isolates (U+202E "RIGHT-TO-LEFT OVERRIDE" makes 'exe.txt' read 'txt.exe'),
# marks, and invisible characters that make two different names look alike.
BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
INVISIBLE = frozenset({0x200B, 0x2028, 0x2029, 0xFEFF})
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _escape(cp: int) -> str:
    if cp in _NAMED:
        return _NAMED[cp]
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def _is_unsafe(cp: int) -> bool:
    return (
        cp < 0x20
        or 0x7F <= cp < 0xA0  # DEL and the C1 controls (0x9b is a terminal's CSI)
        or 0xD800 <= cp < 0xE000  # lone surrogates (undecodable file-name bytes)
        or cp in BIDI_CONTROLS
        or cp in INVISIBLE
    )


_TABLE = {cp: _escape(cp) for cp in range(0xE000) if _is_unsafe(cp)} | {
    cp: _escape(cp) for cp in (*BIDI_CONTROLS, *INVISIBLE)
}


def unsafe_char(text: str) -> str | None:
    """The first control, text-direction or invisible character of ``text`` (None if none):
    the characters keys and names may not hold."""
    if text.isprintable():  # the common case: no control, format or separator character
        return None
    for ch in text:
        if _is_unsafe(ord(ch)):
            return ch
    return None


def printable(text: object) -> str:
    """``text`` made safe to print on a terminal or show in a text view: control characters
    (C0, DEL, C1 incl. ESC and CSI), bidi overrides/isolates/marks, invisible characters and
    lone surrogates are shown as visible escapes (``\\x1b``, ``\\u202e``, ``\\n``); all other
    text, accents and scripts and emoji included, is unchanged."""
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():
        return text
    return text.translate(_TABLE)


def describe_char(ch: str) -> str:
    """How a refused character is named in a message: its escape and code point."""
    return f"{_escape(ord(ch))} (U+{ord(ch):04X})"


# ---------------------------------------------------------------- one form for equal-looking text


def nfc(text: str) -> str:
    """``text`` in Unicode normal form C: "é" typed on Linux (one code point) and "é" in a
    macOS file name (e + combining accent) become the same string."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def text_forms(text: str) -> list[str]:
    """The NFC form of ``text`` and, if different, its NFD form: what a lookup compares with
    where a stored value may be either (an in-place key keeps a file's real name)."""
    composed = nfc(text)
    decomposed = unicodedata.normalize("NFD", composed)
    return [composed] if decomposed == composed else [composed, decomposed]
