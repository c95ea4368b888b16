"""Use cases over a real database: memory, glossary, presets, events, analysis, errors."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from translation.app.use_cases import TranslateRequest
from translation.domain.intents import IntentKeywordSet
from translation.domain.model import Formality, GlossaryKind, GlossaryTerm, LanguagePreset
from translation.domain.sentiment import SentimentLabel

from .conftest import FakeEngine, completed_events, make_service, services


def _fields(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


async def test_memory_hit_answers_without_calling_an_engine(
    new_uow, detector, sessions, tenant
) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine("fake", translate={"Where is my parcel?": "Wo ist mein Paket?"})
    service = make_service(new_uow, [engine], detector)
    request = TranslateRequest(("Where is my parcel?",), source_language="en", target_language="de")
    first = (await service.translate(tenant, request))[0]
    assert (first.translated_text, first.engine, first.memory_hit) == (
        "Wo ist mein Paket?",
        "fake",
        False,
    )
    assert len(engine.calls) == 1
    second = (await service.translate(tenant, request))[0]
    assert second.memory_hit
    assert second.translated_text == "Wo ist mein Paket?"
    assert len(engine.calls) == 1, "a memory hit must not call the engine"
    # another tenant's memory is not shared
    await service.translate("other-" + tenant, request)
    assert len(engine.calls) == 2
    # ignore_memory goes to the engine
    await service.translate(
        tenant,
        TranslateRequest(
            request.texts, source_language="en", target_language="de", ignore_memory=True
        ),
    )
    assert len(engine.calls) == 3
    stats = await service.memory_stats(tenant)
    assert (stats.entry_count, stats.hit_count, stats.miss_count) == (1, 1, 1)
    assert stats.characters_saved == len("Where is my parcel?")
    assert stats.hit_ratio == 0.5
    events = await completed_events(sessions, tenant)
    assert [(e.engine, e.memory_hit) for e in events] == [
        ("engines/fake", False),
        ("", True),
        ("engines/fake", False),
    ]
    assert events[0].characters == len("Where is my parcel?")
    assert (events[0].source_language, events[0].target_language) == ("en", "de")


async def test_glossary_protects_terms_and_forces_translations(new_uow, detector, tenant) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine("fake")
    service = make_service(new_uow, [engine], detector)
    glossary, _, _ = services(new_uow, service)
    dnt = await glossary.create(
        GlossaryTerm("", tenant, GlossaryKind.DO_NOT_TRANSLATE, "Anker PowerCore")
    )
    forced = await glossary.create(
        GlossaryTerm("", tenant, GlossaryKind.FORCED, "charger", "Ladegerät", target_language="de")
    )
    text = "My Anker PowerCore charger (order 113-2938475-1029384) is broken, {name}"
    result = (
        await service.translate(
            tenant, TranslateRequest((text,), source_language="en", target_language="de")
        )
    )[0]
    sent = engine.calls[-1][0][0]
    assert "Anker" not in sent
    assert "charger" not in sent
    assert "113-2938475" not in sent
    assert result.translated_text == (
        "[de] My Anker PowerCore Ladegerät (order 113-2938475-1029384) is broken, {name}"
    )
    assert set(result.applied_terms) == {f"glossaryTerms/{dnt.id}", f"glossaryTerms/{forced.id}"}
    ignored = (
        await service.translate(
            tenant,
            TranslateRequest(
                (text,), source_language="en", target_language="de", ignore_glossary=True
            ),
        )
    )[0]
    assert ignored.applied_terms == ()
    assert "charger" in engine.calls[-1][0][0]


async def test_engine_losing_a_placeholder_falls_back_to_the_next(
    new_uow, detector, tenant
) -> None:  # type: ignore[no-untyped-def]
    class Lossy(FakeEngine):
        async def translate(self, texts, source, target, formality):  # type: ignore[no-untyped-def]
            self.calls.append((tuple(texts), source, target))
            return ["Bestellung verloren" for _ in texts]

    lossy, good = Lossy("lossy"), FakeEngine("good")
    service = make_service(new_uow, [lossy, good], detector)
    result = (
        await service.translate(
            tenant,
            TranslateRequest(
                ("Order AB1234567 is late",), source_language="en", target_language="de"
            ),
        )
    )[0]
    assert result.engine == "good"
    assert "AB1234567" in result.translated_text
    assert len(lossy.calls) == 1


async def test_all_engines_failing_is_unavailable_naming_them(
    new_uow, detector, tenant, sessions
) -> None:  # type: ignore[no-untyped-def]
    service = make_service(
        new_uow, [FakeEngine("one", fail=True), FakeEngine("two", fail=True)], detector
    )
    with pytest.raises(Unavailable) as caught:
        await service.translate(
            tenant, TranslateRequest(("Hello there",), source_language="en", target_language="de")
        )
    assert "one" in caught.value.message
    assert "two" in caught.value.message
    assert await completed_events(sessions, tenant) == []  # nothing half-written
    assert (await service.memory_stats(tenant)).entry_count == 0
    with pytest.raises(FailedPrecondition):
        await service.translate(
            tenant, TranslateRequest(("Xin chào",), source_language="vi", target_language="zh")
        )


async def test_pivot_through_english_when_no_direct_pair(new_uow, detector, tenant) -> None:  # type: ignore[no-untyped-def]
    to_en = FakeEngine("a", [("de", "en")], translate={"Hallo Welt": "Hello world"})
    from_en = FakeEngine("b", [("en", "es")], translate={"Hello world": "Hola mundo"})
    service = make_service(new_uow, [to_en, from_en], detector)
    result = (
        await service.translate(
            tenant, TranslateRequest(("Hallo Welt",), source_language="de", target_language="es")
        )
    )[0]
    assert (result.translated_text, result.engine) == ("Hola mundo", "a+b")


async def test_presets_pick_the_target_unless_the_request_names_one(
    new_uow, detector, tenant
) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine("fake", [("en", "de"), ("en", "vi")])
    service = make_service(new_uow, [engine], detector)
    _, presets, _ = services(new_uow, service)
    await presets.create(
        LanguagePreset("", tenant, "DE", "de-DE", Formality.FORMAL, "Europe/Berlin", "DE store")
    )
    by_market = (
        await service.translate(
            tenant, TranslateRequest(("Thank you",), source_language="en", market="de")
        )
    )[0]
    assert by_market.translated_text == "[de] Thank you"
    customer_language = (
        await service.translate(
            tenant,
            TranslateRequest(
                ("Thank you",), source_language="en", target_language="vi", market="DE"
            ),
        )
    )[0]
    assert customer_language.translated_text == "[vi] Thank you"
    with pytest.raises(InvalidArgument) as caught:
        await service.translate(tenant, TranslateRequest(("Thank you",), market="FR"))
    assert _fields(caught.value) == {"market"}


async def test_detection_uses_the_tenant_presets(new_uow, detector, tenant) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [FakeEngine("fake")], detector)
    _, presets, _ = services(new_uow, service)
    assert (await service.detect(tenant, "Wo ist mein Paket?")).language == "de"
    assert (await service.detect(tenant, "ok")).language == "und"
    await presets.create(LanguagePreset("", tenant, "US", "en-US"))
    await presets.create(LanguagePreset("", tenant, "ES", "es"))
    assert await service.tenant_languages(tenant) == ("en", "es")


async def test_bad_input_is_invalid_argument_naming_the_field(new_uow, detector, tenant) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [FakeEngine("fake")], detector)
    glossary, presets, intents = services(new_uow, service)
    cases = [
        (service.translate(tenant, TranslateRequest(("",), target_language="de")), {"text"}),
        (
            service.translate(
                tenant, TranslateRequest(("hi",), source_language="xx", target_language="de")
            ),
            {"source_language"},
        ),
        (
            service.translate(tenant, TranslateRequest(("hi",), target_language="klingon")),
            {"target_language"},
        ),
        (
            service.translate(tenant, TranslateRequest(("a" * 5001,), target_language="de")),
            {"text"},
        ),
        (
            service.translate(
                tenant, TranslateRequest(("hi",), target_language="de", engine="engines/nope")
            ),
            {"engine"},
        ),
        (
            service.translate(
                tenant, TranslateRequest(("ok", ""), target_language="de", batch=True)
            ),
            {"texts[1]"},
        ),
        (
            service.translate(
                tenant, TranslateRequest(("x",) * 101, target_language="de", batch=True)
            ),
            {"texts"},
        ),
        (
            service.translate(tenant, TranslateRequest(("ok",), target_language="de")),
            {"source_language"},
        ),
        (service.detect(tenant, "   "), {"text"}),
        (service.analyze(tenant, "hello", "zz"), {"language"}),
        (
            glossary.create(GlossaryTerm("", tenant, GlossaryKind.FORCED, "charger")),
            {"glossary_term.target_text", "glossary_term.target_language"},
        ),
        (
            presets.create(LanguagePreset("", tenant, "DE", "de", time_zone="Mars/Base")),
            {"language_preset.time_zone"},
        ),
        (
            intents.create(IntentKeywordSet("", tenant, "Bad Intent", keywords=("x",))),
            {"intent_keyword_set.intent"},
        ),
    ]
    for call, fields in cases:
        with pytest.raises(InvalidArgument) as caught:
            await call
        assert _fields(caught.value) == fields, caught.value


async def test_tenants_never_see_each_others_glossary_or_presets(new_uow, detector, tenant) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [FakeEngine("fake")], detector)
    glossary, presets, _ = services(new_uow, service)
    term = await glossary.create(GlossaryTerm("", tenant, GlossaryKind.DO_NOT_TRANSLATE, "Anker"))
    preset = await presets.create(LanguagePreset("", tenant, "DE", "de"))
    other = "intruder-" + tenant
    with pytest.raises(NotFound):
        await glossary.get(other, term.id)
    with pytest.raises(NotFound):
        await glossary.update(other, term.id, {"note": "mine"}, "")
    with pytest.raises(NotFound):
        await glossary.delete(other, term.id, "")
    with pytest.raises(NotFound):
        await presets.get(other, preset.id)
    with pytest.raises(NotFound):
        await presets.delete(other, preset.id, "")
    assert await presets.page(other, after=[], limit=10) == []
    assert (
        await glossary.page(
            other,
            kind=GlossaryKind.UNSPECIFIED,
            source_language="",
            target_language="",
            after=[],
            limit=10,
        )
        == []
    )
    # the other tenant may use the same market and term
    await presets.create(LanguagePreset("", other, "DE", "de"))
    await glossary.create(GlossaryTerm("", other, GlossaryKind.DO_NOT_TRANSLATE, "Anker"))
    assert (await glossary.get(tenant, term.id)).note == ""


async def test_sentiment_signs_in_english_and_chinese(
    new_uow, detector, sentiment_models, tenant
) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [FakeEngine("fake")], detector, sentiment_models)
    cases = [
        ("Thank you so much, great service, I love it!", "en", SentimentLabel.POSITIVE),
        (
            "This is terrible, the product arrived broken and nobody answers.",
            "en",
            SentimentLabel.NEGATIVE,
        ),
        ("非常满意,质量很好,谢谢!", "zh", SentimentLabel.POSITIVE),
        ("太差了,货物坏了,客服也不回复,我要投诉", "zh", SentimentLabel.NEGATIVE),
    ]
    for text, language, label in cases:
        analysis = await service.analyze(tenant, text, "")
        assert analysis.language == language
        assert analysis.sentiment.label is label, (text, analysis.sentiment)
        assert (analysis.sentiment.score > 0) == (label is SentimentLabel.POSITIVE)
        assert -1.0 <= analysis.sentiment.score <= 1.0


async def test_sentiment_of_other_languages_reads_the_english_translation(
    new_uow, detector, sentiment_models, tenant
) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine(
        "fake",
        [("de", "en")],
        translate={"Das ist furchtbar, alles kaputt!": "This is terrible, everything is broken!"},
    )
    service = make_service(new_uow, [engine], detector, sentiment_models)
    analysis = await service.analyze(tenant, "Das ist furchtbar, alles kaputt!", "de")
    assert analysis.sentiment.label is SentimentLabel.NEGATIVE
    assert analysis.sentiment.method == "vader via en"
    vi = await service.analyze(tenant, "Hàng giao chậm quá, tôi rất thất vọng", "vi")
    assert vi.sentiment.label is SentimentLabel.UNSPECIFIED  # no vi->en engine: not guessed
    assert "complaint" in [h.intent for h in vi.intents]


async def test_intents_use_seeded_defaults_with_synonyms_and_fuzzy(
    new_uow, detector, tenant
) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [FakeEngine("fake")], detector)
    _, _, intents = services(new_uow, service)
    zh = await service.analyze(tenant, "我的快递到哪了?三天了还没到", "zh")
    assert zh.intents[0].intent == "logistics"
    assert "快递" in zh.intents[0].matched
    en = await service.analyze(tenant, "I need a refnd, I want my money back", "en")
    refund = next(h for h in en.intents if h.intent == "refund")
    assert refund.confidence == 1.0
    assert "money back" in refund.matched
    seeded = await intents.page(tenant, intent="", after=[], limit=200)
    assert {(s.intent, s.language) for s in seeded} >= {("refund", "en"), ("logistics", "zh")}
    # a tenant's own set joins the matcher; deleting defaults does not bring them back
    custom = await intents.create(
        IntentKeywordSet(
            "", tenant, "warranty", "en", ("warranty",), (("warranty", ("guarantee",)),)
        )
    )
    found = await service.analyze(tenant, "Is this under guarantee?", "en")
    assert [h.set_id for h in found.intents] == [custom.id]
    for s in seeded:
        await intents.delete(tenant, s.id, "")
    assert [s.id for s in await intents.page(tenant, intent="", after=[], limit=200)] == [custom.id]


async def test_a_replica_sees_intent_changes_made_through_another(
    new_uow, detector, tenant
) -> None:  # type: ignore[no-untyped-def]
    # Two replicas: each keeps its tenants' compiled sets; changes go through the other.
    reader = make_service(new_uow, [FakeEngine("fake")], detector)
    writer = make_service(new_uow, [FakeEngine("fake")], detector)
    _, _, intents = services(new_uow, writer)
    text = "Is this still under guarantee?"

    async def found() -> list[tuple[str, tuple[str, ...]]]:
        return [(h.intent, h.matched) for h in (await reader.analyze(tenant, text, "en")).intents]

    assert await found() == []  # the defaults are seeded and compiled
    assert await found() == []
    custom = await intents.create(
        IntentKeywordSet(
            "", tenant, "warranty", "en", ("warranty",), (("warranty", ("guarantee",)),)
        )
    )
    assert await found() == [("warranty", ("guarantee",))]
    custom = await intents.update(
        tenant, custom.id, {"synonyms": (("warranty", ("guarantee", "still")),)}, custom.etag
    )
    assert await found() == [("warranty", ("guarantee", "still"))]
    custom = await intents.update(tenant, custom.id, {"enabled": False}, custom.etag)
    assert await found() == []
    custom = await intents.update(tenant, custom.id, {"enabled": True}, custom.etag)
    assert await found() == [("warranty", ("guarantee", "still"))]
    await intents.delete(tenant, custom.id, custom.etag)
    assert await found() == []
    # other tenants keep their own sets
    other = f"{tenant}-other"
    await intents.create(IntentKeywordSet("", other, "warranty", "en", ("guarantee",)))
    assert await found() == []
    assert [h.intent for h in (await reader.analyze(other, text, "en")).intents] == ["warranty"]


async def test_a_spanish_message_has_each_intent_once_from_original_and_translation(
    new_uow, detector, sentiment_models, apertium, tenant
) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [apertium], detector, sentiment_models)
    _, _, intents = services(new_uow, service)
    analysis = await service.analyze(tenant, "Quiero un reembolso, el paquete no llegó", "")
    assert analysis.language == "es"
    assert analysis.sentiment.method == "vader via en"  # the English translation was read too
    names = [h.intent for h in analysis.intents]
    assert sorted(names) == sorted(set(names))
    refund = next(h for h in analysis.intents if h.intent == "refund")
    assert "reembolso" in refund.matched  # the Spanish set, on the original
    assert set(refund.matched) - {"reembolso"}  # and the English one on the translation
    sets = {s.id: s for s in await intents.page(tenant, intent="", after=[], limit=200)}
    assert (sets[refund.set_id].intent, sets[refund.set_id].language) == ("refund", "es")
