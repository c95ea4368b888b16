"""The translation service as messaging's TextUnderstanding (with identity for the
tenant's working language). Failures degrade to "not understood", never to a
lost message: the message is stored either way."""

from __future__ import annotations

import logging
import time

from crosstalk.common.v1 import text_analysis_pb2
from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk.translation.v1 import translation_service_pb2 as tpb
from crosstalk.translation.v1 import translation_service_pb2_grpc as tgrpc
from crosstalk_common.errors import DomainError
from crosstalk_common.grpc.auth import Caller, require_caller
from crosstalk_common.grpc.channels import open_channel
from crosstalk_common.grpc.client import call
from messaging.domain.model import UNDETERMINED_LANGUAGE, Intent, Understanding, one_per_intent

log = logging.getLogger(__name__)

ANALYZE_DEADLINE_SECONDS = 2.0
TRANSLATE_DEADLINE_SECONDS = 4.0
TENANT_DEADLINE_SECONDS = 1.0
WORKING_LANGUAGE_TTL_SECONDS = 300.0


def _primary(language: str) -> str:
    return language.split("-", 1)[0].lower()


class GrpcTextUnderstanding:
    def __init__(self, translation_address: str, identity_address: str) -> None:
        self._translation_channel = open_channel(translation_address)
        self._identity_channel = open_channel(identity_address)
        self._translation = tgrpc.TranslationServiceStub(self._translation_channel)
        self._identity = identity_service_pb2_grpc.IdentityServiceStub(self._identity_channel)
        self._working: dict[str, tuple[str, float]] = {}

    async def understand(self, tenant_id: str, text: str) -> Understanding:
        caller = require_caller()  # the channel adapter's token travels along
        try:
            analysis = await call(
                self._translation.AnalyzeText,
                tpb.AnalyzeTextRequest(text=text),
                caller=caller,
                timeout=ANALYZE_DEADLINE_SECONDS,
            )
        except DomainError as exc:
            log.warning("message not analysed (%s): stored without language", exc.message)
            return Understanding()
        understood = _from_analysis(analysis)
        if understood.language == UNDETERMINED_LANGUAGE:
            return understood
        working = await self._working_language(caller)
        if not working or _primary(working) == _primary(understood.language):
            return understood
        try:
            translated = await call(
                self._translation.TranslateText,
                tpb.TranslateTextRequest(
                    text=text, source_language=understood.language, target_language=working
                ),
                caller=caller,
                timeout=TRANSLATE_DEADLINE_SECONDS,
            )
        except DomainError as exc:
            log.warning(
                "message not translated %s->%s (%s)", understood.language, working, exc.message
            )
            return understood
        return Understanding(
            language=understood.language,
            translated_text=translated.translated_text,
            translated_language=working,
            sentiment_score=understood.sentiment_score,
            sentiment_label=understood.sentiment_label,
            intents=understood.intents,
        )

    async def _working_language(self, caller: Caller) -> str:
        cached = self._working.get(caller.tenant_id)
        if cached is not None and time.monotonic() - cached[1] < WORKING_LANGUAGE_TTL_SECONDS:
            return cached[0]
        try:
            tenant = await call(
                self._identity.GetTenant,
                identity_service_pb2.GetTenantRequest(name=f"tenants/{caller.tenant_id}"),
                caller=caller,
                timeout=TENANT_DEADLINE_SECONDS,
            )
        except DomainError as exc:
            log.warning("working language unknown (%s): not translating", exc.message)
            return ""
        self._working[caller.tenant_id] = (tenant.working_language, time.monotonic())
        return str(tenant.working_language)

    async def close(self) -> None:
        await self._translation_channel.close()
        await self._identity_channel.close()


def _from_analysis(analysis: tpb.AnalyzeTextResponse) -> Understanding:
    has_sentiment = (
        analysis.HasField("sentiment")
        and analysis.sentiment.label != text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED
    )
    label = (
        text_analysis_pb2.SentimentLabel.Name(analysis.sentiment.label)
        .removeprefix("SENTIMENT_LABEL_")
        .lower()
        if has_sentiment
        else ""
    )
    return Understanding(
        language=analysis.language or UNDETERMINED_LANGUAGE,
        sentiment_score=analysis.sentiment.score if has_sentiment else None,
        sentiment_label=label,
        intents=one_per_intent(
            Intent(i.intent, tuple(i.matched_keywords), i.confidence, i.keyword_set)
            for i in analysis.intents
        ),
    )
