"""What the rules use cases need from outside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from rules.domain.events import RulesEvent
from rules.domain.model import Rule, Trigger


@dataclass(frozen=True)
class RunRecord:
    id: str
    tenant_id: str
    rule_id: str
    rule_version: int
    trigger_event_id: str
    customer: str
    explanation: tuple[str, ...]
    created_at: datetime


class RulesRepository(Protocol):
    async def add(self, rule: Rule) -> None: ...
    async def get(self, tenant_id: str, rule_id: str) -> Rule | None: ...
    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[Rule]: ...
    async def enabled_for(self, tenant_id: str, trigger: Trigger) -> list[Rule]: ...
    async def revision(self, tenant_id: str) -> int:
        """The revision of the tenant's rules (0 before any change): every write of a
        rule moves it in the same transaction, so an equal revision means equal rules."""
        ...

    async def last_fired(self, tenant_id: str, rule_id: str, customer: str) -> datetime | None: ...
    async def add_run(self, run: RunRecord) -> None: ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def rules(self) -> RulesRepository: ...

    async def emit(self, tenant_id: str, event: RulesEvent) -> str:
        """Stage an event for the outbox (as its proto); written by ``commit``."""
        ...
