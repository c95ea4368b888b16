"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from translation.domain.events import TranslationEvent
from translation.domain.intents import IntentKeywordSet
from translation.domain.model import Formality, GlossaryKind, GlossaryTerm, LanguagePreset
from translation.domain.routing import Pair
from translation.domain.sentiment import Sentiment


class DuplicateKey(Exception):
    """A uniqueness constraint refused a row (same market, same glossary term)."""


class EngineFailure(Exception):
    """An engine could not translate (down, timed out, refused the pair, bad answer)."""


@dataclass(frozen=True)
class EngineInfo:
    name: str
    display_name: str
    offline: bool
    available: bool
    unavailable_reason: str = ""
    # Pairs it translates, as primary language subtags.
    pairs: frozenset[Pair] = frozenset()
    missing_pairs: tuple[Pair, ...] = ()
    install_hint: str = ""


class TranslationEngine(Protocol):
    @property
    def name(self) -> str: ...

    def info(self) -> EngineInfo: ...

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        """One translation per text; raises EngineFailure (or anything) when it cannot."""
        ...


class LanguageDetector(Protocol):
    async def scores(self, text: str, languages: Sequence[str]) -> list[tuple[str, float]]:
        """(language, confidence) among ``languages`` (primary subtags), best first."""
        ...


class SentimentModel(Protocol):
    @property
    def languages(self) -> frozenset[str]: ...

    async def polarity(self, text: str, language: str) -> Sentiment: ...


@dataclass(frozen=True)
class MemoryEntry:
    tenant_id: str
    engine: str
    source_language: str
    target_language: str
    source_hash: str
    source_text: str
    translated_text: str
    hit_count: int = 0


@dataclass(frozen=True)
class PairUsage:
    source_language: str
    target_language: str
    entry_count: int = 0
    hit_count: int = 0
    miss_count: int = 0
    characters_saved: int = 0


@dataclass(frozen=True)
class MemoryUsage:
    pairs: tuple[PairUsage, ...] = field(default=())
    start_time: datetime | None = None


class GlossaryRepository(Protocol):
    async def add(self, term: GlossaryTerm) -> None: ...
    async def get(self, tenant_id: str, term_id: str) -> GlossaryTerm | None: ...
    async def save(self, term: GlossaryTerm, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, term_id: str) -> bool: ...
    async def page(
        self,
        tenant_id: str,
        *,
        kind: GlossaryKind,
        source_language: str,
        target_language: str,
        after: list[str],
        limit: int,
    ) -> list[GlossaryTerm]: ...
    async def all_for(self, tenant_id: str) -> list[GlossaryTerm]: ...


class PresetRepository(Protocol):
    async def add(self, preset: LanguagePreset) -> None: ...
    async def get(self, tenant_id: str, preset_id: str) -> LanguagePreset | None: ...
    async def by_market(self, tenant_id: str, market: str) -> LanguagePreset | None: ...
    async def save(self, preset: LanguagePreset, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, preset_id: str) -> bool: ...
    async def page(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[LanguagePreset]: ...
    async def languages(self, tenant_id: str) -> list[str]: ...


class IntentRepository(Protocol):
    async def add(self, keyword_set: IntentKeywordSet) -> None: ...
    async def get(self, tenant_id: str, set_id: str) -> IntentKeywordSet | None: ...
    async def save(self, keyword_set: IntentKeywordSet, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, set_id: str) -> bool: ...
    async def page(
        self, tenant_id: str, *, intent: str, after: list[str], limit: int
    ) -> list[IntentKeywordSet]: ...
    async def enabled(self, tenant_id: str) -> list[IntentKeywordSet]: ...
    async def revision(self, tenant_id: str) -> int:
        """The revision of the tenant's sets (0 before any change): every add, save or
        delete moves it in the same transaction, so an equal revision means equal sets."""
        ...

    async def seed_applied(self, tenant_id: str, seed: str) -> bool:
        """Whether ``seed`` was applied already (a read)."""
        ...

    async def claim_seed(self, tenant_id: str, seed: str) -> bool:
        """Record that ``seed`` was applied; False when it already was."""
        ...


class MemoryRepository(Protocol):
    async def find(
        self, tenant_id: str, source: str, target: str, source_hash: str, engines: Sequence[str]
    ) -> list[MemoryEntry]: ...
    async def put(self, entry: MemoryEntry) -> None: ...
    async def record_hit(self, entry: MemoryEntry) -> None: ...
    async def count(
        self, tenant_id: str, source: str, target: str, *, hit: bool, characters_saved: int
    ) -> None: ...
    async def usage(self, tenant_id: str) -> MemoryUsage: ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def glossary(self) -> GlossaryRepository: ...
    @property
    def presets(self) -> PresetRepository: ...
    @property
    def intents(self) -> IntentRepository: ...
    @property
    def memory(self) -> MemoryRepository: ...

    async def emit(self, tenant_id: str, event: TranslationEvent) -> str:
        """Stage an event for the outbox (as its proto); written by ``commit``."""
        ...
