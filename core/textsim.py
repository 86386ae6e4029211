"""Trigram word similarity, the same idea as PostgreSQL's ``word_similarity``
(pg_trgm): SQLite gets it as a SQL function so fuzzy search ranks alike on both."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[0-9a-z]+")


@lru_cache(maxsize=4096)
def trigrams(word: str) -> frozenset[str]:
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def word_similarity(query: str | None, text: str | None) -> float:
    """Best trigram Jaccard similarity between ``query`` and any word of ``text`` (0..1)."""
    if not query or not text:
        return 0.0
    q = trigrams(query.lower())
    best = 0.0
    for word in _WORD.findall(text.lower()):
        w = trigrams(word)
        shared = len(q & w)
        if shared:
            best = max(best, shared / len(q | w))
    return best
