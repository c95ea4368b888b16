"""In-memory stand-ins for reporting's ports, for unit tests of the app layer."""

from __future__ import annotations

from datetime import date

from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.domain.counting import NOBODY, CountKey, Owner
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

    async def add_one(self, key: CountKey) -> None:
        self.rows[key] = self.rows.get(key, 0) + 1

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
        self.owners: dict[tuple[str, str], Owner] = {}

    async def remember(self, tenant_id: str, customer: str, owner: Owner) -> None:
        self.owners[(tenant_id, customer)] = owner

    async def owner_of(self, tenant_id: str, customer: str) -> Owner:
        return self.owners.get((tenant_id, customer), NOBODY)


class FakeUnitOfWork(InMemoryTransaction):
    """Shares its repositories across units."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = FakeCounts()
        self.owners = FakeOwners()
