"""ReportingService over gRPC: proto mapping only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk.reporting.v1 import reporting_service_pb2_grpc as pb_grpc
from crosstalk_common.api.etags import check_etag
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from reporting.adapters.mapping import (
    metric_definition_to_pb,
    metric_query_from_pb,
    metric_row_to_pb,
    query_response_to_pb,
    rows_query_from_pb,
)
from reporting.adapters.mapping_reports import (
    dashboard_to_pb,
    etag_version,
    export_spec_from_pb,
    report_file_to_pb,
    schedule_change,
    schedule_from_pb,
    schedule_to_pb,
    tiles_from_pb,
)
from reporting.app.dashboards import Dashboards
from reporting.app.metrics import ReportingService
from reporting.app.ports import FactRow
from reporting.app.reports import ReportJobs, ScheduleCaller
from reporting.domain.reports import Schedule

Context = Any


def _row_keys(row: FactRow) -> list[str]:
    return [row.at.isoformat(), row.event_id, str(row.seq)]


def _after_row(keys: list[str]) -> tuple[datetime, str, int] | None:
    if not keys:
        return None
    try:
        return datetime.fromisoformat(keys[0]), keys[1], int(keys[2])
    except (IndexError, ValueError):
        raise InvalidArgument.field("page_token", "is not a page token of this list") from None


def _schedule_keys(schedule: Schedule) -> list[str]:
    assert schedule.created_at is not None
    return [schedule.created_at.isoformat(), schedule.id]


def _after_schedule(keys: list[str]) -> tuple[datetime, str] | None:
    if not keys:
        return None
    try:
        return datetime.fromisoformat(keys[0]), keys[1]
    except (IndexError, ValueError):
        raise InvalidArgument.field("page_token", "is not a page token of this list") from None


def _id(name: str, collection: str, field: str = "name") -> str:
    return resource_id(name, collection, field=field)


class ReportingServicer(pb_grpc.ReportingServiceServicer):
    def __init__(
        self,
        service: ReportingService,
        jobs: ReportJobs,
        dashboards: Dashboards,
        page_tokens: PageTokenCodec,
    ) -> None:
        self._service = service
        self._jobs = jobs
        self._dashboards = dashboards
        self._page_tokens = page_tokens

    async def GetDashboard(self, request: pb.GetDashboardRequest, context: Context) -> pb.Dashboard:
        caller = require_caller(context)
        view = await self._dashboards.view(
            caller.tenant_id,
            caller.visibility,
            caller.member_id,
            caller.data_scope,
            caller.permissions,
        )
        return dashboard_to_pb(view)

    async def UpdateDashboard(
        self, request: pb.UpdateDashboardRequest, context: Context
    ) -> pb.Dashboard:
        caller = require_caller(context)
        if not caller.member_id:
            raise InvalidArgument.field("dashboard", "only members have dashboards")
        tiles = tiles_from_pb(request.dashboard, list(request.update_mask.paths))
        await self._dashboards.save(
            caller.tenant_id, caller.member_id, tiles, etag_version(request.dashboard.etag)
        )
        view = await self._dashboards.view(
            caller.tenant_id,
            caller.visibility,
            caller.member_id,
            caller.data_scope,
            caller.permissions,
        )
        return dashboard_to_pb(view)

    async def QueryMetric(
        self, request: pb.QueryMetricRequest, context: Context
    ) -> pb.QueryMetricResponse:
        caller = require_caller(context)
        query = metric_query_from_pb(request)
        answer = await self._service.query(caller.tenant_id, caller.visibility, query)
        return query_response_to_pb(answer)

    async def ListMetrics(
        self, request: pb.ListMetricsRequest, context: Context
    ) -> pb.ListMetricsResponse:
        require_caller(context)
        window = self._page_tokens.window(request, "metrics")
        offset = int(window.after[0]) if window.after else 0
        metrics = list(self._service.metrics())
        page = metrics[offset : offset + window.size]
        token = ""
        if offset + window.size < len(metrics):
            token = window.token_after([str(offset + window.size)])
        return pb.ListMetricsResponse(
            metrics=[metric_definition_to_pb(m) for m in page], next_page_token=token
        )

    async def ListMetricRows(
        self, request: pb.ListMetricRowsRequest, context: Context
    ) -> pb.ListMetricRowsResponse:
        caller = require_caller(context)
        query = rows_query_from_pb(request)
        window = self._page_tokens.window(
            request,
            request.metric,
            request.start_time,
            request.end_time,
            [(f.dimension, list(f.values)) for f in request.filters],
        )
        fetched = await self._service.rows(
            caller.tenant_id, caller.visibility, query, _after_row(window.after), window.limit
        )
        page, token = window.cut(fetched, _row_keys)
        return pb.ListMetricRowsResponse(
            rows=[metric_row_to_pb(r) for r in page], next_page_token=token
        )

    async def ExportReport(
        self, request: pb.ExportReportRequest, context: Context
    ) -> pb.ReportFile:
        caller = require_caller(context)
        spec = export_spec_from_pb(request)
        file = await self._jobs.export(caller.tenant_id, caller.visibility, caller.member_id, spec)
        return report_file_to_pb(file)

    async def GetReportFile(
        self, request: pb.GetReportFileRequest, context: Context
    ) -> pb.ReportFile:
        caller = require_caller(context)
        file = await self._jobs.file(
            caller.tenant_id,
            caller.visibility,
            caller.member_id,
            _id(request.name, "reportFiles"),
        )
        return report_file_to_pb(file)

    async def CreateScheduledReport(
        self, request: pb.CreateScheduledReportRequest, context: Context
    ) -> pb.ScheduledReport:
        caller = require_caller(context)
        schedule = schedule_from_pb(
            request.scheduled_report, caller.tenant_id, caller.member_id, caller.visibility
        )
        return schedule_to_pb(await self._jobs.create_schedule(schedule))

    async def GetScheduledReport(
        self, request: pb.GetScheduledReportRequest, context: Context
    ) -> pb.ScheduledReport:
        caller = require_caller(context)
        found = await self._jobs.schedule(
            caller.tenant_id,
            _id(request.name, "scheduledReports"),
            ScheduleCaller(caller.member_id, caller.visibility),
        )
        return schedule_to_pb(found)

    async def ListScheduledReports(
        self, request: pb.ListScheduledReportsRequest, context: Context
    ) -> pb.ListScheduledReportsResponse:
        caller = require_caller(context)
        window = self._page_tokens.window(request, "scheduledReports")
        fetched = await self._jobs.schedules(
            caller.tenant_id,
            _after_schedule(window.after),
            window.limit,
            ScheduleCaller(caller.member_id, caller.visibility),
        )
        page, token = window.cut(fetched, _schedule_keys)
        return pb.ListScheduledReportsResponse(
            scheduled_reports=[schedule_to_pb(s) for s in page], next_page_token=token
        )

    async def UpdateScheduledReport(
        self, request: pb.UpdateScheduledReportRequest, context: Context
    ) -> pb.ScheduledReport:
        caller = require_caller(context)
        schedule_id = _id(
            request.scheduled_report.name, "scheduledReports", "scheduled_report.name"
        )
        change = schedule_change(
            request.scheduled_report,
            list(request.update_mask.paths),
            caller.tenant_id,
            caller.visibility,
        )
        who = ScheduleCaller(caller.member_id, caller.visibility)
        return schedule_to_pb(
            await self._jobs.update_schedule(caller.tenant_id, schedule_id, change, who)
        )

    async def DeleteScheduledReport(
        self, request: pb.DeleteScheduledReportRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        schedule_id = _id(request.name, "scheduledReports")

        def etag_check(current: Schedule) -> None:
            check_etag(request.etag, schedule_to_pb(current).etag, request.name)

        who = ScheduleCaller(caller.member_id, caller.visibility)
        await self._jobs.delete_schedule(caller.tenant_id, schedule_id, etag_check, who)
        return Empty()
