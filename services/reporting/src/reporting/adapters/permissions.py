"""The permission each ReportingService RPC needs (enforced by crosstalk_common)."""

from __future__ import annotations

METHOD_PERMISSIONS: dict[str, str] = {
    "GetDashboard": "reports.read",
    "UpdateDashboard": "reports.read",
    "QueryMetric": "reports.read",
    "ListMetrics": "reports.read",
    "ListMetricRows": "reports.read",
    "ExportReport": "reports.export",
    "GetReportFile": "reports.export",
    "CreateScheduledReport": "reports.export",
    "GetScheduledReport": "reports.read",
    "ListScheduledReports": "reports.read",
    "UpdateScheduledReport": "reports.export",
    "DeleteScheduledReport": "reports.export",
}
