"""In-memory stand-ins for the rules ports, for unit tests of the app layer."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Self

from google.protobuf.message import Message

from rules.app.ports import RunRecord
from rules.domain.model import Rule, Trigger


class FakeRules:
    def __init__(self, *rules: Rule) -> None:
        self.rules = {(r.tenant_id, r.id): r for r in rules}
        self.runs: list[RunRecord] = []

    async def add(self, rule: Rule) -> None:
        self.rules[(rule.tenant_id, rule.id)] = rule

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


class FakeUnitOfWork:
    """Shares its repository across units; keeps emitted events once committed."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = FakeRules(*rules)
        self.staged: list[tuple[str, Message]] = []
        self.emitted: list[tuple[str, Message]] = []
        self.commits = 0

    def __call__(self) -> FakeUnitOfWork:
        return self

    async def __aenter__(self) -> Self:
        self.staged = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.staged = []

    async def emit(self, tenant_id: str, payload: Message) -> str:
        self.staged.append((tenant_id, payload))
        return f"event-{len(self.emitted) + len(self.staged)}"

    async def commit(self) -> None:
        self.emitted.extend(self.staged)
        self.staged = []
        self.commits += 1
