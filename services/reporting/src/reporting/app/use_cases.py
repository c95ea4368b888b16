"""Reporting use cases (read side)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from crosstalk_common.visibility import Visibility
from reporting.domain.metrics import COUNTED_EVENTS, MetricQuery, roll_up


class ReadModels(Protocol):
    async def daily(
        self, tenant_id: str, visibility: Visibility, event_type: str, start: date, end: date
    ) -> list[tuple[date, int]]: ...
    async def totals(self, tenant_id: str, visibility: Visibility) -> dict[str, int]: ...


@dataclass(frozen=True)
class ReportingService:
    read_models: ReadModels

    async def query(
        self, tenant_id: str, visibility: Visibility, query: MetricQuery
    ) -> list[tuple[date, int]]:
        query.validate()
        daily = await self.read_models.daily(
            tenant_id,
            visibility,
            COUNTED_EVENTS[query.metric],
            query.start.date(),
            query.end.date(),
        )
        return roll_up(daily, query.granularity)

    async def dashboard(self, tenant_id: str, visibility: Visibility) -> dict[str, int]:
        totals = await self.read_models.totals(tenant_id, visibility)
        return {metric: totals.get(event_type, 0) for metric, event_type in COUNTED_EVENTS.items()}
