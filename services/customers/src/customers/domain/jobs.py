"""Jobs as the domain sees them: long bulk work on customers with its progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

MAX_JOB_ERRORS = 100


class JobKind(Enum):
    BULK_OPERATION = "bulk_operation"
    IMPORT = "import"
    EXPORT = "export"


class JobState(Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobError:
    """Why one item failed: a customer (bulk) or a row and column (import)."""

    message: str
    customer_id: str = ""
    row: int = 0
    column: str = ""


@dataclass(frozen=True)
class JobScope:
    """The data scope of the member who started a job; the job acts inside it."""

    data_scope: str  # crosstalk_common.permissions.DataScope value
    member_id: str
    department_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Job:
    id: str
    tenant_id: str
    kind: JobKind
    state: JobState
    description: str
    # What to do, as plain JSON values (the use case that started it decides).
    spec: dict[str, Any]
    scope: JobScope
    creator_member_id: str
    created_at: datetime
    updated_at: datetime
    request_id: str = ""
    preview_only: bool = False
    cancel_requested: bool = False
    # Where a resumed run carries on.
    cursor: dict[str, Any] = field(default_factory=dict)
    # What readers get afterwards (import preview, export file facts).
    result: dict[str, Any] = field(default_factory=dict)
    total_count: int = 0
    processed_count: int = 0
    succeeded_count: int = 0
    failed_count: int = 0
    errors: tuple[JobError, ...] = ()
    error_message: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def visible_to(self, member_id: str, *, sees_everything: bool) -> bool:
        """Whoever started a job sees it, and so does a member who sees all data."""
        return sees_everything or (bool(member_id) and member_id == self.creator_member_id)


def job_name(job_id: str) -> str:
    return f"jobs/{job_id}"
