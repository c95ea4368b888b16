"""CustomersService RPCs of one area, mixed into CustomersServicer: protos to use cases."""

from __future__ import annotations

from typing import Any

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import jobs_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.grpc.auth import require_caller
from customers.adapters.filtering import parse_customer_filter
from customers.adapters.job_mapping import (
    bulk_customer_ids,
    bulk_operation_from_pb,
    job_kind_from_pb,
    job_state_from_pb,
    job_to_pb,
)
from customers.app.bulk_operations import BulkOperations
from customers.app.jobs import JobService
from customers.app.search import CustomerSearch
from customers.domain.bulk import BulkTarget

Context = Any  # grpc.aio.ServicerContext


class JobRpcs:
    _tokens: PageTokenCodec
    _jobs: JobService
    _search: CustomerSearch

    async def StartBulkOperation(
        self, request: pb.StartBulkOperationRequest, context: Context
    ) -> jobs_pb2.Job:
        caller = require_caller(context)
        operation = bulk_operation_from_pb(request)
        ids = bulk_customer_ids(request)
        condition = (
            await parse_customer_filter(self._search, caller.tenant_id, request.condition)
            if request.HasField("condition")
            else None
        )
        job = await BulkOperations(self._jobs).start(
            tenant_id=caller.tenant_id,
            visibility=caller.visibility,
            creator_member_id=caller.member_id,
            operation=operation,
            target=BulkTarget(customer_ids=ids, condition=condition),
            request_id=request.request_id,
        )
        return job_to_pb(job)

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> jobs_pb2.Job:
        caller = require_caller(context)
        job = await self._jobs.get(
            caller.tenant_id, caller.visibility, resource_id(request.name, "jobs")
        )
        return job_to_pb(job)

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        caller = require_caller(context)
        kind = job_kind_from_pb(request.kind, field="kind")
        state = job_state_from_pb(request.state, field="state")
        window = self._tokens.window(
            request, caller.tenant_id, caller.subject, "jobs", request.kind, request.state
        )
        page = await self._jobs.page(
            caller.tenant_id,
            caller.visibility,
            kind=kind,
            state=state,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(page, lambda job: [job.created_at.isoformat(), job.id])
        return pb.ListJobsResponse(jobs=[job_to_pb(j) for j in page], next_page_token=token)

    async def CancelJob(self, request: pb.CancelJobRequest, context: Context) -> jobs_pb2.Job:
        caller = require_caller(context)
        job = await self._jobs.cancel(
            caller.tenant_id, caller.visibility, resource_id(request.name, "jobs")
        )
        return job_to_pb(job)
