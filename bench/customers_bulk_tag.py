"""customers: bulk-tag 100,000 matching customers as a job (StartBulkOperation's path).

Builds a fresh database holding ``--customers`` realistic customers (the
generator of bench/customers_data.py; SQLite in a temporary directory, or
PostgreSQL with --pg), starts an "add tag" job on every customer matching a
condition, and lets a JobRunner work it off: batches of customers, each
with its tag rows, events (outbox) and timeline rows in one transaction.
The engine is built as a service builds it (bench/service_engine.py: SQLite
checkpoints in the background, ADR 0011), and so is the handler (two batches
at once on PostgreSQL). Figures are printed, never
asserted. Target (issue 4): ≤ 10 s for 100,000.

The naive baseline beside it tags the same customers one AddTags use case
call at a time, over a sample, scaled to the same count.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.customers_data import MIGRATIONS, TENANT, customer_rows
from bench.service_engine import service_engine
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.db.engine import session_factory, write_slice_seconds, writers_at_once
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import fresh_postgres_database
from customers.adapters.tables import customer_identities, customer_tags, customers, outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.bulk_operations import BulkOperationHandler, BulkOperations
from customers.app.jobs import JobRunner, JobService
from customers.app.tags import TagIds, TagService
from customers.domain.bulk import BulkAction, BulkOperation, BulkTarget
from customers.domain.jobs import JobKind
from customers.domain.model import Tag

ALL = Visibility(DataScope.ALL, "bench-admin")
BASELINE_SAMPLE = 500


async def run(url: str, n: int) -> None:
    async with service_engine(url) as engine:
        await _run(engine, n)


async def _run(engine: AsyncEngine, n: int) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        batch: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        identities: list[dict[str, Any]] = []
        for row, row_tags, identity in customer_rows(n, TENANT, seed=11):
            batch.append(row)
            identities.append(identity)
            tags.extend(
                {
                    "customer_id": row["id"],
                    "tenant_id": TENANT,
                    "tag": t,
                    "created_at": row["created_at"],
                }
                for t in row_tags
            )
            if len(batch) == 5000:
                await session.execute(insert(customers), batch)
                await session.execute(insert(customer_identities), identities)
                await session.execute(insert(customer_tags), tags)
                batch, tags, identities = [], [], []
        await session.commit()
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(sessions, outbox)

    vip = await TagService(new_uow).create_tag(Tag(id="", tenant_id=TENANT, display_name="VIP"))
    jobs = JobService(new_uow)
    started = time.perf_counter()
    job = await BulkOperations(jobs).start(
        tenant_id=TENANT,
        visibility=ALL,
        creator_member_id="bench-admin",
        operation=BulkOperation(BulkAction.ADD_TAGS, tag_ids=(vip.id,)),
        target=BulkTarget(condition=Leaf("display_name", Op.IS_NOT_EMPTY, ())),
    )
    handler = BulkOperationHandler(
        new_uow,
        batches_at_once=writers_at_once(engine),
        write_seconds=write_slice_seconds(engine),
    )
    runner = JobRunner(new_uow, {JobKind.BULK_OPERATION: handler})
    await runner.run_until_idle()
    elapsed = time.perf_counter() - started
    done = await jobs.get(TENANT, ALL, job.id)
    print(
        f"bulk job: {done.state.value}, {done.succeeded_count:,} tagged, {done.failed_count} failed"
    )
    print(f"  bulk-tag {n:,} matching customers: {elapsed:.1f} s  [target ≤ 10 s for 100,000]")

    tags = TagService(new_uow)
    second = await tags.create_tag(Tag(id="", tenant_id=TENANT, display_name="Lead"))
    async with new_uow() as uow:
        sample = await uow.customers.ids_after(
            TENANT, ALL, None, after_id="", limit=BASELINE_SAMPLE
        )
    started = time.perf_counter()
    for customer_id in sample:
        await tags.change_customer_tags(
            TENANT, ALL, customer_id, TagIds([second.id]), actor="bench"
        )
    one_by_one = (time.perf_counter() - started) / len(sample)
    print(
        f"  naive baseline (AddTags one customer at a time, {len(sample)} sampled): "
        f"{one_by_one * 1000:.2f} ms each -> {one_by_one * n:.1f} s for {n:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg:
            url = fresh_postgres_database(args.pg, "crosstalk_bench_customers_bulk")
        else:
            url = f"sqlite:///{Path(tmp) / 'customers.db'}"
        upgrade_to_head(MIGRATIONS, url)
        print(f"customers bulk-tag bench on {'PostgreSQL' if args.pg else 'SQLite'}")
        asyncio.run(run(url, args.customers))


if __name__ == "__main__":
    main()
