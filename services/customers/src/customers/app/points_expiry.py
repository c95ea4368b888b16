"""Expiring earned points that reached their expire_time unspent.

A periodic worker (every minute) finds customers with points left and an
earn whose expire_time has passed, replays each one's ledger
(``points_due_to_expire``: spends use the earliest-expiring points first)
and books one POINTS_ENTRY_KIND_EXPIRE entry for what is due. Points count
on the balance until that entry is booked. Running twice expires nothing
more: the booked entry uses up exactly the expired points.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from datetime import datetime

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork
from customers.app.tiers import reassess_tier
from customers.app.timeline import record
from customers.domain.events import CustomerUpdated
from customers.domain.model import PointsEntry, PointsKind
from customers.domain.scoring import points_due_to_expire

log = logging.getLogger(__name__)

EXPIRY_ACTOR = "system"


class PointsExpiry:
    def __init__(
        self, new_uow: UnitOfWorkFactory[UnitOfWork], *, interval: float = 60.0, batch: int = 500
    ) -> None:
        self._new_uow = new_uow
        self._interval = interval
        self._batch = batch
        # After a complete pass, later passes only look at earns that expired
        # since then; the first pass of a process looks at every expired earn.
        self._since: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: one pass a minute until stopped."""
        while not stop.is_set():
            try:
                await self.expire_due(utc_now())
            except Exception:
                log.exception("points expiry pass failed; retrying in %.0fs", self._interval)
            await sleep_unless_stopped(stop, self._interval)

    async def expire_due(self, now: datetime) -> list[PointsEntry]:
        """One pass over every tenant: the EXPIRE entries it booked."""
        booked: list[PointsEntry] = []
        complete = True
        after: tuple[str, str] | None = None
        while True:
            async with self._new_uow() as uow:
                keys = await uow.scoring.customers_with_due_points(
                    now, since=self._since, after=after, limit=self._batch
                )
            for tenant_id, customer_id in keys:
                try:
                    entry = await self.expire_customer(tenant_id, customer_id, now)
                except Exception:
                    complete = False
                    log.exception("points expiry of customers/%s failed", customer_id)
                    continue
                if entry is not None:
                    booked.append(entry)
            if len(keys) < self._batch:
                break
            after = keys[-1]
        if complete:
            self._since = now
        return booked

    async def expire_customer(
        self, tenant_id: str, customer_id: str, now: datetime
    ) -> PointsEntry | None:
        """Book what is due for one customer (None: nothing was)."""
        async with self._new_uow() as uow:
            if not points_due_to_expire(
                await uow.scoring.points_history(tenant_id, customer_id), now
            ):
                return None  # the common case: looked at without locking anyone
            if not await uow.scoring.lock_customer(tenant_id, customer_id):
                return None
            entry = await _book_expiry(uow, tenant_id, customer_id, now)
            await uow.commit()
        return entry


async def _book_expiry(
    uow: UnitOfWork, tenant_id: str, customer_id: str, now: datetime
) -> PointsEntry | None:
    """Under the customer's lock: re-read the ledger and book the EXPIRE entry."""
    due = points_due_to_expire(await uow.scoring.points_history(tenant_id, customer_id), now)
    customer = await uow.customers.get(tenant_id, customer_id)
    if customer is None:
        return None
    due = min(due, customer.points_balance)
    if due <= 0 or not await uow.customers.add_points(tenant_id, customer_id, -due, now=now):
        return None
    entry = PointsEntry(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        customer_id=customer_id,
        kind=PointsKind.EXPIRE,
        points=-due,
        balance=customer.points_balance - due,
        reason=f"{due} point(s) reached their expire time",
        order="",
        expire_time=None,
        actor=EXPIRY_ACTOR,
        request_id="",
        created_at=now,
    )
    await uow.customers.add_points_entry(entry)
    # Points have no event of their own; the balance change is a customer update,
    # which also gives the timeline its row.
    await record(
        uow.customers,
        uow.emit,
        replace(customer, points_balance=entry.balance),
        CustomerUpdated(
            customer_id=customer_id,
            changed_fields=("points_balance",),
            actor=EXPIRY_ACTOR,
            owner_member_id=customer.owner_member_id,
            department_id=customer.department_id,
        ),
        summary=f"{due} point(s) expired; balance {entry.balance}",
        actor=EXPIRY_ACTOR,
        details={"points": -due, "balance": entry.balance, "points_entry": entry.id},
    )
    await reassess_tier(uow, tenant_id, customer_id)
    return entry
