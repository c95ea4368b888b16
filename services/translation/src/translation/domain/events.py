"""What translation announces, as the domain sees it.

The use cases stage these (``uow.emit``); the unit of work turns each into the
event of the contract (``translation.completed``) with
``adapters/mapping.event_pb``, so the app layer builds no proto.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TranslationCompleted:
    """A text was translated, by ``engine`` or (``memory_hit``) from the translation memory."""

    engine: str  # the engine's id; the memory's entry's engine on a memory hit
    source_language: str
    target_language: str
    characters: int  # of the source text
    latency_ms: int  # time spent producing the translation
    memory_hit: bool
    glossary_term_count: int  # glossary terms applied


TranslationEvent = TranslationCompleted
