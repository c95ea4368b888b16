"""A tenant's enabled intent keyword sets, compiled once and kept while they hold.

Analysing a text used to read the tenant's sets and fold every keyword again on
each call (issue 14). The compiled matchers stay in this process until the
tenant's revision moves: every add, save or delete of a set bumps it in the same
transaction (``IntentRepository.revision``), so a change made through any
replica is seen by the next analysis here, at the cost of one read by key.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from translation.app.ports import UnitOfWork
from translation.domain.intents import IntentMatcher
from translation.domain.languages import primary


@dataclass(frozen=True)
class TenantIntents:
    revision: int
    every: IntentMatcher  # every enabled set
    english: IntentMatcher  # the enabled English sets, for a text's English translation


class IntentMatchers:
    def __init__(self, new_uow: UnitOfWorkFactory[UnitOfWork], *, max_tenants: int = 1024) -> None:
        self._new_uow = new_uow
        self._max_tenants = max_tenants
        self._tenants: OrderedDict[str, TenantIntents] = OrderedDict()

    async def of(self, tenant_id: str) -> TenantIntents:
        """The tenant's compiled sets as of now: rebuilt only when their revision moved."""
        async with self._new_uow() as uow:
            # The revision first: sets read after it are at least as new, so a cached
            # entry can be newer than its revision says (rebuilt once more), never older.
            revision = await uow.intents.revision(tenant_id)
            cached = self._tenants.get(tenant_id)
            if cached is not None and cached.revision == revision:
                self._tenants.move_to_end(tenant_id)
                return cached
            sets = await uow.intents.enabled(tenant_id)
        built = TenantIntents(
            revision,
            IntentMatcher(sets),
            IntentMatcher([s for s in sets if primary(s.language) == "en"]),
        )
        self._tenants[tenant_id] = built
        self._tenants.move_to_end(tenant_id)
        while len(self._tenants) > self._max_tenants:
            self._tenants.popitem(last=False)
        return built
