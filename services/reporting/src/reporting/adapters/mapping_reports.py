"""Proto <-> domain for report files, scheduled reports and dashboards."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask

from crosstalk.common.v1 import tabular_pb2
from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk_common.api.etags import check_etag
from crosstalk_common.api.timestamps import from_timestamp, to_timestamp
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.visibility import Visibility
from reporting.adapters.mapping import (
    GRANULARITY,
    GRANULARITY_PB,
    GROUP_BY,
    GROUP_BY_PB,
    filters_from_pb,
    query_response_to_pb,
)
from reporting.app.dashboards import DashboardView
from reporting.domain.catalogue import Dimension
from reporting.domain.dashboards import DEFAULT_LOOKBACK, Tile
from reporting.domain.querying import Granularity
from reporting.domain.reports import FileFormat, FileState, ReportFile, ReportSpec, Schedule

_FORMAT = {
    tabular_pb2.FILE_FORMAT_CSV: FileFormat.CSV,
    tabular_pb2.FILE_FORMAT_XLSX: FileFormat.XLSX,
}
_FORMAT_PB = {f: p for p, f in _FORMAT.items()}
_STATE_PB = {
    FileState.PENDING: pb.REPORT_FILE_STATE_PENDING,
    FileState.RUNNING: pb.REPORT_FILE_STATE_RUNNING,
    FileState.SUCCEEDED: pb.REPORT_FILE_STATE_SUCCEEDED,
    FileState.FAILED: pb.REPORT_FILE_STATE_FAILED,
}


def _format(value: int, field: str, problems: list[FieldViolation]) -> FileFormat:
    found: FileFormat | None = _FORMAT.get(value)  # type: ignore[call-overload]
    if found is None:
        problems.append(FieldViolation(field, "choose FILE_FORMAT_CSV or FILE_FORMAT_XLSX"))
        return FileFormat.CSV
    return found


def _group_bys(
    first: int, more: list[int], field: str, problems: list[FieldViolation]
) -> tuple[Dimension, ...]:
    dims: list[Dimension] = []
    for i, value in enumerate(([first] if first else []) + list(more)):
        dim = GROUP_BY.get(value)  # type: ignore[call-overload]
        if dim is None:
            problems.append(FieldViolation(f"{field}[{i}]", "name a dimension (GROUP_BY_...)"))
        elif dim not in dims:
            dims.append(dim)
    return tuple(dims)


def export_spec_from_pb(request: pb.ExportReportRequest) -> ReportSpec:
    problems: list[FieldViolation] = []
    if not request.HasField("start_time"):
        problems.append(FieldViolation("start_time", "is required"))
    if not request.HasField("end_time"):
        problems.append(FieldViolation("end_time", "is required"))
    granularity = GRANULARITY.get(request.granularity)
    if granularity is None:
        problems.append(FieldViolation("granularity", "unknown granularity"))
    fmt = _format(request.format, "format", problems)
    group_bys = _group_bys(request.group_by, list(request.group_bys), "group_bys", problems)
    filters = filters_from_pb(request.filters, problems)
    if problems:
        raise InvalidArgument(problems)
    return ReportSpec(
        metrics=tuple(request.metrics),
        start=from_timestamp(request.start_time),
        end=from_timestamp(request.end_time),
        format=fmt,
        granularity=granularity or Granularity.DAY,
        time_zone=request.time_zone,
        group_bys=group_bys,
        filters=filters,
    )


def report_file_to_pb(file: ReportFile, *, with_content: bool = True) -> pb.ReportFile:
    message = pb.ReportFile(
        name=f"reportFiles/{file.id}",
        filename=file.filename,
        format=_FORMAT_PB[file.spec.format],
        content_type=file.content_type,
        scheduled_report=f"scheduledReports/{file.scheduled_report}"
        if file.scheduled_report
        else "",
        create_time=to_timestamp(file.created_at),
        expire_time=to_timestamp(file.expires_at),
        state=_STATE_PB[file.state],
        error=file.error,
        metrics=list(file.spec.metrics),
        start_time=to_timestamp(file.spec.start),
        end_time=to_timestamp(file.spec.end),
        size_bytes=file.size,
        recipients=list(file.recipients),
    )
    if with_content:
        message.content = file.content
    return message


def _duration(value: Duration) -> timedelta:
    return timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


def _schedule_etag(schedule: Schedule) -> str:
    return f'W/"{schedule.version}"'


_SCHEDULE_FIELDS = (
    "display_name",
    "metrics",
    "granularity",
    "group_by",
    "lookback",
    "cron",
    "time_zone",
    "format",
    "recipients",
    "enabled",
)


def schedule_from_pb(
    message: pb.ScheduledReport,
    tenant_id: str,
    member_id: str,
    visibility: Visibility,
) -> Schedule:
    problems: list[FieldViolation] = []
    granularity = GRANULARITY.get(message.granularity)
    if granularity is None:
        problems.append(FieldViolation("scheduled_report.granularity", "unknown granularity"))
    fmt = _format(message.format, "scheduled_report.format", problems)
    group_bys = _group_bys(message.group_by, [], "scheduled_report.group_by", problems)
    if problems:
        raise InvalidArgument(problems)
    return Schedule(
        id="",
        tenant_id=tenant_id,
        owner=member_id,
        visibility=visibility,
        display_name=message.display_name,
        metrics=tuple(message.metrics),
        lookback=_duration(message.lookback) if message.HasField("lookback") else timedelta(days=7),
        cron=message.cron,
        time_zone=message.time_zone,
        format=fmt,
        recipients=tuple(message.recipients),
        enabled=message.enabled,
        granularity=granularity or Granularity.DAY,
        group_bys=group_bys,
    )


def schedule_change(
    message: pb.ScheduledReport, paths: list[str], tenant_id: str, visibility: Visibility
) -> Callable[[Schedule], Schedule]:
    """The change UpdateScheduledReport makes: the masked fields (all populated
    ones when the mask is empty), after the etag check."""
    for i, path in enumerate(paths):
        if path not in _SCHEDULE_FIELDS:
            raise InvalidArgument.field(
                f"update_mask.paths[{i}]",
                f"{path!r} cannot be changed; changeable: {', '.join(_SCHEDULE_FIELDS)}",
            )

    def change(current: Schedule) -> Schedule:
        name = f"scheduledReports/{current.id}"
        check_etag(message.etag, _schedule_etag(current), name)
        chosen = set(paths) or {
            f
            for f in _SCHEDULE_FIELDS
            if (f == "lookback" and message.HasField("lookback"))
            or (f not in ("lookback", "enabled") and bool(getattr(message, f)))
        }
        if not paths and message.enabled != current.enabled:
            chosen.add("enabled")
        # The fields outside the mask keep their stored values: a mask naming only
        # "enabled" must not have the request's unset format or granularity checked.
        merged = schedule_to_pb(current)
        FieldMask(paths=sorted(chosen)).MergeMessage(
            message, merged, replace_message_field=True, replace_repeated_field=True
        )
        given = schedule_from_pb(merged, tenant_id, current.owner, visibility)
        updated = current
        for field in chosen:
            if field == "group_by":
                updated = replace(updated, group_bys=given.group_bys)
            else:
                updated = replace(updated, **{field: getattr(given, field)})
        return updated

    return change


def schedule_to_pb(schedule: Schedule) -> pb.ScheduledReport:
    message = pb.ScheduledReport(
        name=f"scheduledReports/{schedule.id}",
        display_name=schedule.display_name,
        metrics=list(schedule.metrics),
        granularity=GRANULARITY_PB[schedule.granularity],
        group_by=GROUP_BY_PB[schedule.group_bys[0]]
        if schedule.group_bys
        else pb.GROUP_BY_UNSPECIFIED,
        cron=schedule.cron,
        time_zone=schedule.time_zone,
        format=_FORMAT_PB[schedule.format],
        recipients=list(schedule.recipients),
        enabled=schedule.enabled,
        owner=f"members/{schedule.owner}" if schedule.owner else "",
        last_report_file=f"reportFiles/{schedule.last_report_file}"
        if schedule.last_report_file
        else "",
        etag=_schedule_etag(schedule),
    )
    message.lookback.FromTimedelta(schedule.lookback)
    for field, value in (
        ("last_run_time", schedule.last_run_at),
        ("next_run_time", schedule.next_run_at),
        ("create_time", schedule.created_at),
        ("update_time", schedule.updated_at),
    ):
        if value is not None:
            getattr(message, field).CopyFrom(to_timestamp(value))
    return message


def tiles_from_pb(dashboard: pb.Dashboard, paths: list[str]) -> tuple[Tile, ...]:
    if dashboard.name not in ("", "dashboard"):
        raise InvalidArgument.field("dashboard.name", "must be 'dashboard' (the caller's own)")
    for i, path in enumerate(paths):
        if path != "tiles":
            raise InvalidArgument.field(f"update_mask.paths[{i}]", "only 'tiles' can change")
    tiles = []
    problems: list[FieldViolation] = []
    for i, tile in enumerate(dashboard.tiles):
        prefix = f"dashboard.tiles[{i}]"
        granularity = GRANULARITY.get(tile.granularity)
        if granularity is None:
            problems.append(FieldViolation(f"{prefix}.granularity", "unknown granularity"))
        group_bys = _group_bys(0, list(tile.group_bys), f"{prefix}.group_bys", problems)
        filters = filters_from_pb(tile.filters, problems, field=f"{prefix}.filters")
        tiles.append(
            Tile(
                title=tile.title,
                metric=tile.metric,
                lookback=_duration(tile.lookback)
                if tile.HasField("lookback")
                else DEFAULT_LOOKBACK,
                granularity=granularity or Granularity.DAY,
                group_bys=group_bys,
                filters=filters,
                time_zone=tile.time_zone,
            )
        )
    if problems:
        raise InvalidArgument(problems)
    return tuple(tiles)


def dashboard_etag(version: int) -> str:
    return f'W/"{version}"'


def dashboard_to_pb(view: DashboardView) -> pb.Dashboard:
    message = pb.Dashboard(
        messages_received=view.headlines["messages_received"],
        rules_fired=view.headlines["rules_fired"],
        customers_created=view.headlines["customers_created"],
        customers_tagged=view.headlines["customers_tagged"],
        default_tiles=view.default,
        etag=dashboard_etag(view.version),
        name="dashboard",
    )
    for tile, answer in view.tiles:
        shown = pb.DashboardTile(
            title=tile.title,
            metric=tile.metric,
            granularity=GRANULARITY_PB[tile.granularity],
            group_bys=[GROUP_BY_PB[d] for d in tile.group_bys],
            filters=[
                pb.MetricFilter(dimension=GROUP_BY_PB[d], values=list(v)) for d, v in tile.filters
            ],
            time_zone=tile.time_zone,
            result=query_response_to_pb(answer),
        )
        shown.lookback.FromTimedelta(tile.lookback)
        message.tiles.append(shown)
    return message


def etag_version(etag: str) -> int | None:
    """The version a dashboard etag names; None when no etag was sent."""
    if not etag:
        return None
    match = re.fullmatch(r'W/"(\d+)"', etag)
    if match is None:
        raise InvalidArgument.field("dashboard.etag", "is not an etag this service issued")
    return int(match.group(1))
