"""Rules use cases: managing rules and running them on events."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.ports import Emit, RulesRepository, RunRecord, UnitOfWork
from rules.domain.model import AddTag, Rule, Trigger, match_rules

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


async def run_rules(
    repo: RulesRepository,
    emit: Emit,
    *,
    tenant_id: str,
    trigger: Trigger,
    trigger_event_id: str,
    customer: str,
    facts: Mapping[str, Any],
) -> list[RunRecord]:
    """Evaluate the tenant's rules for one event; record runs and request actions.

    Runs inside the consumer's transaction, so a redelivered event (already in
    the inbox) never fires a rule twice.
    """
    now = utc_now()
    runs = []
    for match in match_rules(await repo.enabled_for(tenant_id, trigger), facts, subject=customer):
        rule = match.rule
        if rule.cooldown_seconds:
            last = await repo.last_fired(tenant_id, rule.id, customer)
            if last is not None and now - last < timedelta(seconds=rule.cooldown_seconds):
                continue
        run = RunRecord(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            rule_id=rule.id,
            rule_version=rule.version,
            trigger_event_id=trigger_event_id,
            customer=customer,
            explanation=match.explanation,
            created_at=now,
        )
        await repo.add_run(run)
        run_name = f"{rule_name(rule.id)}/runs/{run.id}"
        await emit(
            tenant_id,
            rule_events_pb2.RuleFired(
                rule=rule_name(rule.id),
                rule_version=rule.version,
                run=run_name,
                trigger_event_id=trigger_event_id,
                customer=customer,
            ),
        )
        for action in rule.actions:
            if isinstance(action, AddTag):
                await emit(
                    tenant_id,
                    rule_events_pb2.RuleActionTagRequested(
                        rule=rule_name(rule.id),
                        run=run_name,
                        customer=customer,
                        tags=list(action.tags),
                    ),
                )
        runs.append(run)
    return runs
