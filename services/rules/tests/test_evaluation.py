"""The engine's domain: evaluation order, stop, cooldown, loop guard, rollout
cohorts, shadow, traces, time facts (rules/domain/evaluation.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from crosstalk_common.conditions.model import Group, Leaf, Op
from rules.domain.actions import AddTag
from rules.domain.evaluation import (
    BusinessCalendar,
    LoopContext,
    NaiveKeywords,
    Outcome,
    evaluate_pass,
    facts_from_json,
    facts_to_json,
    normalise,
    requires_keyword,
    time_facts,
    trace_condition,
    trace_from_json,
    trace_to_json,
)
from rules.domain.model import Rule, Trigger, in_rollout

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
CREATED = datetime(2026, 3, 1, tzinfo=UTC)
VIP = Leaf("customer.tier", Op.EQUALS, ("VIP",))
FACTS = {"customer.tier": "VIP", "message.text": "where is my parcel"}


def rule(rule_id: str, condition: Any = VIP, **kw: Any) -> Rule:
    fields: dict[str, Any] = {
        "id": rule_id,
        "tenant_id": "t1",
        "display_name": rule_id,
        "trigger": Trigger.MESSAGE_RECEIVED,
        "condition": condition,
        "actions": (AddTag(("x",)),),
        "created_at": CREATED,
    }
    fields.update(kw)
    return Rule(**fields)


def outcomes(rules: list[Rule], **kw: Any) -> dict[str, Outcome]:
    verdicts = evaluate_pass(rules, kw.pop("facts", FACTS), subject="customers/c1", now=NOW, **kw)
    return {v.rule.id: v.outcome for v in verdicts}


def test_rules_run_in_order_and_only_a_fired_stop_rule_ends_the_pass() -> None:
    rules = [
        rule("first"),
        rule("miss", Leaf("customer.tier", Op.EQUALS, ("Gold",)), stop_processing=True),
        rule("stopper", stop_processing=True),
        rule("after"),
        rule("after-miss", Leaf("customer.tier", Op.EQUALS, ("Gold",))),
    ]
    got = evaluate_pass(rules, FACTS, subject="customers/c1", now=NOW)
    assert [v.rule.id for v in got] == ["first", "miss", "stopper", "after", "after-miss"]
    assert [v.outcome for v in got] == [
        Outcome.MATCHED,
        Outcome.NOT_MATCHED,  # did not fire, so its stop flag stops nothing
        Outcome.MATCHED,
        Outcome.SKIPPED_STOPPED,
        Outcome.NOT_MATCHED,
    ]


def test_a_rule_cooling_down_does_not_stop_the_rules_after_it() -> None:
    # Today's defect: a stop rule in its cooldown ended the pass.
    rules = [rule("cooling", stop_processing=True, cooldown_seconds=3600), rule("next")]
    got = outcomes(rules, cooling=lambda r: r.id == "cooling")
    assert got == {"cooling": Outcome.SKIPPED_COOLDOWN, "next": Outcome.MATCHED}
    # Out of its cooldown it fires and stops.
    assert outcomes(rules) == {"cooling": Outcome.MATCHED, "next": Outcome.SKIPPED_STOPPED}


def test_rollout_and_shadow_suppress_without_stopping() -> None:
    # A 1% rollout: find a customer outside it, so the stop rule does not fire.
    outside = next(
        c for c in (f"customers/{i}" for i in range(1000)) if not in_rollout("out", c, 1)
    )
    rules = [
        rule("out", rollout_percent=1, stop_processing=True),
        rule("shadow", shadow=True, stop_processing=True),
        rule("live"),
    ]
    verdicts = evaluate_pass(rules, FACTS, subject=outside, now=NOW)
    assert [v.outcome for v in verdicts] == [
        Outcome.SKIPPED_ROLLOUT,
        Outcome.SHADOW_MATCHED,
        Outcome.MATCHED,
    ]


def test_the_loop_guard_ignores_deep_events_and_a_rules_own_effects() -> None:
    rules = [rule("r1"), rule("r2")]
    deep = outcomes(rules, loop=LoopContext("rules/r9/runs/x", 3))
    assert deep == {"r1": Outcome.SKIPPED_LOOP_GUARD, "r2": Outcome.SKIPPED_LOOP_GUARD}
    own = outcomes(rules, loop=LoopContext("rules/r1/runs/run-1", 1))
    assert own == {"r1": Outcome.SKIPPED_LOOP_GUARD, "r2": Outcome.MATCHED}
    assert outcomes(rules, loop=LoopContext("rules/r9/runs/x", 2)) == {
        "r1": Outcome.MATCHED,
        "r2": Outcome.MATCHED,
    }


def test_a_blacklisted_customer_fires_nothing() -> None:
    got = outcomes([rule("r1")], facts={**FACTS, "customer.blacklisted": True})
    assert got == {"r1": Outcome.SKIPPED_BLACKLISTED}


def test_rollout_cohorts_are_stable_and_raising_the_percentage_keeps_them_in() -> None:
    customers = [f"customers/{i}" for i in range(1000)]
    ten = {c for c in customers if in_rollout("rule-42", c, 10)}
    assert 70 <= len(ten) <= 130
    assert ten == {c for c in customers if in_rollout("rule-42", c, 10)}  # the same on replay
    twenty = {c for c in customers if in_rollout("rule-42", c, 20)}
    assert ten < twenty
    assert 140 <= len(twenty) <= 260
    # Another rule draws another cohort.
    assert ten != {c for c in customers if in_rollout("rule-43", c, 10)}


def test_the_trace_says_which_leaf_held_and_with_what() -> None:
    tree = Group(
        "and",
        (
            VIP,
            Group(
                "or",
                (
                    Leaf("message.sentiment.score", Op.LT, (-0.3,)),
                    Leaf("message.text", Op.MATCHES_KEYWORDS, ("refund",)),
                ),
            ),
        ),
    )
    facts = {**FACTS, "message.sentiment.score": -0.7}
    trace = trace_condition(tree, facts, now=NOW, keywords=NaiveKeywords())
    assert trace.result
    assert [c.result for c in trace.children[1].children] == [True, False]
    assert trace.children[0].actual == ("VIP",)
    assert trace.children[1].children[1].detail == "no keyword found"
    again = trace_from_json(trace_to_json(trace))
    assert again.lines() == trace.lines()
    assert "customer.tier equals VIP: matched" in trace.lines()[0]


def test_requires_keyword_knows_which_rules_need_a_hit() -> None:
    kw = Leaf("message.text", Op.MATCHES_KEYWORDS, ("refund",))
    assert requires_keyword(kw)
    assert requires_keyword(Group("and", (VIP, kw)))
    assert not requires_keyword(Group("or", (VIP, kw)))
    assert requires_keyword(Group("or", (kw, kw)))
    assert not requires_keyword(Group("not", (kw,)))


def test_normalising_folds_case_width_and_diacritics() -> None:
    full_width = "\uff32\uff25\uff26\uff35\uff2e\uff24"  # REFUND
    assert normalise(full_width) == normalise("Réfund") == normalise("  refund ") == "refund"


def test_business_hours_follow_the_tenants_calendar_and_time_zone() -> None:
    berlin = BusinessCalendar(
        time_zone="Europe/Berlin",
        hours={1: ((time(9), time(17)),)},
        holidays=frozenset({date(2026, 12, 14)}),
    )
    monday_0830_utc = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
    facts = time_facts(monday_0830_utc, berlin)
    assert facts["time.in_business_hours"] is True
    assert (facts["time.weekday"], facts["time.hour"]) == ("monday", 9)
    assert (
        time_facts(datetime(2026, 12, 7, 16, 30, tzinfo=UTC), berlin)["time.in_business_hours"]
        is False
    )
    assert (
        time_facts(datetime(2026, 12, 14, 9, 0, tzinfo=UTC), berlin)["time.in_business_hours"]
        is False
    )
    assert (
        time_facts(datetime(2026, 12, 8, 9, 0, tzinfo=UTC), berlin)["time.in_business_hours"]
        is False
    )


def test_facts_survive_json() -> None:
    facts = {
        "customer.tags": frozenset({"b", "a"}),
        "customer.last_order_time": NOW,
        "customer.score": 12,
        "message.text": "x",
    }
    data = facts_to_json(facts)
    assert data["customer.tags"] == ["a", "b"]
    assert facts_from_json(data) == facts
