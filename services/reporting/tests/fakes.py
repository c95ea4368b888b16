"""In-memory stand-ins for reporting's ports, for unit tests of the app layer."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.domain.counting import CountKey, CustomerRef, Owner
from tests.in_memory_units import InMemoryTransaction


def _sees(visibility: Visibility, owner: Owner) -> bool:
    if visibility.scope is DataScope.ALL:
        return True
    if visibility.scope is DataScope.DEPARTMENT:
        return owner.department_id in visibility.departments
    return bool(visibility.member_id) and owner.member_id == visibility.member_id


class FakeCounts:
    def __init__(self) -> None:
        self.rows: dict[CountKey, int] = {}
        self.asked: list[tuple[str, str, date, date]] = []

    async def add(self, counts: Mapping[CountKey, int]) -> None:
        for key, n in counts.items():
            self.rows[key] = self.rows.get(key, 0) + n

    async def daily(
        self, tenant_id: str, visibility: Visibility, event_type: str, start: date, end: date
    ) -> list[tuple[date, int]]:
        self.asked.append((tenant_id, event_type, start, end))
        days: dict[date, int] = {}
        for key, n in self.rows.items():
            if (
                key.tenant_id == tenant_id
                and key.event_type == event_type
                and start <= key.day <= end
                and _sees(visibility, key.owner)
            ):
                days[key.day] = days.get(key.day, 0) + n
        return sorted(days.items())

    async def totals(self, tenant_id: str, visibility: Visibility) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, n in self.rows.items():
            if key.tenant_id == tenant_id and _sees(visibility, key.owner):
                totals[key.event_type] = totals.get(key.event_type, 0) + n
        return totals


class FakeOwners:
    def __init__(self) -> None:
        self.owners: dict[CustomerRef, Owner] = {}
        self.lookups: list[set[CustomerRef]] = []  # the customers each owners_of asked for

    async def remember(self, owners: Mapping[CustomerRef, Owner]) -> None:
        self.owners.update(owners)

    async def owners_of(self, customers: Collection[CustomerRef]) -> dict[CustomerRef, Owner]:
        self.lookups.append(set(customers))
        return {c: self.owners[c] for c in customers if c in self.owners}


class FakeUnitOfWork(InMemoryTransaction):
    """Shares its repositories across units."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = FakeCounts()
        self.owners = FakeOwners()
