"""BCP-47 language tags as templates and surveys use them: checked, spelled one way, matched."""

from __future__ import annotations

import re
from collections.abc import Iterable

# language (2-3 letters) [-script (4 letters)] [-region (2 letters or 3 digits)]
# [-variant ...]: what our engines and customers' profiles use.
_TAG = re.compile(
    r"^(?P<lang>[A-Za-z]{2,3})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|\d{3}))?"
    r"(?P<variants>(?:-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*)$"
)
MAX_TAG_LENGTH = 35
UNDETERMINED = "und"


def canonical_tag(tag: str) -> str | None:
    """``"PT-br"`` -> ``"pt-BR"``, ``"zh-hans"`` -> ``"zh-Hans"``; None when not a tag."""
    tag = tag.strip().replace("_", "-")
    if not tag or len(tag) > MAX_TAG_LENGTH:
        return None
    match = _TAG.match(tag)
    if match is None:
        return None
    parts = [match["lang"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    if match["variants"]:
        parts.extend(v.lower() for v in match["variants"].split("-") if v)
    return "-".join(parts)


def primary(tag: str) -> str:
    """The language subtag: ``"es-MX"`` -> ``"es"``."""
    return tag.split("-", 1)[0].lower()


def best_match(wanted: str, available: Iterable[str]) -> str | None:
    """The available tag for ``wanted``: the same tag, else one with the same language
    (``es-MX`` is served by ``es``, ``es`` by ``es-ES``); None when no body fits."""
    tags = list(available)
    canonical = canonical_tag(wanted)
    if canonical is None:
        return None
    for tag in tags:
        if tag == canonical:
            return tag
    language = primary(canonical)
    for tag in tags:
        if tag == language:
            return tag
    for tag in tags:
        if primary(tag) == language:
            return tag
    return None
