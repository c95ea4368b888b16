"""The plain rules of scoring: cap periods, awards, tier decisions, points due to expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from crosstalk.common.v1 import condition_pb2 as cpb
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.conditions.parse import parse_condition
from customers.domain.model import PointsEntry, PointsKind
from customers.domain.scoring import (
    EVENT_FIELDS,
    CapPeriod,
    ScoreRule,
    ScoreRuleFrequency,
    Tier,
    TierDecision,
    TierRule,
    decide_tier,
    period_bounds,
    points_due_to_expire,
    points_to_award,
)

AT = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # a Thursday


def test_cap_periods_are_utc_calendar_periods() -> None:
    day = datetime(2026, 12, 31, tzinfo=UTC)
    assert period_bounds(CapPeriod.DAY, AT) == (day, datetime(2027, 1, 1, tzinfo=UTC))
    assert period_bounds(CapPeriod.WEEK, AT) == (
        datetime(2026, 12, 28, tzinfo=UTC),
        datetime(2027, 1, 4, tzinfo=UTC),
    )
    assert period_bounds(CapPeriod.MONTH, AT) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_bounds(CapPeriod.YEAR, AT) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert period_bounds(CapPeriod.LIFETIME, AT) is None
    # an aware time in another zone counts in the UTC day it falls in
    tokyo = timezone(timedelta(hours=9))
    assert period_bounds(CapPeriod.DAY, datetime(2027, 1, 1, 8, 0, tzinfo=tokyo)) == (
        day,
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def _rule(points: int, frequency: ScoreRuleFrequency, cap: int = 0) -> ScoreRule:
    return ScoreRule(
        id="r",
        tenant_id="t",
        display_name="r",
        event_type="order.recorded",
        points=points,
        frequency=frequency,
        cap_points=cap,
        cap_period=CapPeriod.DAY if cap else None,
    )


def test_awards_respect_once_and_caps_in_both_directions() -> None:
    once = _rule(5, ScoreRuleFrequency.ONCE)
    assert points_to_award(once, awarded_before=False, awarded_in_period=0) == 5
    assert points_to_award(once, awarded_before=True, awarded_in_period=0) == 0
    capped = _rule(-4, ScoreRuleFrequency.REPEATABLE, cap=10)
    assert points_to_award(capped, awarded_before=True, awarded_in_period=4) == -4
    assert points_to_award(capped, awarded_before=True, awarded_in_period=8) == -2
    assert points_to_award(capped, awarded_before=True, awarded_in_period=10) == 0


def _tier(tier_id: str, rank: int) -> Tier:
    return Tier(id=tier_id, tenant_id="t", display_name=tier_id, rank=rank)


def _tier_rule(rule_id: str, tier_id: str, at_least: int, *, downgrade: bool = True) -> TierRule:
    return TierRule(
        id=rule_id,
        tenant_id="t",
        tier_id=tier_id,
        condition=Leaf("score", Op.GTE, (at_least,)),
        allow_downgrade=downgrade,
    )


TIERS = {"silver": _tier("silver", 1), "gold": _tier("gold", 2)}


def test_the_highest_tier_whose_rule_holds_wins() -> None:
    rules = [_tier_rule("s", "silver", 10), _tier_rule("g", "gold", 50)]

    def decide(current: str, score: int) -> TierDecision | None:
        return decide_tier(current, TIERS, rules, {"score": score}, now=AT)

    assert decide("", 5) is None
    assert decide("", 60) == TierDecision("gold", "g")
    assert decide("silver", 60) == TierDecision("gold", "g")
    assert decide("gold", 60) is None
    assert decide("gold", 20) == TierDecision("silver", "s")
    assert decide("silver", 0) == TierDecision("", "")
    assert decide("deleted-tier", 0) == TierDecision("", "")


def test_a_sticky_rule_keeps_its_tier_and_disabled_or_broken_rules_grant_nothing() -> None:
    sticky = [_tier_rule("s", "silver", 10), _tier_rule("g", "gold", 50, downgrade=False)]
    assert decide_tier("gold", TIERS, sticky, {"score": 0}, now=AT) is None
    disabled = [
        TierRule(
            id="g",
            tenant_id="t",
            tier_id="gold",
            condition=Leaf("score", Op.GTE, (1,)),
            enabled=False,
        )
    ]
    assert decide_tier("", TIERS, disabled, {"score": 9}, now=AT) is None
    broken = [TierRule(id="g", tenant_id="t", tier_id="gold", condition=None)]
    assert decide_tier("", TIERS, broken, {"score": 9}, now=AT) is None


def _entry(n: int, kind: PointsKind, points: int, expires: datetime | None = None) -> PointsEntry:
    return PointsEntry(
        id=f"e{n}",
        tenant_id="t",
        customer_id="c",
        kind=kind,
        points=points,
        balance=0,
        reason="",
        order="",
        expire_time=expires,
        actor="",
        request_id="",
        created_at=AT + timedelta(minutes=n),
    )


def test_points_due_replays_the_ledger_earliest_expiring_first() -> None:
    soon, later = AT + timedelta(days=1), AT + timedelta(days=2)
    ledger = [
        _entry(1, PointsKind.EARN, 40, later),
        _entry(2, PointsKind.EARN, 30, soon),
        _entry(3, PointsKind.EARN, 20),
        _entry(4, PointsKind.SPEND, -50),  # 30 of "soon", then 20 of "later"
    ]
    assert points_due_to_expire(ledger, soon) == 0
    assert points_due_to_expire(ledger, later) == 20
    booked = [*ledger, _entry(5, PointsKind.EXPIRE, -20)]
    assert points_due_to_expire(booked, later + timedelta(days=1)) == 0
    # a positive adjustment never expires; a negative one is spent like a spend
    adjusted = [*ledger, _entry(5, PointsKind.ADJUST, 5), _entry(6, PointsKind.ADJUST, -15)]
    assert points_due_to_expire(adjusted, later) == 5


def test_score_rule_conditions_take_the_api_enum_names() -> None:
    for event, field, name, value in (
        ("customer.stage_changed", "to_stage", "LIFECYCLE_STAGE_DEAL", "deal"),
        ("customer.created", "channel", "CHANNEL_WHATSAPP", "whatsapp"),
        ("message.received", "channel", "CHANNEL_EMAIL", "email"),
    ):
        condition = cpb.Condition(
            leaf=cpb.ConditionLeaf(field=field, operator=cpb.OPERATOR_IN, values=[name, value])
        )
        parsed = parse_condition(condition, EVENT_FIELDS[event])
        assert parsed == Leaf(field, Op.IN, (value, value))
