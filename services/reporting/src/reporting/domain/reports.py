"""Report files (exports run as jobs), schedules and how a report is laid out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.domain.catalogue import Dimension
from reporting.domain.querying import Granularity, MetricQuery, Point

MAX_METRICS = 20
MAX_RECIPIENTS = 100
FILE_LIFETIME = timedelta(days=7)
MAX_LOOKBACK = timedelta(days=366)


class FileFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


class FileState(Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ReportSpec:
    """What a report file holds: metrics over a period, laid out alike."""

    metrics: tuple[str, ...]
    start: datetime
    end: datetime
    format: FileFormat
    granularity: Granularity = Granularity.DAY
    time_zone: str = ""
    group_bys: tuple[Dimension, ...] = ()
    filters: tuple[tuple[Dimension, tuple[str, ...]], ...] = ()

    def query(self, metric: str) -> MetricQuery:
        return MetricQuery(
            metric,
            self.start,
            self.end,
            self.granularity,
            self.time_zone,
            self.group_bys,
            self.filters,
        )

    def validate(self) -> None:
        problems: list[FieldViolation] = []
        if not self.metrics:
            problems.append(FieldViolation("metrics", "name at least one metric"))
        if len(self.metrics) > MAX_METRICS:
            problems.append(FieldViolation("metrics", f"at most {MAX_METRICS} metrics"))
        for i, metric in enumerate(self.metrics[:MAX_METRICS]):
            try:
                self.query(metric).validate()
            except InvalidArgument as bad:
                for v in bad.violations:
                    name = f"metrics[{i}]" if v.field == "metric" else v.field
                    if all(p.field != name for p in problems):
                        problems.append(FieldViolation(name, v.description))
        if problems:
            raise InvalidArgument(problems)


def visibility_to_json(visibility: Visibility) -> dict[str, object]:
    return {
        "scope": visibility.scope.value,
        "member_id": visibility.member_id,
        "departments": sorted(visibility.departments),
    }


def visibility_from_json(data: dict[str, object]) -> Visibility:
    departments = data.get("departments") or []
    assert isinstance(departments, list)
    return Visibility(
        DataScope(str(data.get("scope", DataScope.OWN.value))),
        member_id=str(data.get("member_id", "")),
        departments=frozenset(str(d) for d in departments),
    )


@dataclass
class ReportFile:
    id: str
    tenant_id: str
    owner: str  # member id of who asked (or owns the schedule)
    visibility: Visibility  # the data scope the report is built under
    spec: ReportSpec
    state: FileState
    created_at: datetime
    expires_at: datetime
    scheduled_report: str = ""  # id
    recipients: tuple[str, ...] = ()
    filename: str = ""
    content_type: str = ""
    content: bytes = b""
    error: str = ""

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class Schedule:
    id: str
    tenant_id: str
    owner: str
    visibility: Visibility
    display_name: str
    metrics: tuple[str, ...]
    lookback: timedelta
    cron: str
    time_zone: str
    format: FileFormat
    recipients: tuple[str, ...]
    enabled: bool
    granularity: Granularity = Granularity.DAY
    group_bys: tuple[Dimension, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_report_file: str = ""
    version: int = 1

    def spec_ending(self, end: datetime) -> ReportSpec:
        return ReportSpec(
            metrics=self.metrics,
            start=end - self.lookback,
            end=end,
            format=self.format,
            granularity=self.granularity,
            time_zone=self.time_zone,
            group_bys=self.group_bys,
        )

    def validate(self, cron_problem: str | None) -> None:
        problems: list[FieldViolation] = []
        if not self.display_name.strip():
            problems.append(FieldViolation("scheduled_report.display_name", "is required"))
        if cron_problem:
            problems.append(FieldViolation("scheduled_report.cron", cron_problem))
        lookback_fits = timedelta(0) < self.lookback <= MAX_LOOKBACK
        if not lookback_fits:
            problems.append(
                FieldViolation("scheduled_report.lookback", "must be between 1 s and 366 days")
            )
        if not self.recipients:
            problems.append(FieldViolation("scheduled_report.recipients", "name a recipient"))
        for i, address in enumerate(self.recipients):
            local, at, domain = address.partition("@")
            if not at or not local or "." not in domain or any(c.isspace() for c in address):
                problems.append(
                    FieldViolation(f"scheduled_report.recipients[{i}]", "is not an e-mail address")
                )
        try:
            # The range a run would ask for; only with a lookback that fits (a
            # lookback of millennia reaches before year 1).
            if lookback_fits:
                self.spec_ending(datetime(2026, 1, 1, tzinfo=UTC)).validate()
        except InvalidArgument as bad:
            problems.extend(
                FieldViolation(f"scheduled_report.{v.field}", v.description) for v in bad.violations
            )
        if problems:
            raise InvalidArgument(problems)


def may_manage(schedule: Schedule, member_id: str, visibility: Visibility) -> bool:
    """Whether a caller may change or delete ``schedule``: its owner, or a caller who
    sees at least what it reports. A schedule keeps its owner's data scope, so anyone
    narrower who could change its recipients would have the owner's figures mailed
    to them."""
    if member_id and member_id == schedule.owner:
        return True
    wanted = schedule.visibility
    if visibility.scope is DataScope.ALL:
        return True
    if visibility.scope is DataScope.DEPARTMENT and wanted.scope is DataScope.DEPARTMENT:
        return wanted.departments <= visibility.departments
    return False


@dataclass(frozen=True)
class Table:
    """One metric's figures as rows of a sheet (or a block of a csv)."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[object, ...]] = field(default_factory=list)


def table_of(
    metric: str, unit: str, group_bys: Sequence[Dimension], points: Sequence[Point]
) -> Table:
    header = (
        "bucket_start",
        *(d.value for d in group_bys),
        f"value ({unit})",
        "count",
        "sum",
        "p50",
        "p90",
    )
    rows: list[tuple[object, ...]] = [
        (
            p.start.isoformat(),
            *p.groups[: len(group_bys)],
            round(p.value, 6),
            p.count,
            round(p.total, 6),
            round(p.p50, 6),
            round(p.p90, 6),
        )
        for p in points
    ]
    return Table(metric, header, rows)
