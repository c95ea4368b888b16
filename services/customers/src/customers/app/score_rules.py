"""Applying the tenant's score rules to one event about a customer.

The event consumer runs ``score_event`` in a unit of work joined to its
transaction: the awards, score changes, customer.scored events, timeline rows
and the tier re-assessment commit together with the inbox row that marks the
event done.

Every customer and message event is scored, most of them for tenants with few
rules or none, so the enabled rules are kept per tenant (``EnabledScoreRules``)
until the tenant's score rule revision moves: every add, save or delete of a
rule bumps it in the same transaction (``ScoringRepository.score_rules_revision``),
so a change made through any replica is seen by the next event here, at the
cost of one read by key per event (issue 14).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

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


@dataclass
class _TenantRules:
    revision: int
    by_type: dict[str, tuple[ScoreRule, ...]] = field(default_factory=dict)


class EnabledScoreRules:
    """Each tenant's enabled score rules by event type, kept while its revision holds."""

    def __init__(self, *, max_tenants: int = 1024) -> None:
        self._max_tenants = max_tenants
        self._tenants: OrderedDict[str, _TenantRules] = OrderedDict()

    async def of(self, uow: UnitOfWork, tenant_id: str, event_type: str) -> tuple[ScoreRule, ...]:
        """The tenant's enabled rules for ``event_type`` as of now, oldest first."""
        # The revision first: rules read after it are at least as new, so a cached
        # entry can be newer than its revision says (read once more), never older.
        revision = await uow.scoring.score_rules_revision(tenant_id)
        tenant = self._tenants.get(tenant_id)
        if tenant is None or tenant.revision != revision:
            tenant = self._tenants[tenant_id] = _TenantRules(revision)
        self._tenants.move_to_end(tenant_id)
        while len(self._tenants) > self._max_tenants:
            self._tenants.popitem(last=False)
        rules = tenant.by_type.get(event_type)
        if rules is None:
            rules = tuple(await uow.scoring.enabled_score_rules(tenant_id, event_type))
            tenant.by_type[event_type] = rules
        return rules


async def score_event(
    new_uow: UnitOfWorkFactory[UnitOfWork], rules: EnabledScoreRules, event: ScoringEvent
) -> list[Awarded]:
    """The tenant's score rules applied to one event, in one unit of work."""
    async with new_uow() as uow:
        awarded = await apply_score_rules(uow, rules, event)
        await uow.commit()
    return awarded


async def worth_scoring(
    new_uow: UnitOfWorkFactory[UnitOfWork],
    rules: EnabledScoreRules,
    events: Sequence[ScoringEvent],
) -> list[ScoringEvent]:
    """The events some enabled rule of their tenant matches (each then goes to
    ``score_event``), the rules read once per tenant and event type, in one unit
    of work: a batch of events no rule names (most, for most tenants) costs one
    read per tenant and type, not a unit of work each."""
    enabled: dict[tuple[str, str], tuple[ScoreRule, ...]] = {}
    async with new_uow() as uow:
        for tenant_id, event_type in dict.fromkeys((e.tenant_id, e.type) for e in events):
            enabled[tenant_id, event_type] = await rules.of(uow, tenant_id, event_type)
        # Nothing written: committing releases a consumer's savepoint in the event
        # loop on SQLite, where rolling back to it would make a trip to the
        # connection's thread.
        await uow.commit()
    return [
        e
        for e in events
        if any(rule_matches(r, e.facts, at=e.occurred_at) for r in enabled[e.tenant_id, e.type])
    ]


async def apply_score_rules(
    uow: UnitOfWork, rules: EnabledScoreRules, event: ScoringEvent
) -> list[Awarded]:
    """Award the points of every enabled rule of the event's type whose condition holds.

    ONCE rules award a customer once ever; caps count the awards of the
    rule to the customer in the UTC calendar period of the event. The
    customer's row is locked first, so concurrent events cannot both pass a
    cap. An event already awarded by a rule (a redelivery) awards nothing.
    """
    enabled = await rules.of(uow, event.tenant_id, event.type)
    matching = [r for r in enabled if rule_matches(r, event.facts, at=event.occurred_at)]
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
