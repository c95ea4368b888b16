"""What reporting's use cases need from outside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.visibility import Visibility
from reporting.domain.catalogue import Dimension, Measure
from reporting.domain.dashboards import Tile
from reporting.domain.events import ReportReady
from reporting.domain.folding import Keys, Observation, Projections
from reporting.domain.querying import BucketCounts, Groups, HourRow, RowSpec
from reporting.domain.reports import FileFormat, ReportFile, Schedule
from reporting.domain.reports import Table as ReportTable


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
        """Counts and sums per bucket of ``spec.cuts`` and group within the spec's
        range (each row's hour an instant in its bucket)."""
        ...

    async def buckets(
        self, tenant_id: str, visibility: Visibility, spec: RowSpec
    ) -> list[BucketCounts]:
        """Histogram counts per bucket of ``spec.cuts`` and group within the
        spec's range."""
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

    async def day_shifts(self) -> frozenset[int]:
        """The shifts (``querying.day_shift``) whose day rows are kept."""
        ...

    async def keep_day_shifts(self, shifts: frozenset[int]) -> None:
        """Keeps hour rows added up per local day of exactly ``shifts`` from now
        on (a new shift's filled from the hour rows there): a query by day, week
        or month reads its whole local days of those shifts from them."""
        ...


class ProjectionStore(Protocol):
    async def load(self, keys: Keys) -> Projections: ...

    async def save(self, projections: Projections) -> None:
        """Writes back the rows ``projections`` marks as changed."""
        ...


class UnitOfWork(unit_of_work.Transaction, unit_of_work.Snapshot, Protocol):
    """Reporting publishes no event from folding: a transaction over its read models.
    A query's reads (a rate's numerator and denominator, a distribution's counts
    and buckets) are made in one snapshot, so they agree."""

    @property
    def measures(self) -> MeasureStore: ...
    @property
    def projections(self) -> ProjectionStore: ...


class ReportStore(Protocol):
    """Report files and schedules, always within one tenant."""

    async def add_file(self, file: ReportFile) -> None: ...
    async def file(self, tenant_id: str, file_id: str) -> ReportFile | None: ...
    async def claim_pending_file(self, now: datetime) -> ReportFile | None:
        """Moves the oldest PENDING file of any tenant to RUNNING and returns it
        (None when there is none); two workers never claim the same file."""
        ...

    async def save_file(self, file: ReportFile) -> None: ...
    async def drop_expired_files(self, now: datetime) -> int: ...
    async def add_schedule(self, schedule: Schedule) -> None: ...
    async def schedule(self, tenant_id: str, schedule_id: str) -> Schedule | None: ...
    async def schedules(
        self, tenant_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Schedule]: ...
    async def save_schedule(self, schedule: Schedule, expected_version: int) -> bool:
        """Writes the schedule if its stored version is still ``expected_version``."""
        ...

    async def delete_schedule(self, tenant_id: str, schedule_id: str) -> bool: ...
    async def due_schedules(self, now: datetime, limit: int) -> list[Schedule]: ...


class DashboardStore(Protocol):
    async def tiles(self, tenant_id: str, member_id: str) -> tuple[tuple[Tile, ...], int] | None:
        """The member's saved tiles and their version; None when they saved none."""
        ...

    async def save_tiles(
        self, tenant_id: str, member_id: str, tiles: tuple[Tile, ...], version: int
    ) -> None: ...
    async def forget_tiles(self, tenant_id: str, member_id: str) -> None: ...


class ReportingEvents(Protocol):
    async def record(self, event: ReportReady) -> None:
        """Stage an event; commit() writes it with the rows."""
        ...


class JobsUnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def reports(self) -> ReportStore: ...
    @property
    def dashboards(self) -> DashboardStore: ...
    async def record(self, event: ReportReady) -> None: ...


class CronCalendar(Protocol):
    def problem(self, expression: str, time_zone: str) -> str | None:
        """Why the expression (five fields) or the zone is not usable; None when it is."""
        ...

    def next_after(self, expression: str, time_zone: str, after: datetime) -> datetime:
        """The first time after ``after`` the expression matches in the zone (UTC)."""
        ...


class Mailer(Protocol):
    async def send(
        self,
        recipients: Sequence[str],
        subject: str,
        body: str,
        attachment: tuple[str, str, bytes],
    ) -> None:
        """Mails the attachment (file name, content type, bytes); raises MailFailed."""
        ...


class MailFailed(Exception):
    """The mail could not be handed to the SMTP server; str() says why."""


class ReportRenderer(Protocol):
    def render(self, tables: Sequence[ReportTable], format: FileFormat) -> tuple[bytes, str]:
        """The file's bytes and its content type."""
        ...
