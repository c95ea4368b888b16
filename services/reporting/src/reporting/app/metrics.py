"""The figures callers read: metric queries, drill-down rows and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from reporting.app.ports import FactRow, UnitOfWork
from reporting.domain.catalogue import (
    METRICS,
    Aggregation,
    Dimension,
    Measure,
    Metric,
)
from reporting.domain.querying import (
    MetricQuery,
    QueryResult,
    RowSpec,
    combine,
    row_specs,
    shift,
    unset_dimension,
    whole,
    with_unset_buckets,
    with_unset_level,
    with_unset_rows,
)

# The dashboard's headline totals: field -> measure.
HEADLINES = {
    "messages_received": Measure.MESSAGES_IN,
    "rules_fired": Measure.RULE_FIRED,
    "customers_created": Measure.CUSTOMERS_CREATED,
    "customers_tagged": Measure.CUSTOMERS_TAGGED,
}
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MetricAnswer:
    metric: Metric
    current: QueryResult
    previous: QueryResult | None


@dataclass(frozen=True)
class RowsQuery:
    metric: str
    start: datetime
    end: datetime
    filters: tuple[tuple[Dimension, tuple[str, ...]], ...] = ()

    def validate(self) -> Metric:
        return MetricQuery(self.metric, self.start, self.end, filters=self.filters).validate()


@dataclass(frozen=True)
class ReportingService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    def metrics(self) -> tuple[Metric, ...]:
        return METRICS

    async def query(
        self, tenant_id: str, visibility: Visibility, query: MetricQuery
    ) -> MetricAnswer:
        metric = query.validate()
        async with self.new_uow() as uow:
            # A writer's commit between two reads would part what it wrote together.
            await uow.read_one_snapshot()
            current = await self._run(uow, tenant_id, visibility, metric, query)
            previous = None
            if query.compare_previous:
                earlier = query.previous()
                previous = await self._run(uow, tenant_id, visibility, metric, earlier)
                length = query.end - query.start
                previous.points[:] = shift(previous.points, length)
        return MetricAnswer(metric, current, previous)

    async def _run(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        visibility: Visibility,
        metric: Metric,
        query: MetricQuery,
    ) -> QueryResult:
        specs = row_specs(metric, query)
        main = specs[0]
        # Split by one dimension, the records naming none of it are a group too.
        unset = unset_dimension(main) is not None
        store = uow.measures
        rows = await store.hours(tenant_id, visibility, main)
        if unset:
            rows = with_unset_rows(
                query, rows, await store.hours(tenant_id, visibility, whole(main))
            )
        buckets = []
        if metric.aggregation is Aggregation.DISTRIBUTION:
            buckets = await store.buckets(tenant_id, visibility, main)
            if unset:
                everything = await store.buckets(tenant_id, visibility, whole(main))
                buckets = with_unset_buckets(query, buckets, everything)
        denominator = []
        if len(specs) > 1:
            denominator = await store.hours(tenant_id, visibility, specs[1])
            if unset:
                everything_below = await store.hours(tenant_id, visibility, whole(specs[1]))
                denominator = with_unset_rows(query, denominator, everything_below)
        before = None
        if metric.aggregation is Aggregation.LEVEL:
            before = await store.level_before(tenant_id, visibility, main)
            if unset:
                everything_before = await store.level_before(tenant_id, visibility, whole(main))
                before = with_unset_level(before, everything_before)
        return combine(metric, query, rows, buckets, denominator, before)

    async def rows(
        self,
        tenant_id: str,
        visibility: Visibility,
        query: RowsQuery,
        after: tuple[datetime, str, int] | None,
        limit: int,
    ) -> list[FactRow]:
        """The observations behind the metric in the range, newest first."""
        metric = query.validate()
        filters = query.filters
        if metric.fixed_filter is not None:
            dim, value = metric.fixed_filter
            filters = (*filters, (dim, (value,)))
        async with self.new_uow() as uow:
            return await uow.measures.facts(
                tenant_id,
                visibility,
                metric.measure,
                query.start,
                query.end,
                filters,
                after,
                limit,
            )

    async def dashboard(self, tenant_id: str, visibility: Visibility) -> dict[str, int]:
        """The all-time total of each headline, 0 for those never counted."""
        totals = {}
        async with self.new_uow() as uow:
            for field, measure in HEADLINES.items():
                spec = RowSpec(measure, _END_OF_TIME, _END_OF_TIME, (), ())
                level = await uow.measures.level_before(tenant_id, visibility, spec)
                totals[field] = sum(level.values())
        return totals
