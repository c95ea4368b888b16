"""customers: single-customer writes and job starts while a bulk job runs.

Builds a fresh database of ``--customers`` realistic customers (SQLite in a
temporary directory, or PostgreSQL with --pg), with the engine a service
runs (bench/service_engine.py: SQLite checkpoints in the background) and
the job runner a service runs (bootstrap: the same handler, two batches at
once on PostgreSQL). Then, through the real gRPC servicer (in process, no
network; the caller set as the auth interceptor sets it):

1. quiet: ``--writers`` callers each do SetLifecycleStage / AddTags on
   random customers, one after the other, for a few seconds: the floor;
2. under a bulk job: StartBulkOperation tags every customer with a display
   name (almost all) by filter, and while the runner works it off the same
   callers write again; meanwhile another bulk operation (a few customers
   by name) is started every half second, which only queues a job.

Prints p50/p95/p99/max of the single writes and of the job starts, the
bulk job's own duration, and any write that failed (a "database is
locked" would show here). Figures are printed, never asserted. Target
(issue 12, item 25): single writes p95 ≤ 50 ms with 8 writers while a bulk
job runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.customers_data import MIGRATIONS, TENANT, customer_rows
from bench.service_engine import service_engine
from bench.stats import percentile
from crosstalk.common.v1 import condition_pb2, lifecycle_stage_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import jobs_pb2, tags_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.db.engine import session_factory, write_slice_seconds, writers_at_once
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import fresh_postgres_database
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import customer_identities, customer_tags, customers, outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.bulk_operations import BulkOperationHandler
from customers.app.jobs import JobRunner
from customers.bootstrap import compose_servicer
from customers.domain.jobs import JobKind

ADMIN = auth.Caller(
    tenant_id=TENANT,
    subject="members/bench-admin",
    permissions=frozenset(),
    data_scope=DataScope.ALL,
    department_id="",
    visible_departments=frozenset(),
    token="",
)
STAGES = [
    lifecycle_stage_pb2.LIFECYCLE_STAGE_POTENTIAL,
    lifecycle_stage_pb2.LIFECYCLE_STAGE_INTENT,
    lifecycle_stage_pb2.LIFECYCLE_STAGE_DEAL,
    lifecycle_stage_pb2.LIFECYCLE_STAGE_REPEAT,
    lifecycle_stage_pb2.LIFECYCLE_STAGE_DORMANT,
]
FINISHED = {
    jobs_pb2.JOB_STATE_SUCCEEDED,
    jobs_pb2.JOB_STATE_FAILED,
    jobs_pb2.JOB_STATE_CANCELLED,
}


def line(label: str, seconds: list[float], *, target: str = "") -> str:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"{label:<40} n=     0"
    text_ = (
        f"{label:<40} n={len(ms):>6}  p50={percentile(ms, 50):8.1f} ms  "
        f"p95={percentile(ms, 95):8.1f} ms  p99={percentile(ms, 99):8.1f} ms  "
        f"max={max(ms):8.1f} ms"
    )
    return f"{text_}  [target {target}]" if target else text_


async def seed(engine: AsyncEngine, n: int) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        rows: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        identities: list[dict[str, Any]] = []
        for row, row_tags, identity in customer_rows(n, TENANT, seed=25):
            rows.append(row)
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
            if len(rows) == 5000:
                await session.execute(insert(customers), rows)
                await session.execute(insert(customer_identities), identities)
                await session.execute(insert(customer_tags), tags)
                rows, tags, identities = [], [], []
        if rows:
            await session.execute(insert(customers), rows)
            await session.execute(insert(customer_identities), identities)
            await session.execute(insert(customer_tags), tags)
        await session.commit()
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))


class Writers:
    """``count`` callers, each writing to random customers one call after the other."""

    def __init__(self, servicer: CustomersServicer, names: list[str], tags: list[str]) -> None:
        self.servicer = servicer
        self.names = names
        self.tags = tags
        self.latencies: dict[str, list[float]] = {"SetLifecycleStage": [], "AddTags": []}
        self.failures: Counter[str] = Counter()

    async def one(self, rng: random.Random) -> None:
        name = rng.choice(self.names)
        call: Callable[[], Awaitable[Any]]
        if rng.random() < 0.5:
            label = "SetLifecycleStage"
            request = pb.SetLifecycleStageRequest(name=name, stage=rng.choice(STAGES))

            def call() -> Awaitable[Any]:
                return self.servicer.SetLifecycleStage(request, None)
        else:
            label = "AddTags"
            tags_request = pb.AddTagsRequest(name=name, tags=[rng.choice(self.tags)])

            def call() -> Awaitable[Any]:
                return self.servicer.AddTags(tags_request, None)

        started = time.perf_counter()
        try:
            await call()
        except Exception as exc:  # counted and printed: a failed write is a finding
            self.failures[f"{label}: {type(exc).__name__}: {str(exc)[:80]}"] += 1
            return
        self.latencies[label].append(time.perf_counter() - started)

    async def run(self, count: int, until: Callable[[], bool], seed: int) -> None:
        async def caller(k: int) -> None:
            rng = random.Random(seed * 100 + k)
            while not until():
                await self.one(rng)

        await asyncio.gather(*(caller(k) for k in range(count)))

    def all(self) -> list[float]:
        return [s for samples in self.latencies.values() for s in samples]


async def run(url: str, n: int, writers: int, quiet_seconds: float, *, before: bool) -> None:
    async with service_engine(url, write_gate=not before) as engine:
        await seed(engine, n)
        sessions = session_factory(engine)

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(sessions, outbox)

        auth._current.set(ADMIN)
        servicer = compose_servicer(new_uow, PageTokenCodec(b"bench-secret"))
        tag_names = [
            (
                await servicer.CreateTag(
                    pb.CreateTagRequest(tag=tags_pb2.Tag(display_name=d)), None
                )
            ).name
            for d in ("Bulk", "Hot", "Cold", "Call back")
        ]
        bulk_tag, single_tags = tag_names[0], tag_names[1:]
        async with new_uow() as uow:
            ids = await uow.customers.ids_after(
                TENANT, ADMIN.visibility, None, after_id="", limit=n
            )
        names = [f"customers/{i}" for i in ids]

        runner = JobRunner(
            new_uow,
            {
                JobKind.BULK_OPERATION: BulkOperationHandler(
                    new_uow,
                    batches_at_once=writers_at_once(engine),
                    write_seconds=None if before else write_slice_seconds(engine),
                )
            },
            poll_interval=0.05,
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(runner.run(stop))

        quiet = Writers(servicer, names, single_tags)
        deadline = time.perf_counter() + quiet_seconds
        await quiet.run(writers, lambda: time.perf_counter() > deadline, seed=1)

        started = time.perf_counter()
        job = await servicer.StartBulkOperation(
            pb.StartBulkOperationRequest(
                condition=condition_pb2.Condition(
                    leaf=condition_pb2.ConditionLeaf(
                        field="display_name", operator=condition_pb2.OPERATOR_IS_NOT_EMPTY
                    )
                ),
                add_tags=pb.BulkTags(tags=[bulk_tag]),
            ),
            None,
        )
        first_start = time.perf_counter() - started
        state: dict[str, Any] = {"done": False, "job": job}

        async def watch() -> None:
            while True:
                current = await servicer.GetJob(pb.GetJobRequest(name=job.name), None)
                state["job"] = current
                if current.state in FINISHED:
                    state["done"] = True
                    state["elapsed"] = time.perf_counter() - started
                    return
                await asyncio.sleep(0.1)

        starts: list[float] = []

        async def start_more() -> None:
            rng = random.Random(7)
            while not state["done"]:
                await asyncio.sleep(0.5)
                if state["done"]:
                    return
                t0 = time.perf_counter()
                await servicer.StartBulkOperation(
                    pb.StartBulkOperationRequest(
                        customers=rng.sample(names, 5), add_tags=pb.BulkTags(tags=[single_tags[0]])
                    ),
                    None,
                )
                starts.append(time.perf_counter() - t0)

        busy = Writers(servicer, names, single_tags)
        await asyncio.gather(
            watch(), start_more(), busy.run(writers, lambda: bool(state["done"]), seed=2)
        )
        # The queued small jobs run after; let them, so the runner stops idle.
        await runner.run_until_idle()
        stop.set()
        await worker

        done = state["job"]
        print(
            f"bulk job: {jobs_pb2.JobState.Name(done.state)}, {done.succeeded_count:,} of "
            f"{done.total_count:,} tagged in {state['elapsed']:.1f} s while {writers} callers wrote"
        )
        print(line(f"quiet: single writes ({writers} callers)", quiet.all()))
        print(line("  start a bulk operation (none running)", [first_start]))
        for label, samples in busy.latencies.items():
            print(line(f"bulk job running: {label}", samples))
        print(line("bulk job running: single writes", busy.all(), target="p95 ≤ 50 ms"))
        print(line("bulk job running: start a bulk operation", starts))
        for failure, count in {**quiet.failures, **busy.failures}.items():
            print(f"  FAILED {count}x {failure}")
        if not quiet.failures and not busy.failures:
            print("  no write failed")
        load, cores = os.getloadavg()[0], os.cpu_count() or 0
        print(f"machine load (1-minute average) at the end: {load:.1f} on {cores} cores")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--quiet-seconds", type=float, default=3.0)
    parser.add_argument("--db-name", default="crosstalk_bench_customers_writes")
    parser.add_argument(
        "--before",
        action="store_true",
        help="as before issue 12: no write gate, a bulk job's page in one transaction",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg:
            url = fresh_postgres_database(args.pg, args.db_name)
        else:
            url = f"sqlite:///{Path(tmp) / 'customers.db'}"
        upgrade_to_head(MIGRATIONS, url)
        print(
            f"customers concurrent writes bench on {'PostgreSQL' if args.pg else 'SQLite'}: "
            f"{args.customers:,} customers, {args.writers} writers"
            + (" (before: no write gate, bulk pages in one transaction)" if args.before else "")
        )
        asyncio.run(run(url, args.customers, args.writers, args.quiet_seconds, before=args.before))


if __name__ == "__main__":
    main()
