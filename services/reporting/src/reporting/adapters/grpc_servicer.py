"""ReportingService over gRPC: proto mapping only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crosstalk.reporting.v1 import reporting_service_pb2 as pb
from crosstalk.reporting.v1 import reporting_service_pb2_grpc as pb_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from reporting.adapters.mapping import (
    dashboard_to_pb,
    metric_definition_to_pb,
    metric_query_from_pb,
    metric_row_to_pb,
    query_response_to_pb,
    rows_query_from_pb,
)
from reporting.app.metrics import ReportingService
from reporting.app.ports import FactRow

Context = Any


def _row_keys(row: FactRow) -> list[str]:
    return [row.at.isoformat(), row.event_id, str(row.seq)]


def _after(keys: list[str]) -> tuple[datetime, str, int] | None:
    if not keys:
        return None
    try:
        return datetime.fromisoformat(keys[0]), keys[1], int(keys[2])
    except (IndexError, ValueError):
        raise InvalidArgument.field("page_token", "is not a page token of this list") from None


class ReportingServicer(pb_grpc.ReportingServiceServicer):
    def __init__(self, service: ReportingService, page_tokens: PageTokenCodec) -> None:
        self._service = service
        self._page_tokens = page_tokens

    async def GetDashboard(self, request: pb.GetDashboardRequest, context: Context) -> pb.Dashboard:
        caller = require_caller(context)
        return dashboard_to_pb(await self._service.dashboard(caller.tenant_id, caller.visibility))

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
            caller.tenant_id, caller.visibility, query, _after(window.after), window.limit
        )
        page, token = window.cut(fetched, _row_keys)
        return pb.ListMetricRowsResponse(
            rows=[metric_row_to_pb(r) for r in page], next_page_token=token
        )
