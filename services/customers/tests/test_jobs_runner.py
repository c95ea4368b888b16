"""The job runner as a worker: picking jobs up, draining on shutdown, input files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import FailedPrecondition
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.bulk_operations import BulkOperationHandler, BulkOperations
from customers.app.job_ports import JobContext
from customers.app.jobs import FILE_CHUNK_BYTES, JobRunner, JobService, scope_of
from customers.app.profiles import CustomerProfiles
from customers.app.tags import TagService
from customers.app.timeline import Timeline
from customers.domain.bulk import BulkAction, BulkOperation, BulkTarget
from customers.domain.jobs import Job, JobError, JobKind, JobState
from customers.domain.model import Customer, Tag

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-runner"
ADMIN = Visibility(DataScope.ALL, "admin")


class World:
    def __init__(self, engine: AsyncEngine) -> None:
        sessions = session_factory(engine)

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(sessions, outbox)

        self.new_uow = new_uow
        self.profiles = CustomerProfiles(new_uow)
        self.timelines = Timeline(new_uow)
        self.tags = TagService(new_uow)
        self.jobs = JobService(new_uow)

    async def tagging_job(self, count: int) -> tuple[Job, str, list[str]]:
        tag = await self.tags.create_tag(Tag(id="", tenant_id=TENANT, display_name="VIP"))
        ids = []
        for i in range(count):
            customer = await self.profiles.create(
                Customer(id="", tenant_id=TENANT, display_name=f"C{i}")
            )
            ids.append(customer.id)
        job = await BulkOperations(self.jobs).start(
            tenant_id=TENANT,
            visibility=ADMIN,
            creator_member_id="admin",
            operation=BulkOperation(BulkAction.ADD_TAGS, tag_ids=(tag.id,)),
            target=BulkTarget(customer_ids=tuple(ids)),
        )
        return job, tag.id, ids

    async def tagged_times(self, customer_id: str, tag_id: str) -> int:
        """How often the customer was tagged with the tag, by its timeline."""
        timeline = await self.timelines.timeline(
            TENANT,
            ADMIN,
            customer_id,
            types=["customer.tagged"],
            start=None,
            end=None,
            after=[],
            limit=20,
        )
        return sum(f"tags/{tag_id}" in list(e.details.get("tags", [])) for e in timeline)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = service_database_urls(("customers",), tmp_path, "jobsrunner")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield World(engine)
    await engine.dispose()


async def test_the_worker_runs_jobs_started_while_it_waits(world: World) -> None:
    handler = BulkOperationHandler(world.new_uow, batch_size=2)
    runner = JobRunner(world.new_uow, {JobKind.BULK_OPERATION: handler}, poll_interval=0.05)
    stop = asyncio.Event()
    worker = asyncio.create_task(runner.run(stop))
    job, tag, ids = await world.tagging_job(3)
    for _ in range(400):
        current = await world.jobs.get(TENANT, ADMIN, job.id)
        if current.state.finished:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(worker, timeout=30)
    assert current.state is JobState.SUCCEEDED
    assert current.processed_count == 3
    tagged = [c for c in ids if tag in (await world.profiles.get(TENANT, ADMIN, c)).tags]
    assert tagged == ids


class StopAtFirstReport:
    """The process gets SIGTERM while the first batch is under way."""

    def __init__(self, ctx: JobContext, stop: asyncio.Event) -> None:
        self._ctx = ctx
        self._stop = stop

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
        self._stop.set()
        await self._ctx.report(
            processed=processed, succeeded=succeeded, failed=failed, errors=errors, cursor=cursor
        )

    async def set_result(self, result: dict[str, Any]) -> None:
        await self._ctx.set_result(result)


async def test_shutdown_finishes_the_batch_and_hands_the_job_back(world: World) -> None:
    job, _tag, ids = await world.tagging_job(5)
    stop = asyncio.Event()
    inner = BulkOperationHandler(world.new_uow, batch_size=2)

    class Stopping:
        async def run(self, ctx: JobContext) -> None:
            await inner.run(StopAtFirstReport(ctx, stop))

    await JobRunner(world.new_uow, {JobKind.BULK_OPERATION: Stopping()}).run(stop)
    handed_back = await world.jobs.get(TENANT, ADMIN, job.id)
    assert handed_back.state is JobState.PENDING
    assert (handed_back.processed_count, handed_back.cursor) == (2, {"index": 2})

    runner = JobRunner(world.new_uow, {JobKind.BULK_OPERATION: inner})
    assert await runner.run_until_idle() == 1
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert (done.state, done.processed_count, done.succeeded_count) == (JobState.SUCCEEDED, 5, 5)
    for cid in ids:
        timeline = await world.timelines.timeline(
            TENANT, ADMIN, cid, types=["customer.tagged"], start=None, end=None, after=[], limit=9
        )
        assert len(timeline) == 1


async def test_input_files_are_kept_in_chunks_and_kinds_without_handler_wait(
    world: World,
) -> None:
    content = bytes(range(256)) * (FILE_CHUNK_BYTES * 5 // 2 // 256)
    job = await world.jobs.start(
        tenant_id=TENANT,
        scope=scope_of(ADMIN),
        creator_member_id="admin",
        kind=JobKind.IMPORT,
        description="Import customers.csv",
        spec={"format": "csv"},
        input_file=content,
    )
    async with world.new_uow() as uow:
        chunks = [chunk async for chunk in uow.jobs.read_file(TENANT, job.id, "input")]
        assert [chunk async for chunk in uow.jobs.read_file("other", job.id, "input")] == []
    assert [len(c) for c in chunks] == [FILE_CHUNK_BYTES, FILE_CHUNK_BYTES, FILE_CHUNK_BYTES // 2]
    assert b"".join(chunks) == content

    bulk_only = JobRunner(
        world.new_uow, {JobKind.BULK_OPERATION: BulkOperationHandler(world.new_uow)}
    )
    assert await bulk_only.run_until_idle() == 0
    assert (await world.jobs.get(TENANT, ADMIN, job.id)).state is JobState.PENDING


async def test_a_finished_job_cannot_be_cancelled(world: World) -> None:
    job, _, _ = await world.tagging_job(1)
    runner = JobRunner(
        world.new_uow,
        {JobKind.BULK_OPERATION: BulkOperationHandler(world.new_uow)},
        lease=timedelta(seconds=5),
    )
    await runner.run_until_idle()
    with pytest.raises(FailedPrecondition):
        await world.jobs.cancel(TENANT, ADMIN, job.id)


async def test_two_workers_never_run_one_job_at_once(world: World) -> None:
    job, tag, ids = await world.tagging_job(4)
    runners = [
        JobRunner(
            world.new_uow,
            {JobKind.BULK_OPERATION: BulkOperationHandler(world.new_uow, batch_size=1)},
        )
        for _ in range(2)
    ]
    ran = await asyncio.gather(*(r.run_once() for r in runners))
    assert sorted(ran) == [False, True]
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert (done.state, done.processed_count) == (JobState.SUCCEEDED, 4)
    assert [await world.tagged_times(cid, tag) for cid in ids] == [1, 1, 1, 1]


class TakenOverAtFirstReport:
    """A worker too slow to renew its lease: another takes the job over meanwhile."""

    def __init__(self, ctx: JobContext, other: JobRunner) -> None:
        self._ctx = ctx
        self._other = other

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
        assert await self._other.run_until_idle() == 1
        await self._ctx.report(
            processed=processed, succeeded=succeeded, failed=failed, errors=errors, cursor=cursor
        )

    async def set_result(self, result: dict[str, Any]) -> None:
        await self._ctx.set_result(result)


async def test_a_worker_that_lost_its_lease_stops_writing(world: World) -> None:
    job, _, ids = await world.tagging_job(5)
    inner = BulkOperationHandler(world.new_uow, batch_size=2)
    later = JobRunner(
        world.new_uow,
        {JobKind.BULK_OPERATION: inner},
        clock=lambda: utc_now() + timedelta(minutes=5),
    )

    class Slow:
        async def run(self, ctx: JobContext) -> None:
            await inner.run(TakenOverAtFirstReport(ctx, later))

    assert await JobRunner(world.new_uow, {JobKind.BULK_OPERATION: Slow()}).run_once()
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    # The job as the second worker left it: its counts, not the first worker's.
    assert (done.state, done.processed_count, done.succeeded_count) == (JobState.SUCCEEDED, 5, 5)
    for cid in ids:
        timeline = await world.timelines.timeline(
            TENANT, ADMIN, cid, types=["customer.tagged"], start=None, end=None, after=[], limit=9
        )
        assert len(timeline) == 1
