"""The figures callers read: the dashboard and one metric over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from reporting.app.ports import UnitOfWork
from reporting.domain.metrics import COUNTED_EVENTS, MetricQuery, roll_up


@dataclass(frozen=True)
class ReportingService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def query(
        self, tenant_id: str, visibility: Visibility, query: MetricQuery
    ) -> list[tuple[date, int]]:
        """The metric's buckets within the range, oldest first (empty ones left out)."""
        query.validate()
        async with self.new_uow() as uow:
            daily = await uow.counts.daily(
                tenant_id,
                visibility,
                COUNTED_EVENTS[query.metric],
                query.start.date(),
                query.end.date(),
            )
        return roll_up(daily, query.granularity)

    async def dashboard(self, tenant_id: str, visibility: Visibility) -> dict[str, int]:
        """The all-time total of every metric, 0 for those never counted."""
        async with self.new_uow() as uow:
            totals = await uow.counts.totals(tenant_id, visibility)
        return {metric: totals.get(event_type, 0) for metric, event_type in COUNTED_EVENTS.items()}
