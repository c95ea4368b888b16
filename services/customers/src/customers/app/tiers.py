"""Tier assessment: give a customer the tier their tenant's tier rules decide.

``reassess_tier`` runs inside the unit of work of whatever changed the
customer (a score, points, an order, a score rule's award). When tiers or
tier rules change, ``TierRecompute`` re-assesses every customer of the
tenant in the background, 500 at a time, each batch in its own unit of work;
``TierSweep`` does so for every tenant with tiers a few times a day, for
rules over recency, which time changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.ports import UnitOfWork
from customers.app.timeline import record
from customers.domain.events import CustomerTierChanged
from customers.domain.facts import customer_facts
from customers.domain.model import Customer
from customers.domain.scoring import Tier, TierRule, decide_tier

log = logging.getLogger(__name__)

RECOMPUTE_BATCH = 500
_SYSTEM = Visibility.everything()


def tier_name(tier_id: str) -> str:
    return f"tiers/{tier_id}" if tier_id else ""


def tier_rule_name(rule_id: str) -> str:
    return f"tierRules/{rule_id}" if rule_id else ""


@dataclass(frozen=True)
class TierBook:
    """A tenant's tiers (by id) and tier rules, read once for many customers."""

    tiers: dict[str, Tier]
    rules: list[TierRule]


async def load_tier_book(uow: UnitOfWork, tenant_id: str) -> TierBook | None:
    """None when the tenant has no tiers (nothing to assess)."""
    tiers = {t.id: t for t in await uow.scoring.tiers(tenant_id)}
    if not tiers:
        return None  # so no customer can hold one (a tier in use cannot be deleted)
    return TierBook(tiers, await uow.scoring.tier_rules(tenant_id))


async def apply_tier(
    uow: UnitOfWork, customer: Customer, book: TierBook, *, now: datetime | None = None
) -> Customer:
    """Move the customer to the tier the rules decide; emits customer.tier_changed.

    Returns the customer as saved (unchanged if they keep their tier, or if
    the row changed under us: then whoever changed it re-assesses).
    """
    moment = now or utc_now()
    decision = decide_tier(
        customer.tier_id, book.tiers, book.rules, customer_facts(customer), now=moment
    )
    if decision is None:
        return customer
    saved = await uow.scoring.set_customer_tier(
        customer.tenant_id,
        customer.id,
        decision.tier_id,
        expected_version=customer.version,
        now=moment,
    )
    if not saved:
        return customer
    updated = replace(
        customer, tier_id=decision.tier_id, version=customer.version + 1, updated_at=moment
    )
    before = book.tiers.get(customer.tier_id)
    after = book.tiers.get(decision.tier_id)
    from_label = before.display_name if before else "none"
    to_label = after.display_name if after else "none"
    await record(
        uow.customers,
        uow.emit,
        updated,
        CustomerTierChanged(customer.id, customer.tier_id, decision.tier_id, decision.rule_id),
        summary=f"Tier {from_label} -> {to_label}",
        actor="system",
        details={
            "from_tier": tier_name(customer.tier_id),
            "to_tier": tier_name(decision.tier_id),
            "tier_rule": tier_rule_name(decision.rule_id),
        },
    )
    return updated


async def reassess_tier(uow: UnitOfWork, tenant_id: str, customer_id: str) -> Customer | None:
    """Re-read the customer and apply the tenant's tier rules, in the caller's unit of work.

    The customer as it is now; None when the tenant has no tiers (nothing read).
    """
    book = await load_tier_book(uow, tenant_id)
    if book is None:
        return None
    customer = await uow.customers.get(tenant_id, customer_id)
    return None if customer is None else await apply_tier(uow, customer, book)


async def recompute_tenant(
    new_uow: UnitOfWorkFactory[UnitOfWork],
    tenant_id: str,
    *,
    now: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Re-assess every customer of a tenant in batches; returns how many changed tier.

    ``now`` is the moment rules over recency are judged at (the clock's now);
    a set ``stop`` ends the walk after the batch under way.
    """
    changed = 0
    after: list[str] = []
    while stop is None or not stop.is_set():
        async with new_uow() as uow:
            book = await load_tier_book(uow, tenant_id)
            if book is None:
                return changed
            batch = await uow.customers.page(
                tenant_id, _SYSTEM, condition=None, after=after, limit=RECOMPUTE_BATCH
            )
            for customer in batch:
                updated = await apply_tier(uow, customer, book, now=now)
                changed += updated.tier_id != customer.tier_id
            await uow.commit()
        if len(batch) < RECOMPUTE_BATCH:
            return changed
        last = batch[-1]
        assert last.created_at is not None
        after = [last.created_at.isoformat(), last.id]
    return changed


class TierRecompute:
    """Background tenant recomputes, at most one running per tenant.

    A request while one runs makes it run once more when it ends, so the last
    change is always applied. Runs live in this process: a restart drops a
    pending one (customers then move at their next score, points or order
    change, the next tier rule change, or the next ``TierSweep``).
    """

    def __init__(self, new_uow: UnitOfWorkFactory[UnitOfWork]) -> None:
        self._new_uow = new_uow
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    def request(self, tenant_id: str) -> None:
        if tenant_id in self._running:
            self._again.add(tenant_id)
            return
        self._running[tenant_id] = asyncio.create_task(self._run(tenant_id))

    async def _run(self, tenant_id: str) -> None:
        try:
            while True:
                self._again.discard(tenant_id)
                try:
                    changed = await recompute_tenant(self._new_uow, tenant_id)
                    log.info(
                        "tier recompute of tenant %s: %d customer(s) moved", tenant_id, changed
                    )
                except Exception:
                    log.exception("tier recompute of tenant %s failed", tenant_id)
                if tenant_id not in self._again:
                    return
        finally:
            del self._running[tenant_id]

    async def wait_idle(self) -> None:
        """Until no recompute runs (tests, graceful shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)


class TierSweep:
    """Re-assesses every customer of every tenant with tiers, now and then.

    Tier rules over recency ("ordered within the last 30 days", "active
    after ...") change their answer as time passes while nothing is written
    to the customer, so nothing else would move them. The sweep also redoes a
    background recompute that a restart dropped (``TierRecompute``). The
    first sweep runs ``first_after`` the start, then one every ``interval``;
    rules judge recency to the day, so a few sweeps a day keep tiers current.
    """

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        *,
        interval: timedelta = timedelta(hours=6),
        first_after: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._new_uow = new_uow
        self._interval = interval
        self._first_after = first_after
        self._clock = clock

    async def sweep(self, stop: asyncio.Event | None = None) -> int:
        """One pass over every tenant with tiers; how many customers changed tier."""
        async with self._new_uow() as uow:
            tenants = await uow.scoring.tenants_with_tiers()
        moved = 0
        for tenant_id in tenants:
            if stop is not None and stop.is_set():
                break
            moved += await recompute_tenant(self._new_uow, tenant_id, now=self._clock(), stop=stop)
        return moved

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: sweeps until ``stop`` is set (a sweep under way ends after its batch)."""
        wait = self._first_after
        while not await _stopped_within(stop, wait):
            try:
                moved = await self.sweep(stop)
                log.info("tier sweep: %d customer(s) moved", moved)
            except Exception:
                log.exception("tier sweep failed")
            wait = self._interval


async def _stopped_within(stop: asyncio.Event, wait: timedelta) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), wait.total_seconds())
    return stop.is_set()
