"""Random base62 uids and the version suffixes of versioned registries.

A versioned uid is ``<stem><suffix>``: the stem (length - 4) is shared by a
version family, the 4-character suffix is the version index in base62.
"""

from __future__ import annotations

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_LEN = 4

UID_LENGTHS = {
    "artifact": 20,
    "collection": 20,
    "transform": 16,
    "run": 20,
    "user": 8,
    "storage": 12,
}


# byte b < 248 -> BASE62[b % 62]: 248 = 4 x 62, so each character is equally likely
_TO_BASE62 = bytes(ord(BASE62[b % 62]) for b in range(248)) + bytes(8)
_OVER_247 = bytes(range(248, 256))


def base62(n_chars: int) -> str:
    """A random base62 string of ``n_chars`` characters (uniform: bytes >= 248 are redrawn)."""
    out = b""
    while len(out) < n_chars:
        drawn = secrets.token_bytes(n_chars + 8).translate(None, _OVER_247)
        out += drawn.translate(_TO_BASE62)
    return out[:n_chars].decode("ascii")


def encode_index(index: int, width: int = SUFFIX_LEN) -> str:
    """The base62 representation of ``index`` left-padded with ``0`` to ``width``."""
    if index < 0 or index >= 62**width:
        raise ValueError(f"version index {index} does not fit in {width} base62 characters")
    chars = []
    for _ in range(width):
        index, rem = divmod(index, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars))


def decode_index(suffix: str) -> int:
    """The integer encoded by a base62 version suffix."""
    value = 0
    for char in suffix:
        value = value * 62 + BASE62.index(char)
    return value


def new_stem(length: int) -> str:
    """A fresh version-family stem for a uid of total ``length``."""
    return base62(length - SUFFIX_LEN)


def versioned_uid(stem: str, index: int) -> str:
    """The uid of version ``index`` of the family ``stem``."""
    return stem + encode_index(index)


def split_uid(uid: str) -> tuple[str, int]:
    """(stem, version index) of a versioned uid."""
    return uid[:-SUFFIX_LEN], decode_index(uid[-SUFFIX_LEN:])


def is_base62(text: str) -> bool:
    return bool(text) and all(c in BASE62 for c in text)
