"""Bulk operations: tag, untag, score, reassign or blacklist many customers as a job.

``BulkOperations.start`` checks the request and writes the job;
``BulkOperationHandler`` (run by the JobRunner) does the work in batches.
Each batch is one unit of work holding the changes, one event and one
timeline row per customer changed; the writes are set-based and skip what
is already done, so a resumed job changes and tells each customer once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.job_ports import JobContext
from customers.app.jobs import JobService, scope_of, visibility_of
from customers.app.ports import UnitOfWork
from customers.app.tags import tag_name
from customers.app.write_slices import SliceSizer, SliceWritten, in_slices
from customers.domain.bulk import (
    BulkAction,
    BulkOperation,
    BulkTarget,
    describe,
    spec_from_json,
    spec_to_json,
    validate_operation,
    validate_target,
)
from customers.domain.events import (
    CustomerBlacklisted,
    CustomerEvent,
    CustomerScored,
    CustomerTagged,
    CustomerUntagged,
    CustomerUpdated,
)
from customers.domain.jobs import Job, JobError, JobKind, job_name
from customers.domain.model import (
    ScoreChange,
    Tag,
    TimelineEntry,
    displaced_by_exclusive,
    validate_request_id,
)
from customers.domain.names import customer_name

# Customers per unit of work: bigger batches rewrite fewer pages (the ids are
# random, so every batch touches pages all over the customers table; on
# SQLite each commit then copies them back from the WAL). 10,000 costs about
# a third less than 5,000 there; beyond it the gain is small and the batch's
# locks are held longer.
DEFAULT_BATCH_SIZE = 10_000

# While nobody else waits to write, slices grow up to this long (write_slices):
# fewer, longer transactions finish the job sooner.
LONGEST_SLICE_SECONDS = 0.32


async def _tags_of(
    uow: UnitOfWork, tenant_id: str, operation: BulkOperation
) -> tuple[list[Tag], list[FieldViolation]]:
    """The operation's tags in order, and a violation for each that does not exist."""
    known = await uow.tags.tags(tenant_id, set(operation.tag_ids))
    missing = [
        FieldViolation(f"{operation.action.value}.tags[{i}]", f"no tag {tag_name(t)!r}")
        for i, t in enumerate(operation.tag_ids)
        if t not in known
    ]
    return [known[t] for t in operation.tag_ids if t in known], missing


@dataclass(frozen=True)
class BulkOperations:
    jobs: JobService

    async def start(
        self,
        *,
        tenant_id: str,
        visibility: Visibility,
        creator_member_id: str,
        operation: BulkOperation,
        target: BulkTarget,
        request_id: str = "",
    ) -> Job:
        """Checks everything up front, then writes the job (PENDING) for a worker."""
        operation = validate_operation(operation)
        target = validate_target(target)
        request_id = validate_request_id(request_id)
        labels: dict[str, str] = {}
        async with self.jobs.new_uow() as uow:
            if operation.action in (BulkAction.ADD_TAGS, BulkAction.REMOVE_TAGS):
                tags, missing = await _tags_of(uow, tenant_id, operation)
                if missing:
                    raise InvalidArgument(missing)
                if operation.action is BulkAction.ADD_TAGS:
                    # Two tags of one exclusive group cannot both be added.
                    groups = await uow.tags.groups(
                        tenant_id, {t.group_id for t in tags if t.group_id}
                    )
                    displaced_by_exclusive(
                        frozenset(), tags, groups, {}, field_name="add_tags.tags"
                    )
                labels = {t.id: t.display_name for t in tags}
            if target.condition is None:
                count = len(target.customer_ids)
            else:
                count = await uow.customers.count(tenant_id, visibility, target.condition)
        return await self.jobs.start(
            tenant_id=tenant_id,
            scope=scope_of(visibility),
            creator_member_id=creator_member_id,
            kind=JobKind.BULK_OPERATION,
            description=describe(operation, count, labels),
            spec=spec_to_json(operation, target),
            request_id=request_id,
        )


@dataclass(frozen=True)
class _Change:
    customer_id: str
    payload: CustomerEvent
    summary: str
    details: dict[str, object]


@dataclass
class _Batch:
    """What one batch changed: an event and a timeline row per customer and change.

    The changes are collected first, then staged (``stage``: one envelope
    template per event type, the timeline entries) and written (``write``).
    Staging is Python work that uses no connection, done in worker threads,
    so a batch may run it while its own statements run (``_change_tags``).
    Changes that say the same (the same tags added, say) share one details
    dict, so it is serialized once.
    """

    tenant_id: str
    actor: str
    job: str
    changes: list[_Change] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    def details(self, **fields: object) -> dict[str, object]:
        """A timeline row's details: the fields and the job."""
        return {**fields, "job": self.job}

    def record(
        self,
        customer_id: str,
        payload: CustomerEvent,
        summary: str,
        details: dict[str, object],
    ) -> None:
        self.changes.append(_Change(customer_id, payload, summary, details))

    async def stage(self, uow: UnitOfWork) -> None:
        """Stage the events recorded so far in the unit of work and make their
        timeline entries."""
        if not self.changes:
            return
        changes, self.changes = self.changes, []
        event_ids = await uow.emit_many(self.tenant_id, [c.payload for c in changes])
        self.timeline += await asyncio.to_thread(self._timeline_of, event_ids, changes)

    def _timeline_of(self, event_ids: list[str], changes: list[_Change]) -> list[TimelineEntry]:
        now = utc_now()
        return [
            TimelineEntry(
                event_id=event_id,
                tenant_id=self.tenant_id,
                customer_id=c.customer_id,
                type=c.payload.type,
                occurred_at=now,
                summary=c.summary,
                actor=self.actor,
                resource=customer_name(c.customer_id),
                details=c.details,
            )
            for event_id, c in zip(event_ids, changes, strict=True)
        ]

    async def write(self, uow: UnitOfWork) -> None:
        """Stage what is left and write the timeline rows (the events go with commit)."""
        await self.stage(uow)
        timeline, self.timeline = self.timeline, []
        if timeline:
            await uow.jobs.bulk.add_timeline(timeline)


@dataclass(frozen=True)
class _TagPlan:
    tag_ids: tuple[str, ...]
    # Tags of exclusive groups that the added tags push out.
    displaced: frozenset[str]
    labels: dict[str, str]

    def summary(self, verb: str, tag_ids: Sequence[str]) -> str:
        return verb + " " + ", ".join(sorted(self.labels.get(t, t) for t in tag_ids))


class BulkOperationHandler:
    """Runs BULK_OPERATION jobs: batches of customers, each batch one unit of work."""

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batches_at_once: int = 1,
        write_seconds: float | None = None,
        smallest_slice: int = 25,
    ) -> None:
        """``batches_at_once``: how many pages of matching customers are worked
        on at the same time, each in its own transaction; more than one only
        where the database lets two writers work side by side (PostgreSQL, not
        SQLite).

        ``write_seconds``: how long one write transaction should last while
        others wait to write; a page is then written in slices of about that
        length (``write_slices``: longer while nobody waits), so that other
        writers get their turn in between. None writes each page in
        one transaction. A slice holds at least ``smallest_slice`` customers and
        lasts up to ``LONGEST_SLICE_SECONDS`` while nobody else waits."""
        self.new_uow = new_uow
        self.batch_size = batch_size
        self.batches_at_once = batches_at_once
        self.write_seconds = write_seconds
        self.smallest_slice = smallest_slice

    async def run(self, ctx: JobContext) -> None:
        job = ctx.job
        operation, target = spec_from_json(job.spec)
        visibility = visibility_of(job.scope)
        plan = await self._tag_plan(job, operation)
        sizer = (
            None
            if self.write_seconds is None
            else SliceSizer(
                self.write_seconds,
                stretch=max(1, round(LONGEST_SLICE_SECONDS / self.write_seconds)),
                smallest=self.smallest_slice,
                largest=self.batch_size,
            )
        )
        if target.condition is None:
            await self._run_ids(ctx, operation, plan, visibility, target.customer_ids, sizer)
        else:
            await self._run_matching(ctx, operation, plan, visibility, target, sizer)

    async def _run_ids(
        self,
        ctx: JobContext,
        operation: BulkOperation,
        plan: _TagPlan,
        visibility: Visibility,
        customer_ids: tuple[str, ...],
        sizer: SliceSizer | None,
    ) -> None:
        job = ctx.job
        if not job.cursor:
            await ctx.set_total(len(customer_ids))
        start = int(job.cursor.get("index", 0))
        for at in range(start, len(customer_ids), self.batch_size):
            chunk = customer_ids[at : at + self.batch_size]
            visible: set[str] = set()
            await in_slices(
                chunk,
                sizer,
                partial(self._apply_visible, job, operation, plan, visibility, visible),
            )
            found = [c for c in chunk if c in visible]
            errors = [
                JobError(message="no such customer in the starter's data scope", customer_id=c)
                for c in chunk
                if c not in visible
            ]
            await ctx.report(
                processed=len(chunk),
                succeeded=len(found),
                failed=len(errors),
                errors=errors,
                cursor={"index": at + len(chunk)},
            )

    async def _run_matching(
        self,
        ctx: JobContext,
        operation: BulkOperation,
        plan: _TagPlan,
        visibility: Visibility,
        target: BulkTarget,
        sizer: SliceSizer | None,
    ) -> None:
        """Pages of matching customers in id order, each applied in its own units
        of work (one, or slices of ``sizer``); up to ``batches_at_once`` of them
        run at the same time (their customers differ), and progress is reported
        in page order, so the saved cursor never passes a page that has not
        committed."""
        job = ctx.job
        if not job.cursor:
            async with self.new_uow() as uow:
                total = await uow.customers.count(job.tenant_id, visibility, target.condition)
            await ctx.set_total(total)
        after = str(job.cursor.get("after_id", ""))
        running: deque[tuple[asyncio.Task[None], list[str]]] = deque()
        try:
            while True:
                async with self.new_uow() as uow:
                    ids = await uow.customers.ids_after(
                        job.tenant_id,
                        visibility,
                        target.condition,
                        after_id=after,
                        limit=self.batch_size,
                    )
                if ids:
                    work = self._apply_alone(job, operation, plan, ids, sizer)
                    running.append((asyncio.create_task(work), ids))
                    after = ids[-1]
                last = len(ids) < self.batch_size
                while running and (last or len(running) >= self.batches_at_once):
                    task, done = running[0]
                    await task
                    running.popleft()
                    await ctx.report(
                        processed=len(done), succeeded=len(done), cursor={"after_id": done[-1]}
                    )
                if last:
                    return
        finally:
            # Stopped early (a failed page, a cancel, a shutdown): the pages under
            # way are let finish, not cut off mid-statement. They stay committed
            # but unreported, and a resumed job redoes them without changing
            # anything twice.
            await asyncio.gather(*(task for task, _ in running), return_exceptions=True)

    async def _apply_visible(
        self,
        job: Job,
        operation: BulkOperation,
        plan: _TagPlan,
        visibility: Visibility,
        visible: set[str],
        customer_ids: Sequence[str],
    ) -> SliceWritten:
        """Applies to those the job's starter can see (added to ``visible``) in one
        unit of work; how long it wrote, and whether others waited meanwhile."""
        async with self.new_uow() as uow:
            await uow.jobs.bulk.begin()
            started, asked = time.perf_counter(), uow.jobs.bulk.turns_asked()
            seen = await uow.jobs.bulk.visible_ids(job.tenant_id, visibility, customer_ids)
            await self._apply(uow, job, operation, plan, [c for c in customer_ids if c in seen])
            waited = _others_waited(uow, asked)
            await uow.commit()
        visible.update(seen)
        return SliceWritten(time.perf_counter() - started, waited)

    async def _apply_alone(
        self,
        job: Job,
        operation: BulkOperation,
        plan: _TagPlan,
        customer_ids: Sequence[str],
        sizer: SliceSizer | None,
    ) -> None:
        async def write(part: Sequence[str]) -> SliceWritten:
            async with self.new_uow() as uow:
                await uow.jobs.bulk.begin()
                started, asked = time.perf_counter(), uow.jobs.bulk.turns_asked()
                await self._apply(uow, job, operation, plan, part)
                waited = _others_waited(uow, asked)
                await uow.commit()
            return SliceWritten(time.perf_counter() - started, waited)

        await in_slices(customer_ids, sizer, write)

    async def _tag_plan(self, job: Job, operation: BulkOperation) -> _TagPlan:
        """The tags to add or remove, as they are now (refused if one was deleted)."""
        if operation.action not in (BulkAction.ADD_TAGS, BulkAction.REMOVE_TAGS):
            return _TagPlan((), frozenset(), {})
        async with self.new_uow() as uow:
            tags, _ = await _tags_of(uow, job.tenant_id, operation)
            gone = [tag_name(t) for t in operation.tag_ids if t not in {k.id for k in tags}]
            if gone:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "TAG_DELETED", name, f"tag {name!r} was deleted after the job started"
                        )
                        for name in gone
                    ]
                )
            displaced: frozenset[str] = frozenset()
            labels = {t.id: t.display_name for t in tags}
            if operation.action is BulkAction.ADD_TAGS:
                groups = await uow.tags.groups(
                    job.tenant_id, {t.group_id for t in tags if t.group_id}
                )
                exclusive = {
                    t.group_id
                    for t in tags
                    if t.group_id in groups and groups[t.group_id].exclusive
                }
                members = await uow.tags.members(job.tenant_id, exclusive)
                displaced = frozenset().union(*members.values()) - set(operation.tag_ids)
                others = await uow.tags.tags(job.tenant_id, set(displaced))
                labels |= {t.id: t.display_name for t in others.values()}
        return _TagPlan(operation.tag_ids, displaced, labels)

    async def _apply(
        self,
        uow: UnitOfWork,
        job: Job,
        operation: BulkOperation,
        plan: _TagPlan,
        customer_ids: Sequence[str],
    ) -> None:
        if not customer_ids:
            return
        creator = job.creator_member_id
        batch = _Batch(
            job.tenant_id, f"members/{creator}" if creator else "system", job_name(job.id)
        )
        action = operation.action
        if action in (BulkAction.ADD_TAGS, BulkAction.REMOVE_TAGS):
            await _change_tags(uow, batch, plan, customer_ids, add=action is BulkAction.ADD_TAGS)
        elif action is BulkAction.ADJUST_SCORE:
            await _adjust_scores(uow, batch, operation, customer_ids, job)
        elif action is BulkAction.ASSIGN_OWNER:
            await _assign_owner(uow, batch, operation, customer_ids)
        else:
            await _blacklist(uow, batch, operation, customer_ids)
        await batch.write(uow)


def _others_waited(uow: UnitOfWork, asked: int) -> bool:
    """Whether others asked to write during a slice that began when ``asked``
    turns had been asked for, or wait now. Writers that asked while the slice
    itself waited for its turn wait for it all along without asking during it:
    with several callers writing one after the other, that is most of them."""
    bulk = uow.jobs.bulk
    return bulk.turns_asked() > asked or bulk.writers_waiting() > 0


def _by_customer(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for customer_id, value in pairs:
        grouped[customer_id].append(value)
    return grouped


async def _change_tags(
    uow: UnitOfWork, batch: _Batch, plan: _TagPlan, customer_ids: Sequence[str], *, add: bool
) -> None:
    """As AddTags does for one customer, for a batch at once."""
    bulk, now = uow.jobs.bulk, utc_now()
    if add:
        removed = await bulk.remove_tags(batch.tenant_id, customer_ids, plan.displaced)
        added = await bulk.add_tags(batch.tenant_id, customer_ids, plan.tag_ids, now=now)
    else:
        removed = await bulk.remove_tags(batch.tenant_id, customer_ids, set(plan.tag_ids))
        added = []
    added_to, removed_from = _by_customer(added), _by_customer(removed)

    async def tell() -> None:
        await asyncio.to_thread(
            _record_tag_changes, batch, plan, customer_ids, added_to, removed_from
        )
        await batch.stage(uow)

    # The events and timeline entries are made while the database bumps the
    # versions: one core runs Python, the other the statement.
    async with asyncio.TaskGroup() as both:
        both.create_task(
            bulk.touch(batch.tenant_id, added_to.keys() | removed_from.keys(), now=now)
        )
        both.create_task(tell())


def _record_tag_changes(
    batch: _Batch,
    plan: _TagPlan,
    customer_ids: Sequence[str],
    added_to: dict[str, list[str]],
    removed_from: dict[str, list[str]],
) -> None:
    """A customer.tagged / untagged per customer changed, in the customers' order."""
    # Most customers of a batch gain (or lose) the same tags: word each set once.
    worded: dict[tuple[str, ...], tuple[tuple[str, ...], str, dict[str, object]]] = {}

    def wording(verb: str, tag_ids: list[str]) -> tuple[tuple[str, ...], str, dict[str, object]]:
        """The tag ids in order, the timeline's summary and details."""
        key = (verb, *tag_ids)
        found = worded.get(key)
        if found is None:
            ordered = tuple(sorted(tag_ids))
            names = [tag_name(t) for t in ordered]
            found = (ordered, plan.summary(verb, ordered), batch.details(tags=names))
            worded[key] = found
        return found

    for customer_id in customer_ids:
        if customer_id in added_to:
            ordered, summary, details = wording("Tagged", added_to[customer_id])
            batch.record(
                customer_id,
                CustomerTagged(customer_id, ordered),
                summary,
                details,
            )
        if customer_id in removed_from:
            ordered, summary, details = wording("Untagged", removed_from[customer_id])
            batch.record(
                customer_id,
                CustomerUntagged(customer_id, ordered),
                summary,
                details,
            )


async def _adjust_scores(
    uow: UnitOfWork,
    batch: _Batch,
    operation: BulkOperation,
    customer_ids: Sequence[str],
    job: Job,
) -> None:
    """Once per customer and job: the job's name is the request_id of each score change."""
    now = utc_now()
    changes = [
        ScoreChange(
            id=str(uuid.uuid4()),
            tenant_id=batch.tenant_id,
            customer_id=customer_id,
            delta=operation.delta,
            score=0,
            reason=operation.reason,
            source=batch.actor,
            cause_event_id="",
            request_id=f"job:{job.id}",
            created_at=now,
        )
        for customer_id in customer_ids
    ]
    scores = await uow.jobs.bulk.adjust_scores(changes, now=now)
    delta, reason = operation.delta, operation.reason
    for customer_id in customer_ids:
        if customer_id not in scores:
            continue
        score = scores[customer_id]
        batch.record(
            customer_id,
            CustomerScored(
                customer_id=customer_id,
                delta=delta,
                score=score,
                reason=reason,
                source=batch.actor,
            ),
            f"Score {delta:+d} -> {score}: {reason}",
            batch.details(delta=delta, score=score, reason=reason),
        )


async def _assign_owner(
    uow: UnitOfWork, batch: _Batch, operation: BulkOperation, customer_ids: Sequence[str]
) -> None:
    owner = f"members/{operation.owner_member_id}"
    fields = ("department", "owner") if operation.department_id else ("owner",)
    changed_fields = list(fields)  # as the timeline's details say it
    changed = await uow.jobs.bulk.assign_owner(
        batch.tenant_id,
        customer_ids,
        operation.owner_member_id,
        operation.department_id,
        now=utc_now(),
    )
    details: dict[str, dict[str, object]] = {}  # per department afterwards
    for customer_id in customer_ids:
        if customer_id not in changed:
            continue
        department = f"departments/{changed[customer_id]}" if changed[customer_id] else ""
        if department not in details:
            details[department] = batch.details(
                changed_fields=changed_fields, owner=owner, department=department
            )
        batch.record(
            customer_id,
            CustomerUpdated(
                customer_id=customer_id,
                changed_fields=fields,
                actor=batch.actor,
                owner_member_id=operation.owner_member_id,
                department_id=changed[customer_id],
            ),
            f"Owner set to {owner}",
            details[department],
        )


async def _blacklist(
    uow: UnitOfWork, batch: _Batch, operation: BulkOperation, customer_ids: Sequence[str]
) -> None:
    """Customers already on the blacklist are left as they are."""
    reason = operation.reason
    changed = set(
        await uow.jobs.bulk.blacklist(batch.tenant_id, customer_ids, reason, now=utc_now())
    )
    details = batch.details(reason=reason)
    for customer_id in customer_ids:
        if customer_id in changed:
            batch.record(
                customer_id,
                CustomerBlacklisted(customer_id=customer_id, reason=reason, actor=batch.actor),
                f"Blacklisted: {reason}",
                details,
            )
