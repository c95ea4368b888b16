"""Bulk operations as jobs: started by ids or by filter, run by the JobRunner,
resumed after a crash, cancelled, kept inside the starter's data scope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import read_event
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.tables import jobs, outbox, score_changes
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.blacklist import Blacklist
from customers.app.bulk_operations import BulkOperationHandler, BulkOperations
from customers.app.job_ports import JobContext
from customers.app.jobs import JobRunner, JobService
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.tags import TagIds, TagService
from customers.app.timeline import Timeline
from customers.domain.bulk import BulkAction, BulkOperation, BulkTarget
from customers.domain.jobs import Job, JobError, JobKind, JobState
from customers.domain.model import Customer, Tag, TagGroup

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-bulk"
ADMIN = Visibility(DataScope.ALL, "admin")
ANNA = Visibility(DataScope.OWN, "anna")


class Crash(BaseException):
    """The process dies: nothing after it is written (not an Exception, so no handler sees it)."""


class World:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = session_factory(engine)

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(self.sessions, outbox)

        self.new_uow = new_uow
        self.blacklists = Blacklist(new_uow)
        self.profiles = CustomerProfiles(new_uow)
        self.scores = ScoreAdjustments(new_uow)
        self.timelines = Timeline(new_uow)
        self.tags = TagService(new_uow)
        self.jobs = JobService(new_uow)
        self.bulk = BulkOperations(self.jobs)

    def runner(
        self,
        *,
        batch_size: int = 2,
        later: timedelta = timedelta(0),
        handler: BulkOperationHandler | None = None,
    ) -> JobRunner:
        return JobRunner(
            self.new_uow,
            {
                JobKind.BULK_OPERATION: handler
                or BulkOperationHandler(self.new_uow, batch_size=batch_size)
            },
            lease=timedelta(seconds=30),
            clock=lambda: utc_now() + later,
        )

    async def customer(self, name: str = "Anna", owner: str = "ben") -> str:
        created = await self.profiles.create(
            Customer(id="", tenant_id=TENANT, display_name=name, owner_member_id=owner)
        )
        return created.id

    async def tag(self, name: str, group_id: str = "") -> str:
        tag = await self.tags.create_tag(
            Tag(id="", tenant_id=TENANT, display_name=name, group_id=group_id)
        )
        return tag.id

    async def start(
        self,
        operation: BulkOperation,
        *,
        ids: Sequence[str] = (),
        condition: Any = None,
        visibility: Visibility = ADMIN,
        request_id: str = "",
    ) -> Job:
        return await self.bulk.start(
            tenant_id=TENANT,
            visibility=visibility,
            creator_member_id=visibility.member_id,
            operation=operation,
            target=BulkTarget(customer_ids=tuple(ids), condition=condition),
            request_id=request_id,
        )

    async def events(self, event_type: str) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.subject.endswith("." + event_type))
            )
        return int(count or 0)

    async def timeline(self, customer_id: str, event_type: str) -> list[Any]:
        return await self.timelines.timeline(
            TENANT, ADMIN, customer_id, types=[event_type], start=None, end=None, after=[], limit=50
        )

    async def get(self, customer_id: str) -> Customer:
        return await self.profiles.get(TENANT, ADMIN, customer_id)

    async def holders(self, tag_id: str, customer_ids: list[str]) -> list[str]:
        """The customers among these that have the tag, in the same order."""
        return [c for c in customer_ids if tag_id in (await self.get(c)).tags]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = service_database_urls(("customers",), tmp_path, "jobsbulk")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield World(engine)
    await engine.dispose()


def add_tags(*tag_ids: str) -> BulkOperation:
    return BulkOperation(BulkAction.ADD_TAGS, tag_ids=tag_ids)


async def test_add_tags_by_ids_respects_exclusive_groups_and_reports_missing(world: World) -> None:
    group = await world.tags.create_group(
        TagGroup(id="", tenant_id=TENANT, display_name="Tier", exclusive=True)
    )
    gold = await world.tag("Gold", group.id)
    silver = await world.tag("Silver", group.id)
    c0, c1, c2 = [await world.customer(f"C{i}") for i in range(3)]
    await world.tags.change_customer_tags(
        TENANT, ADMIN, c0, TagIds([silver]), actor="members/admin"
    )
    before = await world.get(c0)

    job = await world.start(add_tags(gold), ids=[c0, c1, "no-such-customer", c2, c1])
    assert job.state is JobState.PENDING
    assert job.description == "Add tag Gold to 4 customers"
    assert await world.runner().run_until_idle() == 1

    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert done.state is JobState.SUCCEEDED
    assert (done.total_count, done.processed_count) == (4, 4)
    assert (done.succeeded_count, done.failed_count) == (3, 1)
    assert [e.customer_id for e in done.errors] == ["no-such-customer"]
    assert done.started_at is not None
    assert done.ended_at is not None
    for cid in (c0, c1, c2):
        assert (await world.get(cid)).tags == frozenset({gold})
    after = await world.get(c0)
    assert after.version == before.version + 1
    assert await world.events("customer.tagged") == 1 + 3  # Silver earlier, then Gold
    assert await world.events("customer.untagged") == 1
    [tagged] = await world.timeline(c2, "customer.tagged")
    assert tagged.actor == "members/admin"
    assert tagged.details == {"tags": [f"tags/{gold}"], "job": f"jobs/{job.id}"}
    assert tagged.summary == "Tagged Gold"
    [untagged] = await world.timeline(c0, "customer.untagged")
    assert untagged.details["tags"] == [f"tags/{silver}"]


async def test_add_tags_by_filter_walks_every_match(world: World) -> None:
    vip = await world.tag("VIP")
    lead = await world.tag("Lead")
    leads = [await world.customer(f"Lead {i}") for i in range(5)]
    others = [await world.customer(f"Other {i}") for i in range(2)]
    for cid in leads:
        await world.tags.change_customer_tags(TENANT, ADMIN, cid, TagIds([lead]), actor="x")
    await world.tags.change_customer_tags(TENANT, ADMIN, leads[0], TagIds([vip]), actor="x")

    condition = Leaf("tags", Op.HAS_ANY_TAG, (lead,))
    job = await world.start(add_tags(vip), condition=condition)
    assert job.description == "Add tag VIP to 5 customers"
    await world.runner(batch_size=2).run_until_idle()

    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert done.state is JobState.SUCCEEDED
    assert (done.total_count, done.processed_count, done.succeeded_count) == (5, 5, 5)
    assert await world.holders(vip, leads + others) == leads
    # leads[0] had VIP already: tagged by hand once, not again by the job.
    assert await world.events("customer.tagged") == 5 + 1 + 4
    assert len(await world.timeline(leads[0], "customer.tagged")) == 2


class CrashingSecondPage(BulkOperationHandler):
    """Dies while applying its second page of matching customers."""

    pages = 0

    async def _apply_alone(self, *args: Any) -> None:
        self.pages += 1
        if self.pages == 2:
            await asyncio.sleep(0)
            raise Crash
        await super()._apply_alone(*args)


async def test_pages_worked_side_by_side_save_progress_in_order_and_resume(
    world: World,
) -> None:
    vip = await world.tag("VIP")
    ids = sorted([await world.customer(f"C{i}") for i in range(9)])
    job = await world.start(add_tags(vip), condition=Leaf("display_name", Op.IS_NOT_EMPTY, ()))

    crashing = CrashingSecondPage(world.new_uow, batch_size=2, batches_at_once=2)
    with pytest.raises(Crash):
        await world.runner(handler=crashing).run_once()
    half = await world.jobs.get(TENANT, ADMIN, job.id)
    assert half.state is JobState.RUNNING
    # The first page committed and was saved; the second died, and the third
    # (worked beside it) finished but is not counted.
    assert (half.processed_count, half.cursor) == (2, {"after_id": ids[1]})

    side_by_side = BulkOperationHandler(world.new_uow, batch_size=2, batches_at_once=2)
    later = world.runner(handler=side_by_side, later=timedelta(minutes=5))
    assert await later.run_until_idle() == 1
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert done.state is JobState.SUCCEEDED
    assert (done.total_count, done.processed_count, done.succeeded_count) == (9, 9, 9)
    assert done.cursor == {"after_id": ids[-1]}
    assert await world.holders(vip, ids) == ids
    assert await world.events("customer.tagged") == 9
    for cid in ids:
        assert len(await world.timeline(cid, "customer.tagged")) == 1
        assert (await world.get(cid)).version == 2


async def test_a_jobs_events_and_timeline_rows_read_and_sort_like_any_others(
    world: World,
) -> None:
    vip = await world.tag("VIP")
    lead = await world.tag("Lead")
    ids = [await world.customer(f"C{i}") for i in range(3)]
    job = await world.start(add_tags(vip), ids=ids)
    await world.runner(batch_size=2).run_until_idle()
    # A tag added by hand after the job: its timeline row is the newer one.
    await world.tags.change_customer_tags(
        TENANT, ADMIN, ids[1], TagIds([lead]), actor="members/admin"
    )

    later, by_job = await world.timeline(ids[1], "customer.tagged")
    assert (later.details["tags"], by_job.details["tags"]) == ([f"tags/{lead}"], [f"tags/{vip}"])
    assert by_job.occurred_at < later.occurred_at
    since = await world.timelines.timeline(
        TENANT,
        ADMIN,
        ids[1],
        types=["customer.tagged"],
        start=by_job.occurred_at + timedelta(microseconds=1),
        end=None,
        after=[],
        limit=50,
    )
    assert [e.event_id for e in since] == [later.event_id]

    for cid in ids:
        row = (await world.timeline(cid, "customer.tagged"))[-1]  # the oldest: the job's
        async with world.sessions() as session:
            payload = await session.scalar(
                select(outbox.c.payload).where(outbox.c.id == row.event_id)
            )
        event = read_event(payload)
        assert (event.event_id, event.tenant_id, event.type) == (
            row.event_id,
            TENANT,
            "customer.tagged",
        )
        payload = event.payload
        assert isinstance(payload, customer_events_pb2.CustomerTagged)
        # the customer after the job tagged them (adapters/snapshots.py)
        assert (list(payload.snapshot.tags), list(payload.snapshot.tag_labels)) == (
            [f"tags/{vip}"],
            ["VIP"],
        )
        assert payload.snapshot.version == 2  # created, then tagged
        payload.ClearField("snapshot")
        assert payload == customer_events_pb2.CustomerTagged(
            customer=f"customers/{cid}", tags=[f"tags/{vip}"]
        )
        assert row.details == {"tags": [f"tags/{vip}"], "job": f"jobs/{job.id}"}


async def test_a_repeated_request_id_returns_the_first_job(world: World) -> None:
    vip = await world.tag("VIP")
    cid = await world.customer()
    first = await world.start(add_tags(vip), ids=[cid], request_id="req-1")
    again = await world.start(add_tags(vip), ids=[cid], request_id="req-1")
    assert again.id == first.id
    racing = await asyncio.gather(
        *(world.start(add_tags(vip), ids=[cid], request_id="req-2") for _ in range(4))
    )
    assert len({job.id for job in racing}) == 1
    async with world.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(jobs)) == 2


class CrashOnReport:
    """A JobContext that dies at its nth report, after the batch committed but
    before its progress (and cursor) is saved."""

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


class CrashingHandler:
    def __init__(self, world: World, crash_at: int) -> None:
        self._inner = BulkOperationHandler(world.new_uow, batch_size=3)
        self._crash_at = crash_at

    async def run(self, ctx: JobContext) -> None:
        await self._inner.run(CrashOnReport(ctx, self._crash_at))


async def crash_then_resume(world: World, job: Job) -> Job:
    crashing = JobRunner(world.new_uow, {JobKind.BULK_OPERATION: CrashingHandler(world, 2)})
    with pytest.raises(Crash):
        await crashing.run_once()
    half = await world.jobs.get(TENANT, ADMIN, job.id)
    assert half.state is JobState.RUNNING
    assert (half.processed_count, half.cursor) == (3, {"index": 3})
    # While the dead worker's lease runs, nobody else takes the job.
    assert await world.runner(batch_size=3).run_once() is False
    # Once it ran out, another worker does, and carries on from the cursor.
    assert await world.runner(batch_size=3, later=timedelta(minutes=5)).run_until_idle() == 1
    return await world.jobs.get(TENANT, ADMIN, job.id)


async def test_a_job_killed_mid_way_resumes_and_changes_each_customer_once(world: World) -> None:
    vip = await world.tag("VIP")
    ids = [await world.customer(f"C{i}") for i in range(8)]
    job = await world.start(add_tags(vip), ids=ids)

    done = await crash_then_resume(world, job)
    assert done.state is JobState.SUCCEEDED
    assert (done.total_count, done.processed_count, done.succeeded_count) == (8, 8, 8)
    assert await world.events("customer.tagged") == 8
    for cid in ids:
        assert len(await world.timeline(cid, "customer.tagged")) == 1
        assert (await world.get(cid)).version == 2


async def test_a_resumed_score_adjustment_counts_once(world: World) -> None:
    ids = [await world.customer(f"C{i}") for i in range(7)]
    operation = BulkOperation(BulkAction.ADJUST_SCORE, delta=5, reason="campaign")
    job = await world.start(operation, ids=ids)
    assert job.description == "Adjust the score of 7 customers by +5"

    done = await crash_then_resume(world, job)
    assert done.state is JobState.SUCCEEDED
    assert [(await world.get(cid)).score for cid in ids] == [5] * 7
    assert await world.events("customer.scored") == 7
    history = await world.scores.score_history(TENANT, ADMIN, ids[4], after=[], limit=5)
    assert [(h.delta, h.score, h.request_id, h.source) for h in history] == [
        (5, 5, f"job:{job.id}", "members/admin")
    ]
    async with world.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(score_changes))
    assert rows == 7


async def test_blacklist_assign_owner_and_remove_tags(world: World) -> None:
    vip = await world.tag("VIP")
    ids = [await world.customer(f"C{i}") for i in range(3)]
    await world.blacklists.blacklist(TENANT, ADMIN, ids[0], "spam", actor="members/admin")
    for cid in ids[:2]:
        await world.tags.change_customer_tags(TENANT, ADMIN, cid, TagIds([vip]), actor="x")
    runner = world.runner()

    await world.start(BulkOperation(BulkAction.BLACKLIST, reason="fraud ring"), ids=ids)
    await runner.run_until_idle()
    assert await world.events("customer.blacklisted") == 1 + 2  # the blacklisted one is left
    assert (await world.get(ids[0])).blacklist_reason == "spam"
    assert (await world.get(ids[2])).blacklist_reason == "fraud ring"

    move = BulkOperation(BulkAction.ASSIGN_OWNER, owner_member_id="carl", department_id="sales")
    await world.start(move, ids=ids)
    await runner.run_until_idle()
    for cid in ids:
        moved = await world.get(cid)
        assert (moved.owner_member_id, moved.department_id) == ("carl", "sales")
    [updated] = await world.timeline(ids[1], "customer.updated")
    assert updated.details["owner"] == "members/carl"
    assert updated.details["department"] == "departments/sales"

    job = await world.start(BulkOperation(BulkAction.REMOVE_TAGS, tag_ids=(vip,)), ids=ids)
    assert job.description == "Remove tag VIP from 3 customers"
    await runner.run_until_idle()
    assert await world.holders(vip, ids) == []
    assert await world.events("customer.untagged") == 2


async def test_cancel_a_pending_and_a_running_job(world: World) -> None:
    vip = await world.tag("VIP")
    ids = [await world.customer(f"C{i}") for i in range(6)]

    pending = await world.start(add_tags(vip), ids=ids)
    cancelled = await world.jobs.cancel(TENANT, ADMIN, pending.id)
    assert cancelled.state is JobState.CANCELLED
    assert await world.runner().run_until_idle() == 0

    running = await world.start(add_tags(vip), ids=ids)

    class CancelDuringFirstBatch:
        async def run(self, ctx: JobContext) -> None:
            inner = BulkOperationHandler(world.new_uow, batch_size=2)
            await world.jobs.cancel(TENANT, ADMIN, running.id)
            await inner.run(ctx)

    runner = JobRunner(world.new_uow, {JobKind.BULK_OPERATION: CancelDuringFirstBatch()})
    await runner.run_until_idle()
    stopped = await world.jobs.get(TENANT, ADMIN, running.id)
    assert stopped.state is JobState.CANCELLED
    assert stopped.processed_count == 2
    assert await world.events("customer.tagged") == 2


async def test_a_member_with_own_scope_touches_and_sees_only_their_own(world: World) -> None:
    vip = await world.tag("VIP")
    mine = [await world.customer(f"Anna's {i}", owner="anna") for i in range(3)]
    theirs = [await world.customer(f"Ben's {i}", owner="ben") for i in range(2)]
    everyone = Leaf("display_name", Op.IS_NOT_EMPTY, ())

    job = await world.start(add_tags(vip), condition=everyone, visibility=ANNA)
    assert job.description == "Add tag VIP to 3 customers"
    await world.runner().run_until_idle()
    assert await world.holders(vip, mine + theirs) == mine

    by_ids = await world.start(add_tags(vip), ids=[theirs[0], mine[0]], visibility=ANNA)
    await world.runner().run_until_idle()
    done = await world.jobs.get(TENANT, ANNA, by_ids.id)
    assert (done.succeeded_count, done.failed_count) == (1, 1)
    assert [e.customer_id for e in done.errors] == [theirs[0]]
    assert vip not in (await world.get(theirs[0])).tags

    admins = await world.start(add_tags(vip), ids=mine)
    with pytest.raises(NotFound):
        await world.jobs.get(TENANT, ANNA, admins.id)
    with pytest.raises(NotFound):
        await world.jobs.cancel(TENANT, ANNA, admins.id)
    department = Visibility(DataScope.DEPARTMENT, "dora", frozenset({"sales"}))
    with pytest.raises(NotFound):
        await world.jobs.get(TENANT, department, job.id)
    assert (await world.jobs.get(TENANT, ADMIN, job.id)).creator_member_id == "anna"
    listed = await world.jobs.page(TENANT, ANNA, after=[], limit=10)
    assert [j.id for j in listed] == [by_ids.id, job.id]


@pytest.mark.parametrize(
    ("operation", "target", "fields"),
    [
        (add_tags("nope"), BulkTarget(customer_ids=("c",)), ["add_tags.tags[0]"]),
        (add_tags(), BulkTarget(customer_ids=("c",)), ["add_tags.tags"]),
        (
            BulkOperation(BulkAction.ADJUST_SCORE, delta=0, reason=""),
            BulkTarget(customer_ids=("c",)),
            ["adjust_score.delta", "adjust_score.reason"],
        ),
        (
            BulkOperation(BulkAction.ASSIGN_OWNER),
            BulkTarget(customer_ids=("c",)),
            ["assign_owner.owner"],
        ),
        (
            BulkOperation(BulkAction.BLACKLIST),
            BulkTarget(customer_ids=("c",)),
            ["blacklist.reason"],
        ),
        (
            BulkOperation(BulkAction.BLACKLIST, reason="x"),
            BulkTarget(customer_ids=("c",), condition=Leaf("score", Op.GT, (1,))),
            ["customers"],
        ),
        (BulkOperation(BulkAction.BLACKLIST, reason="x"), BulkTarget(), ["customers"]),
        (
            BulkOperation(BulkAction.BLACKLIST, reason="x"),
            BulkTarget(customer_ids=tuple(str(i) for i in range(10_001))),
            ["customers"],
        ),
    ],
)
async def test_bad_requests_name_the_field_and_write_nothing(
    world: World, operation: BulkOperation, target: BulkTarget, fields: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await world.bulk.start(
            tenant_id=TENANT,
            visibility=ADMIN,
            creator_member_id="admin",
            operation=operation,
            target=target,
        )
    assert [v.field for v in bad.value.violations] == fields
    async with world.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(jobs)) == 0


async def test_two_tags_of_one_exclusive_group_are_refused(world: World) -> None:
    group = await world.tags.create_group(
        TagGroup(id="", tenant_id=TENANT, display_name="Tier", exclusive=True)
    )
    gold, silver = await world.tag("Gold", group.id), await world.tag("Silver", group.id)
    with pytest.raises(InvalidArgument) as bad:
        await world.start(add_tags(gold, silver), ids=["c"])
    assert [v.field for v in bad.value.violations] == ["add_tags.tags[1]"]


async def test_a_tag_deleted_before_the_run_fails_the_job(world: World) -> None:
    vip = await world.tag("VIP")
    cid = await world.customer()
    job = await world.start(add_tags(vip), ids=[cid])
    await world.tags.delete_tag(TENANT, vip, "", actor="members/admin")
    await world.runner().run_until_idle()
    failed = await world.jobs.get(TENANT, ADMIN, job.id)
    assert failed.state is JobState.FAILED
    assert f"tags/{vip}" in failed.error_message
    assert (await world.get(cid)).tags == frozenset()


async def test_only_the_first_errors_are_kept(world: World) -> None:
    cid = await world.customer()
    missing = [f"missing-{i:03d}" for i in range(150)]
    job = await world.start(BulkOperation(BulkAction.BLACKLIST, reason="x"), ids=[*missing, cid])
    await world.runner(batch_size=40).run_until_idle()
    done = await world.jobs.get(TENANT, ADMIN, job.id)
    assert (done.processed_count, done.succeeded_count, done.failed_count) == (151, 1, 150)
    assert [e.customer_id for e in done.errors] == missing[:100]
