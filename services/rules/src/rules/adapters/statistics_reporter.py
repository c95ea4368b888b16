"""Reports what the hourly counters gained to the bus (rule.statistics_reported),
so reporting shows the numbers GetRuleStatistics shows.

Every few seconds, in one transaction: read the counter rows of the last two
days that differ from what was last reported, move each reported row to the
counters' values with a compare-and-set (a row another replica moved first is
left to it), and emit, per tenant, the increments of the rows moved. The event
goes through the outbox in that transaction, so an increment is reported once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from rules.adapters.tables import (
    STATISTICS_COUNTERS,
    rule_hourly_stats,
    rule_hourly_stats_reported,
)

log = logging.getLogger(__name__)
WINDOW = timedelta(days=2)
MOST_ROWS = 1000
_SUPPRESSED = "suppressed_"


def _counts(rule_id: str, hour: datetime, delta: dict[str, int]) -> rule_events_pb2.RuleHourCounts:
    return rule_events_pb2.RuleHourCounts(
        rule=f"rules/{rule_id}",
        hour=to_timestamp(as_utc(hour)),
        evaluated=delta["evaluated"],
        matched=delta["matched"],
        fired=delta["fired"],
        shadow=delta["shadow"],
        suppressed={
            name.removeprefix(_SUPPRESSED): n
            for name, n in delta.items()
            if name.startswith(_SUPPRESSED) and n
        },
        actions_succeeded=delta["actions_succeeded"],
        actions_failed=delta["actions_failed"],
    )


def unreported_rows(since: datetime) -> Select[Any]:
    """The counter rows from ``since`` on that differ from what was last reported
    (at most MOST_ROWS), with the reported values beside them (r_...)."""
    s, r = rule_hourly_stats, rule_hourly_stats_reported
    keys = and_(s.c.tenant_id == r.c.tenant_id, s.c.rule_id == r.c.rule_id, s.c.hour == r.c.hour)
    differs = or_(*(s.c[n] != r.c[n] for n in STATISTICS_COUNTERS), r.c.tenant_id.is_(None))
    return (
        select(
            s.c.tenant_id,
            s.c.rule_id,
            s.c.hour,
            *(s.c[n] for n in STATISTICS_COUNTERS),
            *(r.c[n].label(f"r_{n}") for n in STATISTICS_COUNTERS),
            r.c.tenant_id.label("r_tenant"),
        )
        .select_from(s.outerjoin(r, keys))
        .where(s.c.hour >= since, differs)
        .limit(MOST_ROWS)
    )


class StatisticsReporter:
    def __init__(
        self,
        new_uow: Callable[[], SqlUnitOfWork],
        *,
        every: timedelta = timedelta(seconds=5),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._new_uow = new_uow
        self._every = every
        self._clock = clock

    async def report(self) -> int:
        """One round; how many rule-hours were reported."""
        query = unreported_rows(self._clock() - WINDOW)
        async with self._new_uow() as uow:
            rows = (await uow.session.execute(query)).mappings().all()
            by_tenant: dict[str, list[rule_events_pb2.RuleHourCounts]] = defaultdict(list)
            for row in rows:
                if await self._move(uow, row):
                    delta = {n: int(row[n]) - int(row[f"r_{n}"] or 0) for n in STATISTICS_COUNTERS}
                    by_tenant[row["tenant_id"]].append(_counts(row["rule_id"], row["hour"], delta))
            for tenant_id, counts in by_tenant.items():
                await uow.emit(tenant_id, rule_events_pb2.RuleStatisticsReported(counts=counts))
            await uow.commit()
        return sum(len(c) for c in by_tenant.values())

    async def _move(self, uow: SqlUnitOfWork, row: Any) -> bool:
        """Sets the reported row to the counters' values, if nobody moved it first."""
        r = rule_hourly_stats_reported
        values = {n: int(row[n]) for n in STATISTICS_COUNTERS}
        key = {"tenant_id": row["tenant_id"], "rule_id": row["rule_id"], "hour": row["hour"]}
        if row["r_tenant"] is None:
            try:
                async with uow.session.begin_nested():
                    await uow.session.execute(insert(r).values(**key, **values))
            except IntegrityError:
                return False
            return True
        result = await uow.session.execute(
            update(r)
            .where(
                r.c.tenant_id == key["tenant_id"],
                r.c.rule_id == key["rule_id"],
                r.c.hour == key["hour"],
                *(r.c[n] == literal(int(row[f"r_{n}"])) for n in STATISTICS_COUNTERS),
            )
            .values(**values)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: a round every few seconds until ``stop``."""
        while not stop.is_set():
            try:
                await self.report()
            except Exception:  # the next round retries
                log.exception("rule statistics report failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every.total_seconds())
