"""Exporting the customers matching a filter to xlsx/csv files as jobs.

The job walks the matching customers inside the starter's data scope in
keyset pages, writes them into a temporary file (never the whole list in
memory), then stores the file in 1 MiB chunks, each in its own unit of
work, and records where it is and until when it is kept.

A restarted export begins again (its temporary file died with the worker)
and stores its file under a new role, so chunks of an interrupted attempt
are never mixed into it; its progress counts only rows beyond what the
interrupted attempt had already reported.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import IO, Any, Protocol

from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Node
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
from customers.app.job_ports import JobContext
from customers.app.jobs import FILE_CHUNK_BYTES, JobService, scope_of, visibility_of
from customers.app.ports import UnitOfWork
from customers.domain.bulk import node_from_json, node_to_json
from customers.domain.imports import CUSTOM_FIELD_PREFIX, IDENTITY_FIELDS, FileFormat
from customers.domain.jobs import Job, JobKind, JobState, job_name
from customers.domain.model import Customer, CustomFieldDefinition, Money

PAGE_SIZE = 1000
KEEP_FILES = timedelta(days=7)
# GetExportFile answers with the whole file in one message: keep it below
# the gRPC message limit of the services (crosstalk_common.grpc.server).
MAX_FILE_BYTES = 15 * 1024 * 1024
EXPORT_FILE = "crosstalk.io/ExportFile"
CONTENT_TYPES = {
    FileFormat.CSV: "text/csv",
    FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# Every column an export may have (custom fields as "custom_fields.<key>"),
# named like the import's fields so an exported file imports again.
COLUMNS = (
    "name",
    "display_name",
    "emails",
    "phones",
    "country",
    "language",
    "time_zone",
    *IDENTITY_FIELDS,
    "store",
    "tags",
    "lifecycle_stage",
    "tier",
    "score",
    "points_balance",
    "order_count",
    "order_value",
    "order_currency",
    "last_order_time",
    "owner",
    "department",
    "blacklisted",
    "blacklist_reason",
    "create_time",
    "update_time",
    "last_active_time",
)
DEFAULT_COLUMNS = (
    "display_name",
    "emails",
    "phones",
    "country",
    "language",
    "tags",
    "lifecycle_stage",
    "tier",
    "score",
    "points_balance",
    "order_count",
    "order_value",
    "order_currency",
    "owner",
    "create_time",
)
_LIST_SEPARATOR = ", "


class SheetWriting(Protocol):
    def append(self, values: Sequence[object]) -> None: ...

    def close(self) -> None:
        """Finish the file (the binary file it writes into stays open)."""
        ...


class SheetWriter(Protocol):
    def open(
        self, file: IO[bytes], file_format: FileFormat, header: Sequence[str]
    ) -> SheetWriting: ...


def check_columns(
    columns: Sequence[str], definitions: Mapping[str, CustomFieldDefinition]
) -> tuple[str, ...]:
    """The columns asked for (the default set when none), each known and named once."""
    if not columns:
        return DEFAULT_COLUMNS
    problems: list[FieldViolation] = []
    seen: set[str] = set()
    for i, column in enumerate(columns):
        key = column.removeprefix(CUSTOM_FIELD_PREFIX)
        if column.startswith(CUSTOM_FIELD_PREFIX):
            if key not in definitions:
                problems.append(
                    FieldViolation(f"columns[{i}]", f"the tenant has no custom field {key!r}")
                )
        elif column not in COLUMNS:
            problems.append(
                FieldViolation(
                    f"columns[{i}]",
                    f"{column!r} is not a customer column: use "
                    + ", ".join(COLUMNS)
                    + " or custom_fields.<key>",
                )
            )
        if column in seen:
            problems.append(FieldViolation(f"columns[{i}]", f"{column!r} is listed twice"))
        seen.add(column)
    if problems:
        raise InvalidArgument(problems)
    return tuple(columns)


def _listed(values: Sequence[str]) -> str:
    return _LIST_SEPARATOR.join(values)


def _amount(money: Money | None) -> Decimal | None:
    if money is None or not money.currency:
        return None
    amount = Decimal(money.total_nanos).scaleb(-9)
    return amount.quantize(Decimal(1)) if amount == amount.to_integral() else amount.normalize()


@dataclass(frozen=True)
class Labels:
    """Display names of the tenant's tags and tiers (by id)."""

    tags: Mapping[str, str]
    tiers: Mapping[str, str]


Cell = Callable[[Customer, Labels], object]


def _reference(prefix: str, value: str) -> str:
    return f"{prefix}{value}" if value else ""


def _identities_of(channel: Channel) -> Cell:
    return lambda c, _: _listed([i.external_id for i in c.identities if i.channel is channel])


def _custom_field(key: str) -> Cell:
    def value(customer: Customer, _: Labels) -> object:
        found = customer.custom_fields.get(key)
        return _listed([str(v) for v in found]) if isinstance(found, list) else found

    return value


def _plain(name: str) -> Cell:
    return lambda c, _: getattr(c, name)


_CELLS: dict[str, Cell] = {
    "name": lambda c, _: f"customers/{c.id}",
    "emails": lambda c, _: _listed(c.emails),
    "phones": lambda c, _: _listed(c.phones),
    "store": lambda c, _: _listed(sorted({i.store for i in c.identities if i.store})),
    "tags": lambda c, labels: _listed(sorted(labels.tags.get(t, f"tags/{t}") for t in c.tags)),
    "lifecycle_stage": lambda c, _: c.lifecycle_stage.value if c.lifecycle_stage else "",
    "tier": lambda c, labels: labels.tiers.get(c.tier_id, _reference("tiers/", c.tier_id)),
    "order_count": lambda c, _: c.order_totals.order_count,
    "order_value": lambda c, _: _amount(c.order_totals.order_value),
    "order_currency": lambda c, _: (
        c.order_totals.order_value.currency if c.order_totals.order_value else ""
    ),
    "last_order_time": lambda c, _: c.order_totals.last_order_time,
    "owner": lambda c, _: _reference("members/", c.owner_member_id),
    "department": lambda c, _: _reference("departments/", c.department_id),
    "create_time": lambda c, _: c.created_at,
    "update_time": lambda c, _: c.updated_at,
    "last_active_time": lambda c, _: c.last_active_at,
    **{name: _identities_of(channel) for name, channel in IDENTITY_FIELDS.items()},
}


def row_maker(columns: Sequence[str]) -> Callable[[Customer, Labels], list[object]]:
    """The cells of one customer for these (checked) columns."""
    cells = [
        _custom_field(column.removeprefix(CUSTOM_FIELD_PREFIX))
        if column.startswith(CUSTOM_FIELD_PREFIX)
        else _CELLS.get(column) or _plain(column)
        for column in columns
    ]
    return lambda customer, labels: [cell(customer, labels) for cell in cells]


# --- the job's spec and result --------------------------------------------------------


@dataclass(frozen=True)
class ExportSpec:
    file_format: FileFormat
    columns: tuple[str, ...]
    condition: Node | None = None

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"format": self.file_format.value, "columns": list(self.columns)}
        if self.condition is not None:
            spec["condition"] = node_to_json(self.condition)
        return spec

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ExportSpec:
        condition = data.get("condition")
        return ExportSpec(
            file_format=FileFormat(data["format"]),
            columns=tuple(data["columns"]),
            condition=None if condition is None else node_from_json(condition),
        )


@dataclass(frozen=True)
class ExportedFile:
    filename: str
    content_type: str
    content: bytes
    expire_time: datetime


# --- starting exports and reading their files -------------------------------------


@dataclass(frozen=True)
class ExportService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    jobs: JobService

    async def start(
        self,
        *,
        tenant_id: str,
        visibility: Visibility,
        member_id: str,
        condition: Node | None,
        columns: Sequence[str],
        file_format: FileFormat | None,
        request_id: str = "",
    ) -> Job:
        if file_format is None:
            raise InvalidArgument(
                [FieldViolation("format", "required: FILE_FORMAT_CSV or FILE_FORMAT_XLSX")]
            )
        async with self.new_uow() as uow:
            chosen = check_columns(columns, await uow.fields.by_key(tenant_id))
            count = await uow.customers.count(tenant_id, visibility, condition)
        who = f"{count:,} customer" + ("" if count == 1 else "s")
        return await self.jobs.start(
            tenant_id=tenant_id,
            scope=scope_of(visibility),
            creator_member_id=member_id,
            kind=JobKind.EXPORT,
            description=f"Export {who} to a {file_format.value} file",
            spec=ExportSpec(file_format, chosen, condition).to_json(),
            request_id=request_id,
        )

    async def file(self, tenant_id: str, visibility: Visibility, job_id: str) -> ExportedFile:
        name = f"{job_name(job_id)}/exportFile"
        try:
            job = await self.jobs.get(tenant_id, visibility, job_id)
        except NotFound:
            raise NotFound(EXPORT_FILE, name) from None
        if job.kind is not JobKind.EXPORT:
            raise NotFound(EXPORT_FILE, name)
        result = job.result
        if job.state is not JobState.SUCCEEDED or "role" not in result:
            raise FailedPrecondition(
                [PreconditionViolation("EXPORT_NOT_FINISHED", job_name(job_id), _not_ready(job))]
            )
        expire_time = datetime.fromisoformat(result["expire_time"])
        if expire_time <= utc_now():
            raise FailedPrecondition(
                [
                    PreconditionViolation(
                        "EXPORT_FILE_EXPIRED",
                        name,
                        f"the file was kept until {expire_time:%Y-%m-%d %H:%M} UTC; export again",
                    )
                ]
            )
        if int(result["size"]) > MAX_FILE_BYTES:
            raise FailedPrecondition(
                [
                    PreconditionViolation(
                        "EXPORT_FILE_TOO_LARGE",
                        name,
                        f"the file has {int(result['size']):,} bytes, more than one answer "
                        f"carries ({MAX_FILE_BYTES:,}); export fewer customers or columns",
                    )
                ]
            )
        parts: list[bytes] = []
        async with self.new_uow() as uow:
            async for chunk in uow.jobs.read_file(tenant_id, job_id, str(result["role"])):
                parts.append(chunk)
        return ExportedFile(
            filename=str(result["filename"]),
            content_type=str(result["content_type"]),
            content=b"".join(parts),
            expire_time=expire_time,
        )


def _not_ready(job: Job) -> str:
    if job.state in (JobState.PENDING, JobState.RUNNING):
        return f"the export is {job.state.value}; ask again once it has succeeded"
    reason = f": {job.error_message}" if job.error_message else ""
    return f"the export ended {job.state.value}{reason}"


# --- the job ----------------------------------------------------------------------


class ExportHandler:
    """Runs EXPORT jobs (JobHandler)."""

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        sheets: SheetWriter,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.new_uow = new_uow
        self.sheets = sheets
        self.page_size = page_size

    async def run(self, ctx: JobContext) -> None:
        job = ctx.job
        spec = ExportSpec.from_json(job.spec)
        attempt = int(job.cursor.get("attempt", 0)) + 1
        with tempfile.TemporaryFile() as out:
            writer = self.sheets.open(out, spec.file_format, spec.columns)
            try:
                await self._write_rows(ctx, spec, writer)
            finally:
                await asyncio.to_thread(writer.close)
            size = out.tell()
            out.seek(0)
            role = "output" if attempt == 1 else f"output.{attempt}"
            # Saved before the first chunk: a restart stores its file under the next role.
            await ctx.report(processed=0, succeeded=0, cursor={"attempt": attempt})
            for seq, data in enumerate(iter(lambda: out.read(FILE_CHUNK_BYTES), b"")):
                async with self.new_uow() as uow:
                    await uow.jobs.append_file_chunk(job.tenant_id, job.id, role, seq, data)
                    await uow.commit()
        now = utc_now()
        await ctx.set_result(
            {
                "role": role,
                "filename": f"customers-{now:%Y-%m-%d}.{spec.file_format.value}",
                "content_type": CONTENT_TYPES[spec.file_format],
                "size": size,
                "expire_time": (now + KEEP_FILES).isoformat(),
            }
        )

    async def _write_rows(self, ctx: JobContext, spec: ExportSpec, writer: SheetWriting) -> None:
        job = ctx.job
        visibility = visibility_of(job.scope)
        # What an interrupted attempt reported already is not counted again.
        reported = job.processed_count
        written = 0
        after: list[str] = []
        tag_labels: dict[str, str] = {}
        async with self.new_uow() as uow:
            total = await uow.customers.count(job.tenant_id, visibility, spec.condition)
            tier_labels = {t.id: t.display_name for t in await uow.scoring.tiers(job.tenant_id)}
        await ctx.set_total(total)
        make_row = row_maker(spec.columns)
        while True:
            async with self.new_uow() as uow:
                page = await uow.customers.page(
                    job.tenant_id,
                    visibility,
                    condition=spec.condition,
                    after=after,
                    limit=self.page_size,
                )
                await _learn_tags(uow, job.tenant_id, page, tag_labels)
            if not page:
                break
            labels = Labels(tag_labels, tier_labels)
            rows = [make_row(c, labels) for c in page]
            await asyncio.to_thread(_append_all, writer, rows)
            written += len(page)
            new = max(0, written - max(reported, written - len(page)))
            await ctx.report(processed=new, succeeded=new)
            last = page[-1]
            assert last.created_at is not None
            after = [last.created_at.isoformat(), last.id]
            if len(page) < self.page_size:
                break
        # Customers added or removed meanwhile: the total is what was written.
        await ctx.set_total(written)


def _append_all(writer: SheetWriting, rows: list[list[object]]) -> None:
    for row in rows:
        writer.append(row)


async def _learn_tags(
    uow: UnitOfWork, tenant_id: str, page: list[Customer], labels: dict[str, str]
) -> None:
    unknown = {t for c in page for t in c.tags} - labels.keys()
    if unknown:
        found = await uow.tags.tags(tenant_id, unknown)
        labels.update({tag_id: tag.display_name for tag_id, tag in found.items()})
