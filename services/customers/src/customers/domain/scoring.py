"""Score rules, tiers and tier rules, and the points ledger's expiry, as plain rules.

Score rules turn events about a customer into score changes; tier rules give
a customer the highest-ranked tier whose condition holds; earned points that
reach their expire_time and were not spent are expired (spends use the
earliest-expiring points first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from crosstalk_common.conditions.evaluate import evaluate
from crosstalk_common.conditions.model import FieldSpec, FieldType, Node
from crosstalk_common.domain.channel import CHANNEL_ALIASES, CHANNEL_VALUES
from crosstalk_common.errors import FieldViolation
from customers.domain.filter_fields import STAGE_NAMES
from customers.domain.model import (
    MAX_DESCRIPTION_LENGTH,
    LifecycleStage,
    PointsEntry,
    PointsKind,
)

MAX_SCORE_RULE_NAME_LENGTH = 100
MAX_TIER_NAME_LENGTH = 64
# One award moves a score by at most this much; a cap is at most MAX_CAP_POINTS.
MAX_RULE_POINTS = 1_000_000
MAX_CAP_POINTS = 1_000_000_000
MAX_SCORE_RULE_CONDITIONS = 10
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

_STAGES = tuple(s.value for s in LifecycleStage)

# The catalogue event types a score rule may react to, and the facts of each
# that its condition may name. "customer.scored" is left out on purpose: a
# rule scoring on it would score its own output forever.
EVENT_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "message.received": {
        spec.name: spec
        for spec in (
            FieldSpec("text", FieldType.KEYWORDS_TEXT),
            FieldSpec("translated_text", FieldType.KEYWORDS_TEXT),
            FieldSpec("language", FieldType.TEXT),
            FieldSpec(
                "channel", FieldType.ENUM, enum_values=CHANNEL_VALUES, enum_aliases=CHANNEL_ALIASES
            ),
            FieldSpec("store", FieldType.TEXT),
            FieldSpec("sentiment", FieldType.NUMBER),
            FieldSpec("intents", FieldType.TAGS),
        )
    },
    "order.recorded": {
        spec.name: spec
        for spec in (
            FieldSpec("store", FieldType.TEXT),
            FieldSpec("amount", FieldType.NUMBER),
            FieldSpec("currency", FieldType.TEXT),
            FieldSpec("order_count", FieldType.NUMBER),
        )
    },
    "customer.tagged": {"tags": FieldSpec("tags", FieldType.TAGS)},
    "customer.stage_changed": {
        spec.name: spec
        for spec in (
            FieldSpec("from_stage", FieldType.ENUM, enum_values=_STAGES, enum_aliases=STAGE_NAMES),
            FieldSpec("to_stage", FieldType.ENUM, enum_values=_STAGES, enum_aliases=STAGE_NAMES),
        )
    },
    "customer.created": {
        spec.name: spec
        for spec in (
            FieldSpec(
                "channel", FieldType.ENUM, enum_values=CHANNEL_VALUES, enum_aliases=CHANNEL_ALIASES
            ),
            FieldSpec("store", FieldType.TEXT),
        )
    },
}
SCORABLE_EVENT_TYPES = tuple(EVENT_FIELDS)


class ScoreRuleFrequency(Enum):
    ONCE = "once"
    REPEATABLE = "repeatable"


class CapPeriod(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    LIFETIME = "lifetime"


@dataclass(frozen=True)
class ScoreRule:
    id: str
    tenant_id: str
    display_name: str
    event_type: str
    points: int
    frequency: ScoreRuleFrequency | None
    # Over the event's facts (EVENT_FIELDS[event_type]); None: every event.
    condition: Node | None = None
    # The condition as the client sent it (serialized), to give it back unchanged.
    condition_blob: bytes = b""
    cap_points: int = 0
    cap_period: CapPeriod | None = None
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


SCORE_RULE_EDITABLE_FIELDS = (
    "display_name",
    "event_type",
    "condition",
    "points",
    "frequency",
    "cap_points",
    "cap_period",
    "enabled",
)


def score_rule_problems(rule: ScoreRule, *, prefix: str = "score_rule") -> list[FieldViolation]:
    """Every problem of a score rule except its condition (checked against the event type)."""
    bad: list[FieldViolation] = []
    name = rule.display_name.strip()
    if not name:
        bad.append(FieldViolation(f"{prefix}.display_name", "must not be empty"))
    elif len(name) > MAX_SCORE_RULE_NAME_LENGTH:
        bad.append(
            FieldViolation(
                f"{prefix}.display_name", f"at most {MAX_SCORE_RULE_NAME_LENGTH} characters"
            )
        )
    if rule.event_type not in EVENT_FIELDS:
        what = f"{rule.event_type!r} cannot be scored" if rule.event_type else "is required"
        bad.append(
            FieldViolation(
                f"{prefix}.event_type", f"{what}; one of: {', '.join(SCORABLE_EVENT_TYPES)}"
            )
        )
    if rule.points == 0:
        bad.append(FieldViolation(f"{prefix}.points", "must not be 0 (negative deducts)"))
    elif abs(rule.points) > MAX_RULE_POINTS:
        bad.append(
            FieldViolation(f"{prefix}.points", f"between -{MAX_RULE_POINTS} and {MAX_RULE_POINTS}")
        )
    if rule.frequency is None:
        bad.append(
            FieldViolation(
                f"{prefix}.frequency",
                "SCORE_RULE_FREQUENCY_ONCE or SCORE_RULE_FREQUENCY_REPEATABLE is required",
            )
        )
    if rule.cap_points < 0 or rule.cap_points > MAX_CAP_POINTS:
        bad.append(FieldViolation(f"{prefix}.cap_points", f"between 0 and {MAX_CAP_POINTS}"))
    elif rule.cap_points and rule.cap_period is None:
        bad.append(
            FieldViolation(f"{prefix}.cap_period", "a cap needs its period, e.g. CAP_PERIOD_DAY")
        )
    elif not rule.cap_points and rule.cap_period is not None:
        bad.append(
            FieldViolation(f"{prefix}.cap_points", "set the points the period is capped at (> 0)")
        )
    return bad


def period_bounds(period: CapPeriod, at: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of the UTC calendar period holding ``at`` (weeks start on Monday).

    None for LIFETIME (every award counts).
    """
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is CapPeriod.DAY:
        return day, day + timedelta(days=1)
    if period is CapPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(weeks=1)
    if period is CapPeriod.MONTH:
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    if period is CapPeriod.YEAR:
        start = day.replace(month=1, day=1)
        return start, start.replace(year=start.year + 1)
    return None


def points_to_award(rule: ScoreRule, *, awarded_before: bool, awarded_in_period: int) -> int:
    """What a rule gives for one more matching event (0: nothing).

    A ONCE rule gives nothing after its first award. A cap limits the points
    (by absolute value, so it also bounds deductions) awarded per period; the
    last award of a period is cut to what is left.
    """
    if rule.frequency is ScoreRuleFrequency.ONCE and awarded_before:
        return 0
    amount = abs(rule.points)
    if rule.cap_points:
        amount = min(amount, max(0, rule.cap_points - awarded_in_period))
    return amount if rule.points > 0 else -amount


def rule_matches(rule: ScoreRule, facts: Mapping[str, Any], *, at: datetime) -> bool:
    return rule.condition is None or evaluate(rule.condition, facts, now=at)


@dataclass(frozen=True)
class ScoringEvent:
    """An event about one customer, reduced to what score rules look at."""

    event_id: str
    tenant_id: str
    type: str
    customer_id: str
    occurred_at: datetime
    facts: dict[str, Any]


@dataclass(frozen=True)
class ScoreAward:
    """Points a score rule gave a customer for one event; caps and ONCE read these."""

    id: str
    tenant_id: str
    rule_id: str
    customer_id: str
    event_id: str
    points: int
    # When the event happened: caps count awards by the period of their event.
    awarded_at: datetime


# --- tiers ----------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    id: str
    tenant_id: str
    display_name: str
    rank: int
    description: str = ""
    color: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


TIER_EDITABLE_FIELDS = ("display_name", "rank", "description", "color")


def tier_problems(tier: Tier, *, prefix: str = "tier") -> list[FieldViolation]:
    bad: list[FieldViolation] = []
    name = tier.display_name.strip()
    if not name:
        bad.append(FieldViolation(f"{prefix}.display_name", "must not be empty"))
    elif len(name) > MAX_TIER_NAME_LENGTH:
        bad.append(
            FieldViolation(f"{prefix}.display_name", f"at most {MAX_TIER_NAME_LENGTH} characters")
        )
    if tier.color and not _COLOR.match(tier.color):
        bad.append(FieldViolation(f"{prefix}.color", "must look like '#rrggbb'"))
    if len(tier.description) > MAX_DESCRIPTION_LENGTH:
        bad.append(
            FieldViolation(f"{prefix}.description", f"at most {MAX_DESCRIPTION_LENGTH} characters")
        )
    return bad


def tier_clash(tier: Tier, others: Sequence[Tier]) -> str:
    """ "rank" or "display_name" when another tier of the tenant already has it; else ""."""
    for other in others:
        if other.id == tier.id:
            continue
        if other.rank == tier.rank:
            return "rank"
        if other.display_name.casefold() == tier.display_name.casefold():
            return "display_name"
    return ""


@dataclass(frozen=True)
class TierRule:
    id: str
    tenant_id: str
    tier_id: str
    # Over the customer's filter fields (ids for reference fields). None when
    # the stored condition no longer fits the tenant's fields (a custom field
    # it names was deleted): such a rule never holds.
    condition: Node | None
    condition_blob: bytes = b""
    allow_downgrade: bool = False
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


TIER_RULE_EDITABLE_FIELDS = ("tier", "condition", "allow_downgrade", "enabled")


@dataclass(frozen=True)
class TierDecision:
    """Where a customer moves: tier_id "" for no tier; rule_id the rule that decided ("" none)."""

    tier_id: str
    rule_id: str


def decide_tier(
    current_tier_id: str,
    tiers: Mapping[str, Tier],
    rules: Sequence[TierRule],
    facts: Mapping[str, Any],
    *,
    now: datetime,
) -> TierDecision | None:
    """The tier a customer should hold, or None when they keep the one they have.

    The customer gets the highest-ranked tier with an enabled rule that holds.
    Moving down (to a lower tier, or to none) is allowed unless an enabled
    rule of the current tier has allow_downgrade false: then they keep it.
    """
    active = [r for r in rules if r.enabled and r.tier_id in tiers]
    holding = [
        r for r in active if r.condition is not None and evaluate(r.condition, facts, now=now)
    ]
    holding.sort(key=lambda r: (-tiers[r.tier_id].rank, r.created_at or now, r.id))
    best = holding[0] if holding else None
    current = tiers.get(current_tier_id)
    if best is not None and current is not None and best.tier_id == current.id:
        return None
    if best is not None and (current is None or tiers[best.tier_id].rank > current.rank):
        return TierDecision(best.tier_id, best.id)
    if current is not None and any(
        not r.allow_downgrade for r in active if r.tier_id == current.id
    ):
        return None
    target = best.tier_id if best is not None else ""
    if target == current_tier_id:
        return None
    return TierDecision(target, best.id if best is not None else "")


# --- points expiry --------------------------------------------------------


@dataclass
class _Lot:
    """Earned points still on the balance; expire_time None never expires."""

    expire_time: datetime | None
    remaining: int


def _use(lots: list[_Lot], amount: int) -> None:
    """Take points from the earliest-expiring lots first; never-expiring ones last."""
    far = datetime.max.replace(tzinfo=UTC)
    for lot in sorted(lots, key=lambda lot: lot.expire_time or far):
        if amount <= 0:
            return
        taken = min(lot.remaining, amount)
        lot.remaining -= taken
        amount -= taken


def points_due_to_expire(entries: Sequence[PointsEntry], now: datetime) -> int:
    """How many points of a customer expire at ``now``, from their whole ledger.

    The ledger is replayed in booking order. Every EARN (and positive ADJUST)
    is a lot; every SPEND, EXPIRE and negative ADJUST uses the lots that
    expire first (lots without expire_time last), among the lots earned
    before it. What is left of lots whose expire_time <= now is due. Booking
    that as an EXPIRE entry uses exactly those lots, so a second run finds
    nothing: the computation is idempotent. Never more than the balance.
    """
    lots: list[_Lot] = []
    for entry in sorted(entries, key=lambda e: (e.created_at, e.id)):
        if entry.points > 0:
            expires = entry.expire_time if entry.kind is PointsKind.EARN else None
            lots.append(_Lot(expires, entry.points))
        elif entry.points < 0:
            _use(lots, -entry.points)
    due = sum(
        lot.remaining for lot in lots if lot.expire_time is not None and lot.expire_time <= now
    )
    balance = sum(lot.remaining for lot in lots)
    return max(0, min(due, balance))
