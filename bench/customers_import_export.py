"""customers: import 100,000 rows and export 100,000 customers, as jobs.

Import: a CSV (and an xlsx) of 100,000 buyers (name, email, phone, country,
language, Amazon buyer id, store, a custom field) goes through StartImport's
path: the file is stored in chunks, a JobRunner parses it row by row from a
temporary file and upserts by channel identity in batches.

Export: every customer of the tenant to CSV and to xlsx, keyset page by
page into a temporary file, then into chunks. Memory is traced (tracemalloc
peak of the export alone) for 10,000 and for 100,000 rows: flat means the
peak does not grow with the row count.

SQLite in a temporary directory, or PostgreSQL with --pg. Figures are
printed, never asserted. Targets (issue 4): import ≤ 60 s, export ≤ 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.customers_data import MIGRATIONS
from bench.service_engine import service_engine
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import fresh_postgres_database
from customers.adapters.import_store import import_store_of
from customers.adapters.spreadsheets import SpreadsheetReader, SpreadsheetWriter
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.exports import ExportHandler, ExportService
from customers.app.import_job import ImportHandler
from customers.app.imports import ImportRequest, ImportService
from customers.app.jobs import JobRunner, JobService
from customers.domain.imports import FileFormat
from customers.domain.jobs import JobKind

TENANT = "tenant-bench-transfer"
ADMIN = Visibility(DataScope.ALL, "bench-admin")
HEADER = ["name", "email", "phone", "country", "language", "amazon_buyer_id", "store"]
COUNTRIES = ["DE", "FR", "ES", "IT", "GB", "VN", "TH", "US"]


def rows(n: int, offset: int = 0) -> list[list[str]]:
    return [
        [
            f"Buyer {i}",
            f"buyer{i}@example.com",
            f"+49 151 {i:08d}",
            COUNTRIES[i % len(COUNTRIES)],
            "de",
            f"A{i:09d}",
            "amazon-de",
        ]
        for i in range(offset, offset + n)
    ]


def as_csv(data: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(data)
    return out.getvalue().encode()


def as_xlsx(data: list[list[str]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    for row in data:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def run(url: str, n: int, xlsx_rows: int) -> None:
    async with service_engine(url) as engine:
        await _run(engine, n, xlsx_rows)


async def _run(engine: AsyncEngine, n: int, xlsx_rows: int) -> None:
    sessions = session_factory(engine)

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(sessions, outbox)

    jobs = JobService(new_uow)
    runner = JobRunner(
        new_uow,
        {
            JobKind.IMPORT: ImportHandler(new_uow, SpreadsheetReader(), import_store_of),
            JobKind.EXPORT: ExportHandler(new_uow, SpreadsheetWriter()),
        },
    )
    imports = ImportService(new_uow, jobs, SpreadsheetReader())
    exports = ExportService(new_uow, jobs)

    async def timed_import(content: bytes, fmt: FileFormat) -> tuple[float, str]:
        started = time.perf_counter()
        job = await imports.start(
            ImportRequest(
                tenant_id=TENANT,
                visibility=ADMIN,
                member_id="bench-admin",
                department_id="",
                actor="members/bench-admin",
                content=content,
                file_format=fmt,
            )
        )
        await runner.run_until_idle()
        done = await jobs.get(TENANT, ADMIN, job.id)
        took = time.perf_counter() - started
        return took, f"{done.state.value}, {done.succeeded_count:,} ok, {done.failed_count} failed"

    async def timed_export(fmt: FileFormat) -> tuple[float, str, int]:
        started = time.perf_counter()
        job = await exports.start(
            tenant_id=TENANT,
            visibility=ADMIN,
            member_id="bench-admin",
            condition=None,
            columns=[],
            file_format=fmt,
        )
        await runner.run_until_idle()
        took = time.perf_counter() - started
        done = await jobs.get(TENANT, ADMIN, job.id)
        return took, f"{done.state.value}, {done.processed_count:,} rows", done.processed_count

    data = rows(n)
    content = as_csv(data)
    took, state = await timed_import(content, FileFormat.CSV)
    size = len(content) / 1e6
    print(f"  import {n:,} csv rows ({size:.1f} MB): {took:.1f} s ({state})  [target ≤ 60 s]")
    extra = rows(xlsx_rows, offset=n)
    book = as_xlsx(extra)
    took, state = await timed_import(book, FileFormat.XLSX)
    print(f"  import {xlsx_rows:,} xlsx rows ({len(book) / 1e6:.1f} MB): {took:.1f} s ({state})")
    del data, content, extra, book

    for fmt in (FileFormat.CSV, FileFormat.XLSX):
        took, state, rows_out = await timed_export(fmt)
        per = took / rows_out * 100_000 if rows_out else 0.0
        print(
            f"  export {fmt.value}: {took:.1f} s ({state}), {per:.1f} s per 100,000"
            "  [target ≤ 30 s for 100,000]"
        )


def _uow_factory(sessions: Any) -> Callable[[], CustomersUnitOfWork]:
    return lambda: CustomersUnitOfWork(sessions, outbox)


async def memory_profile(url: str, sizes: list[int]) -> None:
    """Export peak memory for growing tenants: flat when it does not follow the size."""
    for size in sizes:
        engine = create_engine(url)
        new_uow = _uow_factory(session_factory(engine))
        jobs = JobService(new_uow)
        runner = JobRunner(new_uow, {JobKind.EXPORT: ExportHandler(new_uow, SpreadsheetWriter())})
        tenant = f"tenant-mem-{size}"
        imports = ImportService(new_uow, jobs, SpreadsheetReader())
        runner_import = JobRunner(
            new_uow, {JobKind.IMPORT: ImportHandler(new_uow, SpreadsheetReader(), import_store_of)}
        )
        await imports.start(
            ImportRequest(
                tenant_id=tenant,
                visibility=ADMIN,
                member_id="bench-admin",
                department_id="",
                actor="members/bench-admin",
                content=as_csv(rows(size, offset=1_000_000)),
                file_format=FileFormat.CSV,
            )
        )
        await runner_import.run_until_idle()
        tracemalloc.start()
        job = await ExportService(new_uow, jobs).start(
            tenant_id=tenant,
            visibility=ADMIN,
            member_id="bench-admin",
            condition=None,
            columns=[],
            file_format=FileFormat.XLSX,
        )
        await runner.run_until_idle()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        done = await jobs.get(tenant, ADMIN, job.id)
        print(
            f"  export xlsx of {done.processed_count:,} customers: traced peak {peak / 1e6:.1f} MB"
        )
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--xlsx-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg:
            url = fresh_postgres_database(args.pg, "crosstalk_bench_customers_transfer")
        else:
            url = f"sqlite:///{Path(tmp) / 'customers.db'}"
        upgrade_to_head(MIGRATIONS, url)
        print(f"customers import/export bench on {'PostgreSQL' if args.pg else 'SQLite'}")
        asyncio.run(run(url, args.rows, args.xlsx_rows))
        asyncio.run(memory_profile(url, [args.rows // 10, args.rows]))


if __name__ == "__main__":
    main()
