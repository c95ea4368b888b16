"""How close a back translation is to the original text (0 to 1)."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", folded)).strip()


def similarity(original: str, back_translated: str) -> float:
    """Edit-distance similarity, tolerant of reordered words.

    The mean of a character-level ratio and a token-sorted ratio: a faithful
    round trip scores high even when word order shifts, an unrelated text scores
    low. CJK texts, which have no spaces, are compared by characters only.
    """
    a, b = normalize(original), normalize(back_translated)
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    if _CJK.search(a) or _CJK.search(b):
        score = fuzz.ratio(a.replace(" ", ""), b.replace(" ", ""))
    else:
        score = (fuzz.ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2
    return round(score / 100.0, 4)
