"""Property-based tests (hypothesis, issue 16): the compiled rules (automata, gate
indexes, compiled conditions; rules/app/matcher.py, rules/domain/compiled.py)
decide what the naive loop (every rule's tree walked, keywords scanned;
domain/evaluation.py) decides, with the same traces, on random rules and
messages: evaluation order, stop, cooldown, rollout cohorts, shadow mode,
blacklist, the loop guard, fuzzy keywords and synonyms, over the original and
the translated text."""

from __future__ import annotations

import gc
import weakref
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from rules.app.matcher import FREEZE_FROM_RULES, CompiledRules, keep_out_of_collections
from rules.domain.compiled import EventLeaves, LeafNumbers, compile_condition
from rules.domain.evaluation import (
    SYNONYMS_FACT,
    Evaluation,
    LoopContext,
    NaiveKeywords,
    Outcome,
    Trace,
    Verdict,
    decide,
    evaluate_pass,
    group_trace,
    keyword_leaves,
    leaf_trace,
    made_evaluation,
    made_verdict,
    trace_condition,
)
from rules.domain.model import Rule
from services.rules.tests.test_matcher import rule

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
WORDS = [
    "refund", "parcel", "delivery", "broken", "late", "box", "invoice",
    "money back", "where is my", "très cher", "Größe", "\uff32\uff25\uff26\uff35\uff2e\uff24",
]  # fmt: skip
TYPOS = ["refnd", "parcl", "delivry", "brokn", "mony back", "where is mi", "tres cher", "grosse"]
FILLER = ["hello", "the", "my", "please", "is", "where", "thanks"]
TIERS = ["VIP", "Gold", "Basic"]
LANGUAGES = ["en", "de", "fr"]
VIP = Leaf("customer.tier", Op.EQUALS, ("VIP",))


keyword_leaf = st.builds(
    lambda field, words, fuzzy: Leaf(field, Op.MATCHES_KEYWORDS, tuple(words), fuzzy),
    st.sampled_from(["message.text", "message.translated_text", "text"]),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    st.booleans(),
)
attribute_leaf = st.one_of(
    st.builds(lambda v: Leaf("customer.tier", Op.EQUALS, (v,)), st.sampled_from(TIERS)),
    st.builds(
        lambda vs: Leaf("customer.tier", Op.IN, tuple(vs)),
        st.lists(st.sampled_from(TIERS), min_size=1, max_size=2),
    ),
    st.builds(lambda v: Leaf("customer.tier", Op.NOT_EQUALS, (v,)), st.sampled_from(TIERS)),
    st.just(Leaf("customer.tier", Op.IS_EMPTY)),
    st.builds(
        lambda vs: Leaf("message.language", Op.IN, tuple(vs)),
        st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: Leaf("message.sentiment.score", op, (v,)),
        st.sampled_from([Op.LT, Op.LTE, Op.GT, Op.GTE]),
        st.sampled_from([-0.5, 0.0, 0.5, -1, 1, float("nan")]),
    ),
    st.builds(
        lambda op, v: Leaf("conversation.follow_ups", op, (v,)),
        st.sampled_from([Op.GT, Op.GTE, Op.EQUALS]),
        st.integers(0, 4),
    ),
    st.builds(
        lambda vs: Leaf("customer.tags", Op.HAS_ANY_TAG, tuple(vs)),
        st.lists(st.sampled_from(["vip", "angry", "new"]), min_size=1, max_size=2),
    ),
)
leaves = st.one_of(keyword_leaf, attribute_leaf)
conditions: st.SearchStrategy[Node] = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(
            lambda op, cs: Group(op, tuple(cs)),
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=1, max_size=4),
        ),
        st.builds(lambda c: Group("not", (c,)), children),
    ),
    max_leaves=8,
)


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    count = draw(st.integers(1, 14))
    # Shared leaves, as a tenant's rules share tiers and languages.
    pool = draw(st.lists(conditions, min_size=1, max_size=6))
    rules = []
    for i in range(count):
        condition = draw(st.one_of(st.sampled_from(pool), conditions, st.none()))
        rules.append(
            rule(
                f"r{i:02}",
                condition,
                priority=draw(st.integers(0, 3)),
                stop_processing=draw(st.booleans()),
                cooldown_seconds=draw(st.sampled_from([0, 0, 60])),
                rollout_percent=draw(st.sampled_from([100, 100, 50, 10])),
                shadow=draw(st.booleans()),
            )
        )
    rules.sort(key=lambda r: (r.priority, r.id))
    return rules


texts = st.lists(st.sampled_from([*WORDS, *TYPOS, *FILLER]), max_size=8).map(" ".join)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "message.text": draw(texts),
        "message.translated_text": draw(texts),
        "message.language": draw(st.sampled_from(LANGUAGES)),
        "message.sentiment.score": draw(
            st.sampled_from([-1, -0.5, -0.2, 0.0, 0.5, 1, None, float("nan")])
        ),
        "conversation.follow_ups": draw(st.sampled_from([0, 1, 2, 4, None])),
        "customer.tags": frozenset(draw(st.lists(st.sampled_from(["vip", "angry", "new"])))),
        "message.intents": frozenset(draw(st.lists(st.sampled_from(["refund", "late_parcel"])))),
        SYNONYMS_FACT: frozenset(draw(st.lists(st.sampled_from(["money back", "box", "Late"])))),
        "customer.blacklisted": draw(st.booleans()) and draw(st.booleans()),
    }
    tier = draw(st.sampled_from([*TIERS, "", None]))
    if tier is not None:
        facts["customer.tier"] = tier
    return facts


def shown(verdicts: list[Verdict]) -> list[tuple[Any, ...]]:
    """What a pass records: a run for every rule whose condition held."""
    return [
        (v.rule.id, v.outcome, v.trace, v.summary)
        for v in verdicts
        if v.outcome not in (Outcome.NOT_MATCHED, Outcome.SKIPPED_LOOP_GUARD)
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=rule_sets(),
    batch=st.lists(messages(), min_size=1, max_size=3),
    cooling=st.sets(st.sampled_from([f"r{i:02}" for i in range(14)])),
    causing=st.sampled_from(["", "rules/r00/runs/x", "rules/r03/runs/y"]),
)
def test_compiled_rules_decide_what_the_naive_loop_decides(
    rules: list[Rule], batch: list[dict[str, Any]], cooling: set[str], causing: str
) -> None:
    compiled = CompiledRules(rules)  # one compiled set, several events
    loop = LoopContext(causing, 1 if causing else 0)
    for facts in batch:
        naive = evaluate_pass(
            compiled.rules, facts, subject="customers/c7", now=NOW, loop=loop,
            cooling=lambda r: r.id in cooling,
        )  # fmt: skip
        fast = decide(
            compiled.evaluate(facts, now=NOW),
            subject="customers/c7",
            loop=loop,
            cooling=lambda r: r.id in cooling,
            blacklisted=bool(facts.get("customer.blacklisted")),
        )
        assert shown(fast) == shown(naive)
        # The compiled pass leaves out only rules whose condition did not hold (or
        # that the loop guard skips whatever their condition).
        evaluated = {v.rule.id for v in fast}
        left_out = {v.outcome for v in naive if v.rule.id not in evaluated}
        assert left_out <= {Outcome.NOT_MATCHED, Outcome.SKIPPED_LOOP_GUARD}


@settings(max_examples=300, deadline=None)
@given(condition=conditions, others=st.lists(conditions, max_size=3), facts=messages())
def test_a_compiled_condition_traces_what_the_tree_traces(
    condition: Node, others: list[Node], facts: dict[str, Any]
) -> None:
    numbers = LeafNumbers()
    for other in others:  # leaves shared with other rules' conditions
        compile_condition(other, numbers)
    compiled = compile_condition(condition, numbers)
    keywords = NaiveKeywords()
    hits = {}
    for leaf in numbers.leaves:
        if leaf.operator is Op.MATCHES_KEYWORDS:
            found = keywords.keyword_of(leaf, facts)
            if found is not None:
                hits[numbers.number(leaf)] = found
    event = EventLeaves(numbers.leaves, facts, NOW, hits)
    for other in others:  # leaves already worked out for other rules
        compile_condition(other, numbers).holds(event)
    expected = trace_condition(condition, facts, now=NOW, keywords=keywords)
    assert compiled.holds(event) is expected.result
    assert compiled.trace(event) == expected


@settings(max_examples=200, deadline=None)
@given(rules=rule_sets(), facts=messages())
def test_keyword_hits_name_the_keyword_the_naive_scan_names(
    rules: list[Rule], facts: dict[str, Any]
) -> None:
    compiled = CompiledRules(rules)
    hits = compiled.keyword_hits(facts)
    for r in compiled.rules:
        for leaf in keyword_leaves(r.condition) if r.condition is not None else ():
            assert hits.get(leaf) == NaiveKeywords().keyword_of(leaf, facts)


def test_compiled_rules_are_freed_without_the_cycle_collector() -> None:
    """Frozen out of collections (keep_out_of_collections), compiled rules must hold
    no reference cycle, or replacing them would leak them."""
    condition = Group(
        "or",
        (
            Group("and", (Leaf("message.text", Op.MATCHES_KEYWORDS, ("refund",), True),)),
            Group("not", (VIP,)),
        ),
    )
    rules = [rule(f"r{i}", condition) for i in range(3)]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        compiled = CompiledRules(rules)
        compiled.evaluate({"message.text": "a refnd please"}, now=NOW)
        freed = weakref.ref(compiled)
        del compiled
        assert freed() is None
        assert gc.collect() == 0  # nothing of it was left for the cycle collector
    finally:
        if was_enabled:
            gc.enable()


def test_a_keyword_found_exactly_is_named_before_an_earlier_one_found_fuzzily() -> None:
    leaf = Leaf(
        "message.text", Op.MATCHES_KEYWORDS, ("refund", "parcel", "money back", "where is my"), True
    )
    compiled = CompiledRules([rule("r", leaf)])
    for text, named in [
        ("a refnd for my parcel", "parcel"),
        ("a refnd for my parcl", "refund"),
        ("my mony back", "money back"),
        ("my mony back, my parcl", "parcel"),
        ("so where is mi box", "where is my"),
        ("so where iss my box", "where is my"),
        ("so wehre is mi box", None),
    ]:
        facts = {"message.text": text}
        assert NaiveKeywords().keyword_of(leaf, facts) == named
        assert compiled.keyword_hits(facts) == ({leaf: named} if named else {})


def test_number_comparisons_as_leaves_make_them_for_nan_and_bools() -> None:
    def on_score(op: Op, threshold: float) -> Rule:
        score = Leaf("message.sentiment.score", op, (threshold,))
        return rule(f"{op.value} {threshold}", Group("and", (score, VIP)))

    rules = [on_score(op, t) for op in (Op.LT, Op.LTE, Op.GT, Op.GTE) for t in (-1, 0.5, 1)]
    rules.append(on_score(Op.LT, float("nan")))
    compiled = CompiledRules(rules)
    for score in (float("nan"), 0.5, True, False):
        facts = {"message.sentiment.score": score, "customer.tier": "VIP"}
        fired = [e.rule.id for e in compiled.evaluate(facts, now=NOW) if e.matched]
        naive = evaluate_pass(rules, facts, subject="customers/c7", now=NOW)
        assert fired == [v.rule.id for v in naive if v.fired]
        assert fired or score != score  # NaN: none fires; others: some do


def test_traces_made_without_init_are_the_traces_init_makes() -> None:
    leaf = VIP
    made = leaf_trace(True, leaf, ("VIP",), "customer.tier is 'VIP'")
    group = group_trace(False, "not", (made,))
    assert made == Trace(True, leaf=leaf, actual=("VIP",), detail="customer.tier is 'VIP'")
    assert group == Trace(False, op="not", children=(made,))
    every = {f.name for f in fields(Trace)}
    assert set(vars(made)) == every
    assert set(vars(group)) == every
    assert hash(made) == hash(
        Trace(True, leaf=leaf, actual=("VIP",), detail="customer.tier is 'VIP'")
    )


def test_evaluations_and_verdicts_made_without_init_are_those_init_makes() -> None:
    plain = rule("r", None)
    trace = group_trace(True, "and", ())
    made = made_evaluation(plain, True, trace, "note")
    assert made == Evaluation(plain, True, trace, "note")
    assert set(vars(made)) == {f.name for f in fields(Evaluation)}
    verdict = made_verdict(plain, Outcome.MATCHED, trace, "condition held")
    assert verdict == Verdict(plain, Outcome.MATCHED, trace, "condition held")
    assert set(vars(verdict)) == {f.name for f in fields(Verdict)}


def test_large_rule_sets_are_frozen_out_of_collections_and_small_ones_not() -> None:
    small = CompiledRules([rule(f"r{i}", VIP) for i in range(FREEZE_FROM_RULES - 1)])
    large = CompiledRules([rule(f"r{i}", VIP) for i in range(FREEZE_FROM_RULES)])
    try:
        gc.unfreeze()
        assert not keep_out_of_collections(small)
        assert gc.get_freeze_count() == 0
        assert keep_out_of_collections(large)
        assert gc.get_freeze_count() > len(large.rules)
    finally:
        gc.unfreeze()
