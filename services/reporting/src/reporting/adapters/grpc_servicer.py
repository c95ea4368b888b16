"""ReportingService over gRPC: proto mapping only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk.reporting.v1 import reporting_service_pb2_grpc as pb_grpc
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from reporting.app.use_cases import ReportingService
from reporting.domain.metrics import Granularity, MetricQuery

Context = Any

_GRANULARITY = {
    pb.GRANULARITY_UNSPECIFIED: Granularity.DAY,
    pb.GRANULARITY_DAY: Granularity.DAY,
    pb.GRANULARITY_WEEK: Granularity.WEEK,
    pb.GRANULARITY_MONTH: Granularity.MONTH,
}


class ReportingServicer(pb_grpc.ReportingServiceServicer):
    def __init__(self, service: ReportingService) -> None:
        self._service = service

    async def GetDashboard(self, request: pb.GetDashboardRequest, context: Context) -> pb.Dashboard:
        caller = require_caller(context)
        return pb.Dashboard(**await self._service.dashboard(caller.tenant_id, caller.visibility))

    async def QueryMetric(
        self, request: pb.QueryMetricRequest, context: Context
    ) -> pb.QueryMetricResponse:
        caller = require_caller(context)
        problems = []
        if not request.metric:
            problems.append(FieldViolation("metric", "is required, e.g. 'messages_received'"))
        if not request.HasField("start_time"):
            problems.append(FieldViolation("start_time", "is required"))
        if not request.HasField("end_time"):
            problems.append(FieldViolation("end_time", "is required"))
        if request.granularity not in _GRANULARITY:
            problems.append(FieldViolation("granularity", "unknown granularity"))
        if problems:
            raise InvalidArgument(problems)
        query = MetricQuery(
            metric=request.metric,
            start=request.start_time.ToDatetime(tzinfo=UTC),
            end=request.end_time.ToDatetime(tzinfo=UTC),
            granularity=_GRANULARITY[request.granularity],
        )
        buckets = await self._service.query(caller.tenant_id, caller.visibility, query)
        points = []
        for day, count in buckets:
            stamp = Timestamp()
            stamp.FromDatetime(datetime(day.year, day.month, day.day, tzinfo=UTC))
            points.append(pb.MetricPoint(start_time=stamp, value=float(count)))
        return pb.QueryMetricResponse(points=points, total=float(sum(c for _, c in buckets)))
