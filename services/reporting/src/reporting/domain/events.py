"""What reporting announces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reporting.domain.reports import FileFormat


@dataclass(frozen=True)
class ReportReady:
    tenant_id: str
    report_file: str  # id
    scheduled_report: str  # id, "" for on-demand exports
    format: FileFormat
    start: datetime
    end: datetime
    size_bytes: int
    recipients: tuple[str, ...]
