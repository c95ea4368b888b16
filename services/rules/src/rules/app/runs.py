"""Runs, their outcomes and explanations, statistics and the tenant's rule
settings: the engine's read side and the outcomes coming back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from rules.app.auto_disable import count_action_outcome
from rules.app.ports import UnitOfWork
from rules.app.running import hour_of
from rules.app.use_cases import RESOURCE, rule_name
from rules.domain.run_tallies import hours_of_runs
from rules.domain.runs import (
    ActionStatus,
    Counter,
    PeriodCounts,
    Run,
    RunFilter,
    by_period,
)
from rules.domain.settings import RuleSettings

RUN_RESOURCE = "crosstalk.io/RuleRun"


async def _known_rule(uow: UnitOfWork, tenant_id: str, rule_id: str) -> None:
    """NOT_FOUND unless the tenant has or had the rule ("" is every rule): its
    first version is kept after a delete, so a deleted rule's runs and counters
    can still be read, and another tenant's rule is no rule here."""
    if not rule_id or await uow.rules.get(tenant_id, rule_id) is not None:
        return
    if await uow.rule_versions.version(tenant_id, rule_id, 1) is None:
        raise NotFound(RESOURCE, rule_name(rule_id))


log = logging.getLogger(__name__)


def parse_run_name(name: str) -> tuple[str, str] | None:
    """("rule id", "run id") of "rules/{rule}/runs/{run}"."""
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "rules" and parts[2] == "runs" and parts[1] and parts[3]:
        return parts[1], parts[3]
    return None


@dataclass(frozen=True)
class RunService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    clock: Callable[[], datetime] = utc_now

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        where: RunFilter,
        *,
        after: list[str],
        limit: int,
    ) -> list[Run]:
        """Runs about customers in the caller's data scope only; NOT_FOUND for a
        rule the tenant never had (a deleted rule's runs stay listed)."""
        async with self.new_uow() as uow:
            await _known_rule(uow, tenant_id, where.rule_id)
            return await uow.runs.page(
                tenant_id, where, visibility=visibility, after=after, limit=limit
            )

    async def get(self, tenant_id: str, visibility: Visibility, rule_id: str, run_id: str) -> Run:
        """NOT_FOUND when there is no such run or its customer is out of scope."""
        async with self.new_uow() as uow:
            run = await uow.runs.get_visible(tenant_id, run_id, visibility)
        if run is None or run.rule_id != rule_id:
            raise NotFound(RUN_RESOURCE, f"rules/{rule_id}/runs/{run_id}")
        return run

    async def statistics(
        self,
        tenant_id: str,
        visibility: Visibility,
        rule_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        week: bool,
    ) -> list[PeriodCounts]:
        """Per rule ("" for all) and day or week in the tenant's time zone: the
        tenant's counters for a caller who sees everything, else the counters of
        the runs it may see (``domain/run_tallies.py``)."""
        until = end or self.clock()
        since = hour_of(start or until - timedelta(days=30))
        async with self.new_uow() as uow:
            await _known_rule(uow, tenant_id, rule_id)
            settings = await uow.settings.get(tenant_id) or RuleSettings(tenant_id)
            if visibility.scope is DataScope.ALL:
                hours = await uow.statistics.hours(tenant_id, rule_id, since, until)
            else:
                tallies = await uow.runs.tallies(
                    tenant_id, rule_id, since, until, visibility=visibility
                )
                hours = hours_of_runs(tallies)
        return by_period(hours, time_zone=settings.time_zone, week=week)

    async def settings(self, tenant_id: str) -> RuleSettings:
        async with self.new_uow() as uow:
            return await uow.settings.get(tenant_id) or RuleSettings(tenant_id)

    async def save_settings(self, settings: RuleSettings) -> RuleSettings:
        async with self.new_uow() as uow:
            saved = RuleSettings(
                tenant_id=settings.tenant_id,
                time_zone=settings.time_zone,
                hours=settings.hours,
                holidays=settings.holidays,
                retention=settings.retention,
                webhook_secret=settings.webhook_secret,
                updated_at=self.clock(),
            )
            await uow.settings.save(saved)
            await uow.commit()
        return saved


_COUNTER_OF_STATUS = {
    ActionStatus.SUCCEEDED: Counter.ACTIONS_SUCCEEDED,
    ActionStatus.FAILED: Counter.ACTIONS_FAILED,
}


async def record_action_outcome_in(
    uow: UnitOfWork,
    tenant_id: str,
    run: str,
    action_index: int,
    status: ActionStatus,
    *,
    error: str = "",
    result: str = "",
    at: datetime | None = None,
) -> Run | None:
    """Record how one action of a run ended (in ``uow``, not committed); count it
    once, on the hour the run fired. None when there is no such run or action."""
    ids = parse_run_name(run)
    if ids is None:
        return None
    found = await uow.runs.get(tenant_id, ids[1])
    if found is None or found.rule_id != ids[0]:
        return None
    updated, before = found.with_outcome(
        action_index, status, error=error, result=result, at=at or utc_now()
    )
    if before is None:
        return None
    await uow.runs.save_actions(updated)
    if status in _COUNTER_OF_STATUS and before.status is ActionStatus.REQUESTED:
        # Rule management's auto-disable: N failed outcomes in a row disable the rule.
        await count_action_outcome(
            uow,
            tenant_id,
            found.rule_id,
            failed=status is ActionStatus.FAILED,
            error=error,
            run_id=found.id,
            now=at or utc_now(),
        )
    counter = _COUNTER_OF_STATUS.get(status)
    if counter is not None and before.status is ActionStatus.REQUESTED:
        await uow.statistics.add(
            tenant_id, hour_of(found.created_at), {found.rule_id: {counter: 1}}
        )
    return updated


async def record_action_outcome(
    new_uow: UnitOfWorkFactory[UnitOfWork],
    tenant_id: str,
    run: str,
    action_index: int,
    status: ActionStatus,
    *,
    error: str = "",
    result: str = "",
) -> Run | None:
    """rule.action.completed / customer.rule_action_completed: the outcome on the run."""
    async with new_uow() as uow:
        updated = await record_action_outcome_in(
            uow, tenant_id, run, action_index, status, error=error, result=result
        )
        await uow.commit()
    return updated


async def purge_evaluation_log(
    new_uow: UnitOfWorkFactory[UnitOfWork], tenant_ids: list[str] | None, *, now: datetime
) -> int:
    """Drop trigger facts older than each tenant's retention (30 days by default);
    every tenant in the log when ``tenant_ids`` is None."""
    removed = 0
    async with new_uow() as uow:
        if tenant_ids is None:
            tenant_ids = await uow.evaluation_log.tenants()
        for tenant_id in tenant_ids:
            settings = await uow.settings.get(tenant_id) or RuleSettings(tenant_id)
            removed += await uow.evaluation_log.purge(tenant_id, now - settings.retention)
        await uow.commit()
    return removed


class EvaluationLogKeeper:
    """Every hour, drops trigger facts past each tenant's retention."""

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        *,
        interval_seconds: float = 3600.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._new_uow = new_uow
        self._interval = interval_seconds
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                removed = await purge_evaluation_log(self._new_uow, None, now=self._clock())
                if removed:
                    log.info("purged %d evaluation log entries", removed)
            except Exception:
                log.exception("evaluation log purge failed; will retry")
            await sleep_unless_stopped(stop, self._interval)
