"""Translation use cases: detect, translate, back-translate, analyze, memory stats."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from crosstalk_common.errors import DomainError, FieldViolation, InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from translation.app.engines import EngineRegistry
from translation.app.intent_matchers import IntentMatchers
from translation.app.ports import (
    EngineInfo,
    LanguageDetector,
    MemoryEntry,
    MemoryUsage,
    SentimentModel,
    UnitOfWork,
)
from translation.app.resources import ensure_default_intents
from translation.domain.detection import Detection, decide, text_for_detection
from translation.domain.events import TranslationCompleted
from translation.domain.intents import IntentHit, merge_hits
from translation.domain.languages import (
    DEFAULT_LANGUAGES,
    UND,
    language_problem,
    normalize_language,
    primary,
)
from translation.domain.model import Formality, GlossaryTerm, LanguagePreset
from translation.domain.protection import ProtectedText, protect
from translation.domain.sentiment import (
    CUES_ONLY,
    UNKNOWN,
    VADER_VIA_ENGLISH,
    Sentiment,
    judge,
)
from translation.domain.service_cues import cue_balance, has_cues
from translation.domain.similarity import similarity

MAX_BATCH_TEXTS = 100
MAX_BATCH_CHARACTERS = 50_000
_ENGINE_NAME = re.compile(r"^engines/([a-z0-9][a-z0-9_-]{0,40})$")
_TENANT_LANGUAGES_TTL = 5.0


def term_name(term_id: str) -> str:
    return f"glossaryTerms/{term_id}"


@dataclass(frozen=True)
class TranslateRequest:
    texts: tuple[str, ...]
    source_language: str = ""
    target_language: str = ""
    ignore_glossary: bool = False
    engine: str = ""  # "engines/{engine}" or empty
    formality: Formality = Formality.UNSPECIFIED
    market: str = ""
    ignore_memory: bool = False
    # Field names in errors: "text" for TranslateText, "texts[i]" for a batch.
    batch: bool = False


@dataclass(frozen=True)
class TranslationResult:
    translated_text: str
    source_language: str
    engine: str
    memory_hit: bool
    characters: int
    applied_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackTranslation:
    translated_text: str
    back_translated_text: str
    similarity: float
    engine: str


@dataclass(frozen=True)
class Analysis:
    language: str
    sentiment: Sentiment
    intents: list[IntentHit] = field(default_factory=list)


@dataclass(frozen=True)
class MemoryStats:
    entry_count: int
    hit_count: int
    miss_count: int
    hit_ratio: float
    characters_saved: int
    usage: MemoryUsage


@dataclass
class _Item:
    """One text on its way through the pipeline."""

    index: int
    text: str
    source: str = ""
    protected: ProtectedText | None = None
    result: TranslationResult | None = None
    memory: MemoryEntry | None = None
    engine_output: str = ""
    latency_ms: int = 0


class TranslationService:
    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        registry: EngineRegistry,
        detector: LanguageDetector,
        sentiment_models: Sequence[SentimentModel] = (),
        *,
        max_text_characters: int = 5000,
        default_languages: Sequence[str] = DEFAULT_LANGUAGES,
    ) -> None:
        self._new_uow = new_uow
        self.registry = registry
        self._detector = detector
        self._sentiment = list(sentiment_models)
        self._max_chars = max_text_characters
        self._default_languages = tuple(default_languages)
        self._tenant_languages: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._intents = IntentMatchers(new_uow)

    # --- languages --------------------------------------------------------------------

    def forget_tenant_languages(self, tenant_id: str) -> None:
        self._tenant_languages.pop(tenant_id, None)

    async def tenant_languages(self, tenant_id: str) -> tuple[str, ...]:
        """Primary subtags detection chooses among: the tenant's presets, else the defaults."""
        cached = self._tenant_languages.get(tenant_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        async with self._new_uow() as uow:
            tags = await uow.presets.languages(tenant_id)
        languages = sorted({primary(t) for t in tags})
        if len(languages) < 2:
            languages = sorted(set(languages) | set(self._default_languages))
        result = tuple(languages)
        self._tenant_languages[tenant_id] = (now + _TENANT_LANGUAGES_TTL, result)
        return result

    def _check_text(self, text: str, field_name: str) -> FieldViolation | None:
        if not text.strip():
            return FieldViolation(field_name, "must not be empty")
        if len(text) > self._max_chars:
            return FieldViolation(
                field_name, f"at most {self._max_chars} characters, got {len(text)}"
            )
        return None

    async def detect(self, tenant_id: str, text: str, *, field_name: str = "text") -> Detection:
        problem = self._check_text(text, field_name)
        if problem:
            raise InvalidArgument(problem)
        return await self._detect(tenant_id, text)

    async def _detect(self, tenant_id: str, text: str) -> Detection:
        languages = await self.tenant_languages(tenant_id)
        scores = await self._detector.scores(text_for_detection(text), languages)
        return decide(text, scores)

    # --- translation ------------------------------------------------------------------

    def engines(self) -> list[EngineInfo]:
        return self.registry.infos()

    def _validate(self, request: TranslateRequest) -> str:
        """Check the request; return the preferred engine name ("" for none)."""
        problems: list[FieldViolation] = []
        if request.batch:
            if not request.texts:
                problems.append(FieldViolation("texts", "at least one text is required"))
            elif len(request.texts) > MAX_BATCH_TEXTS:
                problems.append(
                    FieldViolation(
                        "texts", f"at most {MAX_BATCH_TEXTS} texts, got {len(request.texts)}"
                    )
                )
            total = sum(len(t) for t in request.texts)
            if total > MAX_BATCH_CHARACTERS:
                problems.append(
                    FieldViolation(
                        "texts", f"at most {MAX_BATCH_CHARACTERS} characters in all, got {total}"
                    )
                )
        for i, text in enumerate(request.texts):
            problem = self._check_text(text, f"texts[{i}]" if request.batch else "text")
            if problem:
                problems.append(problem)
        for name, value in (
            ("source_language", request.source_language),
            ("target_language", request.target_language),
        ):
            if value:
                bad = language_problem(value, name)
                if bad:
                    problems.append(bad)
        if not request.target_language and not request.market:
            problems.append(
                FieldViolation(
                    "target_language",
                    "required unless market names one of the tenant's language presets",
                )
            )
        preferred = ""
        if request.engine:
            match = _ENGINE_NAME.match(request.engine)
            if not match or match.group(1) not in self.registry.names:
                known = ", ".join(f"engines/{n}" for n in self.registry.names)
                problems.append(
                    FieldViolation("engine", f"unknown engine {request.engine!r}; one of {known}")
                )
            else:
                preferred = match.group(1)
        if problems:
            raise InvalidArgument(problems)
        return preferred

    async def translate(self, tenant_id: str, request: TranslateRequest) -> list[TranslationResult]:
        preferred = self._validate(request)
        target = normalize_language(request.target_language) if request.target_language else ""
        source = normalize_language(request.source_language) if request.source_language else ""
        formality = request.formality
        items = [_Item(i, text) for i, text in enumerate(request.texts)]
        # One read transaction: preset, glossary and memory; one write transaction at the end.
        async with self._new_uow() as uow:
            preset = (
                await uow.presets.by_market(tenant_id, request.market) if request.market else None
            )
            if request.market and preset is None and not target:
                raise InvalidArgument.field(
                    "market",
                    f"no language preset for market {request.market!r}; create one or name "
                    "target_language",
                )
            target, formality = _resolve_target(target, formality, preset)
            glossary = [] if request.ignore_glossary else await uow.glossary.all_for(tenant_id)
            for item in items:
                item.source = source or await self._source_of(
                    tenant_id, item.text, request.batch, item.index
                )
            work = self._prepare(items, target, glossary)
            if work and not request.ignore_memory:
                await self._recall(uow, tenant_id, work, target, preferred)
        if work:
            await self._complete(
                tenant_id, work, target, formality, preferred, request.ignore_memory
            )
        return [item.result for item in items if item.result is not None]

    async def _source_of(self, tenant_id: str, text: str, batch: bool, index: int) -> str:
        detection = await self._detect(tenant_id, text)
        if detection.undetermined:
            where = f"texts[{index}]" if batch else "text"
            raise InvalidArgument.field(
                "source_language",
                f"the language of {where} could not be detected (too short or ambiguous); "
                "name source_language",
            )
        return detection.language

    def _prepare(
        self, items: list[_Item], target: str, glossary: list[GlossaryTerm]
    ) -> list[_Item]:
        """Protect the texts that need translating; same-language texts pass as they are."""
        work: list[_Item] = []
        for item in items:
            if primary(item.source) == primary(target):
                item.result = TranslationResult(item.text, item.source, "", False, len(item.text))
                continue
            rules = [t.rule() for t in glossary if t.applies(item.source, target)]
            rules.sort(key=lambda r: -len(r.source_text))
            item.protected = protect(item.text, rules)
            work.append(item)
        return work

    async def _complete(
        self,
        tenant_id: str,
        work: list[_Item],
        target: str,
        formality: Formality,
        preferred: str,
        ignore_memory: bool,
    ) -> None:
        by_source: dict[str, list[_Item]] = {}
        for item in work:
            if item.memory is None:
                by_source.setdefault(item.source, []).append(item)
        for source, group in by_source.items():
            await self._run_engines(group, source, target, formality, preferred)
        async with self._new_uow() as uow:
            for item in work:
                await self._record(uow, tenant_id, item, target, ignore_memory)
            await uow.commit()

    async def _recall(
        self, uow: UnitOfWork, tenant_id: str, work: list[_Item], target: str, preferred: str
    ) -> None:
        rank = {name: i for i, name in enumerate(self.registry.names)}

        def order(entry: MemoryEntry) -> int:
            return rank.get(entry.engine.split("+", 1)[0], len(rank))

        for item in work:
            assert item.protected is not None
            started = time.perf_counter()
            found = await uow.memory.find(
                tenant_id,
                item.source,
                target,
                _hash(item.protected.text),
                [preferred] if preferred else [],
            )
            usable = [e for e in found if not item.protected.missing_slots(e.translated_text)]
            if not usable:
                continue
            entry = min(usable, key=order)
            item.memory = entry
            item.latency_ms = int((time.perf_counter() - started) * 1000)
            item.result = TranslationResult(
                item.protected.restore(entry.translated_text),
                item.source,
                entry.engine,
                True,
                len(item.text),
                tuple(term_name(t) for t in item.protected.applied_term_ids),
            )

    async def _run_engines(
        self, group: list[_Item], source: str, target: str, formality: Formality, preferred: str
    ) -> None:
        def accept(i: int, output: str) -> str | None:
            protected = group[i].protected
            assert protected is not None
            missing = protected.missing_slots(output)
            if missing:
                lost = ", ".join(repr(protected.slots[m].original) for m in missing[:3])
                return f"lost protected terms {lost}"
            return None

        started = time.perf_counter()
        routed = await self.registry.translate(
            [item.protected.text for item in group if item.protected is not None],
            source,
            target,
            formality,
            preferred=preferred,
            accept=accept,
        )
        latency = int((time.perf_counter() - started) * 1000)
        for item, output, engine in zip(group, routed.texts, routed.engines, strict=True):
            assert item.protected is not None
            item.latency_ms = latency
            item.memory = None
            item.result = TranslationResult(
                item.protected.restore(output),
                item.source,
                engine,
                False,
                len(item.text),
                tuple(term_name(t) for t in item.protected.applied_term_ids),
            )
            # What the engine answered, placeholders included, is what memory keeps.
            item.engine_output = output

    async def _record(
        self, uow: UnitOfWork, tenant_id: str, item: _Item, target: str, ignore_memory: bool
    ) -> None:
        result, protected = item.result, item.protected
        assert result is not None
        assert protected is not None
        if item.memory is not None:
            await uow.memory.record_hit(item.memory)
            await uow.memory.count(
                tenant_id, item.source, target, hit=True, characters_saved=result.characters
            )
        elif not ignore_memory:
            await uow.memory.put(
                MemoryEntry(
                    tenant_id=tenant_id,
                    engine=result.engine,
                    source_language=item.source,
                    target_language=target,
                    source_hash=_hash(protected.text),
                    source_text=protected.text,
                    translated_text=item.engine_output,
                )
            )
            await uow.memory.count(tenant_id, item.source, target, hit=False, characters_saved=0)
        await uow.emit(
            tenant_id,
            TranslationCompleted(
                engine=result.engine,
                source_language=item.source,
                target_language=target,
                characters=result.characters,
                latency_ms=item.latency_ms,
                memory_hit=result.memory_hit,
                glossary_term_count=len(result.applied_terms),
            ),
        )

    # --- back translation and analysis --------------------------------------------------

    async def back_translate(
        self, tenant_id: str, text: str, source: str, target: str, engine: str
    ) -> BackTranslation:
        if not target:
            raise InvalidArgument.field("target_language", "required, e.g. 'de'")
        forward = (
            await self.translate(
                tenant_id,
                TranslateRequest(
                    (text,), source_language=source, target_language=target, engine=engine
                ),
            )
        )[0]
        first_engine = forward.engine.split("+", 1)[0]
        back = (
            await self.translate(
                tenant_id,
                TranslateRequest(
                    (forward.translated_text,),
                    source_language=target,
                    target_language=forward.source_language,
                    engine=engine or (f"engines/{first_engine}" if first_engine else ""),
                ),
            )
        )[0]
        return BackTranslation(
            forward.translated_text,
            back.translated_text,
            similarity(text, back.translated_text),
            forward.engine,
        )

    async def analyze(self, tenant_id: str, text: str, language: str) -> Analysis:
        problem = self._check_text(text, "text")
        problems = [problem] if problem else []
        if language:
            bad = language_problem(language, "language")
            if bad:
                problems.append(bad)
        if problems:
            raise InvalidArgument(problems)
        lang = (
            normalize_language(language)
            if language
            else (await self._detect(tenant_id, text)).language
        )
        sentiment, english = await self._sentiment_of(tenant_id, text, lang)
        await ensure_default_intents(self._new_uow, tenant_id)
        intents = await self._intents.of(tenant_id)
        hits = intents.every.match(text, lang)
        if english is not None:
            hits += intents.english.match(english, "en")
        return Analysis(lang, sentiment, merge_hits(hits))

    async def _sentiment_of(
        self, tenant_id: str, text: str, language: str
    ) -> tuple[Sentiment, str | None]:
        if language == UND:
            return UNKNOWN, None
        code = primary(language)
        cues = cue_balance(text, code)
        for model in self._sentiment:
            if code in model.languages:
                scored = await model.polarity(text, code)
                return judge(scored.method, scored.model_score, cues), None
        english_model = next((m for m in self._sentiment if "en" in m.languages), None)
        english = None
        if english_model is not None:
            try:
                english = (
                    await self.translate(
                        tenant_id,
                        TranslateRequest((text,), source_language=language, target_language="en"),
                    )
                )[0].translated_text
            except DomainError:
                english = None
        if english_model is not None and english is not None:
            scored = await english_model.polarity(english, "en")
            return judge(
                VADER_VIA_ENGLISH, scored.model_score, cues + cue_balance(english, "en")
            ), english
        if has_cues(code):  # no model could read it: its customer-service cues alone
            return judge(CUES_ONLY, 0.0, cues), None
        return UNKNOWN, None

    async def memory_stats(self, tenant_id: str) -> MemoryStats:
        async with self._new_uow() as uow:
            usage = await uow.memory.usage(tenant_id)
        hits = sum(p.hit_count for p in usage.pairs)
        misses = sum(p.miss_count for p in usage.pairs)
        return MemoryStats(
            entry_count=sum(p.entry_count for p in usage.pairs),
            hit_count=hits,
            miss_count=misses,
            hit_ratio=hits / (hits + misses) if hits + misses else 0.0,
            characters_saved=sum(p.characters_saved for p in usage.pairs),
            usage=usage,
        )


def _resolve_target(
    target: str, formality: Formality, preset: LanguagePreset | None
) -> tuple[str, Formality]:
    """The request's language wins (the customer's own); else the market's preset."""
    if preset is not None:
        if formality is Formality.UNSPECIFIED:
            formality = preset.formality
        if not target:
            target = preset.language
    return target, formality


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
