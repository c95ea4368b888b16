"""In-memory stand-ins for the rules ports, for unit tests of the app layer."""

from __future__ import annotations

from datetime import datetime

from rules.app.ports import RunRecord
from rules.domain.model import Rule, Trigger
from tests.in_memory_units import InMemoryUnitOfWork


class FakeRules:
    def __init__(self, *rules: Rule) -> None:
        self.rules = {(r.tenant_id, r.id): r for r in rules}
        self.runs: list[RunRecord] = []
        self.revisions: dict[str, int] = {}

    async def add(self, rule: Rule) -> None:
        self.rules[(rule.tenant_id, rule.id)] = rule
        self.revisions[rule.tenant_id] = self.revisions.get(rule.tenant_id, 0) + 1

    async def revision(self, tenant_id: str) -> int:
        return self.revisions.get(tenant_id, 0)

    async def get(self, tenant_id: str, rule_id: str) -> Rule | None:
        return self.rules.get((tenant_id, rule_id))

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[Rule]:
        mine = sorted(
            (r for r in self.rules.values() if r.tenant_id == tenant_id),
            key=lambda r: (r.created_at or datetime.min, r.id),
        )
        return mine[:limit]

    async def enabled_for(self, tenant_id: str, trigger: Trigger) -> list[Rule]:
        return [
            r
            for r in self.rules.values()
            if r.tenant_id == tenant_id and r.trigger is trigger and r.enabled
        ]

    async def last_fired(self, tenant_id: str, rule_id: str, customer: str) -> datetime | None:
        times = [
            run.created_at
            for run in self.runs
            if (run.tenant_id, run.rule_id, run.customer) == (tenant_id, rule_id, customer)
        ]
        return max(times, default=None)

    async def add_run(self, run: RunRecord) -> None:
        self.runs.append(run)


class FakeUnitOfWork(InMemoryUnitOfWork):
    """Shares its repository across units."""

    def __init__(self, *rules: Rule) -> None:
        super().__init__()
        self.rules = FakeRules(*rules)
