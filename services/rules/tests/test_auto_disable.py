"""Auto-disable on a migrated database (SQLite and PostgreSQL): N failed action
outcomes in a row disable the rule as a new version and stage rule.disabled for
its owners; a success resets the count, and so does a new version."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.envelope import read_event
from rules.adapters.tables import outbox
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.auto_disable import AutoDisable, count_action_outcome
from rules.app.runs import record_action_outcome
from rules.domain.runs import ActionResult, ActionStatus
from services.rules.tests.engine_fakes import fired_run
from services.rules.tests.management_fakes import management
from services.rules.tests.test_rule_management_sql import draft

NewUow = Callable[[], RulesUnitOfWork]
NOW = datetime(2026, 12, 7, 2, tzinfo=UTC)
THREE = AutoDisable(failures=3)


async def _outcome(new_uow: NewUow, tenant: str, rule_id: str, failed: bool) -> object:
    async with new_uow() as uow:
        event = await count_action_outcome(
            uow,
            tenant,
            rule_id,
            failed=failed,
            error="boom",
            run_id="run-1",
            now=NOW,
            policy=THREE,
        )
        await uow.commit()
    return event


async def _disabled_events(sessions: async_sessionmaker[AsyncSession], tenant: str) -> list[Any]:
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.payload))).scalars().all()
    found = []
    for data in rows:
        event = read_event(data)
        if event.tenant_id == tenant and isinstance(event.payload, rule_events_pb2.RuleDisabled):
            found.append(event.payload)
    return found


async def test_failures_in_a_row_disable_the_rule_and_tell_its_owner(
    new_uow: NewUow, tenant: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rules = management(new_uow)
    rule = (await rules.create(draft(tenant, "flaky"), author="ana")).rule
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert await _outcome(new_uow, tenant, rule.id, False) is None  # a success resets
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert (await rules.get(tenant, rule.id)).enabled
    assert await _outcome(new_uow, tenant, rule.id, True) is not None

    disabled = await rules.get(tenant, rule.id)
    assert not disabled.enabled
    assert disabled.version == 2
    versions = await rules.versions(tenant, rule.id, before=None, limit=5)
    assert versions[0].author == ""  # made by rules itself
    (event,) = await _disabled_events(sessions, tenant)
    assert event.rule == f"rules/{rule.id}"
    assert event.rule_version == 2
    assert event.reason == "ACTION_FAILURES"
    assert event.consecutive_failures == 3
    assert list(event.owners) == ["members/ana"]
    assert event.last_error == "boom"
    # Already disabled: more failures change nothing.
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert len(await _disabled_events(sessions, tenant)) == 1


async def test_a_new_version_starts_afresh(new_uow: NewUow, tenant: str) -> None:
    rules = management(new_uow)
    rule = (await rules.create(draft(tenant, "fixed"), author="ana")).rule
    await _outcome(new_uow, tenant, rule.id, True)
    await _outcome(new_uow, tenant, rule.id, True)
    await rules.update(tenant, rule.id, {"priority": 1}, "", author="ana")
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert await _outcome(new_uow, tenant, rule.id, True) is None
    assert (await rules.get(tenant, rule.id)).enabled


async def test_reported_outcomes_of_runs_are_counted_once(
    new_uow: NewUow, tenant: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from rules.app import auto_disable

    rules = management(new_uow)
    rule = (await rules.create(draft(tenant, "hooked"), author="bo")).rule
    run_ids = [str(uuid.uuid4()) for _ in range(auto_disable.POLICY.failures)]
    async with new_uow() as uow:
        await uow.runs.add_many(
            [
                fired_run(
                    tenant,
                    rule.id,
                    (ActionResult(0, "add_tag", "rule.action.tag"),),
                    created_at=NOW,
                    run_id=run_id,
                )
                for run_id in run_ids
            ]
        )
        await uow.commit()
    first = f"rules/{rule.id}/runs/{run_ids[0]}"
    for _ in range(3):  # the same outcome delivered again counts once
        await record_action_outcome(new_uow, tenant, first, 0, ActionStatus.FAILED, error="x")
    for run_id in run_ids[1:-1]:
        name = f"rules/{rule.id}/runs/{run_id}"
        await record_action_outcome(new_uow, tenant, name, 0, ActionStatus.FAILED, error="x")
    assert (await rules.get(tenant, rule.id)).enabled
    last = f"rules/{rule.id}/runs/{run_ids[-1]}"
    await record_action_outcome(new_uow, tenant, last, 0, ActionStatus.FAILED, error="gone")
    assert not (await rules.get(tenant, rule.id)).enabled
    (event,) = await _disabled_events(sessions, tenant)
    assert event.run == last
