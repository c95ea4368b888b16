"""Running the tenant's rules on something that happened."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.enabled_rules import EnabledRules
from rules.app.ports import RunRecord, UnitOfWork
from rules.domain.events import RuleActionTagRequested, RuleFired
from rules.domain.actions import AddTag
from rules.domain.model import Trigger, match_rules


@dataclass(frozen=True)
class Occurrence:
    """Something that happened to a customer, which may fire rules."""

    tenant_id: str
    trigger: Trigger
    event_id: str  # the event that reported it
    customer: str  # "customers/{customer}"
    facts: Mapping[str, Any]  # what conditions are evaluated against (adapters/conditions.py)


async def run_rules(
    new_uow: UnitOfWorkFactory[UnitOfWork], occurrence: Occurrence, enabled_rules: EnabledRules
) -> list[RunRecord]:
    """Evaluate the tenant's enabled rules for the trigger; record a run of each
    that fires and request its actions, all in one unit of work.

    A consumer's unit of work joins its transaction, which records the event in
    the inbox: a redelivered event never fires a rule twice. ``enabled_rules``
    keeps the tenant's parsed rules between events while their revision holds.
    """
    tenant_id, customer = occurrence.tenant_id, occurrence.customer
    now = utc_now()
    runs = []
    async with new_uow() as uow:
        enabled = await enabled_rules.of(uow.rules, tenant_id, occurrence.trigger)
        for match in match_rules(enabled, occurrence.facts, subject=customer):
            rule = match.rule
            if rule.cooldown_seconds:
                last = await uow.rules.last_fired(tenant_id, rule.id, customer)
                if last is not None and now - last < timedelta(seconds=rule.cooldown_seconds):
                    continue
            run = RunRecord(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                rule_id=rule.id,
                rule_version=rule.version,
                trigger_event_id=occurrence.event_id,
                customer=customer,
                explanation=match.explanation,
                created_at=now,
            )
            await uow.rules.add_run(run)
            await uow.emit(
                tenant_id,
                RuleFired(
                    rule_id=rule.id,
                    rule_version=rule.version,
                    run_id=run.id,
                    trigger_event_id=occurrence.event_id,
                    customer=customer,
                ),
            )
            for action in rule.actions:
                if isinstance(action, AddTag):
                    await uow.emit(
                        tenant_id,
                        RuleActionTagRequested(
                            rule_id=rule.id,
                            run_id=run.id,
                            customer=customer,
                            tag_labels=action.tags,
                        ),
                    )
            runs.append(run)
        await uow.commit()
    return runs
