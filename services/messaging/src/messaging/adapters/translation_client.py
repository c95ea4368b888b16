"""The translation service and identity over gRPC, as messaging's TranslationPort and
WorkingLanguagePort. Thin clients: when to translate and how to do without it is
decided in ``messaging.app.understanding``.

Both ask on behalf of the caller of the current RPC (the channel adapter's token
travels along); every failure answers ServiceUnavailable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk.translation.v1 import translation_service_pb2 as tpb
from crosstalk.translation.v1 import translation_service_pb2_grpc as tgrpc
from crosstalk_common.errors import DomainError
from crosstalk_common.grpc.auth import require_caller
from crosstalk_common.grpc.channels import open_channel
from crosstalk_common.grpc.client import call
from messaging.adapters.mapping import understanding_from_analysis
from messaging.app.ports import ServiceUnavailable
from messaging.app.reply_ports import BackTranslation
from messaging.domain.model import Understanding

ANALYZE_DEADLINE_SECONDS = 2.0
TRANSLATE_DEADLINE_SECONDS = 4.0
TENANT_DEADLINE_SECONDS = 1.0
# Two translations (there and back).
BACK_TRANSLATE_DEADLINE_SECONDS = 8.0

Resp = TypeVar("Resp")


async def _ask(method: Callable[..., Awaitable[Resp]], request: Any, deadline: float) -> Resp:
    """One call for the current caller; any failure of the peer is ServiceUnavailable."""
    caller = require_caller()
    try:
        return await call(method, request, caller=caller, timeout=deadline)
    except DomainError as exc:
        raise ServiceUnavailable(exc.message) from exc


class GrpcTranslation:
    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = tgrpc.TranslationServiceStub(self._channel)

    async def analyse(self, text: str) -> Understanding:
        analysis = await _ask(
            self._stub.AnalyzeText, tpb.AnalyzeTextRequest(text=text), ANALYZE_DEADLINE_SECONDS
        )
        return understanding_from_analysis(analysis)

    async def translate(self, text: str, source_language: str, target_language: str) -> str:
        request = tpb.TranslateTextRequest(
            text=text, source_language=source_language, target_language=target_language
        )
        translated = await _ask(self._stub.TranslateText, request, TRANSLATE_DEADLINE_SECONDS)
        return str(translated.translated_text)

    async def back_translate(self, text: str, source: str, target: str) -> BackTranslation:
        """BackTranslate: the tenant's glossary and do-not-translate terms apply (translation
        reads the tenant from the caller's token, which travels along)."""
        request = tpb.BackTranslateRequest(
            text=text, source_language=source, target_language=target
        )
        checked = await _ask(self._stub.BackTranslate, request, BACK_TRANSLATE_DEADLINE_SECONDS)
        return BackTranslation(
            translated_text=str(checked.translated_text),
            back_translated_text=str(checked.back_translated_text),
            similarity=float(checked.similarity),
            engine=str(checked.engine),
        )

    async def close(self) -> None:
        await self._channel.close()


class GrpcWorkingLanguages:
    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)

    async def working_language(self, tenant_id: str) -> str:
        request = identity_service_pb2.GetTenantRequest(name=f"tenants/{tenant_id}")
        tenant = await _ask(self._stub.GetTenant, request, TENANT_DEADLINE_SECONDS)
        return str(tenant.working_language)

    async def close(self) -> None:
        await self._channel.close()
