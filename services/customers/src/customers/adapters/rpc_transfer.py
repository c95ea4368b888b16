"""CustomersService RPCs of one area, mixed into CustomersServicer: protos to use cases.

Imports and exports of customer files (csv, xlsx), both run as jobs.
"""

from __future__ import annotations

from typing import Any

from crosstalk.common.v1 import tabular_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import jobs_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import optional_resource_id, resource_ids, resource_ids_of
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from customers.adapters.filtering import parse_customer_filter
from customers.adapters.job_mapping import job_to_pb
from customers.adapters.mapping import actor_of, customer_to_pb
from customers.app.exports import ExportService
from customers.app.imports import ImportRequest, ImportService, ImportSummary
from customers.app.search import CustomerSearch
from customers.domain.imports import FileFormat, MatchPolicy
from customers.domain.model import Customer

Context = Any  # grpc.aio.ServicerContext

_FORMATS = {
    tabular_pb2.FILE_FORMAT_CSV: FileFormat.CSV,
    tabular_pb2.FILE_FORMAT_XLSX: FileFormat.XLSX,
}
_POLICIES = {
    pb.IMPORT_MATCH_POLICY_UNSPECIFIED: MatchPolicy.SKIP,
    pb.IMPORT_MATCH_POLICY_SKIP: MatchPolicy.SKIP,
    pb.IMPORT_MATCH_POLICY_UPDATE: MatchPolicy.UPDATE,
}


def file_format_from_pb(value: int) -> FileFormat | None:
    """None when unset (the use case says it is required)."""
    if value == tabular_pb2.FILE_FORMAT_UNSPECIFIED:
        return None
    if value not in _FORMATS:
        raise InvalidArgument.field("format", "must be FILE_FORMAT_CSV or FILE_FORMAT_XLSX")
    return _FORMATS[value]  # type: ignore[index]


def _policy_from_pb(value: int) -> MatchPolicy:
    if value not in _POLICIES:
        raise InvalidArgument.field(
            "match_policy", "must be IMPORT_MATCH_POLICY_SKIP or IMPORT_MATCH_POLICY_UPDATE"
        )
    return _POLICIES[value]  # type: ignore[index]


def _job_of(name: str, singleton: str) -> str:
    """The job id of "jobs/{job}/<singleton>"."""
    (job_id,) = resource_ids_of(name, f"jobs/{{job}}/{singleton}")
    return job_id


def _preview_customer(customer: Customer) -> Any:
    message = customer_to_pb(customer)
    if not customer.id:
        # A customer the import would create: no name, times or etag yet.
        for name in ("name", "create_time", "update_time", "etag"):
            message.ClearField(name)
    return message


def import_preview_to_pb(job_id: str, summary: ImportSummary) -> jobs_pb2.ImportPreview:
    return jobs_pb2.ImportPreview(
        name=f"jobs/{job_id}/importPreview",
        rows=[
            jobs_pb2.ImportRow(
                row=r.row,
                customer=_preview_customer(r.customer),
                existing_customer=r.existing_customer,
            )
            for r in summary.rows
        ],
        row_errors=[
            tabular_pb2.RowError(row=e.row, column=e.column, message=e.message, value=e.value)
            for e in summary.row_errors
        ],
        total_rows=summary.total_rows,
        valid_rows=summary.valid_rows,
        new_customers=summary.new_customers,
        existing_customers=summary.existing_customers,
    )


class TransferRpcs:
    _tokens: PageTokenCodec
    _search: CustomerSearch
    _imports: ImportService
    _exports: ExportService

    async def StartImport(self, request: pb.StartImportRequest, context: Context) -> jobs_pb2.Job:
        caller = require_caller(context)
        job = await self._imports.start(
            ImportRequest(
                tenant_id=caller.tenant_id,
                visibility=caller.visibility,
                member_id=caller.member_id,
                department_id=caller.department_id,
                actor=actor_of(caller),
                content=request.content,
                file_format=file_format_from_pb(request.format),
                mappings=tuple((m.column, m.field) for m in request.column_mappings),
                preview_only=request.preview_only,
                policy=_policy_from_pb(request.match_policy),
                tag_ids=resource_ids(request.tags, "tags", field="tags"),
                owner_member_id=optional_resource_id(request.owner, "members", field="owner"),
                request_id=request.request_id,
            )
        )
        return job_to_pb(job)

    async def GetImportPreview(
        self, request: pb.GetImportPreviewRequest, context: Context
    ) -> jobs_pb2.ImportPreview:
        caller = require_caller(context)
        job_id = _job_of(request.name, "importPreview")
        job, summary = await self._imports.summary(caller.tenant_id, caller.visibility, job_id)
        return import_preview_to_pb(job.id, summary)

    async def StartExport(self, request: pb.StartExportRequest, context: Context) -> jobs_pb2.Job:
        caller = require_caller(context)
        file_format = file_format_from_pb(request.format)
        condition = (
            await parse_customer_filter(self._search, caller.tenant_id, request.condition)
            if request.HasField("condition")
            else None
        )
        job = await self._exports.start(
            tenant_id=caller.tenant_id,
            visibility=caller.visibility,
            member_id=caller.member_id,
            condition=condition,
            columns=list(request.columns),
            file_format=file_format,
            request_id=request.request_id,
        )
        return job_to_pb(job)

    async def GetExportFile(
        self, request: pb.GetExportFileRequest, context: Context
    ) -> jobs_pb2.ExportFile:
        caller = require_caller(context)
        job_id = _job_of(request.name, "exportFile")
        exported = await self._exports.file(caller.tenant_id, caller.visibility, job_id)
        return jobs_pb2.ExportFile(
            name=request.name,
            filename=exported.filename,
            content_type=exported.content_type,
            content=exported.content,
            expire_time=to_timestamp(exported.expire_time),
        )
