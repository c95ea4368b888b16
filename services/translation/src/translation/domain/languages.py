"""Language codes: BCP-47 tags as callers send them, primary subtags for routing."""

from __future__ import annotations

import re

from crosstalk_common.errors import FieldViolation

UND = "und"

# The languages detection chooses among when a tenant has no presets.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "zh", "de", "es", "vi", "fr")

# ISO 639-1: the primary subtags this service accepts.
_ISO_639_1_TEXT = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu "
    "cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi "
    "ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks "
    "ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl "
    "nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve "
    "vi vo wa wo xh yi yo za zh zu"
)
ISO_639_1 = frozenset(_ISO_639_1_TEXT.split())

_TAG = re.compile(r"^[A-Za-z]{2}(?:-[A-Za-z0-9]{1,8})*$")


def normalize_language(code: str) -> str:
    """``"DE-de"`` -> ``"de-DE"``, ``"zh-hans"`` -> ``"zh-Hans"`` (BCP-47 casing)."""
    parts = code.strip().replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


def primary(code: str) -> str:
    """The primary language subtag: ``"de-DE"`` -> ``"de"``."""
    return code.split("-", 1)[0].lower()


def language_problem(code: str, field: str) -> FieldViolation | None:
    """Why ``code`` is not a language this service knows, or None."""
    cleaned = code.strip().replace("_", "-")
    if not _TAG.match(cleaned) or cleaned.split("-", 1)[0].lower() not in ISO_639_1:
        return FieldViolation(
            field,
            f"{code!r} is not a known BCP-47 language code; use e.g. 'en', 'de-DE', 'zh-Hans'",
        )
    return None
