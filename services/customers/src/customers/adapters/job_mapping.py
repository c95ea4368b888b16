"""Proto <-> domain conversion for jobs (shared by the bulk, import and export RPCs)."""

from __future__ import annotations

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import jobs_pb2
from crosstalk_common.api.resource_names import optional_resource_id, resource_ids
from crosstalk_common.api.timestamps import timestamp_or_none
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import Caller
from customers.app.jobs import scope_of
from customers.domain.bulk import BulkAction, BulkOperation
from customers.domain.jobs import Job, JobError, JobKind, JobScope, JobState, job_name

_KINDS = {
    JobKind.BULK_OPERATION: jobs_pb2.JOB_KIND_BULK_OPERATION,
    JobKind.IMPORT: jobs_pb2.JOB_KIND_IMPORT,
    JobKind.EXPORT: jobs_pb2.JOB_KIND_EXPORT,
}
_STATES = {
    JobState.PENDING: jobs_pb2.JOB_STATE_PENDING,
    JobState.RUNNING: jobs_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: jobs_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: jobs_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: jobs_pb2.JOB_STATE_CANCELLED,
}
_KIND_OF = {v: k for k, v in _KINDS.items()}
_STATE_OF = {v: k for k, v in _STATES.items()}


def caller_scope(caller: Caller) -> JobScope:
    """The data scope a job started by this caller acts in."""
    return scope_of(caller.visibility)


def job_kind_from_pb(value: int, *, field: str) -> JobKind | None:
    """None for JOB_KIND_UNSPECIFIED (no filter)."""
    if value == jobs_pb2.JOB_KIND_UNSPECIFIED:
        return None
    if value not in _KIND_OF:
        raise InvalidArgument([FieldViolation(field, f"unknown job kind {value}")])
    return _KIND_OF[value]  # type: ignore[index]


def job_state_from_pb(value: int, *, field: str) -> JobState | None:
    """None for JOB_STATE_UNSPECIFIED (no filter)."""
    if value == jobs_pb2.JOB_STATE_UNSPECIFIED:
        return None
    if value not in _STATE_OF:
        raise InvalidArgument([FieldViolation(field, f"unknown job state {value}")])
    return _STATE_OF[value]  # type: ignore[index]


def job_error_to_pb(error: JobError) -> jobs_pb2.JobError:
    return jobs_pb2.JobError(
        customer=f"customers/{error.customer_id}" if error.customer_id else "",
        row=error.row,
        column=error.column,
        message=error.message,
    )


def job_to_pb(job: Job) -> jobs_pb2.Job:
    message = jobs_pb2.Job(
        name=job_name(job.id),
        kind=_KINDS[job.kind],
        state=_STATES[job.state],
        description=job.description,
        total_count=job.total_count,
        processed_count=job.processed_count,
        succeeded_count=job.succeeded_count,
        failed_count=job.failed_count,
        errors=[job_error_to_pb(e) for e in job.errors],
        error_message=job.error_message,
        creator=f"members/{job.creator_member_id}" if job.creator_member_id else "",
        request_id=job.request_id,
        preview_only=job.preview_only,
        create_time=timestamp_or_none(job.created_at),
        start_time=timestamp_or_none(job.started_at),
        end_time=timestamp_or_none(job.ended_at),
    )
    if job.kind is JobKind.EXPORT and job.state is JobState.SUCCEEDED:
        message.export_file = f"{job_name(job.id)}/exportFile"
    return message


# --- StartBulkOperation -------------------------------------------------------


def bulk_operation_from_pb(request: pb.StartBulkOperationRequest) -> BulkOperation:
    """The operation of the request; every malformed name is reported at once."""
    which = request.WhichOneof("operation")
    if which is None:
        raise InvalidArgument(
            [
                FieldViolation(
                    "operation",
                    "choose one of add_tags, remove_tags, adjust_score, assign_owner, blacklist",
                )
            ]
        )
    action = BulkAction(which)
    if which in ("add_tags", "remove_tags"):
        body = request.add_tags if which == "add_tags" else request.remove_tags
        return BulkOperation(action, tag_ids=resource_ids(body.tags, "tags", field=f"{which}.tags"))
    if which == "adjust_score":
        return BulkOperation(
            action, delta=request.adjust_score.delta, reason=request.adjust_score.reason
        )
    if which == "assign_owner":
        body_owner = request.assign_owner
        return BulkOperation(
            action,
            owner_member_id=optional_resource_id(
                body_owner.owner, "members", field="assign_owner.owner"
            ),
            department_id=optional_resource_id(
                body_owner.department, "departments", field="assign_owner.department"
            ),
        )
    return BulkOperation(action, reason=request.blacklist.reason)


def bulk_customer_ids(request: pb.StartBulkOperationRequest) -> tuple[str, ...]:
    return resource_ids(request.customers, "customers", field="customers", most_violations=20)
