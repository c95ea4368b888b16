"""Property-based test (hypothesis, issue 19): do-not-translate terms survive the real
Apertium eng->spa through the translation service.

Random sentences hold random glossary terms -- English words Apertium would translate
("Free Shipping", "Gold Card"), invented brand words, in any letter case -- next to
order numbers, e-mail addresses and template variables. The service protects them as
placeholders (``translation.domain.protection``), Apertium translates the rest, and
the answer holds every one of them exactly as the buyer wrote it, and no placeholder.
"""

from __future__ import annotations

import re
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from translation.app.use_cases import TranslateRequest
from translation.domain.model import GlossaryKind, GlossaryTerm

from .conftest import make_service, needs_apertium, services

# Words Apertium eng-spa knows: a term made of them would be translated unprotected.
ENGLISH = ["free", "shipping", "gold", "card", "happy", "box", "smart", "home", "blue", "sky"]
FILLER = [
    "Hello,",
    "my",
    "order",
    "arrived",
    "broken",
    "and",
    "I",
    "would",
    "like",
    "a",
    "refund",
    "please",
    "thank",
    "you",
    "for",
    "the",
    "quick",
    "answer",
    "where",
    "is",
    "parcel",
]
PLACEHOLDER = re.compile(r"[JKQVXZ]{3}\s*\d+\s*[JKQVXZ]{3}", re.IGNORECASE)

invented = st.from_regex(r"[A-Z][a-z]{2,6}(?:[A-Z][a-z]{2,5})?", fullmatch=True)
known_phrase = st.lists(st.sampled_from(ENGLISH), min_size=1, max_size=3, unique=True).map(
    lambda words: " ".join(w.capitalize() for w in words)
)
terms = st.lists(st.one_of(invented, known_phrase), min_size=1, max_size=3, unique_by=str.lower)
builtin = st.one_of(
    st.from_regex(r"DD20[0-9]{7}", fullmatch=True),  # an order number
    st.from_regex(r"#[0-9]{4,8}", fullmatch=True),
    st.from_regex(r"[a-z]{3,8}@example\.(com|es)", fullmatch=True),
    st.sampled_from(["{customer_name}", "{{order_id}}", "%(name)s"]),
)


@st.composite
def sentences(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """A sentence, the glossary terms it defines and every protected piece it holds."""
    glossary = draw(terms)
    pieces: list[str] = []
    kept: list[str] = []
    for _ in range(draw(st.integers(2, 6))):
        pieces.extend(draw(st.lists(st.sampled_from(FILLER), min_size=1, max_size=4)))
        kind = draw(st.sampled_from(["term", "term", "builtin"]))
        if kind == "term":
            term = draw(st.sampled_from(glossary))
            written = draw(st.sampled_from([term, term.lower(), term.upper()]))
            pieces.append(written)
            kept.append(written)
        else:
            token = draw(builtin)
            pieces.append(token)
            kept.append(token)
    pieces.append(draw(st.sampled_from(FILLER)) + ".")
    return " ".join(pieces), glossary, kept


@needs_apertium
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=sentences())
async def test_do_not_translate_terms_survive_apertium_eng_spa(
    new_uow, detector, apertium, case: tuple[str, list[str], list[str]]
) -> None:  # type: ignore[no-untyped-def]
    text, glossary, kept = case
    tenant = f"tenant-{uuid.uuid4().hex[:10]}"  # one per example: its own glossary
    service = make_service(new_uow, [apertium], detector)
    terms_service, _, _ = services(new_uow, service)
    for term in glossary:
        await terms_service.create(GlossaryTerm("", tenant, GlossaryKind.DO_NOT_TRANSLATE, term))
    (result,) = await service.translate(
        tenant,
        TranslateRequest((text,), source_language="en", target_language="es", ignore_memory=True),
    )
    assert result.engine == "apertium"
    out = result.translated_text
    assert not PLACEHOLDER.search(out), out
    for piece in kept:
        assert out.count(piece) >= kept.count(piece), (piece, text, out)
    # Apertium did translate the rest (the filler is English it knows).
    assert out != text
