"""ReportingService over gRPC: proto mapping only."""

from __future__ import annotations

from typing import Any

from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk.reporting.v1 import reporting_service_pb2_grpc as pb_grpc
from crosstalk_common.grpc.auth import require_caller
from reporting.adapters.mapping import dashboard_to_pb, metric_query_from_pb, query_response_to_pb
from reporting.app.metrics import ReportingService

Context = Any


class ReportingServicer(pb_grpc.ReportingServiceServicer):
    def __init__(self, service: ReportingService) -> None:
        self._service = service

    async def GetDashboard(self, request: pb.GetDashboardRequest, context: Context) -> pb.Dashboard:
        caller = require_caller(context)
        return dashboard_to_pb(await self._service.dashboard(caller.tenant_id, caller.visibility))

    async def QueryMetric(
        self, request: pb.QueryMetricRequest, context: Context
    ) -> pb.QueryMetricResponse:
        caller = require_caller(context)
        query = metric_query_from_pb(request)
        buckets = await self._service.query(caller.tenant_id, caller.visibility, query)
        return query_response_to_pb(buckets)
