"""A tenant's enabled rules, parsed once and kept while they hold.

Running the rules on a message used to read the tenant's enabled rules and parse
every condition again per event (issue 14). The parsed rules stay in this process
until the tenant's revision moves: every write of a rule bumps it in the same
transaction (``RulesRepository.revision``), so a change made through any replica
is seen by the next event here, at the cost of one read by key (once per unit
of work: a consumer's batch). The tenant's rule settings (time zone, opening
hours, holidays for the time facts) are kept the same way: saving them moves
the revision too.

A large rule set is compiled in a worker thread (``COMPILE_IN_A_THREAD_FROM``
rules on): 10,000 rules take about a second, which the event loop would
otherwise spend on them while every other tenant's events and the service's
calls waited. The unit of work that needs them still waits for them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rules.app.engine_ports import SettingsRepository
from rules.app.matcher import CompiledRules, keep_out_of_collections
from rules.app.ports import RulesRepository
from rules.domain.model import Rule, Trigger
from rules.domain.settings import RuleSettings

COMPILE_IN_A_THREAD_FROM = 500  # rules: below this, the thread hop costs more


def _compiled(enabled: Sequence[Rule]) -> CompiledRules:
    ordered = CompiledRules(
        sorted(enabled, key=lambda r: (r.priority, r.created_at or datetime.min, r.id))
    )
    keep_out_of_collections(ordered)
    return ordered


@dataclass(frozen=True)
class _Cached:
    revision: int
    rules: CompiledRules  # in evaluation order, with their keyword automata


class EnabledRules:
    def __init__(self, *, max_entries: int = 1024) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, Trigger], _Cached] = OrderedDict()
        self._settings: OrderedDict[str, tuple[int, RuleSettings]] = OrderedDict()

    async def settings_of(
        self, repository: RulesRepository, settings: SettingsRepository, tenant_id: str
    ) -> RuleSettings:
        """The tenant's rule settings (the defaults if never saved), read again
        only when the tenant's revision moved."""
        revision = await repository.revision(tenant_id)
        cached = self._settings.get(tenant_id)
        if cached is not None and cached[0] == revision:
            self._settings.move_to_end(tenant_id)
            return cached[1]
        found = await settings.get(tenant_id) or RuleSettings(tenant_id)
        self._settings[tenant_id] = (revision, found)
        self._settings.move_to_end(tenant_id)
        while len(self._settings) > self._max_entries:
            self._settings.popitem(last=False)
        return found

    async def of(
        self, repository: RulesRepository, tenant_id: str, trigger: Trigger
    ) -> CompiledRules:
        """The tenant's enabled rules for the trigger as of the repository's
        transaction, compiled: read again only when the tenant's revision moved."""
        key = (tenant_id, trigger)
        # The revision first: rules read after it are at least as new, so an entry
        # can be newer than its revision says (read once more), never older.
        revision = await repository.revision(tenant_id)
        cached = self._entries.get(key)
        if cached is not None and cached.revision == revision:
            self._entries.move_to_end(key)
            return cached.rules
        enabled = await repository.enabled_for(tenant_id, trigger)
        if len(enabled) >= COMPILE_IN_A_THREAD_FROM:
            ordered = await asyncio.to_thread(_compiled, enabled)
        else:
            ordered = _compiled(enabled)
        self._entries[key] = _Cached(revision, ordered)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return ordered
