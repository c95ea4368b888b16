"""The servicer through a real grpc.aio server on 127.0.0.1, with access tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crosstalk.translation.v1 import resources_pb2
from crosstalk.translation.v1 import translation_service_pb2 as pb
from crosstalk.translation.v1 import translation_service_pb2_grpc as pb_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.tokens import sign_access_token
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.grpc.server import build_server
from crosstalk_common.permissions import DataScope
from translation.adapters.settings import TranslationSettings
from translation.bootstrap import assemble, definition

from .conftest import FakeEngine

KEY = Ed25519PrivateKey.generate()
KID = "test-key"


class StaticKeys:
    async def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {KID: KEY.public_key()}


def token(
    tenant: str, permissions: frozenset[str] = frozenset({"translation.use", "translation.manage"})
) -> str:
    now = int(time.time())
    claims = AccessClaims(
        subject="members/m-1",
        tenant_id=tenant,
        permissions=permissions,
        data_scope=DataScope.ALL,
        department_id="",
        visible_departments=frozenset(),
        issued_at=now,
        expires_at=now + 600,
        token_id=str(uuid.uuid4()),
    )
    return sign_access_token(claims, KEY, KID)


def auth(tenant: str, **kwargs: Any) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token(tenant, **kwargs)}")]


@pytest.fixture
async def stub(
    new_uow, detector, sentiment_models
) -> AsyncIterator[pb_grpc.TranslationServiceStub]:  # type: ignore[no-untyped-def]
    engine = FakeEngine("fake", [("en", "de"), ("de", "en")], translate={"Hello": "Hallo"})
    assembly = await assemble(
        TranslationSettings(),
        new_uow,
        PageTokenCodec(b"test-secret"),
        engines=[engine],
        detector=detector,
        sentiment=sentiment_models,
    )
    server, _health, port = build_server(
        definition(assembly, "127.0.0.1", 0, TokenVerifier(StaticKeys()))
    )
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.TranslationServiceStub(channel)
    await server.stop(0)
    await assembly.close()


async def test_translate_detect_analyze_and_memory_over_grpc(stub, tenant) -> None:  # type: ignore[no-untyped-def]
    md = auth(tenant)
    detected = await stub.DetectLanguage(
        pb.DetectLanguageRequest(text="Wo ist mein Paket?"), metadata=md
    )
    assert detected.language == "de"
    assert detected.confidence > 0.5
    first = await stub.TranslateText(
        pb.TranslateTextRequest(text="Hello", source_language="en", target_language="de"),
        metadata=md,
    )
    assert (first.translated_text, first.engine, first.memory_hit, first.characters) == (
        "Hallo",
        "fake",
        False,
        5,
    )
    second = await stub.TranslateText(
        pb.TranslateTextRequest(text="Hello", source_language="en", target_language="de"),
        metadata=md,
    )
    assert second.memory_hit
    batch = await stub.BatchTranslateText(
        pb.BatchTranslateTextRequest(
            texts=["Hello", "Good morning"], source_language="en", target_language="de"
        ),
        metadata=md,
    )
    assert [t.translated_text for t in batch.translations] == ["Hallo", "[de] Good morning"]
    assert batch.characters == 5 + 12
    stats = await stub.GetMemoryStats(pb.GetMemoryStatsRequest(), metadata=md)
    assert (stats.hit_count, stats.miss_count, stats.entry_count) == (2, 2, 2)
    assert stats.pairs[0].pair.source_language == "en"
    assert stats.start_time.seconds > 0
    analysis = await stub.AnalyzeText(pb.AnalyzeTextRequest(text="我要退款,东西坏了"), metadata=md)
    assert analysis.language == "zh"
    assert analysis.sentiment.score < 0
    assert "refund" in [i.intent for i in analysis.intents]
    assert analysis.intents[0].keyword_set.startswith("intentKeywordSets/")
    engines = await stub.ListEngines(pb.ListEnginesRequest(page_size=1), metadata=md)
    assert engines.engines[0].name == "engines/fake"
    assert engines.engines[0].default_engine
    back = await stub.BackTranslate(
        pb.BackTranslateRequest(text="Hello", source_language="en", target_language="de"),
        metadata=md,
    )
    assert back.translated_text == "Hallo"
    assert back.engine == "fake"


async def test_glossary_and_presets_crud_and_tenant_isolation_over_grpc(stub, tenant) -> None:  # type: ignore[no-untyped-def]
    md, other = auth(tenant), auth("other-" + tenant)
    term = await stub.CreateGlossaryTerm(
        pb.CreateGlossaryTermRequest(
            glossary_term=resources_pb2.GlossaryTerm(
                kind=resources_pb2.GLOSSARY_TERM_KIND_DO_NOT_TRANSLATE, source_text="Anker"
            )
        ),
        metadata=md,
    )
    assert term.name.startswith("glossaryTerms/")
    assert term.etag == 'W/"1"'
    updated = await stub.UpdateGlossaryTerm(
        pb.UpdateGlossaryTermRequest(
            glossary_term=resources_pb2.GlossaryTerm(name=term.name, note="brand", etag=term.etag)
        ),
        metadata=md,
    )
    assert updated.note == "brand"
    assert updated.source_text == "Anker"
    preset = await stub.CreateLanguagePreset(
        pb.CreateLanguagePresetRequest(
            language_preset=resources_pb2.LanguagePreset(
                market="DE", language="de-de", time_zone="Europe/Berlin", display_name="DE store"
            )
        ),
        metadata=md,
    )
    assert preset.language == "de-DE"
    for call, request in (
        (stub.GetGlossaryTerm, pb.GetGlossaryTermRequest(name=term.name)),
        (stub.GetLanguagePreset, pb.GetLanguagePresetRequest(name=preset.name)),
        (stub.DeleteLanguagePreset, pb.DeleteLanguagePresetRequest(name=preset.name)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=other)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListGlossaryTerms(pb.ListGlossaryTermsRequest(), metadata=other)
    assert list(listed.glossary_terms) == []
    translated = await stub.TranslateText(
        pb.TranslateTextRequest(text="Hello", source_language="en", market="de"), metadata=md
    )
    assert translated.translated_text == "Hallo"
    await stub.DeleteGlossaryTerm(
        pb.DeleteGlossaryTermRequest(name=term.name, etag=updated.etag), metadata=md
    )


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        ("TranslateText", pb.TranslateTextRequest(text="", target_language="de"), "text"),
        (
            "TranslateText",
            pb.TranslateTextRequest(text="Hi", target_language="xx-YY"),
            "target_language",
        ),
        ("DetectLanguage", pb.DetectLanguageRequest(text="x" * 5001), "text"),
        ("ListGlossaryTerms", pb.ListGlossaryTermsRequest(page_size=-1), "page_size"),
        ("ListEngines", pb.ListEnginesRequest(page_token="forged"), "page_token"),
        ("GetGlossaryTerm", pb.GetGlossaryTermRequest(name="terms/1"), "name"),
        ("DeleteLanguagePreset", pb.DeleteLanguagePresetRequest(name="languagePresets/"), "name"),
        (
            "CreateLanguagePreset",
            pb.CreateLanguagePresetRequest(
                language_preset=resources_pb2.LanguagePreset(market="DE", language="zz")
            ),
            "language_preset.language",
        ),
    ],
)
async def test_bad_input_is_invalid_argument_over_grpc(
    stub, tenant, method, request_message, field
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stub, method)(request_message, metadata=auth(tenant))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")


async def test_managing_needs_the_manage_permission(stub, tenant) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateLanguagePreset(
            pb.CreateLanguagePresetRequest(
                language_preset=resources_pb2.LanguagePreset(market="DE", language="de")
            ),
            metadata=auth(tenant, permissions=frozenset({"translation.use"})),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DetectLanguage(pb.DetectLanguageRequest(text="hello there"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
