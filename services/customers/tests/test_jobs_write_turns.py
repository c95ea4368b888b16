"""A bulk job written in slices lets single-customer writes in between, and resumes once;
its slices stay short while others wait to write.

On SQLite a single write that comes while a slice holds the write lock
waits for that slice only (at the engine's WriteGate), not for the page,
and goes before the job's next slice. On PostgreSQL a write to a customer
the slice does not hold does not wait at all. Orders are asserted, never
durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.db.write_gate import begin_writing, gate_of
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.bulk_operations import BulkOperationHandler, BulkOperations
from customers.app.jobs import JobRunner, JobService
from customers.app.lifecycle import LifecycleStages
from customers.app.profiles import CustomerProfiles
from customers.app.tags import TagService
from customers.app.write_slices import SliceSizer, SliceWritten
from customers.domain.bulk import BulkAction, BulkOperation, BulkTarget
from customers.domain.jobs import Job, JobKind, JobState
from customers.domain.model import Customer, LifecycleStage, Tag

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-write-turns"
ADMIN = Visibility(DataScope.ALL, "admin")


class Crash(BaseException):
    """The process dies (not an Exception, so no handler sees it)."""


class SliceUow(CustomersUnitOfWork):
    """The job's units of work: each commit of a slice is logged; the first
    can be held open (its writes done, its lock held), and one can crash."""

    def __init__(self, world: World, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._world = world

    async def commit(self) -> None:
        world = self._world
        world.slices += 1
        number = world.slices
        if number == world.crash_at:
            raise Crash
        if number == 1 and world.hold_first is not None:
            world.first_holding.set()
            await world.hold_first.wait()
        await super().commit()
        world.log.append(f"slice {number}")


class World:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.log: list[str] = []
        self.slices = 0
        self.crash_at = 0
        self.hold_first: asyncio.Event | None = None
        self.first_holding = asyncio.Event()

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(self.sessions, outbox)

        self.new_uow = new_uow
        self.profiles = CustomerProfiles(new_uow)
        self.stages = LifecycleStages(new_uow)
        self.jobs = JobService(new_uow)

    def job_uow(self) -> CustomersUnitOfWork:
        return SliceUow(self, self.sessions, outbox)

    def runner(self, *, later: timedelta = timedelta(0)) -> JobRunner:
        # Slices of two customers (a write time too short for more), a page of six.
        handler = BulkOperationHandler(
            self.job_uow, batch_size=6, write_seconds=1e-9, smallest_slice=2
        )
        return JobRunner(
            self.new_uow,
            {JobKind.BULK_OPERATION: handler},
            lease=timedelta(seconds=30),
            clock=lambda: utc_now() + later,
        )

    async def setup(self, count: int) -> tuple[str, list[str]]:
        vip = await TagService(self.new_uow).create_tag(
            Tag(id="", tenant_id=TENANT, display_name="VIP")
        )
        ids = [
            (await self.profiles.create(Customer(id="", tenant_id=TENANT, display_name=f"C{i}"))).id
            for i in range(count)
        ]
        return vip.id, sorted(ids)  # the job walks them in id order

    async def start(self, tag_id: str) -> Job:
        return await BulkOperations(self.jobs).start(
            tenant_id=TENANT,
            visibility=ADMIN,
            creator_member_id="admin",
            operation=BulkOperation(BulkAction.ADD_TAGS, tag_ids=(tag_id,)),
            target=BulkTarget(condition=Leaf("display_name", Op.IS_NOT_EMPTY, ())),
        )

    async def tagged_events(self) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.subject.endswith(".customer.tagged"))
            )
        return int(count or 0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = service_database_urls(("customers",), tmp_path, "writeturns")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield World(engine)
    await engine.dispose()


async def until(condition: Callable[[], bool]) -> None:
    """Yields to the event loop until the condition holds (the gate offers no event)."""
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_a_single_write_gets_its_turn_between_the_slices_of_a_bulk_job(
    world: World,
) -> None:
    vip, ids = await world.setup(6)
    job = await world.start(vip)
    world.hold_first = asyncio.Event()
    running = asyncio.create_task(world.runner().run_until_idle())
    await world.first_holding.wait()  # slice 1 (ids[0], ids[1]) has written, not committed

    sqlite = world.engine.dialect.name == "sqlite"
    # On SQLite any customer waits for the slice; on PostgreSQL one the slice holds would.
    target = ids[5] if not sqlite else ids[3]

    async def single_write() -> None:
        await world.stages.set_lifecycle_stage(
            TENANT, ADMIN, target, LifecycleStage.DEAL, "", actor="members/ben"
        )
        world.log.append("single write")

    single = asyncio.create_task(single_write())
    if sqlite:
        gate = gate_of(world.engine)
        assert gate is not None
        await until(lambda: gate.waiting == 1)  # queued behind the slice, not failed
    else:
        await single  # PostgreSQL: a customer the slice does not hold is not waited for
    world.hold_first.set()
    await asyncio.gather(running, single)

    if sqlite:
        assert world.log == ["slice 1", "single write", "slice 2", "slice 3"]
    else:
        assert world.log == ["single write", "slice 1", "slice 2", "slice 3"]
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert done.state is JobState.SUCCEEDED
    assert (done.total_count, done.succeeded_count) == (6, 6)
    assert await world.tagged_events() == 6
    changed = await world.profiles.get(TENANT, ADMIN, target)
    assert changed.lifecycle_stage is LifecycleStage.DEAL
    assert vip in changed.tags


async def test_a_job_killed_between_two_slices_of_a_page_resumes_and_tags_each_once(
    world: World,
) -> None:
    vip, ids = await world.setup(6)
    job = await world.start(vip)
    world.crash_at = 2
    with pytest.raises(Crash):
        await world.runner().run_once()
    half = await world.jobs.get(TENANT, ADMIN, job.id)
    # Slice 1 committed, but the page was never reported: the job resumes from its start.
    assert half.state is JobState.RUNNING
    assert (half.processed_count, half.cursor) == (0, {})
    assert world.log == ["slice 1"]
    assert await world.tagged_events() == 2

    world.crash_at = 0
    assert await world.runner(later=timedelta(minutes=5)).run_until_idle() == 1
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert done.state is JobState.SUCCEEDED
    assert (done.total_count, done.processed_count, done.succeeded_count) == (6, 6, 6)
    assert await world.tagged_events() == 6
    for customer_id in ids:
        customer = await world.profiles.get(TENANT, ADMIN, customer_id)
        assert vip in customer.tags
        assert customer.version == 2


async def test_a_slice_that_writers_queued_for_before_it_began_counts_as_waited_for(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several callers writing one after the other ask for their turns while
    the job's next slice waits for its own: they wait for the slice without
    asking during it. Such a slice was taken for a quiet one and the next was
    made twice as long (up to 320 ms), so every caller waited for long slices."""
    if world.engine.dialect.name != "sqlite":
        pytest.skip("writers take turns on SQLite only")
    gate = gate_of(world.engine)
    assert gate is not None
    written: list[SliceWritten] = []

    class Recorded(SliceSizer):
        def took(self, count: int, slice_: SliceWritten) -> None:
            written.append(slice_)
            super().took(count, slice_)

    monkeypatch.setattr("customers.app.bulk_operations.SliceSizer", Recorded)
    vip, ids = await world.setup(6)
    await world.start(vip)
    world.hold_first = asyncio.Event()
    running = asyncio.create_task(world.runner().run_until_idle())
    await world.first_holding.wait()  # slice 1 holds the gate

    holding, release = asyncio.Event(), asyncio.Event()

    async def other_writer() -> None:  # takes the gate after slice 1, before slice 2
        async with world.sessions() as session:
            await begin_writing(session)
            holding.set()
            await release.wait()
            await session.commit()
        world.log.append("other writer")

    other = asyncio.create_task(other_writer())
    await until(lambda: gate.waiting == 1)
    world.hold_first.set()
    await holding.wait()
    await until(lambda: gate.waiting == 1)  # slice 2 waits for its turn

    async def single_write() -> None:  # asks before slice 2 begins, waits for all of it
        await world.stages.set_lifecycle_stage(
            TENANT, ADMIN, ids[5], LifecycleStage.DEAL, "", actor="members/ben"
        )
        world.log.append("single write")

    single = asyncio.create_task(single_write())
    await until(lambda: gate.waiting == 2)
    release.set()
    await asyncio.gather(running, other, single)

    assert world.log == ["slice 1", "other writer", "slice 2", "single write", "slice 3"]
    # Slice 1 was measured before anyone queued (its commit is held); slice 2
    # was waited for by the single write all along.
    assert [w.others_waited for w in written] == [False, True, False]


def test_slices_stay_short_while_others_wait_and_grow_while_nobody_does() -> None:
    sizer = SliceSizer(0.04, stretch=8, smallest=100, largest=10_000)
    assert sizer.next_size == 100
    sizer.took(100, SliceWritten(seconds=0.01, others_waited=True))  # 10,000 a second
    assert sizer.next_size == 400  # 40 ms of them
    sizer.took(400, SliceWritten(seconds=0.04, others_waited=False))
    assert sizer.next_size == 800
    for _ in range(5):
        sizer.took(
            sizer.next_size, SliceWritten(seconds=sizer.next_size / 10_000, others_waited=False)
        )
    assert sizer.next_size == 3_200  # at most 8 times as long
    sizer.took(3_200, SliceWritten(seconds=0.32, others_waited=True))
    assert sizer.next_size == 400
