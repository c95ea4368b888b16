"""Customer import (csv, xlsx) as jobs, through the servicer, against a real database:
preview, column mapping, row errors, upsert by identity/email, tags, resume."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from openpyxl import Workbook
from sqlalchemy import String, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.common.v1 import channel_pb2, tabular_pb2
from crosstalk.customers.v1 import custom_fields_pb2, jobs_pb2, resources_pb2, tags_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.envelope import new_envelope, read_event
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import FailedPrecondition, InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters import xlsx_stream
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.import_events import outbox_rows
from customers.adapters.import_store import import_store_of
from customers.adapters.spreadsheets import SpreadsheetReader
from customers.adapters.tables import customers, outbox, timeline
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.import_job import ImportHandler
from customers.app.imports import ImportStore
from customers.app.job_ports import JobContext
from customers.app.jobs import JobRunner
from customers.bootstrap import compose_servicer
from customers.domain.jobs import Job, JobError, JobKind
from customers.domain.model import TimelineEntry

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-import"


def caller(member: str = "admin", scope: DataScope = DataScope.ALL) -> auth.Caller:
    return auth.Caller(
        tenant_id=TENANT,
        subject=f"members/{member}",
        permissions=frozenset(),
        data_scope=scope,
        department_id="sales",
        visible_departments=frozenset({"sales"}),
        token="",
    )


class Crash(BaseException):
    """The worker dies (not an Exception, so no handler sees it)."""


class CrashOnReport:
    """A JobContext that dies at its nth report: the batch committed, its progress not."""

    def __init__(self, ctx: JobContext, crash_at: int) -> None:
        self._ctx = ctx
        self._reports = 0
        self._crash_at = crash_at

    @property
    def job(self) -> Job:
        return self._ctx.job

    async def set_total(self, total: int) -> None:
        await self._ctx.set_total(total)

    async def report(
        self,
        *,
        processed: int,
        succeeded: int,
        failed: int = 0,
        errors: Sequence[JobError] = (),
        cursor: dict[str, Any] | None = None,
    ) -> None:
        self._reports += 1
        if self._reports == self._crash_at:
            raise Crash
        await self._ctx.report(
            processed=processed, succeeded=succeeded, failed=failed, errors=errors, cursor=cursor
        )

    async def set_result(self, result: dict[str, Any]) -> None:
        await self._ctx.set_result(result)


class World:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = session_factory(engine)

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(self.sessions, outbox)

        self.new_uow = new_uow
        self.servicer: CustomersServicer = compose_servicer(new_uow, PageTokenCodec(b"secret"))
        self.as_caller(caller())

    def as_caller(self, who: auth.Caller) -> None:
        auth._current.set(who)

    def handler(self, batch_rows: int = 2) -> ImportHandler:
        return ImportHandler(
            self.new_uow, SpreadsheetReader(), import_store_of, batch_rows=batch_rows
        )

    def runner(self, *, batch_rows: int = 2, later: timedelta = timedelta(0)) -> JobRunner:
        return JobRunner(
            self.new_uow,
            {JobKind.IMPORT: self.handler(batch_rows)},
            clock=lambda: utc_now() + later,
        )

    async def start(self, content: bytes, **fields: Any) -> jobs_pb2.Job:
        fields.setdefault("format", tabular_pb2.FILE_FORMAT_CSV)
        return await self.servicer.StartImport(
            pb.StartImportRequest(content=content, **fields), None
        )

    async def run(
        self, content: bytes, **fields: Any
    ) -> tuple[jobs_pb2.Job, jobs_pb2.ImportPreview]:
        job = await self.start(content, **fields)
        assert await self.runner().run_until_idle() == 1
        done = await self.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
        preview = await self.servicer.GetImportPreview(
            pb.GetImportPreviewRequest(name=f"{job.name}/importPreview"), None
        )
        return done, preview

    async def count(self, table: Any = customers) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)

    async def events(self, event_type: str) -> int:
        async with self.sessions() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.subject.endswith("." + event_type))
            )
        return int(found or 0)

    async def all_customers(self) -> list[resources_pb2.Customer]:
        listed = await self.servicer.ListCustomers(pb.ListCustomersRequest(page_size=100), None)
        return list(listed.customers)

    async def by_name(self) -> dict[str, resources_pb2.Customer]:
        return {c.display_name: c for c in await self.all_customers()}

    async def tag(self, name: str, group: str = "") -> str:
        created = await self.servicer.CreateTag(
            pb.CreateTagRequest(tag=tags_pb2.Tag(display_name=name, tag_group=group)), None
        )
        return created.name

    async def custom_field(
        self,
        key: str,
        kind: custom_fields_pb2.CustomFieldType.ValueType,
        options: Sequence[str] = (),
    ) -> None:
        await self.servicer.CreateCustomFieldDefinition(
            pb.CreateCustomFieldDefinitionRequest(
                custom_field_definition=custom_fields_pb2.CustomFieldDefinition(
                    key=key, display_name=key.title(), type=kind, options=list(options)
                )
            ),
            None,
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = service_database_urls(("customers",), tmp_path, "imports")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield World(engine)
    await engine.dispose()


def csv_file(rows: Sequence[Sequence[object]], delimiter: str = ",") -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter)
    for row in rows:
        writer.writerow(row)
    return text.getvalue().encode("utf-8")


def xlsx_file(rows: Sequence[Sequence[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


PEOPLE = [
    ["Name", "E-Mail", "Phone", "Country", "Language", "amazon_buyer_id", "Tags"],
    ["Anna Berg", "Anna@Example.com", "+49 151 1234", "de", "de", "A-1", "VIP"],
    ["Ben Ortiz", "ben@example.com; ben@work.example", "", "ES", "es", "", ""],
    ["", "carla@example.com", "", "", "", "", ""],
]


async def test_preview_writes_nothing_then_the_import_creates_everyone(world: World) -> None:
    vip = await world.tag("VIP")
    welcome = await world.tag("Imported")
    events_before = await world.count(outbox)

    done, preview = await world.run(csv_file(PEOPLE), preview_only=True, tags=[welcome])
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert done.preview_only
    assert await world.count() == 0
    assert await world.count(outbox) == events_before
    assert (preview.total_rows, preview.valid_rows) == (3, 3)
    assert (preview.new_customers, preview.existing_customers) == (3, 0)
    assert list(preview.row_errors) == []
    assert [r.row for r in preview.rows] == [2, 3, 4]
    anna = preview.rows[0].customer
    assert (anna.display_name, list(anna.emails), anna.country) == (
        "Anna Berg",
        ["anna@example.com"],
        "DE",
    )
    assert anna.name == ""
    assert sorted(anna.tags) == sorted([vip, welcome])
    assert [(i.channel, i.external_id) for i in anna.identities] == [
        (channel_pb2.CHANNEL_AMAZON, "A-1")
    ]
    assert list(preview.rows[1].customer.emails) == ["ben@example.com", "ben@work.example"]
    # Without a name column value, the email names the customer.
    assert preview.rows[2].customer.display_name == "carla@example.com"

    done, summary = await world.run(csv_file(PEOPLE), tags=[welcome])
    assert (done.processed_count, done.succeeded_count, done.failed_count) == (3, 3, 0)
    assert (summary.new_customers, summary.existing_customers) == (3, 0)
    people = await world.by_name()
    assert set(people) == {"Anna Berg", "Ben Ortiz", "carla@example.com"}
    anna = people["Anna Berg"]
    assert sorted(anna.tags) == sorted([vip, welcome])
    assert list(people["Ben Ortiz"].tags) == [welcome]
    assert (anna.owner, anna.department) == ("members/admin", "departments/sales")
    assert list(anna.phones) == ["+49 151 1234"]
    assert await world.events("customer.created") == 3
    assert await world.events("customer.tagged") == 3
    timeline_rows = await world.servicer.ListTimelineEvents(
        pb.ListTimelineEventsRequest(parent=anna.name), None
    )
    assert sorted(e.type for e in timeline_rows.timeline_events) == [
        "customer.created",
        "customer.tagged",
    ]


async def test_xlsx_with_column_mappings_custom_fields_and_row_errors(world: World) -> None:
    await world.custom_field(
        "plan", custom_fields_pb2.CUSTOM_FIELD_TYPE_SINGLE_SELECT, ["basic", "pro"]
    )
    await world.custom_field("seats", custom_fields_pb2.CUSTOM_FIELD_TYPE_NUMBER)
    rows: list[list[object]] = [
        ["Kunde", "Mail", "Land", "Plan", "Seats", "Notes"],
        ["Dora", "dora@example.com", "AT", "pro", 12, "ignored"],
        ["Emil", "not-an-email", "DE", "basic", 1, ""],
        ["Fritz", "fritz@example.com", "Germany", "gold", "many", ""],
        ["Gina", "gina@example.com", "IT", "", 3.5, ""],
    ]
    mappings = [
        tabular_pb2.ColumnMapping(column="Kunde", field="display_name"),
        tabular_pb2.ColumnMapping(column="Mail", field="emails"),
        tabular_pb2.ColumnMapping(column="Land", field="country"),
        tabular_pb2.ColumnMapping(column="Seats", field="custom_fields.seats"),
    ]
    done, summary = await world.run(
        xlsx_file(rows), format=tabular_pb2.FILE_FORMAT_XLSX, column_mappings=mappings
    )
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert (done.processed_count, done.succeeded_count, done.failed_count) == (4, 2, 2)
    errors = {(e.row, e.column, e.message) for e in summary.row_errors}
    assert (3, "Mail", "'not-an-email' is not an email") in errors
    by_column = {(e.row, e.column): e for e in summary.row_errors}
    assert set(by_column) == {(3, "Mail"), (4, "Land"), (4, "Plan"), (4, "Seats")}
    assert "ISO 3166" in by_column[4, "Land"].message
    assert by_column[4, "Land"].value == "GERMANY"
    assert "'gold' is not an option" in by_column[4, "Plan"].message
    assert by_column[4, "Seats"].message == "must be a number"
    # The job lists them too, each row's in column order.
    assert [(e.row, e.column) for e in done.errors] == [
        (3, "Mail"),
        (4, "Land"),
        (4, "Plan"),
        (4, "Seats"),
    ]
    people = await world.by_name()
    assert set(people) == {"Dora", "Gina"}
    dora = people["Dora"].custom_fields
    assert (dora["plan"].string_value, dora["seats"].number_value) == ("pro", 12)
    assert people["Gina"].custom_fields["seats"].number_value == 3.5
    assert "plan" not in people["Gina"].custom_fields


async def test_match_by_identity_or_email_skips_or_updates(world: World) -> None:
    first = [
        ["display_name", "emails", "amazon_buyer_id", "store", "language"],
        ["Hana", "hana@example.com", "AMZ-7", "EU Shop", "ja"],
        ["Ivo", "ivo@example.com", "", "", "hr"],
    ]
    await world.run(csv_file(first))
    before = await world.by_name()
    again = [
        ["display_name", "emails", "amazon_buyer_id", "store", "language"],
        # Same Amazon buyer in the same store, new email: matched by identity.
        ["Hana K.", "hana@new.example", "AMZ-7", "eu shop", "en"],
        # Matched by email (case does not matter).
        ["Ivo P.", "IVO@example.com", "", "", ""],
        ["Jan", "jan@example.com", "", "", "cs"],
    ]
    _, skipped = await world.run(csv_file(again), match_policy=pb.IMPORT_MATCH_POLICY_SKIP)
    assert (skipped.new_customers, skipped.existing_customers) == (1, 2)
    after_skip = await world.by_name()
    assert set(after_skip) == {"Hana", "Ivo", "Jan"}
    assert after_skip["Hana"].etag == before["Hana"].etag

    again[3][1] = "jan@example.com"
    _, updated = await world.run(csv_file(again), match_policy=pb.IMPORT_MATCH_POLICY_UPDATE)
    assert (updated.new_customers, updated.existing_customers) == (0, 3)
    people = await world.by_name()
    assert set(people) == {"Hana K.", "Ivo P.", "Jan"}
    hana = people["Hana K."]
    assert hana.name == before["Hana"].name
    assert (list(hana.emails), hana.language) == (["hana@new.example"], "en")
    assert [(i.external_id, i.store) for i in hana.identities] == [("AMZ-7", "eu shop")]
    # Empty cells change nothing.
    assert people["Ivo P."].language == "hr"
    assert await world.events("customer.updated") == 2
    assert await world.count() == 3


async def test_rows_repeating_a_customer_in_one_file_create_it_once(world: World) -> None:
    rows = [
        ["name", "email", "country"],
        ["Kai", "kai@example.com", ""],
        ["Kai Again", "kai@example.com", "NO"],
        ["Lea", "lea@example.com", ""],
        ["Kai Third", "KAI@example.com", ""],
    ]
    _, preview = await world.run(csv_file(rows), preview_only=True)
    assert (preview.new_customers, preview.existing_customers) == (2, 2)
    _, summary = await world.run(csv_file(rows), match_policy=pb.IMPORT_MATCH_POLICY_UPDATE)
    assert (summary.new_customers, summary.existing_customers) == (2, 2)
    people = await world.by_name()
    assert set(people) == {"Kai Third", "Lea"}
    assert people["Kai Third"].country == "NO"
    assert await world.events("customer.created") == 2


async def test_a_killed_import_resumes_without_duplicates(world: World) -> None:
    rows = [["name", "country"]] + [[f"Person {i}", "DE"] for i in range(7)]
    job = await world.start(csv_file(rows))

    class Crashing:
        async def run(self, ctx: JobContext) -> None:
            await world.handler(batch_rows=3).run(CrashOnReport(ctx, 2))

    with pytest.raises(Crash):
        await JobRunner(world.new_uow, {JobKind.IMPORT: Crashing()}).run_once()
    # Two batches are written; only the first was reported.
    assert await world.count() == 6
    half = await world.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
    assert half.processed_count == 3
    assert await world.runner(batch_rows=3, later=timedelta(minutes=5)).run_until_idle() == 1
    done = await world.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert (done.total_count, done.processed_count, done.succeeded_count) == (7, 7, 7)
    names = [c.display_name for c in await world.all_customers()]
    assert sorted(names) == sorted(f"Person {i}" for i in range(7))
    assert await world.events("customer.created") == 7
    assert await world.count(timeline) == 7


async def test_bad_requests_name_the_field_and_start_nothing(world: World) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await world.start(
            csv_file(PEOPLE),
            column_mappings=[
                tabular_pb2.ColumnMapping(column="Name", field="display_name"),
                tabular_pb2.ColumnMapping(column="Phone", field="fax"),
                tabular_pb2.ColumnMapping(column="Country", field="custom_fields.nope"),
            ],
        )
    assert [v.field for v in bad.value.violations] == [
        "column_mappings[1].field",
        "column_mappings[2].field",
    ]
    with pytest.raises(InvalidArgument) as bad:
        await world.start(
            csv_file(PEOPLE),
            column_mappings=[tabular_pb2.ColumnMapping(column="Mobile", field="phones")],
        )
    assert [v.field for v in bad.value.violations] == ["column_mappings[0].column"]
    with pytest.raises(InvalidArgument) as bad:
        await world.start(csv_file(PEOPLE), tags=["tags/missing", "oops"])
    assert [v.field for v in bad.value.violations] == ["tags[1]"]
    with pytest.raises(InvalidArgument) as bad:
        await world.start(csv_file(PEOPLE), tags=["tags/missing"])
    assert [v.field for v in bad.value.violations] == ["tags[0]"]
    with pytest.raises(InvalidArgument) as bad:
        await world.start(b"PK\x03\x04 not a workbook", format=tabular_pb2.FILE_FORMAT_XLSX)
    assert [v.field for v in bad.value.violations] == ["content"]
    with pytest.raises(InvalidArgument) as bad:
        await world.start(csv_file([["Notes", "Country"], ["x", "DE"]]))
    assert [v.field for v in bad.value.violations] == ["content"]
    with pytest.raises(InvalidArgument) as bad:
        await world.start(csv_file(PEOPLE), format=tabular_pb2.FILE_FORMAT_UNSPECIFIED)
    assert [v.field for v in bad.value.violations] == ["format"]
    jobs = await world.servicer.ListJobs(pb.ListJobsRequest(), None)
    assert list(jobs.jobs) == []


async def test_preview_of_a_running_job_and_of_another_members_job(world: World) -> None:
    job = await world.start(csv_file(PEOPLE), preview_only=True)
    with pytest.raises(FailedPrecondition):
        await world.servicer.GetImportPreview(
            pb.GetImportPreviewRequest(name=f"{job.name}/importPreview"), None
        )
    world.as_caller(caller("zoe", DataScope.OWN))
    with pytest.raises(NotFound):
        await world.servicer.GetImportPreview(
            pb.GetImportPreviewRequest(name=f"{job.name}/importPreview"), None
        )
    with pytest.raises(InvalidArgument):
        await world.servicer.GetImportPreview(pb.GetImportPreviewRequest(name=job.name), None)


async def test_an_own_scope_member_cannot_update_someone_elses_customer(world: World) -> None:
    await world.run(csv_file([["name", "email"], ["Mara", "mara@example.com"]]))
    world.as_caller(caller("zoe", DataScope.OWN))
    done, summary = await world.run(
        csv_file([["name", "email"], ["Mara Z.", "mara@example.com"], ["Nils", "nils@x.io"]]),
        match_policy=pb.IMPORT_MATCH_POLICY_UPDATE,
    )
    assert (done.succeeded_count, done.failed_count) == (1, 1)
    assert [(e.row, e.column) for e in summary.row_errors] == [(2, "email")]
    assert "outside your data scope" in summary.row_errors[0].message
    world.as_caller(caller())
    people = await world.by_name()
    assert set(people) == {"Mara", "Nils"}
    assert people["Nils"].owner == "members/zoe"


async def test_semicolon_csv_with_bom_and_a_tag_column(world: World) -> None:
    vip = await world.tag("VIP")
    content = "\ufeff".encode() + csv_file(
        [
            ["Name", "Email", "Tags"],
            ["Olga", "olga@example.com", "VIP, Unknown"],
            ["Pia", "pia@x.io", "VIP"],
        ],
        delimiter=";",
    )
    done, summary = await world.run(content)
    assert (done.succeeded_count, done.failed_count) == (1, 1)
    assert [(e.row, e.column, e.value) for e in summary.row_errors] == [(2, "Tags", "Unknown")]
    people = await world.by_name()
    assert list(people["Pia"].tags) == [vip]


def excel_like_xlsx(rows: Sequence[Sequence[object]], *, doctype: bool = False) -> bytes:
    """A workbook as Excel writes it: shared strings, a date style, booleans,
    a formula with its cached value, rich text, and relationship ids."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    strings: list[str] = []
    sheet_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for i, value in enumerate(row):
            ref = f"{'ABCDEFGHIJ'[i]}{r}"
            if value is None:
                continue
            if isinstance(value, bool):
                cells.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, datetime):
                serial = (value - datetime(1899, 12, 30)).days
                cells.append(f'<c r="{ref}" s="1"><v>{serial}</v></c>')
            elif isinstance(value, int | float):
                cells.append(f'<c r="{ref}"><f>{value}*1</f><v>{value}</v></c>')
            else:
                strings.append(str(value))
                cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    shared = "".join(
        f"<si><r><t>{s[:2]}</t></r><r><t>{s[2:]}</t></r><rPh><t>x</t></rPh></si>"
        if i % 2
        else f"<si><t>{s}</t></si>"
        for i, s in enumerate(strings)
    )
    dtd = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' if doctype else ""
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        "_rels/.rels": f'<Relationships xmlns="{pkg}"><Relationship Id="r1" '
        f'Type="{rel}/officeDocument" Target="/xl/book.xml"/></Relationships>',
        "xl/book.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        f'<sheet name="People" sheetId="7" r:id="rIdPeople"/></sheets></workbook>',
        "xl/_rels/book.xml.rels": f'<Relationships xmlns="{pkg}">'
        f'<Relationship Id="rIdPeople" Type="{rel}/worksheet" Target="sheets/people.xml"/>'
        f'<Relationship Id="rS" Type="{rel}/sharedStrings" Target="strings.xml"/>'
        f'<Relationship Id="rT" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        "xl/strings.xml": f'<sst xmlns="{main}">{shared}</sst>',
        "xl/styles.xml": f'<styleSheet xmlns="{main}"><cellXfs count="2"><xf numFmtId="0"/>'
        f'<xf numFmtId="14"/></cellXfs></styleSheet>',
        "xl/sheets/people.xml": f'<?xml version="1.0"?>{dtd}<worksheet xmlns="{main}">'
        f'<dimension ref="A1:E{len(rows)}"/>'
        f"<sheetData>{''.join(sheet_rows)}</sheetData></worksheet>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


async def test_an_excel_workbook_with_shared_strings_dates_and_booleans(world: World) -> None:
    await world.custom_field("since", custom_fields_pb2.CUSTOM_FIELD_TYPE_DATE)
    await world.custom_field("vip", custom_fields_pb2.CUSTOM_FIELD_TYPE_BOOLEAN)
    await world.custom_field("seats", custom_fields_pb2.CUSTOM_FIELD_TYPE_NUMBER)
    rows: list[list[object]] = [
        ["Name", "Phone", "Since", "VIP", "Seats"],
        ["Quinn Rivera", 4915112345678, datetime(2024, 2, 29), True, 3],
        ["Rosa Diaz", "+1 (555) 010-9999", None, False, 2.5],
    ]
    done, summary = await world.run(
        excel_like_xlsx(rows), format=tabular_pb2.FILE_FORMAT_XLSX, preview_only=True
    )
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.error_message
    assert (summary.valid_rows, list(summary.row_errors)) == (2, [])
    quinn, rosa = (r.customer for r in summary.rows)
    assert (quinn.display_name, list(quinn.phones)) == ("Quinn Rivera", ["4915112345678"])
    assert quinn.custom_fields["since"].string_value == "2024-02-29"
    assert quinn.custom_fields["vip"].bool_value is True
    assert quinn.custom_fields["seats"].number_value == 3
    assert (rosa.display_name, rosa.custom_fields["vip"].bool_value) == ("Rosa Diaz", False)

    with pytest.raises(InvalidArgument) as bad:
        await world.start(excel_like_xlsx(rows, doctype=True), format=tabular_pb2.FILE_FORMAT_XLSX)
    assert [v.field for v in bad.value.violations] == ["content"]


def _bombed(xlsx: bytes, part: str, extra: str) -> bytes:
    """The workbook with ``extra`` (text that deflates to almost nothing) added at
    the end of one part's root element."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            text = source.read(name).decode()
            if name == part:
                closing = text.rindex("</")
                text = text[:closing] + extra + text[closing:]
            archive.writestr(name, text)
    return out.getvalue()


async def test_a_workbook_that_unpacks_to_too_much_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb (a part deflated a thousandfold) or an endless row is refused by
    name, before its strings or cells are held in memory."""
    monkeypatch.setattr(xlsx_stream, "MAX_PART_BYTES", 256 * 1024)
    monkeypatch.setattr(xlsx_stream, "MAX_COLUMNS", 4)
    rows: list[list[object]] = [["Name", "Phone"], ["Quinn Rivera", "+4915112345678"]]
    strings = "<si><t>" + "A" * 1000 + "</t></si>"
    bomb = _bombed(excel_like_xlsx(rows), "xl/strings.xml", strings * 300)
    assert len(bomb) < 20_000  # 300 KB of strings, deflated
    wide = excel_like_xlsx([["Name", "Phone", "a", "b", "c"], ["Quinn", "+4915112345678"]])
    for workbook in (bomb, wide):
        with pytest.raises(InvalidArgument) as bad:
            await world.start(workbook, format=tabular_pb2.FILE_FORMAT_XLSX)
        assert [v.field for v in bad.value.violations] == ["content"]
    done, summary = await world.run(
        excel_like_xlsx(rows), format=tabular_pb2.FILE_FORMAT_XLSX, preview_only=True
    )
    assert (done.state, summary.valid_rows) == (jobs_pb2.JOB_STATE_SUCCEEDED, 1)


async def test_phones_match_whatever_their_spelling(world: World) -> None:
    await world.run(csv_file([["name", "phone"], ["Sven", "+49 (151) 555-0100"]]))
    _, summary = await world.run(
        csv_file([["name", "phone", "language"], ["Sven B.", "+49151 5550100", "sv"]]),
        match_policy=pb.IMPORT_MATCH_POLICY_UPDATE,
    )
    assert (summary.new_customers, summary.existing_customers) == (0, 1)
    people = await world.by_name()
    assert set(people) == {"Sven B."}
    assert list(people["Sven B."].phones) == ["+49151 5550100"]


def _shape(text: object) -> str:
    """A stored value with its letters and digits blurred: how it is written, not what
    (fractions of a second left out: PostgreSQL prints them without trailing zeros)."""
    return re.sub(r"[0-9A-Za-z]", "x", re.sub(r"\.[0-9]+", "", str(text)))


async def test_imported_rows_are_stored_as_every_other_write_stores_them(world: World) -> None:
    # Imports write in bulk, around the ORM: a customer, its timeline row and its
    # event must read (and sort, and compare in SQL) like those CreateCustomer writes.
    created = await world.servicer.CreateCustomer(
        pb.CreateCustomerRequest(
            customer=resources_pb2.Customer(display_name="Uma", emails=["uu@example.com"])
        ),
        None,
    )
    done, _ = await world.run(csv_file([["name", "email"], ["Vic", "vv@example.com"]]))
    assert done.succeeded_count == 1
    people = await world.by_name()
    by_id = {created.name.split("/")[1]: "rpc", people["Vic"].name.split("/")[1]: "import"}

    async with world.sessions() as session:
        stored = {
            by_id[r.id]: (_shape(r.created_at), _shape(r.updated_at), r.emails)
            for r in await session.execute(
                select(
                    customers.c.id,
                    cast(customers.c.created_at, String).label("created_at"),
                    cast(customers.c.updated_at, String).label("updated_at"),
                    cast(customers.c.emails, String).label("emails"),
                )
            )
        }
        timeline_rows = {
            by_id[r.customer_id]: r
            for r in await session.execute(
                select(
                    timeline.c.customer_id,
                    timeline.c.event_id,
                    cast(timeline.c.occurred_at, String).label("occurred_at"),
                )
            )
        }
        events = {
            r.id: r
            for r in await session.execute(
                select(
                    outbox.c.id,
                    outbox.c.payload,
                    outbox.c.headers,
                    cast(outbox.c.created_at, String).label("created_at"),
                )
            )
        }
    assert stored["import"][:2] == stored["rpc"][:2]
    assert _shape(stored["import"][2]) == _shape(stored["rpc"][2])
    assert json.loads(stored["import"][2]) == ["vv@example.com"]
    assert _shape(timeline_rows["import"].occurred_at) == _shape(timeline_rows["rpc"].occurred_at)
    mine, theirs = events[timeline_rows["import"].event_id], events[timeline_rows["rpc"].event_id]
    # As SQLAlchemy writes a DateTime(timezone=True) column (the customer's, above).
    assert _shape(mine.created_at) == stored["rpc"][0]
    assert mine.headers == theirs.headers
    event, other = read_event(bytes(mine.payload)), read_event(bytes(theirs.payload))
    assert (event.type, event.tenant_id, event.event_id) == ("customer.created", TENANT, mine.id)
    assert event.payload.customer == people["Vic"].name
    assert event.envelope.producer == other.envelope.producer
    assert event.envelope.occurred_time.seconds > 0


class FailingTimeline:
    """An import store whose batch dies after its customers and events are written."""

    def __init__(self, store: ImportStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def add_timeline(self, entries: Sequence[TimelineEntry]) -> None:
        raise RuntimeError("the database went away")


async def test_a_batch_that_fails_before_its_commit_leaves_nothing(world: World) -> None:
    # On SQLite, a savepoint opened before any write would itself open the
    # transaction, and releasing it would commit the customers without their events.
    job = await world.start(csv_file([["name", "email"], ["Wim", "wim@example.com"]]))
    failing = ImportHandler(
        world.new_uow, SpreadsheetReader(), lambda uow: FailingTimeline(import_store_of(uow))
    )
    assert await JobRunner(world.new_uow, {JobKind.IMPORT: failing}).run_until_idle() == 1
    done = await world.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
    assert done.state == jobs_pb2.JOB_STATE_FAILED
    assert await world.count() == 0
    assert await world.count(outbox) == 0
    assert await world.count(timeline) == 0


async def test_a_large_xlsx_file_is_read_row_by_row(world: World) -> None:
    # More rows than one parser chunk and one batch, with cells left out.
    rows: list[list[object]] = [["name", "email", "country"]]
    rows += [[f"Person {i}", f"p{i}@example.com", "" if i % 3 else "DE"] for i in range(1500)]
    done, summary = await world.run(xlsx_file(rows), format=tabular_pb2.FILE_FORMAT_XLSX)
    assert (done.state, done.succeeded_count, done.failed_count) == (
        jobs_pb2.JOB_STATE_SUCCEEDED,
        1500,
        0,
    )
    assert summary.new_customers == 1500
    assert await world.count() == 1500
    async with world.sessions() as session:
        germans = await session.scalar(
            select(func.count()).select_from(customers).where(customers.c.country == "DE")
        )
    assert germans == 500


def test_an_imports_event_envelopes_are_those_every_event_gets() -> None:
    # import_events builds envelopes from a template per payload type; each must be
    # the very envelope crosstalk_common's new_envelope builds for the same event.
    events: list[tuple[str, Message]] = [
        (f"00000000-0000-4000-8000-00000000000{i}", payload)
        for i, payload in enumerate(
            [
                customer_events_pb2.CustomerCreated(customer="customers/a", display_name="Ann"),
                customer_events_pb2.CustomerTagged(customer="customers/a", tags=["tags/t1"]),
                customer_events_pb2.CustomerCreated(customer="customers/b", owner="members/m"),
                customer_events_pb2.CustomerUpdated(customer="customers/c", changed_fields=["x"]),
                customer_events_pb2.CustomerCreated(customer="customers/d"),
            ]
        )
    ]
    rows = outbox_rows(TENANT, events)
    assert [r["id"] for r in rows] == [event_id for event_id, _ in events]
    for (event_id, payload), row in zip(events, rows, strict=True):
        event_type, expected = new_envelope(
            TENANT,
            payload,
            occurred_at=row["created_at"],
            trace_context=row["headers"],
            event_id=event_id,
        )
        assert row["subject"] == event_type.subject
        assert row["payload"] == expected.SerializeToString()
        assert read_event(row["payload"]).payload == payload


async def test_an_import_brings_the_planners_statistics_up_to_date(world: World) -> None:
    async with world.sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("SQLite plans without statistics")
    rows = [["name", "email"], *[[f"Person {i}", f"s{i}@example.com"] for i in range(40)]]
    done, _ = await world.run(csv_file(rows))
    assert done.succeeded_count == 40
    async with world.sessions() as session:
        # reltuples is written by ANALYZE (-1 until a table was analyzed).
        counted = await session.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'customers'")
        )
    assert counted == 40
