"""The reporting unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk.common.v1 import tabular_pb2
from crosstalk.events.v1 import reporting_events_pb2
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from reporting.adapters.report_repository import SqlDashboardStore, SqlReportStore
from reporting.adapters.repository import SqlMeasureStore, SqlProjectionStore
from reporting.domain.events import ReportReady
from reporting.domain.reports import FileFormat

_FORMAT = {
    FileFormat.CSV: tabular_pb2.FILE_FORMAT_CSV,
    FileFormat.XLSX: tabular_pb2.FILE_FORMAT_XLSX,
}


class ReportingUnitOfWork(SqlUnitOfWork):
    measures: SqlMeasureStore
    projections: SqlProjectionStore
    reports: SqlReportStore
    dashboards: SqlDashboardStore

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.measures = SqlMeasureStore(self.session)
        self.projections = SqlProjectionStore(self.session)
        self.reports = SqlReportStore(self.session)
        self.dashboards = SqlDashboardStore(self.session)
        return self

    async def record(self, event: ReportReady) -> None:
        payload = reporting_events_pb2.ReportReady(
            report_file=f"reportFiles/{event.report_file}",
            scheduled_report=(
                f"scheduledReports/{event.scheduled_report}" if event.scheduled_report else ""
            ),
            format=_FORMAT[event.format],
            start_time=to_timestamp(event.start),
            end_time=to_timestamp(event.end),
            size_bytes=event.size_bytes,
            recipients=list(event.recipients),
        )
        await self.emit(event.tenant_id, payload)
