"""TranslationService over gRPC: maps protos to use cases and back, nothing more."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message

from crosstalk.translation.v1 import resources_pb2
from crosstalk.translation.v1 import translation_service_pb2 as pb
from crosstalk.translation.v1 import translation_service_pb2_grpc as pb_grpc
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.pagination import ListRequest, PageTokenCodec
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from translation.adapters.mapping import (
    engine_to_pb,
    formality_from_pb,
    intent_to_pb,
    keyword_set_from_pb,
    keyword_set_to_pb,
    kind_from_pb,
    preset_from_pb,
    preset_to_pb,
    sentiment_to_pb,
    term_from_pb,
    term_to_pb,
)
from translation.app.resources import GlossaryService, IntentService, PresetService
from translation.app.use_cases import TranslateRequest, TranslationResult, TranslationService
from translation.domain.intents import EDITABLE_FIELDS as INTENT_FIELDS
from translation.domain.languages import language_problem, normalize_language
from translation.domain.model import GLOSSARY_EDITABLE_FIELDS, PRESET_EDITABLE_FIELDS

Context = Any  # grpc.aio.ServicerContext

# What ids of glossary terms, presets and keyword sets look like: a name with another id is refused.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _id_of(name: str, collection: str, *, field: str = "name") -> str:
    return resource_id(name, collection, field=field, id_pattern=_ID)


class _Keyed(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...


K = TypeVar("K", bound=_Keyed)


class TranslationServicer(pb_grpc.TranslationServiceServicer):
    def __init__(
        self,
        translation: TranslationService,
        glossary: GlossaryService,
        presets: PresetService,
        intents: IntentService,
        page_tokens: PageTokenCodec,
    ) -> None:
        self._translation = translation
        self._glossary = glossary
        self._presets = presets
        self._intents = intents
        self._tokens = page_tokens

    async def _page(
        self,
        tenant_id: str,
        fetch: Callable[[list[str], int], Awaitable[list[K]]],
        request: ListRequest,
        params: object,
        weigh: Callable[[K], int] | None = None,
    ) -> tuple[list[K], str]:
        window = self._tokens.window(request, tenant_id, params)
        page = await fetch(window.after, window.limit)
        return window.cut(page, _created_keys, weigh=weigh)

    # --- text ---------------------------------------------------------------------------

    async def DetectLanguage(
        self, request: pb.DetectLanguageRequest, context: Context
    ) -> pb.DetectLanguageResponse:
        caller = require_caller(context)
        found = await self._translation.detect(caller.tenant_id, request.text)
        return pb.DetectLanguageResponse(language=found.language, confidence=found.confidence)

    def _request(self, request: Any, texts: Sequence[str], *, batch: bool) -> TranslateRequest:
        return TranslateRequest(
            texts=tuple(texts),
            source_language=request.source_language,
            target_language=request.target_language,
            ignore_glossary=request.ignore_glossary,
            engine=request.engine,
            formality=formality_from_pb(request.formality),
            market=request.market,
            ignore_memory=request.ignore_memory,
            batch=batch,
        )

    async def TranslateText(
        self, request: pb.TranslateTextRequest, context: Context
    ) -> pb.TranslateTextResponse:
        caller = require_caller(context)
        result = (
            await self._translation.translate(
                caller.tenant_id, self._request(request, [request.text], batch=False)
            )
        )[0]
        return pb.TranslateTextResponse(**_result_fields(result))

    async def BatchTranslateText(
        self, request: pb.BatchTranslateTextRequest, context: Context
    ) -> pb.BatchTranslateTextResponse:
        caller = require_caller(context)
        results = await self._translation.translate(
            caller.tenant_id, self._request(request, request.texts, batch=True)
        )
        return pb.BatchTranslateTextResponse(
            translations=[pb.Translation(**_result_fields(r)) for r in results],
            characters=sum(r.characters for r in results),
        )

    async def BackTranslate(
        self, request: pb.BackTranslateRequest, context: Context
    ) -> pb.BackTranslateResponse:
        caller = require_caller(context)
        checked = await self._translation.back_translate(
            caller.tenant_id,
            request.text,
            request.source_language,
            request.target_language,
            request.engine,
        )
        return pb.BackTranslateResponse(
            translated_text=checked.translated_text,
            back_translated_text=checked.back_translated_text,
            similarity=checked.similarity,
            engine=checked.engine,
        )

    async def AnalyzeText(
        self, request: pb.AnalyzeTextRequest, context: Context
    ) -> pb.AnalyzeTextResponse:
        caller = require_caller(context)
        analysis = await self._translation.analyze(caller.tenant_id, request.text, request.language)
        return pb.AnalyzeTextResponse(
            language=analysis.language,
            sentiment=sentiment_to_pb(analysis.sentiment),
            intents=[intent_to_pb(h) for h in analysis.intents],
        )

    async def ListEngines(
        self, request: pb.ListEnginesRequest, context: Context
    ) -> pb.ListEnginesResponse:
        caller = require_caller(context)
        window = self._tokens.window(request, caller.tenant_id, "engines")
        after, size = window.after, window.size
        start = int(after[0]) if after and after[0].isdigit() else 0
        infos = self._translation.engines()
        default = next((i.name for i in infos if i.available), "")
        page = infos[start : start + size]
        token = window.token_after([str(start + size)]) if start + size < len(infos) else ""
        return pb.ListEnginesResponse(
            engines=[engine_to_pb(i, default) for i in page], next_page_token=token
        )

    async def GetMemoryStats(
        self, request: pb.GetMemoryStatsRequest, context: Context
    ) -> resources_pb2.MemoryStats:
        caller = require_caller(context)
        stats = await self._translation.memory_stats(caller.tenant_id)
        out = resources_pb2.MemoryStats(
            entry_count=stats.entry_count,
            hit_count=stats.hit_count,
            miss_count=stats.miss_count,
            hit_ratio=stats.hit_ratio,
            characters_saved=stats.characters_saved,
            pairs=[
                resources_pb2.PairMemoryStats(
                    pair=resources_pb2.LanguagePair(
                        source_language=p.source_language, target_language=p.target_language
                    ),
                    entry_count=p.entry_count,
                    hit_count=p.hit_count,
                    miss_count=p.miss_count,
                )
                for p in stats.usage.pairs
            ],
        )
        if stats.usage.start_time is not None:
            out.start_time.CopyFrom(to_timestamp(stats.usage.start_time))
        return out

    # --- glossary -----------------------------------------------------------------------

    async def CreateGlossaryTerm(
        self, request: pb.CreateGlossaryTermRequest, context: Context
    ) -> resources_pb2.GlossaryTerm:
        caller = require_caller(context)
        created = await self._glossary.create(term_from_pb(caller.tenant_id, request.glossary_term))
        return term_to_pb(created)

    async def GetGlossaryTerm(
        self, request: pb.GetGlossaryTermRequest, context: Context
    ) -> resources_pb2.GlossaryTerm:
        caller = require_caller(context)
        term_id = _id_of(request.name, "glossaryTerms")
        return term_to_pb(await self._glossary.get(caller.tenant_id, term_id))

    async def ListGlossaryTerms(
        self, request: pb.ListGlossaryTermsRequest, context: Context
    ) -> pb.ListGlossaryTermsResponse:
        caller = require_caller(context)
        kind = kind_from_pb(request.kind, field="kind")
        problems = [
            p
            for p in (
                language_problem(request.source_language, "source_language")
                if request.source_language
                else None,
                language_problem(request.target_language, "target_language")
                if request.target_language
                else None,
            )
            if p
        ]
        if problems:
            raise InvalidArgument(problems)
        source = normalize_language(request.source_language) if request.source_language else ""
        target = normalize_language(request.target_language) if request.target_language else ""

        async def fetch(after: list[str], limit: int) -> list[Any]:
            return await self._glossary.page(
                caller.tenant_id,
                kind=kind,
                source_language=source,
                target_language=target,
                after=after,
                limit=limit,
            )

        page, token = await self._page(
            caller.tenant_id, fetch, request, [kind.value, source, target]
        )
        return pb.ListGlossaryTermsResponse(
            glossary_terms=[term_to_pb(t) for t in page], next_page_token=token
        )

    async def UpdateGlossaryTerm(
        self, request: pb.UpdateGlossaryTermRequest, context: Context
    ) -> resources_pb2.GlossaryTerm:
        caller = require_caller(context)
        term_id = _id_of(request.glossary_term.name, "glossaryTerms", field="glossary_term.name")
        changes = _changes(
            request.glossary_term,
            list(request.update_mask.paths),
            GLOSSARY_EDITABLE_FIELDS,
            term_from_pb(caller.tenant_id, request.glossary_term),
        )
        updated = await self._glossary.update(
            caller.tenant_id, term_id, changes, request.glossary_term.etag
        )
        return term_to_pb(updated)

    async def DeleteGlossaryTerm(
        self, request: pb.DeleteGlossaryTermRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        await self._glossary.delete(
            caller.tenant_id, _id_of(request.name, "glossaryTerms"), request.etag
        )
        return Empty()

    # --- presets ------------------------------------------------------------------------

    async def CreateLanguagePreset(
        self, request: pb.CreateLanguagePresetRequest, context: Context
    ) -> resources_pb2.LanguagePreset:
        caller = require_caller(context)
        created = await self._presets.create(
            preset_from_pb(caller.tenant_id, request.language_preset)
        )
        return preset_to_pb(created)

    async def GetLanguagePreset(
        self, request: pb.GetLanguagePresetRequest, context: Context
    ) -> resources_pb2.LanguagePreset:
        caller = require_caller(context)
        preset_id = _id_of(request.name, "languagePresets")
        return preset_to_pb(await self._presets.get(caller.tenant_id, preset_id))

    async def ListLanguagePresets(
        self, request: pb.ListLanguagePresetsRequest, context: Context
    ) -> pb.ListLanguagePresetsResponse:
        caller = require_caller(context)

        async def fetch(after: list[str], limit: int) -> list[Any]:
            return await self._presets.page(caller.tenant_id, after=after, limit=limit)

        page, token = await self._page(caller.tenant_id, fetch, request, "presets")
        return pb.ListLanguagePresetsResponse(
            language_presets=[preset_to_pb(p) for p in page], next_page_token=token
        )

    async def UpdateLanguagePreset(
        self, request: pb.UpdateLanguagePresetRequest, context: Context
    ) -> resources_pb2.LanguagePreset:
        caller = require_caller(context)
        preset_id = _id_of(
            request.language_preset.name, "languagePresets", field="language_preset.name"
        )
        changes = _changes(
            request.language_preset,
            list(request.update_mask.paths),
            PRESET_EDITABLE_FIELDS,
            preset_from_pb(caller.tenant_id, request.language_preset),
        )
        updated = await self._presets.update(
            caller.tenant_id, preset_id, changes, request.language_preset.etag
        )
        return preset_to_pb(updated)

    async def DeleteLanguagePreset(
        self, request: pb.DeleteLanguagePresetRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        await self._presets.delete(
            caller.tenant_id, _id_of(request.name, "languagePresets"), request.etag
        )
        return Empty()

    # --- intent keyword sets ------------------------------------------------------------

    async def CreateIntentKeywordSet(
        self, request: pb.CreateIntentKeywordSetRequest, context: Context
    ) -> resources_pb2.IntentKeywordSet:
        caller = require_caller(context)
        draft = keyword_set_from_pb(caller.tenant_id, request.intent_keyword_set)
        return keyword_set_to_pb(await self._intents.create(draft))

    async def GetIntentKeywordSet(
        self, request: pb.GetIntentKeywordSetRequest, context: Context
    ) -> resources_pb2.IntentKeywordSet:
        caller = require_caller(context)
        set_id = _id_of(request.name, "intentKeywordSets")
        return keyword_set_to_pb(await self._intents.get(caller.tenant_id, set_id))

    async def ListIntentKeywordSets(
        self, request: pb.ListIntentKeywordSetsRequest, context: Context
    ) -> pb.ListIntentKeywordSetsResponse:
        caller = require_caller(context)

        async def fetch(after: list[str], limit: int) -> list[Any]:
            return await self._intents.page(
                caller.tenant_id, intent=request.intent, after=after, limit=limit
            )

        page, token = await self._page(
            caller.tenant_id,
            fetch,
            request,
            request.intent,
            # A set can hold 200 words: pages are cut by weight too (ADR 0016).
            weigh=lambda keyword_set: keyword_set_to_pb(keyword_set).ByteSize(),
        )
        return pb.ListIntentKeywordSetsResponse(
            intent_keyword_sets=[keyword_set_to_pb(k) for k in page], next_page_token=token
        )

    async def UpdateIntentKeywordSet(
        self, request: pb.UpdateIntentKeywordSetRequest, context: Context
    ) -> resources_pb2.IntentKeywordSet:
        caller = require_caller(context)
        set_id = _id_of(
            request.intent_keyword_set.name, "intentKeywordSets", field="intent_keyword_set.name"
        )
        changes = _changes(
            request.intent_keyword_set,
            list(request.update_mask.paths),
            INTENT_FIELDS,
            keyword_set_from_pb(caller.tenant_id, request.intent_keyword_set),
        )
        updated = await self._intents.update(
            caller.tenant_id, set_id, changes, request.intent_keyword_set.etag
        )
        return keyword_set_to_pb(updated)

    async def DeleteIntentKeywordSet(
        self, request: pb.DeleteIntentKeywordSetRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        await self._intents.delete(
            caller.tenant_id, _id_of(request.name, "intentKeywordSets"), request.etag
        )
        return Empty()


def _created_keys(item: _Keyed) -> list[str]:
    assert item.created_at is not None
    return [item.created_at.isoformat(), item.id]


def _changes(
    message: Message, mask: list[str], editable: Sequence[str], draft: object
) -> dict[str, object]:
    paths = resolve_update_paths(mask, populated=populated_fields(message), updatable=editable)
    return {path: getattr(draft, path) for path in paths}


def _result_fields(result: TranslationResult) -> dict[str, Any]:
    return {
        "translated_text": result.translated_text,
        "source_language": result.source_language,
        "engine": result.engine,
        "memory_hit": result.memory_hit,
        "characters": result.characters,
        "applied_glossary_terms": list(result.applied_terms),
    }
