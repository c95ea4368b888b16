"""Applying the tenant's score rules to one event about a customer.

The event consumer runs ``score_event`` in a unit of work joined to its
transaction: the awards, score changes, customer.scored events, timeline rows
and the tier re-assessment commit together with the inbox row that marks the
event done.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork
from customers.app.tiers import reassess_tier
from customers.app.timeline import record
from customers.domain.events import CustomerScored
from customers.domain.model import ScoreChange
from customers.domain.scoring import (
    ScoreAward,
    ScoreRule,
    ScoringEvent,
    period_bounds,
    points_to_award,
    rule_matches,
)


def score_rule_name(rule_id: str) -> str:
    return f"scoreRules/{rule_id}"


@dataclass(frozen=True)
class Awarded:
    rule_id: str
    points: int


async def score_event(new_uow: UnitOfWorkFactory[UnitOfWork], event: ScoringEvent) -> list[Awarded]:
    """The tenant's score rules applied to one event, in one unit of work."""
    async with new_uow() as uow:
        awarded = await apply_score_rules(uow, event)
        await uow.commit()
    return awarded


async def apply_score_rules(uow: UnitOfWork, event: ScoringEvent) -> list[Awarded]:
    """Award the points of every enabled rule of the event's type whose condition holds.

    ONCE rules award a customer once ever; caps count the awards of the
    rule to the customer in the UTC calendar period of the event. The
    customer's row is locked first, so concurrent events cannot both pass a
    cap. An event already awarded by a rule (a redelivery) awards nothing.
    """
    rules = await uow.scoring.enabled_score_rules(event.tenant_id, event.type)
    matching = [r for r in rules if rule_matches(r, event.facts, at=event.occurred_at)]
    if not matching:
        return []
    if not await uow.scoring.lock_customer(event.tenant_id, event.customer_id):
        return []  # deleted since the event: nothing to score
    awarded = []
    for rule in matching:
        points = await _points_for(uow, rule, event)
        if points and await _award(uow, rule, event, points):
            awarded.append(Awarded(rule.id, points))
    if awarded:
        await reassess_tier(uow, event.tenant_id, event.customer_id)
    return awarded


async def _points_for(uow: UnitOfWork, rule: ScoreRule, event: ScoringEvent) -> int:
    scoring = uow.scoring
    awarded_before = await scoring.has_award(event.tenant_id, rule.id, event.customer_id)
    in_period = 0
    if rule.cap_points and rule.cap_period is not None:
        bounds = period_bounds(rule.cap_period, event.occurred_at)
        in_period = await scoring.awarded_in(event.tenant_id, rule.id, event.customer_id, bounds)
    return points_to_award(rule, awarded_before=awarded_before, awarded_in_period=in_period)


async def _award(uow: UnitOfWork, rule: ScoreRule, event: ScoringEvent, points: int) -> bool:
    """Record the award, then change the score as AdjustScore does; False if awarded before."""
    tenant_id, customer_id = event.tenant_id, event.customer_id
    fresh = await uow.scoring.add_award(
        ScoreAward(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            rule_id=rule.id,
            customer_id=customer_id,
            event_id=event.event_id,
            points=points,
            awarded_at=event.occurred_at,
        )
    )
    if not fresh:
        return False
    now = utc_now()
    if not await uow.customers.add_to_score(tenant_id, customer_id, points, now=now):
        return False
    customer = await uow.customers.get(tenant_id, customer_id)
    assert customer is not None  # locked by this transaction
    source = score_rule_name(rule.id)
    reason = f"{rule.display_name} ({event.type})"
    await uow.customers.add_score_change(
        ScoreChange(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            customer_id=customer_id,
            delta=points,
            score=customer.score,
            reason=reason,
            source=source,
            cause_event_id=event.event_id,
            request_id="",
            created_at=now,
        )
    )
    await record(
        uow.customers,
        uow.emit,
        customer,
        CustomerScored(
            customer_id=customer_id,
            delta=points,
            score=customer.score,
            reason=reason,
            source=source,
            cause_event_id=event.event_id,
        ),
        summary=f"Score {points:+d} -> {customer.score}: {reason}",
        actor=source,
        details={"delta": points, "score": customer.score, "reason": reason},
    )
    return True
