"""Rules and their runs in SQL, always filtered by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from rules.adapters.condition_reading import (
    segments_from_json,
    segments_to_json,
    stored_condition,
)
from rules.adapters.revisions import RuleRevisions
from rules.adapters.tables import rule_runs, rules
from rules.app.ports import RunRecord
from rules.domain.actions import AddTag, RemoveTag, actions_from_json, actions_to_json
from rules.domain.model import Rule, TimeTrigger, Trigger


def _rule_from_row(row: Any) -> Rule:
    trigger = Trigger(row.trigger)
    segments = segments_from_json(row.segments)
    timer = row.time_trigger
    return Rule(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        trigger=trigger,
        condition=stored_condition(row.condition, trigger, segments),
        actions=actions_from_json(row.actions),
        priority=row.priority,
        stop_processing=row.stop_processing,
        enabled=row.enabled,
        cooldown_seconds=row.cooldown_seconds,
        rollout_percent=row.rollout_percent,
        version=row.version,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        condition_blob=row.condition,
        description=row.description,
        time_trigger=TimeTrigger(**timer) if timer else None,
        creator=row.creator,
        segments=segments,
        shadow=bool(row.shadow),
    )


rule_from_row = _rule_from_row


def rule_row(rule: Rule) -> dict[str, Any]:
    """The ``rules`` columns of a rule (its versions keep the same, as JSON)."""
    timer = rule.time_trigger
    labels = sorted(
        {
            tag.strip().lower()
            for action in rule.actions
            if isinstance(action, AddTag | RemoveTag)
            for tag in action.tags
        }
    )
    return {
        "id": rule.id,
        "tenant_id": rule.tenant_id,
        "display_name": rule.display_name.strip(),
        "trigger": rule.trigger.value,
        "condition": rule.condition_blob,
        "actions": actions_to_json(rule.actions),
        "priority": rule.priority,
        "stop_processing": rule.stop_processing,
        "enabled": rule.enabled,
        "cooldown_seconds": rule.cooldown_seconds,
        "rollout_percent": rule.rollout_percent,
        "version": rule.version,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
        "description": rule.description,
        "time_trigger": (
            {"delay_seconds": timer.delay_seconds, "cron": timer.cron, "time_zone": timer.time_zone}
            if timer
            else None
        ),
        "creator": rule.creator,
        "segments": segments_to_json(rule.segments),
        "tag_labels": "".join(f"|{label}" for label in labels) + "|" if labels else "",
        "shadow": rule.shadow,
    }


# Statements run per message event, built once (issue 14).
_LAST_FIRED = in_the_loop(
    select(func.max(rule_runs.c.created_at)).where(
        rule_runs.c.tenant_id == bindparam("tenant"),
        rule_runs.c.rule_id == bindparam("rule"),
        rule_runs.c.customer == bindparam("customer"),
    )
)
_ADD_RUN = in_the_loop(insert(rule_runs))


class SqlRulesRepository:
    def __init__(self, session: AsyncSession, revisions: RuleRevisions | None = None) -> None:
        self._session = session
        self._revisions = revisions or RuleRevisions(session)

    async def add(self, rule: Rule) -> None:
        await self._session.execute(insert(rules).values(**rule_row(rule)))
        await self._bump(rule.tenant_id)

    async def _bump(self, tenant_id: str) -> None:
        """A new revision of the tenant's rules, committed with the change that makes it.

        Every write of a rule must call it: replicas keep a tenant's enabled rules
        until its revision moves (app/enabled_rules.py).
        """
        await self._revisions.bump(tenant_id)

    async def revision(self, tenant_id: str) -> int:
        return await self._revisions.read(tenant_id)

    async def get(self, tenant_id: str, rule_id: str) -> Rule | None:
        row = (
            await self._session.execute(
                select(rules).where(rules.c.tenant_id == tenant_id, rules.c.id == rule_id)
            )
        ).first()
        return None if row is None else _rule_from_row(row)

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[Rule]:
        query = select(rules).where(rules.c.tenant_id == tenant_id)
        if after:
            created, last_id = datetime.fromisoformat(after[0]), after[1]
            query = query.where(past([rules.c.created_at, rules.c.id], [created, last_id]))
        rows = await self._session.execute(
            query.order_by(rules.c.created_at, rules.c.id).limit(limit)
        )
        return [_rule_from_row(r) for r in rows]

    async def enabled_for(self, tenant_id: str, trigger: Trigger) -> list[Rule]:
        rows = await self._session.execute(
            select(rules).where(
                rules.c.tenant_id == tenant_id,
                rules.c.trigger == trigger.value,
                rules.c.enabled.is_(True),
            )
        )
        return [_rule_from_row(r) for r in rows]

    async def last_fired(self, tenant_id: str, rule_id: str, customer: str) -> datetime | None:
        value = await self._session.scalar(
            _LAST_FIRED, {"tenant": tenant_id, "rule": rule_id, "customer": customer}
        )
        return None if value is None else as_utc(value)

    async def add_run(self, run: RunRecord) -> None:
        await self._session.execute(
            _ADD_RUN,
            {
                "id": run.id,
                "tenant_id": run.tenant_id,
                "rule_id": run.rule_id,
                "rule_version": run.rule_version,
                "trigger_event_id": run.trigger_event_id,
                "customer": run.customer,
                "explanation": list(run.explanation),
                "created_at": run.created_at,
            },
        )
