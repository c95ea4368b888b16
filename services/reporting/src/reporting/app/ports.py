"""What reporting's use cases need from outside."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.visibility import Visibility
from reporting.domain.counting import CountKey, Owner


class EventCounts(Protocol):
    """Events per tenant, type, day and owner."""

    async def add_one(self, key: CountKey) -> None: ...

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

    async def remember(self, tenant_id: str, customer: str, owner: Owner) -> None: ...

    async def owner_of(self, tenant_id: str, customer: str) -> Owner:
        """The customer's owner; NOBODY when the customer is unknown."""
        ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    """Reporting publishes no event yet: a transaction over its read models."""

    @property
    def counts(self) -> EventCounts: ...
    @property
    def owners(self) -> CustomerOwners: ...
