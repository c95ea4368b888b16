"""Rules use cases: managing rules (running them is app/running.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.ports import UnitOfWork
from rules.domain.model import Rule

RESOURCE = "crosstalk.io/Rule"


def rule_name(rule_id: str) -> str:
    return f"rules/{rule_id}"


@dataclass(frozen=True)
class RuleService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def create(self, draft: Rule) -> Rule:
        now = utc_now()
        rule = replace(draft, id=str(uuid.uuid4()), version=1, created_at=now, updated_at=now)
        rule.validate()
        async with self.new_uow() as uow:
            await uow.rules.add(rule)
            await uow.commit()
        return rule

    async def get(self, tenant_id: str, rule_id: str) -> Rule:
        async with self.new_uow() as uow:
            rule = await uow.rules.get(tenant_id, rule_id)
        if rule is None:
            raise NotFound(RESOURCE, rule_name(rule_id))
        return rule

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[Rule]:
        async with self.new_uow() as uow:
            return await uow.rules.page(tenant_id, after=after, limit=limit)
