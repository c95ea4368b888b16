"""Customer export (csv, xlsx) as jobs, through the servicer, against a real database:
condition, columns, data scope, the file, a restarted export, permissions."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.common.v1 import condition_pb2, tabular_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import jobs_pb2, resources_pb2, tags_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import FailedPrecondition, InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import BUILT_IN_ROLES, DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.import_store import import_store_of
from customers.adapters.permissions import METHOD_PERMISSIONS
from customers.adapters.spreadsheets import SpreadsheetReader, SpreadsheetWriter
from customers.adapters.tables import job_file_chunks, outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.exports import ExportHandler
from customers.app.import_job import ImportHandler
from customers.app.jobs import JobRunner
from customers.bootstrap import compose_servicer
from customers.domain.jobs import JobKind

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-export"


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

    def runner(self, later: timedelta = timedelta(0)) -> JobRunner:
        return JobRunner(
            self.new_uow,
            {
                JobKind.EXPORT: ExportHandler(self.new_uow, SpreadsheetWriter(), page_size=2),
                JobKind.IMPORT: ImportHandler(self.new_uow, SpreadsheetReader(), import_store_of),
            },
            clock=lambda: utc_now() + later,
        )

    async def customer(self, name: str, owner: str = "admin", **fields: Any) -> str:
        auth._current.set(caller(owner))
        created = await self.servicer.CreateCustomer(
            pb.CreateCustomerRequest(
                customer=resources_pb2.Customer(
                    display_name=name, owner=f"members/{owner}", **fields
                )
            ),
            None,
        )
        auth._current.set(caller())
        return created.name

    async def export(self, **fields: Any) -> tuple[jobs_pb2.Job, jobs_pb2.ExportFile]:
        fields.setdefault("format", tabular_pb2.FILE_FORMAT_CSV)
        job = await self.servicer.StartExport(pb.StartExportRequest(**fields), None)
        assert await self.runner().run_until_idle() == 1
        done = await self.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
        assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.error_message
        assert done.export_file == f"{job.name}/exportFile"
        exported = await self.servicer.GetExportFile(
            pb.GetExportFileRequest(name=done.export_file), None
        )
        return done, exported


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = service_database_urls(("customers",), tmp_path, "exports")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield World(engine)
    await engine.dispose()


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    try:
        return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def country_is(code: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(
            field="country", operator=condition_pb2.OPERATOR_EQUALS, values=[code]
        )
    )


async def test_csv_export_of_a_condition_with_chosen_columns(world: World) -> None:
    vip = await world.servicer.CreateTag(
        pb.CreateTagRequest(tag=tags_pb2.Tag(display_name="VIP")), None
    )
    anna = await world.customer(
        "Anna", emails=["anna@example.com", "a@work.example"], country="DE", phones=["+49 1"]
    )
    await world.servicer.AddTags(pb.AddTagsRequest(name=anna, tags=[vip.name]), None)
    await world.customer("Ben", country="FR")
    await world.customer('=HYPERLINK("http://evil")', country="DE")
    for i in range(3):
        await world.customer(f"Deutsch {i}", country="DE")

    done, exported = await world.export(
        condition=country_is("DE"),
        columns=["name", "display_name", "emails", "phones", "tags", "score", "create_time"],
    )
    assert (done.total_count, done.processed_count, done.succeeded_count) == (5, 5, 5)
    assert exported.content_type == "text/csv"
    assert exported.filename == f"customers-{utc_now():%Y-%m-%d}.csv"
    assert exported.expire_time.ToDatetime() > utc_now().replace(tzinfo=None) + timedelta(days=6)
    rows = csv_rows(exported.content)
    assert rows[0] == ["name", "display_name", "emails", "phones", "tags", "score", "create_time"]
    assert len(rows) == 6
    first = rows[1]
    assert first[:6] == [anna, "Anna", "anna@example.com, a@work.example", "+49 1", "VIP", "0"]
    assert first[6].startswith(f"{utc_now():%Y-%m-%d}T")
    # Text a spreadsheet would run as a formula is quoted.
    assert rows[2][1] == '\'=HYPERLINK("http://evil")'
    assert "Ben" not in {r[1] for r in rows}


async def test_xlsx_export_with_default_columns_imports_again(world: World) -> None:
    await world.customer("Carla", emails=["carla@example.com"], country="IT", language="it")
    await world.customer("Dan", phones=["+1 555 0100"], time_zone="America/New_York")
    await world.customer("=1+1", emails=["formula@example.com"])
    _, exported = await world.export(format=tabular_pb2.FILE_FORMAT_XLSX)
    assert exported.content_type.endswith("spreadsheetml.sheet")
    assert exported.filename.endswith(".xlsx")
    rows = xlsx_rows(exported.content)
    assert rows[0][:6] == ["display_name", "emails", "phones", "country", "language", "tags"]
    assert rows[0][-2:] == ["owner", "create_time"]
    assert [r[0] for r in rows[1:]] == ["Carla", "Dan", "=1+1"]
    assert rows[1][1:5] == ["carla@example.com", None, "IT", "it"]
    assert rows[1][-2] == "members/admin"

    # The file imports into another tenant as the same customers.
    auth._current.set(auth.Caller(**{**caller().__dict__, "tenant_id": "tenant-copy"}))
    job = await world.servicer.StartImport(
        pb.StartImportRequest(content=exported.content, format=tabular_pb2.FILE_FORMAT_XLSX),
        None,
    )
    assert await world.runner().run_until_idle() == 1
    done = await world.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
    assert (done.succeeded_count, done.failed_count) == (3, 0)
    copied = await world.servicer.ListCustomers(pb.ListCustomersRequest(), None)
    assert sorted(
        (c.display_name, list(c.emails), list(c.phones), c.country) for c in copied.customers
    ) == [
        ("=1+1", ["formula@example.com"], [], ""),
        ("Carla", ["carla@example.com"], [], "IT"),
        ("Dan", [], ["+1 555 0100"], ""),
    ]


async def test_every_xlsx_row_is_as_wide_as_the_header(world: World) -> None:
    await world.customer("Full", country="DE", language="de", time_zone="Europe/Berlin")
    await world.customer("Trailing gaps", country="FR")
    await world.customer("Leading gap", language="es", time_zone="Europe/Madrid")
    await world.customer("Only a name")
    columns = ["display_name", "country", "language", "time_zone"]
    _, exported = await world.export(format=tabular_pb2.FILE_FORMAT_XLSX, columns=columns)
    with zipfile.ZipFile(io.BytesIO(exported.content)) as package:
        sheet = package.read("xl/worksheets/sheet1.xml").decode()
    assert '<dimension ref="A1:D5"/><sheetData>' in sheet
    assert sheet.count('<c r="D5"/></row>') == 1  # a row ends with its last cell, even empty
    for read_only in (True, False):
        book = load_workbook(io.BytesIO(exported.content), read_only=read_only)
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
        assert rows[0] == columns
        assert [len(r) for r in rows] == [4] * 5, read_only
        assert rows[2] == ["Trailing gaps", "FR", None, None]
        assert rows[4] == ["Only a name", None, None, None]


async def test_csv_export_imports_again(world: World) -> None:
    await world.customer("+Eva", emails=["eva@example.com"], phones=["+44 20 1234"])
    _, exported = await world.export(columns=["display_name", "emails", "phones"])
    assert csv_rows(exported.content)[1] == ["'+Eva", "eva@example.com", "+44 20 1234"]
    auth._current.set(auth.Caller(**{**caller().__dict__, "tenant_id": "tenant-copy"}))
    await world.servicer.StartImport(
        pb.StartImportRequest(content=exported.content, format=tabular_pb2.FILE_FORMAT_CSV),
        None,
    )
    await world.runner().run_until_idle()
    copied = await world.servicer.ListCustomers(pb.ListCustomersRequest(), None)
    assert [(c.display_name, list(c.phones)) for c in copied.customers] == [
        ("+Eva", ["+44 20 1234"])
    ]


async def test_an_own_scope_member_exports_only_their_customers(world: World) -> None:
    await world.customer("Mine 1", owner="zoe")
    await world.customer("Not mine", owner="admin")
    await world.customer("Mine 2", owner="zoe")
    world.as_caller(caller("zoe", DataScope.OWN))
    done, exported = await world.export(columns=["display_name", "owner"])
    assert done.total_count == 2
    assert csv_rows(exported.content)[1:] == [
        ["Mine 1", "members/zoe"],
        ["Mine 2", "members/zoe"],
    ]
    # The file is the starter's: another member (or tenant) does not see it.
    world.as_caller(caller("yuri", DataScope.OWN))
    with pytest.raises(NotFound):
        await world.servicer.GetExportFile(pb.GetExportFileRequest(name=done.export_file), None)
    auth._current.set(auth.Caller(**{**caller().__dict__, "tenant_id": "tenant-other"}))
    with pytest.raises(NotFound):
        await world.servicer.GetExportFile(pb.GetExportFileRequest(name=done.export_file), None)


async def test_bad_columns_and_an_unfinished_export(world: World) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await world.servicer.StartExport(
            pb.StartExportRequest(
                format=tabular_pb2.FILE_FORMAT_CSV,
                columns=["display_name", "password", "custom_fields.nope", "display_name"],
            ),
            None,
        )
    assert [v.field for v in bad.value.violations] == ["columns[1]", "columns[2]", "columns[3]"]
    with pytest.raises(InvalidArgument) as bad:
        await world.servicer.StartExport(pb.StartExportRequest(), None)
    assert [v.field for v in bad.value.violations] == ["format"]
    with pytest.raises(InvalidArgument) as bad:
        await world.servicer.StartExport(
            pb.StartExportRequest(
                format=tabular_pb2.FILE_FORMAT_CSV,
                condition=condition_pb2.Condition(
                    leaf=condition_pb2.ConditionLeaf(
                        field="shoe_size", operator=condition_pb2.OPERATOR_EQUALS, values=["9"]
                    )
                ),
            ),
            None,
        )
    assert bad.value.violations[0].field.startswith("condition")
    job = await world.servicer.StartExport(
        pb.StartExportRequest(format=tabular_pb2.FILE_FORMAT_CSV), None
    )
    with pytest.raises(FailedPrecondition):
        await world.servicer.GetExportFile(
            pb.GetExportFileRequest(name=f"{job.name}/exportFile"), None
        )
    with pytest.raises(InvalidArgument):
        await world.servicer.GetExportFile(pb.GetExportFileRequest(name=job.name), None)


async def test_an_export_killed_while_storing_its_file_starts_again_cleanly(
    world: World,
) -> None:
    for i in range(5):
        await world.customer(f"C{i}")
    job = await world.servicer.StartExport(
        pb.StartExportRequest(format=tabular_pb2.FILE_FORMAT_CSV, columns=["display_name"]), None
    )

    class DiesAfterAChunk(CustomersUnitOfWork):
        """The worker dies right after the first chunk of its file is stored
        (the handler commits nothing but chunks of its file)."""

        async def commit(self) -> None:
            await super().commit()
            raise Crash

    dying = ExportHandler(
        lambda: DiesAfterAChunk(world.sessions, outbox), SpreadsheetWriter(), page_size=2
    )
    with pytest.raises(Crash):
        await JobRunner(world.new_uow, {JobKind.EXPORT: dying}).run_once()
    async with world.sessions() as session:
        roles = set(await session.scalars(select(job_file_chunks.c.role)))
    assert roles == {"output"}
    assert await world.runner(later=timedelta(minutes=5)).run_until_idle() == 1
    done = await world.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert (done.total_count, done.processed_count) == (5, 5)
    exported = await world.servicer.GetExportFile(
        pb.GetExportFileRequest(name=done.export_file), None
    )
    assert csv_rows(exported.content) == [["display_name"]] + [[f"C{i}"] for i in range(5)]
    async with world.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(job_file_chunks)
            .where(job_file_chunks.c.role == "output.2")
        )
    assert count == 1


def test_the_restricted_role_may_not_export() -> None:
    for method in ("StartExport", "GetExportFile"):
        needed = METHOD_PERMISSIONS[method]
        assert needed not in BUILT_IN_ROLES["restricted"].permissions
        assert needed in BUILT_IN_ROLES["senior"].permissions
