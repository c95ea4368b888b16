"""Pure domain rules: protection, routing, similarity, intents, sentiment, detection."""

from __future__ import annotations

from dataclasses import replace

import pytest

from translation.domain.calibration import Scored, accuracy, choose, macro_f1
from translation.domain.detection import decide
from translation.domain.intents import IntentKeywordSet, IntentMatcher, match_intents, merge_hits
from translation.domain.protection import ProtectionRule, SlotKind, protect
from translation.domain.routing import EngineOffer, plan_routes
from translation.domain.sentiment import (
    CUES_ONLY,
    UNCALIBRATED,
    VADER,
    SentimentLabel,
    from_snownlp,
    from_vader,
    judge,
)
from translation.domain.service_cues import cue_balance
from translation.domain.similarity import similarity


def test_builtin_patterns_are_protected_and_restored_exactly() -> None:
    text = (
        "Hi {customer_name}, order 123-4567890-1234567 (ASIN B07XJ8C8F5) ships with "
        "SF1234567890; see https://shop.example.com/track?id=9, mail help@shop.example.com, "
        "ticket #10023, {{agent}}."
    )
    protected = protect(text)
    kinds = {s.kind for s in protected.slots}
    assert kinds == {
        SlotKind.VARIABLE,
        SlotKind.ORDER_NUMBER,
        SlotKind.ASIN,
        SlotKind.URL,
        SlotKind.EMAIL,
    }
    originals = [s.original for s in protected.slots]
    assert "https://shop.example.com/track?id=9" in originals  # trailing ";" left out
    assert "B07XJ8C8F5" in originals
    assert "#10023" in originals
    assert "{{agent}}" in originals
    for slot in protected.slots:
        assert slot.original not in protected.text
    assert protected.restore(protected.text) == text


def test_restore_survives_what_engines_do_to_placeholders() -> None:
    protected = protect("Your order DD202405001 is late, {name}.")
    token0, token1 = protected.marker.token(0), protected.marker.token(1)
    mangled = f"Ihre Bestellung {token0.lower()} ist spät, `{token1[:3]} 1 {token1[4:]}`."
    mangled = mangled.replace(token0.lower(), f"{token0[:3].lower()} 0 {token0[4:].lower()}")
    assert protected.missing_slots(mangled) == []
    assert protected.restore(mangled) == "Ihre Bestellung DD202405001 ist spät, {name}."
    assert protected.missing_slots("Ihre Bestellung ist spät.") == [0, 1]


def test_placeholders_in_cjk_text_and_marker_collisions() -> None:
    protected = protect("您好{客户姓名},订单号DD202405001已发货,物流单号SF0012345678")
    assert [s.original for s in protected.slots] == ["{客户姓名}", "DD202405001", "SF0012345678"]
    tricky = protect("We sell the ZXQ model and QXZ too: order AB12345678")
    assert tricky.marker.head != "ZXQ"
    assert tricky.restore(tricky.text) == "We sell the ZXQ model and QXZ too: order AB12345678"


def test_glossary_terms_respect_word_boundaries_and_forced_terms_replace() -> None:
    rules = [
        ProtectionRule("t1", "Anker"),
        ProtectionRule("t2", "charger", replacement="Ladegerät"),
        ProtectionRule("t3", "PowerCore", case_sensitive=True),
    ]
    protected = protect("My anker charger and Ankerage; powercore vs PowerCore", rules)
    assert [s.original for s in protected.slots] == ["anker", "charger", "PowerCore"]
    assert protected.applied_term_ids == ("t1", "t2", "t3")
    assert protected.restore(protected.text) == (
        "My anker Ladegerät and Ankerage; powercore vs PowerCore"
    )
    # terms glued to CJK text are still found
    assert [s.original for s in protect("我买了Anker充电器", rules).slots] == ["Anker"]


def test_routes_prefer_direct_then_pivot_through_english() -> None:
    offers = [
        EngineOffer("apertium", True, frozenset({("en", "es"), ("es", "en"), ("fr", "es")})),
        EngineOffer("deepl", True, frozenset({("de", "en"), ("en", "de")})),
        EngineOffer("argos", False, frozenset({("de", "es")})),
    ]
    direct = plan_routes(offers, "en", "es")
    assert [h.engines for h in direct[0].hops] == [("apertium",)]
    pivot = plan_routes(offers, "de", "es")
    assert [(h.source, h.target, h.engines) for h in pivot[0].hops] == [
        ("de", "en", ("deepl",)),
        ("en", "es", ("apertium",)),
    ]
    assert plan_routes(offers, "fr", "en")[0].pivot == "es"  # fr->es->en: no fr-en pair
    assert plan_routes(offers, "vi", "es") == []
    preferred = [
        EngineOffer("a", True, frozenset({("en", "de")})),
        EngineOffer("b", True, frozenset({("en", "de")})),
    ]
    assert plan_routes(preferred, "en", "de", preferred="b")[0].hops[0].engines == ("b", "a")


def test_similarity_is_high_for_a_faithful_round_trip_and_low_for_a_wrong_one() -> None:
    original = "Your refund was sent today, it arrives in 3 days."
    assert similarity(original, "Your refund was sent today; it arrives in 3 days") > 0.95
    assert similarity(original, "Today your refund was sent, it arrives in 3 days.") > 0.75
    assert similarity(original, "The weather in Paris is cold and grey.") < 0.45
    assert similarity("您的退款已经发出", "您的退款已发出") > 0.8
    assert similarity("您的退款已经发出", "天气很冷") < 0.3


def _set(
    intent: str, language: str, keywords: tuple[str, ...], **synonyms: tuple[str, ...]
) -> IntentKeywordSet:
    return IntentKeywordSet(
        id=f"{intent}-{language}",
        tenant_id="t",
        intent=intent,
        language=language,
        keywords=keywords,
        synonyms=tuple(synonyms.items()),
    )


def test_intents_match_synonyms_and_fuzzy_spellings() -> None:
    sets = [
        IntentKeywordSet(
            "logistics-zh", "t", "logistics", "zh", ("物流",), (("物流", ("快递", "运输")),)
        ),
        _set("refund", "en", ("refund", "money back")),
        _set("logistics", "en", ("tracking number",), delivery=("delivered",)),
    ]
    zh = match_intents("我的快递到哪了?", "zh", sets)
    assert [(h.intent, h.matched, h.confidence) for h in zh] == [("logistics", ("快递",), 1.0)]
    en = match_intents("I want a refnd, the trackng number never delivered", "en", sets)
    by_intent = {h.intent: h for h in en}
    assert 0.8 <= by_intent["refund"].confidence < 1.0  # fuzzy "refnd"
    assert by_intent["refund"].matched == ("refund",)
    assert by_intent["logistics"].confidence == 1.0  # "delivered" is an exact synonym
    assert match_intents("price of shipping", "en", sets) == []
    assert match_intents("我的快递到哪了?", "en", sets) == []  # language filter


def test_a_compiled_matcher_answers_each_text_as_a_fresh_one_would() -> None:
    sets = [
        _set("refund", "en", ("refund", "money back")),
        _set("logistics", "en", ("tracking number",), delivery=("delivered",)),
        replace(_set("complaint", "en", ("broken",)), enabled=False),
        _set("refund", "de", ("Erstattung",)),
    ]
    matcher = IntentMatcher(sets)
    texts = [
        ("I want a refnd, the trackng number never delivered", "en"),
        ("tracking number please", ""),
        ("it arrived broken", "en"),  # the disabled set finds nothing
        ("Ich will eine Erstattung, money back", "de"),
        ("I want a refnd, the trackng number never delivered", "und"),
    ]
    answers = [matcher.match(text, language) for text, language in texts]
    assert answers == [match_intents(text, language, sets) for text, language in texts]
    assert [[h.intent for h in a] for a in answers] == [
        ["logistics", "refund"],
        ["logistics"],
        [],
        ["refund"],
        ["logistics", "refund"],
    ]
    assert answers[3][0].matched == ("Erstattung",)  # only the German set reads German


def test_an_intent_found_by_several_sets_is_one_hit_naming_the_best_set() -> None:
    sets = [
        _set("refund", "es", ("reembolso",)),
        _set("refund", "en", ("refund", "money back")),
        IntentKeywordSet("refund-mine", "t", "refund", "en", ("refund",)),
    ]
    original = match_intents("Quiero un reembolso", "es", sets)
    translated = match_intents("I want a refnd, my money back", "en", sets)
    assert [(h.intent, h.set_id) for h in translated] == [("refund", "refund-en")]
    assert translated[0].matched == ("refund", "money back")  # both English sets, merged
    merged = merge_hits([*original, *translated])
    assert [(h.intent, h.set_id, h.confidence) for h in merged] == [("refund", "refund-es", 1.0)]
    assert merged[0].matched == ("reembolso", "refund", "money back")


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (0.6, SentimentLabel.POSITIVE),
        (-0.4, SentimentLabel.NEGATIVE),
        (0.01, SentimentLabel.NEUTRAL),
    ],
)
def test_vader_labels(compound: float, label: SentimentLabel) -> None:
    assert from_vader(compound).label is label


def test_snownlp_probability_maps_onto_minus_one_to_one() -> None:
    assert from_snownlp(1.0).score == 1.0
    assert from_snownlp(0.0).score == -1.0
    assert from_snownlp(0.9).label is SentimentLabel.POSITIVE
    assert from_snownlp(0.5).label is SentimentLabel.NEUTRAL
    assert from_snownlp(0.005).label is SentimentLabel.NEGATIVE
    # SnowNLP calls most neutral questions negative: only its surest scores count
    assert from_snownlp(0.05).label is SentimentLabel.NEUTRAL


def test_customer_service_cues_count_phrases_once_and_longest_first() -> None:
    assert cue_balance("I want a refund.", "en") == -1
    assert cue_balance("It is not working, and it came broken", "en") == -2
    assert cue_balance("The refund has arrived, thank you!", "en") == 0
    assert cue_balance("Quiero un reembolso", "es") == -1
    assert cue_balance("Vielen Dank, alles perfekt", "de") == 2
    assert cue_balance("谢谢,非常满意", "zh") == 2
    assert cue_balance("Refundable deposit", "en") == 0  # whole words only
    assert cue_balance("Hàng giao chậm quá", "vi") == 0  # no cues for vi


def test_a_refund_request_that_vader_reads_as_positive_is_negative() -> None:
    # "I want a refund": VADER's compound is 0.077 ("want"), POSITIVE before calibration
    assert judge(VADER, 0.077, 0, UNCALIBRATED).label is SentimentLabel.POSITIVE
    assert judge(VADER, 0.077, cue_balance("I want a refund", "en")).label is (
        SentimentLabel.NEGATIVE
    )
    assert judge(CUES_ONLY, 0.0, 0).label is SentimentLabel.NEUTRAL
    assert judge("unknown model", 0.5).label is SentimentLabel.UNSPECIFIED


def test_calibration_chooses_the_cue_weight_and_thresholds_that_separate_the_labels() -> None:
    n, z, p = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE
    rows = [
        Scored(-0.6, 0, n),
        Scored(0.08, -1, n),  # "I want a refund": only its cue says negative
        Scored(0.0, 0, z),
        Scored(0.1, 0, z),
        Scored(0.5, 0, p),
        Scored(0.7, 1, p),
    ]
    chosen = choose(rows)
    assert chosen.cue_weight > 0
    labels = [judge("m", r.model_score, r.cues, {"m": chosen}).label for r in rows]
    assert labels == [r.expected for r in rows]
    assert macro_f1([(r.expected, got) for r, got in zip(rows, labels, strict=True)]) == 1.0
    assert accuracy([(n, n), (z, p)]) == 0.5


def test_detection_returns_und_for_short_or_split_scores() -> None:
    assert decide("ok", [("en", 0.9)]).language == "und"
    assert decide("https://x.io/123456 #12345", [("en", 0.9)]).language == "und"
    assert decide("Hello there", [("es", 0.47), ("en", 0.3)]).language == "und"
    assert decide("Wo ist mein Paket?", [("de", 0.78), ("en", 0.12)]).language == "de"
    assert decide("Où est mon colis ?", [("fr", 0.45), ("es", 0.22)]).language == "fr"
    assert decide("物流", [("zh", 1.0)]).language == "zh"
