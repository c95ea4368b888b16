"""What reporting's use cases need from outside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.visibility import Visibility
from reporting.domain.catalogue import Dimension, Measure
from reporting.domain.folding import Keys, Observation, Projections
from reporting.domain.querying import BucketRow, Groups, HourRow, RowSpec


@dataclass(frozen=True)
class FactRow:
    """One observation behind a metric, for drill-down."""

    at: datetime
    event_id: str
    seq: int
    subject: str
    customer: str
    value: float
    count: int
    dimensions: dict[str, str]


class MeasureStore(Protocol):
    async def add(self, observations: Sequence[Observation]) -> None:
        """Adds each observation's count, value and bucket to its hour's row, and
        keeps it for drill-down; one write per row touched."""
        ...

    async def hours(self, tenant_id: str, visibility: Visibility, spec: RowSpec) -> list[HourRow]:
        """Counts and sums per hour and group within the spec's range."""
        ...

    async def buckets(
        self, tenant_id: str, visibility: Visibility, spec: RowSpec
    ) -> list[BucketRow]:
        """Histogram counts per hour, group and bucket within the spec's range."""
        ...

    async def level_before(
        self, tenant_id: str, visibility: Visibility, spec: RowSpec
    ) -> dict[Groups, int]:
        """Each group's count over all hours before the spec's start."""
        ...

    async def facts(
        self,
        tenant_id: str,
        visibility: Visibility,
        measure: Measure,
        start: datetime,
        end: datetime,
        filters: Sequence[tuple[Dimension, tuple[str, ...]]],
        after: tuple[datetime, str, int] | None,
        limit: int,
    ) -> list[FactRow]:
        """Observations newest first, after the keyset position ``after``."""
        ...

    async def clear(self) -> None:
        """Forgets every measure and projection (before a rebuild)."""
        ...


class ProjectionStore(Protocol):
    async def load(self, keys: Keys) -> Projections: ...

    async def save(self, projections: Projections) -> None:
        """Writes back the rows ``projections`` marks as changed."""
        ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    """Reporting publishes no event from folding: a transaction over its read models."""

    @property
    def measures(self) -> MeasureStore: ...
    @property
    def projections(self) -> ProjectionStore: ...
