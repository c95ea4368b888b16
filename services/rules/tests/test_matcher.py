"""The compiled matcher: one Aho-Corasick automaton per field finds what the
naive scan finds (exact, normalised, fuzzy, synonyms), and only rules whose
keywords hit, or that need none, are evaluated (rules/app/matcher.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from rules.app.matcher import CompiledRules
from rules.domain.actions import AddTag
from rules.domain.evaluation import (
    SYNONYMS_FACT,
    Outcome,
    decide,
    evaluate_pass,
    keyword_leaves,
)
from rules.domain.evaluation import LoopContext as Loop
from rules.domain.model import Rule, Trigger

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def rule(rule_id: str, condition: Node | None, **kw: Any) -> Rule:
    return Rule(
        id=rule_id,
        tenant_id="t1",
        display_name=rule_id,
        trigger=Trigger.MESSAGE_RECEIVED,
        condition=condition,
        actions=(AddTag(("x",)),),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        **kw,
    )


def keywords(*words: str, field: str = "message.text", fuzzy: bool = False) -> Leaf:
    return Leaf(field, Op.MATCHES_KEYWORDS, words, fuzzy)


def fired(compiled: CompiledRules, facts: dict[str, Any]) -> list[str]:
    evaluations = compiled.evaluate(facts, now=NOW)
    verdicts = decide(evaluations, subject="customers/c1", loop=Loop(), cooling=lambda r: False)
    return [v.rule.id for v in verdicts if v.outcome is Outcome.MATCHED]


def naive_fired(rules: list[Rule], facts: dict[str, Any]) -> list[str]:
    verdicts = evaluate_pass(rules, facts, subject="customers/c1", now=NOW)
    return [v.rule.id for v in verdicts if v.outcome is Outcome.MATCHED]


def test_keywords_match_normalised_text_and_the_translation() -> None:
    rules = [rule("refund", keywords("refund", "money back")), rule("parcel", keywords("parcel"))]
    compiled = CompiledRules(rules)
    assert fired(compiled, {"message.text": "I want my \uff32\u00c9FUND now"}) == ["refund"]
    # message.text also searches the translated text.
    facts = {"message.text": "Wo ist mein Paket?", "message.translated_text": "Where is my parcel?"}
    assert fired(compiled, facts) == ["parcel"]
    # message.translated_text searches only the translation.
    only = CompiledRules([rule("t", keywords("paket", field="message.translated_text"))])
    assert fired(only, facts) == []


def test_fuzzy_keywords_tolerate_one_edit_in_longer_words() -> None:
    compiled = CompiledRules(
        [
            rule("fuzzy", keywords("refund", "money back", fuzzy=True)),
            rule("exact", keywords("refund")),
            rule("short", keywords("box", fuzzy=True)),
        ]
    )
    assert fired(compiled, {"message.text": "I want a refnd please"}) == ["fuzzy"]
    assert fired(compiled, {"message.text": "give me my mony back"}) == ["fuzzy"]
    assert fired(compiled, {"message.text": "I want a rfnd please"}) == []  # two edits
    assert fired(compiled, {"message.text": "a bux"}) == []  # too short to be fuzzy


def test_a_keyword_naming_an_intent_or_its_synonyms_hits() -> None:
    compiled = CompiledRules(
        [rule("refund", keywords("refund")), rule("delay", keywords("shipping delay"))]
    )
    # Translation recognised the intents through synonyms the text does not spell as the rule.
    facts = {
        "message.text": "I want my money back, the package is late",
        "message.intents": frozenset({"refund", "shipping_delay"}),
        SYNONYMS_FACT: frozenset({"money back", "late"}),
    }
    assert fired(compiled, facts) == ["refund", "delay"]
    assert naive_fired(list(compiled.rules), facts) == ["refund", "delay"]


def test_only_rules_whose_gates_hold_or_that_have_none_are_evaluated() -> None:
    vip = Leaf("customer.tier", Op.EQUALS, ("VIP",))
    rules = [
        rule("kw-and", Group("and", (keywords("refund"), vip))),
        rule("kw-or", Group("or", (keywords("refund"), vip))),
        rule("not-kw", Group("not", (keywords("refund"),))),
        rule("plain", vip),
        rule("none", None),
    ]
    compiled = CompiledRules(rules)

    def evaluated(**facts: Any) -> list[str]:
        return [e.rule.id for e in compiled.evaluate(facts, now=NOW)]

    # A keyword or a text equality that must hold gates a rule: the tier is looked up.
    assert evaluated(**{"message.text": "hello"}) == ["not-kw", "none"]
    assert evaluated(**{"message.text": "hello", "customer.tier": "VIP"}) == [
        "kw-or",
        "not-kw",
        "plain",
        "none",
    ]
    # Every gate of the conjunction must hold: the keyword alone does not bring kw-and in.
    assert evaluated(**{"message.text": "refund"}) == ["kw-or", "not-kw", "none"]
    assert evaluated(**{"message.text": "refund", "customer.tier": "VIP"}) == [
        "kw-and",
        "kw-or",
        "not-kw",
        "plain",
        "none",
    ]


def test_legacy_bare_names_read_as_namespaced_facts() -> None:
    compiled = CompiledRules([rule("old", Leaf("text", Op.MATCHES_KEYWORDS, ("refund",)))])
    assert fired(compiled, {"message.text": "refund please"}) == ["old"]


def test_the_automaton_agrees_with_the_naive_loop_on_many_rules_and_messages() -> None:
    rng = random.Random(7)
    vocabulary = [
        "refund", "parcel", "delivery", "broken", "invoice", "return", "cancel", "address",
        "password", "discount", "coupon", "warranty", "exchange", "tracking", "late", "angry",
        "money back", "where is", "très cher", "größe",
    ]  # fmt: skip
    rules = []
    for i in range(200):
        words = tuple(rng.sample(vocabulary, rng.randint(1, 3)))
        field = rng.choice(["message.text", "message.translated_text"])
        leaf = keywords(*words, field=field, fuzzy=rng.random() < 0.3)
        shape = rng.random()
        if shape < 0.4:
            condition: Node = leaf
        elif shape < 0.7:
            condition = Group("and", (leaf, Leaf("customer.tier", Op.EQUALS, ("VIP",))))
        elif shape < 0.85:
            condition = Group("or", (leaf, Leaf("message.sentiment.score", Op.LT, (-0.5,))))
        elif shape < 0.92:
            condition = Group(
                "and",
                (
                    Leaf("message.language", Op.EQUALS, (rng.choice(["de", "en"]),)),
                    Leaf("customer.tier", Op.IN, ("VIP", "Gold")),
                ),
            )
        else:  # number comparisons only: gated by the threshold index
            op = rng.choice([Op.LT, Op.LTE, Op.GT, Op.GTE])
            condition = Group(
                "and",
                (
                    Leaf("message.sentiment.score", op, (round(rng.uniform(-1, 1), 1),)),
                    Leaf(
                        "conversation.follow_ups", rng.choice([Op.GT, Op.GTE]), (rng.randint(0, 5),)
                    ),
                ),
            )
        rules.append(rule(f"r{i:03}", condition))
    compiled = CompiledRules(rules)
    for _ in range(80):
        text = " ".join(
            rng.choice([*vocabulary, "hello", "thanks", "refnd", "parcl"]) for _ in range(6)
        )
        facts = {
            "message.text": text.upper() if rng.random() < 0.2 else text,
            "message.translated_text": " ".join(rng.sample(vocabulary, 2)),
            "message.language": rng.choice(["de", "en"]),
            "message.sentiment.score": rng.choice([rng.uniform(-1, 1), -0.5, 0.0, None]),
            "customer.tier": rng.choice(["VIP", "Gold", ""]),
            "conversation.follow_ups": rng.choice([0, 1, 3, 5, 8, None]),
            "message.intents": frozenset(rng.sample(["refund", "late", "coupon"], 1)),
        }
        assert fired(compiled, facts) == naive_fired(rules, facts), facts
        hits = compiled.keyword_hits(facts)
        for r in rules:
            assert r.condition is not None
            for leaf in keyword_leaves(r.condition):
                from rules.domain.evaluation import NaiveKeywords

                assert (leaf in hits) == (NaiveKeywords().keyword_of(leaf, facts) is not None)
