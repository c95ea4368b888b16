"""What reporting's use cases need from outside."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.visibility import Visibility
from reporting.domain.counting import CountKey, CustomerRef, Owner


class EventCounts(Protocol):
    """Events per tenant, type, day and owner."""

    async def add(self, counts: Mapping[CountKey, int]) -> None:
        """+n to each key's count (a key not counted yet starts from 0)."""
        ...

    async def daily(
        self, tenant_id: str, visibility: Visibility, event_type: str, start: date, end: date
    ) -> list[tuple[date, int]]:
        """The visible count of each day from ``start`` to ``end`` (both included)
        that has any, oldest first."""
        ...

    async def totals(self, tenant_id: str, visibility: Visibility) -> dict[str, int]:
        """The visible all-time count of each event type counted so far."""
        ...


class CustomerOwners(Protocol):
    """Who owns each customer, as learnt from customer.created."""

    async def remember(self, owners: Mapping[CustomerRef, Owner]) -> None:
        """Each customer's owner, replacing the one known before."""
        ...

    async def owners_of(self, customers: Collection[CustomerRef]) -> dict[CustomerRef, Owner]:
        """The owners of those of ``customers`` that are known (any tenants)."""
        ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    """Reporting publishes no event yet: a transaction over its read models."""

    @property
    def counts(self) -> EventCounts: ...
    @property
    def owners(self) -> CustomerOwners: ...
