"""Proto <-> domain conversion for the translation service."""

from __future__ import annotations

from google.protobuf.message import Message

from crosstalk.common.v1 import text_analysis_pb2
from crosstalk.events.v1 import translation_events_pb2
from crosstalk.translation.v1 import resources_pb2
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.errors import InvalidArgument
from translation.app.ports import EngineInfo
from translation.domain.events import TranslationCompleted, TranslationEvent
from translation.domain.intents import IntentHit, IntentKeywordSet
from translation.domain.model import Formality, GlossaryKind, GlossaryTerm, LanguagePreset
from translation.domain.sentiment import Sentiment


def formality_from_pb(value: int, *, field: str = "formality") -> Formality:
    try:
        return Formality(int(value))
    except ValueError:
        raise InvalidArgument.field(field, f"unknown formality {value}") from None


def kind_from_pb(value: int, *, field: str) -> GlossaryKind:
    try:
        return GlossaryKind(int(value))
    except ValueError:
        raise InvalidArgument.field(field, f"unknown glossary term kind {value}") from None


def term_from_pb(tenant_id: str, pb: resources_pb2.GlossaryTerm) -> GlossaryTerm:
    return GlossaryTerm(
        id="",
        tenant_id=tenant_id,
        kind=kind_from_pb(pb.kind, field="glossary_term.kind"),
        source_text=pb.source_text,
        target_text=pb.target_text,
        source_language=pb.source_language,
        target_language=pb.target_language,
        case_sensitive=pb.case_sensitive,
        note=pb.note,
    )


def term_to_pb(term: GlossaryTerm) -> resources_pb2.GlossaryTerm:
    return resources_pb2.GlossaryTerm(
        name=f"glossaryTerms/{term.id}",
        kind=term.kind.value,  # type: ignore[arg-type]
        source_text=term.source_text,
        target_text=term.target_text,
        source_language=term.source_language,
        target_language=term.target_language,
        case_sensitive=term.case_sensitive,
        note=term.note,
        create_time=to_timestamp(term.created_at),
        update_time=to_timestamp(term.updated_at),
        etag=term.etag,
    )


def preset_from_pb(tenant_id: str, pb: resources_pb2.LanguagePreset) -> LanguagePreset:
    return LanguagePreset(
        id="",
        tenant_id=tenant_id,
        market=pb.market,
        language=pb.language,
        formality=formality_from_pb(pb.formality, field="language_preset.formality"),
        time_zone=pb.time_zone,
        display_name=pb.display_name,
    )


def preset_to_pb(preset: LanguagePreset) -> resources_pb2.LanguagePreset:
    return resources_pb2.LanguagePreset(
        name=f"languagePresets/{preset.id}",
        market=preset.market,
        language=preset.language,
        formality=preset.formality.value,  # type: ignore[arg-type]
        time_zone=preset.time_zone,
        display_name=preset.display_name,
        create_time=to_timestamp(preset.created_at),
        update_time=to_timestamp(preset.updated_at),
        etag=preset.etag,
    )


def keyword_set_from_pb(tenant_id: str, pb: resources_pb2.IntentKeywordSet) -> IntentKeywordSet:
    return IntentKeywordSet(
        id="",
        tenant_id=tenant_id,
        intent=pb.intent,
        language=pb.language,
        keywords=tuple(pb.keywords),
        synonyms=tuple((s.keyword, tuple(s.synonyms)) for s in pb.synonyms),
        fuzzy=pb.fuzzy,
        enabled=pb.enabled,
    )


def keyword_set_to_pb(ks: IntentKeywordSet) -> resources_pb2.IntentKeywordSet:
    return resources_pb2.IntentKeywordSet(
        name=f"intentKeywordSets/{ks.id}",
        intent=ks.intent,
        language=ks.language,
        keywords=list(ks.keywords),
        synonyms=[
            resources_pb2.KeywordSynonyms(keyword=k, synonyms=list(s)) for k, s in ks.synonyms
        ],
        fuzzy=ks.fuzzy,
        enabled=ks.enabled,
        create_time=to_timestamp(ks.created_at),
        update_time=to_timestamp(ks.updated_at),
        etag=ks.etag,
    )


def engine_to_pb(info: EngineInfo, default: str) -> resources_pb2.Engine:
    return resources_pb2.Engine(
        name=f"engines/{info.name}",
        display_name=info.display_name,
        available=info.available,
        unavailable_reason=info.unavailable_reason,
        pairs=[
            resources_pb2.LanguagePair(source_language=a, target_language=b)
            for a, b in sorted(info.pairs)
        ],
        default_engine=info.name == default,
        offline=info.offline,
        missing_pairs=[
            resources_pb2.LanguagePair(source_language=a, target_language=b)
            for a, b in info.missing_pairs
        ],
        install_hint=info.install_hint,
    )


def sentiment_to_pb(sentiment: Sentiment) -> text_analysis_pb2.Sentiment:
    return text_analysis_pb2.Sentiment(
        score=sentiment.score,
        label=sentiment.label.value,  # type: ignore[arg-type]
    )


def intent_to_pb(hit: IntentHit) -> text_analysis_pb2.IntentMatch:
    return text_analysis_pb2.IntentMatch(
        intent=hit.intent,
        keyword_set=f"intentKeywordSets/{hit.set_id}",
        matched_keywords=list(hit.matched),
        confidence=hit.confidence,
    )


def event_pb(payload: Message | TranslationEvent) -> Message:
    """The contract's event for a TranslationEvent; a proto is staged as it is."""
    if isinstance(payload, Message):
        return payload
    if isinstance(payload, TranslationCompleted):
        return translation_events_pb2.TranslationCompleted(
            # a memory hit names no engine
            engine="" if payload.memory_hit else f"engines/{payload.engine}",
            source_language=payload.source_language,
            target_language=payload.target_language,
            characters=payload.characters,
            latency_ms=payload.latency_ms,
            memory_hit=payload.memory_hit,
            glossary_term_count=payload.glossary_term_count,
        )
    raise TypeError(f"no event proto for {type(payload).__name__}")
