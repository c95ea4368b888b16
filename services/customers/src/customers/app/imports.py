"""Importing customers from xlsx/csv files as jobs: what StartImport checks
(size, format, tags, the header row and the column mappings) before it starts
an IMPORT job with the file as its input, and what the job tells afterwards
(GetImportPreview). The job itself is app/import_job.py.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.jobs import JobService, scope_of
from customers.app.ports import UnitOfWork
from customers.app.tags import tag_name
from customers.domain.events import CustomerEvent
from customers.domain.imports import (
    MAX_FILE_BYTES,
    FileFormat,
    MatchPolicy,
    RowError,
    check_mappings,
    plan_columns,
)
from customers.domain.jobs import Job, JobKind, JobState, job_name
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    TimelineEntry,
    displaced_by_exclusive,
)

PREVIEW_ROWS = 50
MAX_PREVIEW_ERRORS = 1000
IMPORT_PREVIEW = "crosstalk.io/ImportPreview"


# --- ports ------------------------------------------------------------------------


class SheetRows(Protocol):
    """An opened import file: its header and its non-empty data rows, numbered."""

    @property
    def header(self) -> list[str]: ...

    @property
    def size_hint(self) -> int:
        """Data rows the file says it has (0 when it does not say)."""
        ...

    def rows(self) -> Iterator[tuple[int, list[object]]]: ...

    def close(self) -> None: ...


class SheetReader(Protocol):
    def open(self, file: IO[bytes], file_format: FileFormat) -> SheetRows:
        """Raises InvalidArgument (field "content") for a file it cannot read."""
        ...


@dataclass(frozen=True)
class Match:
    customer_id: str
    # Inside the data scope of the member who started the import.
    visible: bool


class ImportStore(Protocol):
    """Set-based reads and writes of an import; see adapters/import_store.py."""

    async def identity_matches(
        self, tenant_id: str, visibility: Visibility, identities: Sequence[ChannelIdentity]
    ) -> dict[tuple[str, str], Match]:
        """("identity", identity_key) -> the customer that has the identity."""
        ...

    async def contact_matches(
        self, tenant_id: str, visibility: Visibility, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Match]:
        """("email" | "phone", normalized value) -> the oldest customer that has it."""
        ...

    async def existing_ids(self, tenant_id: str, customer_ids: Sequence[str]) -> set[str]: ...

    async def add_customers(self, customers: Sequence[Customer]) -> None:
        """New customers with their identities and tags, all or none (IdentityTaken)."""
        ...

    async def add_timeline(self, entries: Sequence[TimelineEntry]) -> None: ...

    async def add_events(self, tenant_id: str, events: Sequence[tuple[str, CustomerEvent]]) -> None:
        """Events (event id, payload) to the outbox, in the store's transaction."""
        ...

    async def refresh_statistics(self) -> None:
        """Tell the database's planner that the customer tables grew (after an
        import), so that the next reads of them are planned for their size."""
        ...


ImportStoreOf = Callable[[UnitOfWork], ImportStore]


# --- the job's spec ---------------------------------------------------------------


@dataclass(frozen=True)
class ImportSpec:
    file_format: FileFormat
    mappings: tuple[tuple[str, str], ...] = ()
    policy: MatchPolicy = MatchPolicy.SKIP
    tag_ids: tuple[str, ...] = ()
    # Owner and department of the customers the import creates.
    owner_member_id: str = ""
    department_id: str = ""
    actor: str = "system"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.file_format.value,
            "mappings": [list(m) for m in self.mappings],
            "policy": self.policy.value,
            "tags": list(self.tag_ids),
            "owner": self.owner_member_id,
            "department": self.department_id,
            "actor": self.actor,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ImportSpec:
        return ImportSpec(
            file_format=FileFormat(data["format"]),
            mappings=tuple((str(c), str(f)) for c, f in data.get("mappings", ())),
            policy=MatchPolicy(data.get("policy", MatchPolicy.SKIP.value)),
            tag_ids=tuple(data.get("tags", ())),
            owner_member_id=str(data.get("owner", "")),
            department_id=str(data.get("department", "")),
            actor=str(data.get("actor", "system")),
        )


@dataclass(frozen=True)
class ImportRequest:
    tenant_id: str
    visibility: Visibility
    member_id: str
    department_id: str
    actor: str
    content: bytes
    file_format: FileFormat | None
    mappings: tuple[tuple[str, str], ...] = ()
    preview_only: bool = False
    policy: MatchPolicy = MatchPolicy.SKIP
    tag_ids: tuple[str, ...] = ()
    owner_member_id: str = ""
    request_id: str = ""


# --- what a finished import tells -------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    row: int
    customer: Customer
    existing_customer: str = ""


@dataclass
class ImportSummary:
    """Counts, sample rows and row errors; a job's result (and its cursor while it runs)."""

    total_rows: int = 0
    valid_rows: int = 0
    new_customers: int = 0
    existing_customers: int = 0
    # What a committed import did with the existing ones.
    updated: int = 0
    skipped: int = 0
    rows: list[PreviewRow] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)

    def add_errors(self, errors: Sequence[RowError]) -> None:
        room = MAX_PREVIEW_ERRORS - len(self.row_errors)
        self.row_errors.extend(errors[: max(room, 0)])

    def to_json(self) -> dict[str, Any]:
        return {
            "total_rows": self.total_rows,
            "valid_rows": self.valid_rows,
            "new_customers": self.new_customers,
            "existing_customers": self.existing_customers,
            "updated": self.updated,
            "skipped": self.skipped,
            "rows": [
                {
                    "row": r.row,
                    "customer": customer_to_json(r.customer),
                    "existing_customer": r.existing_customer,
                }
                for r in self.rows
            ],
            "row_errors": [
                {"row": e.row, "column": e.column, "message": e.message, "value": e.value}
                for e in self.row_errors
            ],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ImportSummary:
        return ImportSummary(
            total_rows=int(data.get("total_rows", 0)),
            valid_rows=int(data.get("valid_rows", 0)),
            new_customers=int(data.get("new_customers", 0)),
            existing_customers=int(data.get("existing_customers", 0)),
            updated=int(data.get("updated", 0)),
            skipped=int(data.get("skipped", 0)),
            rows=[
                PreviewRow(
                    int(r["row"]),
                    customer_from_json(r["customer"]),
                    str(r.get("existing_customer", "")),
                )
                for r in data.get("rows", ())
            ],
            row_errors=[
                RowError(int(e["row"]), str(e["column"]), str(e["message"]), str(e["value"]))
                for e in data.get("row_errors", ())
            ],
        )


def customer_to_json(customer: Customer) -> dict[str, Any]:
    """The fields of a customer an import writes, as JSON values."""
    return {
        "id": customer.id,
        "display_name": customer.display_name,
        "emails": list(customer.emails),
        "phones": list(customer.phones),
        "country": customer.country,
        "language": customer.language,
        "time_zone": customer.time_zone,
        "owner": customer.owner_member_id,
        "department": customer.department_id,
        "identities": [[i.channel.value, i.external_id, i.store] for i in customer.identities],
        "tags": sorted(customer.tags),
        "custom_fields": dict(customer.custom_fields),
    }


def customer_from_json(data: Mapping[str, Any]) -> Customer:
    return Customer(
        id=str(data.get("id", "")),
        tenant_id="",
        display_name=str(data.get("display_name", "")),
        emails=tuple(data.get("emails", ())),
        phones=tuple(data.get("phones", ())),
        country=str(data.get("country", "")),
        language=str(data.get("language", "")),
        time_zone=str(data.get("time_zone", "")),
        owner_member_id=str(data.get("owner", "")),
        department_id=str(data.get("department", "")),
        identities=tuple(
            ChannelIdentity(Channel(c), str(e), str(s)) for c, e, s in data.get("identities", ())
        ),
        tags=frozenset(data.get("tags", ())),
        custom_fields=dict(data.get("custom_fields", {})),
    )


# --- starting and reading imports -------------------------------------------------


@dataclass(frozen=True)
class ImportService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    jobs: JobService
    sheets: SheetReader

    async def start(self, request: ImportRequest) -> Job:
        """Checks what can be checked before the job runs: size, format, tags, header."""
        problems: list[FieldViolation] = []
        if not request.content:
            problems.append(FieldViolation("content", "the file is empty"))
        elif len(request.content) > MAX_FILE_BYTES:
            problems.append(
                FieldViolation("content", f"at most {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            )
        if request.file_format is None:
            problems.append(
                FieldViolation("format", "required: FILE_FORMAT_CSV or FILE_FORMAT_XLSX")
            )
        if problems:
            raise InvalidArgument(problems)
        assert request.file_format is not None
        tag_ids = tuple(dict.fromkeys(request.tag_ids))
        async with self.new_uow() as uow:
            definitions = await uow.fields.by_key(request.tenant_id)
            await _check_request_tags(uow, request.tenant_id, list(request.tag_ids))
        bad_mappings = check_mappings(request.mappings, definitions)
        if bad_mappings:
            raise InvalidArgument(bad_mappings)
        header = await asyncio.to_thread(self._header, request.content, request.file_format)
        plan_columns(header, request.mappings, definitions)
        spec = ImportSpec(
            file_format=request.file_format,
            mappings=request.mappings,
            policy=request.policy,
            tag_ids=tag_ids,
            owner_member_id=request.owner_member_id or request.member_id,
            department_id=request.department_id,
            actor=request.actor,
        )
        kind = request.file_format.value
        return await self.jobs.start(
            tenant_id=request.tenant_id,
            scope=scope_of(request.visibility),
            creator_member_id=request.member_id,
            kind=JobKind.IMPORT,
            description=(
                f"Preview an import of customers from a {kind} file"
                if request.preview_only
                else f"Import customers from a {kind} file"
            ),
            spec=spec.to_json(),
            request_id=request.request_id,
            preview_only=request.preview_only,
            input_file=request.content,
        )

    def _header(self, content: bytes, file_format: FileFormat) -> list[str]:
        sheet = self.sheets.open(io.BytesIO(content), file_format)
        try:
            return list(sheet.header)
        finally:
            sheet.close()

    async def summary(
        self, tenant_id: str, visibility: Visibility, job_id: str
    ) -> tuple[Job, ImportSummary]:
        """What a finished import job found (a preview) or did."""
        name = f"{job_name(job_id)}/importPreview"
        try:
            job = await self.jobs.get(tenant_id, visibility, job_id)
        except NotFound:
            raise NotFound(IMPORT_PREVIEW, name) from None
        if job.kind is not JobKind.IMPORT:
            raise NotFound(IMPORT_PREVIEW, name)
        if job.state is not JobState.SUCCEEDED:
            raise FailedPrecondition(
                [
                    PreconditionViolation(
                        "JOB_NOT_SUCCEEDED",
                        job_name(job_id),
                        _not_ready(job),
                    )
                ]
            )
        return job, ImportSummary.from_json(job.result)


def _not_ready(job: Job) -> str:
    if job.state in (JobState.PENDING, JobState.RUNNING):
        return f"the job is {job.state.value}; ask again once it has succeeded"
    reason = f": {job.error_message}" if job.error_message else ""
    return f"the job ended {job.state.value}{reason}"


async def _check_request_tags(uow: UnitOfWork, tenant_id: str, tag_ids: list[str]) -> None:
    known = await uow.tags.tags(tenant_id, set(tag_ids))
    missing = [
        FieldViolation(f"tags[{i}]", f"no tag {tag_name(t)!r}")
        for i, t in enumerate(tag_ids)
        if t not in known
    ]
    if missing:
        raise InvalidArgument(missing)
    adding = [known[t] for t in dict.fromkeys(tag_ids)]
    groups = await uow.tags.groups(tenant_id, {t.group_id for t in adding if t.group_id})
    displaced_by_exclusive(frozenset(), adding, groups, {}, field_name="tags")
