"""In-memory stand-ins for the engine's ports (app/engine_ports.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from crosstalk_common.bus.causation import Causation
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from rules.domain.evaluation import Outcome
from rules.domain.model import Rule, Trigger
from rules.domain.runs import ActionResult, Counter, HourCounts, LoggedTrigger, Run, RunFilter
from rules.domain.settings import RuleSettings
from services.rules.tests.fakes import FakeRules
from tests.in_memory_units import InMemoryUnitOfWork


def fired_run(
    tenant_id: str,
    rule_id: str,
    actions: tuple[ActionResult, ...],
    *,
    created_at: datetime,
    run_id: str = "",
    customer: str = "customers/c1",
) -> Run:
    """A run of a message-received rule that matched and requested ``actions``."""
    return Run(
        id=run_id or str(uuid.uuid4()),
        tenant_id=tenant_id,
        rule_id=rule_id,
        rule_version=1,
        trigger=Trigger.MESSAGE_RECEIVED,
        trigger_event_id=str(uuid.uuid4()),
        customer=customer,
        conversation="",
        outcome=Outcome.MATCHED,
        summary="",
        facts={},
        trace=None,
        actions=actions,
        created_at=created_at,
    )


class FakeRuns:
    def __init__(self) -> None:
        self.runs: list[Run] = []

    async def add_many(self, runs: Sequence[Run]) -> None:
        self.runs.extend(runs)

    async def preload(self, tenant_id: str, run_ids: Sequence[str]) -> None:
        return None  # every run is at hand already

    async def get(self, tenant_id: str, run_id: str) -> Run | None:
        return next((r for r in self.runs if (r.tenant_id, r.id) == (tenant_id, run_id)), None)

    async def save_actions(self, run: Run) -> None:
        self.runs = [run if r.id == run.id else r for r in self.runs]

    async def get_visible(self, tenant_id: str, run_id: str, visibility: Visibility) -> Run | None:
        assert visibility.scope is DataScope.ALL  # the fakes keep no owners
        return await self.get(tenant_id, run_id)

    async def page(
        self,
        tenant_id: str,
        where: RunFilter,
        *,
        visibility: Visibility,
        after: list[str],
        limit: int,
    ) -> list[Run]:
        assert visibility.scope is DataScope.ALL
        mine = [r for r in self.runs if r.tenant_id == tenant_id]
        if where.rule_id:
            mine = [r for r in mine if r.rule_id == where.rule_id]
        return sorted(mine, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    async def last_fired(
        self, tenant_id: str, rule_ids: Sequence[str], customer: str
    ) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for r in self.runs:
            if (
                r.tenant_id == tenant_id
                and r.rule_id in rule_ids
                and r.customer == customer
                and r.outcome is Outcome.MATCHED
            ):
                found[r.rule_id] = max(found.get(r.rule_id, r.created_at), r.created_at)
        return found


class FakeProjections:
    def __init__(self) -> None:
        self.customers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.conversations: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}

    async def preload(
        self, tenant_id: str, customers: Sequence[str], conversations: Sequence[str]
    ) -> None:
        return None  # every projection is at hand already

    async def customer(self, tenant_id: str, customer: str) -> Mapping[str, Any] | None:
        found = self.customers.get((tenant_id, customer))
        return found[1] if found else None

    async def save_customer(
        self, tenant_id: str, customer: str, version: int, facts: Mapping[str, Any]
    ) -> bool:
        found = self.customers.get((tenant_id, customer))
        if found is not None and found[0] >= version:
            return False
        self.customers[(tenant_id, customer)] = (version, dict(facts))
        return True

    async def conversation(self, tenant_id: str, conversation: str) -> Mapping[str, Any] | None:
        found = self.conversations.get((tenant_id, conversation))
        return found[1] if found else None

    async def merge_conversation(
        self,
        tenant_id: str,
        conversation: str,
        customer: str,
        facts: Mapping[str, Any],
        at: datetime,
    ) -> Mapping[str, Any]:
        at_before, current = self.conversations.get((tenant_id, conversation), (at, {}))
        if at_before > at:
            return {**facts, **current}
        merged = {**current, **facts}
        self.conversations[(tenant_id, conversation)] = (at, merged)
        return merged


class FakeEvaluationLog:
    def __init__(self) -> None:
        self.entries: list[LoggedTrigger] = []

    async def append(self, entry: LoggedTrigger) -> None:
        self.entries.append(entry)

    async def between(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        visibility: Visibility,
        triggers: Sequence[Trigger] = (),
        limit: int = 100_000,
    ) -> list[LoggedTrigger]:
        assert visibility.scope is DataScope.ALL
        return [e for e in self.entries if start <= e.occurred_at < end][:limit]

    async def tenants(self) -> list[str]:
        return sorted({e.tenant_id for e in self.entries})

    async def purge(self, tenant_id: str, before: datetime) -> int:
        kept = [e for e in self.entries if e.tenant_id != tenant_id or e.occurred_at >= before]
        removed = len(self.entries) - len(kept)
        self.entries = kept
        return removed


class FakeStatistics:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, datetime], dict[Counter, int]] = {}

    async def add(
        self, tenant_id: str, hour: datetime, increments: Mapping[str, Mapping[Counter, int]]
    ) -> None:
        for rule_id, counts in increments.items():
            row = self.counts.setdefault((tenant_id, rule_id, hour), {})
            for counter, amount in counts.items():
                row[counter] = row.get(counter, 0) + amount

    async def hours(
        self, tenant_id: str, rule_id: str, start: datetime, end: datetime
    ) -> list[HourCounts]:
        return [
            HourCounts(r, h, dict(c))
            for (t, r, h), c in sorted(self.counts.items())
            if t == tenant_id and (not rule_id or r == rule_id) and start <= h < end
        ]

    def of(self, rule_id: str) -> dict[Counter, int]:
        total: dict[Counter, int] = {}
        for (_, r, _), counts in self.counts.items():
            if r == rule_id:
                for counter, amount in counts.items():
                    total[counter] = total.get(counter, 0) + amount
        return total


class FakeSettings:
    def __init__(self) -> None:
        self.by_tenant: dict[str, RuleSettings] = {}

    async def get(self, tenant_id: str) -> RuleSettings | None:
        return self.by_tenant.get(tenant_id)

    async def save(self, settings: RuleSettings) -> None:
        self.by_tenant[settings.tenant_id] = settings


class FakeRuleVersions:
    """Only what running rules touches: the failures-in-a-row count (auto-disable)."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, str], int] = {}

    async def note_action_outcome(self, tenant_id: str, rule_id: str, *, failed: bool) -> int:
        key = (tenant_id, rule_id)
        self.failures[key] = self.failures.get(key, 0) + 1 if failed else 0
        return self.failures[key]


class EngineUnitOfWork(InMemoryUnitOfWork):
    """Shares its repositories across units; remembers each event's causation."""

    def __init__(self, *rules: Rule) -> None:
        super().__init__()
        self.rules = FakeRules(*rules)
        self.runs = FakeRuns()
        self.projections = FakeProjections()
        self.evaluation_log = FakeEvaluationLog()
        self.statistics = FakeStatistics()
        self.settings = FakeSettings()
        self.rule_versions = FakeRuleVersions()
        self.causations: dict[str, Causation | None] = {}

    async def emit(
        self, tenant_id: str, payload: object, *, causation: Causation | None = None
    ) -> str:
        event_id = await super().emit(tenant_id, payload)
        self.causations[event_id] = causation
        return event_id

    def replace_rule(self, rule: Rule, **changes: Any) -> Rule:
        changed = replace(rule, **changes)
        self.rules.rules[(rule.tenant_id, rule.id)] = changed
        self.rules.revisions[rule.tenant_id] = self.rules.revisions.get(rule.tenant_id, 0) + 1
        return changed
