"""What job use cases need: storage for jobs, and the contract between the
runner (app/jobs.py) and the handlers that do one kind of job.

A handler is given a ``JobContext``; it works in batches, each batch in its
own unit of work, and after each batch calls ``ctx.report(...)``, which saves
progress and the cursor and raises ``JobCancelled`` when a cancel was asked
for. A handler that is restarted (the process died, the lease ran out) gets
the job with the last saved cursor and must carry on from there without
doing a batch twice in effect (its writes are idempotent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from crosstalk_common.visibility import Visibility
from customers.domain.jobs import Job, JobError, JobKind, JobState
from customers.domain.model import ScoreChange, TimelineEntry


class JobCancelled(Exception):
    """Raised by JobContext.report when someone asked the job to stop."""


class JobRequestTaken(Exception):
    """The tenant already has a job started with this request_id."""


class BulkCustomerWrites(Protocol):
    """Set-based changes to many customers at once (one statement per step).

    Each write says what it actually changed, so a batch done again changes
    nothing twice and tells nothing twice.
    """

    async def begin(self) -> None:
        """Starts the batch's transaction as a writer (first, before any other
        statement): where the database has one writer at a time, this waits
        for the turn to write, so the statements after it do not."""
        ...

    def turns_asked(self) -> int:
        """How many turns to write were asked for on the database so far, by
        anyone: a count that only grows (0 where writers do not take turns)."""
        ...

    def writers_waiting(self) -> int:
        """How many others wait for their turn to write now (0 where writers
        do not take turns)."""
        ...

    async def visible_ids(
        self, tenant_id: str, visibility: Visibility, customer_ids: Sequence[str]
    ) -> set[str]: ...

    async def add_tags(
        self, tenant_id: str, customer_ids: Sequence[str], tag_ids: Sequence[str], *, now: datetime
    ) -> list[tuple[str, str]]:
        """(customer id, tag id) pairs that were not there before."""
        ...

    async def remove_tags(
        self, tenant_id: str, customer_ids: Sequence[str], tag_ids: Collection[str]
    ) -> list[tuple[str, str]]:
        """(customer id, tag id) pairs that were there and are gone now."""
        ...

    async def touch(self, tenant_id: str, customer_ids: Collection[str], *, now: datetime) -> None:
        """version + 1 and updated_at = now for these customers."""
        ...

    async def adjust_scores(
        self, changes: Sequence[ScoreChange], *, now: datetime
    ) -> dict[str, int]:
        """Apply each change's delta and write its history row, once per
        (customer, request_id): customers that already have a row with the
        request_id are left alone. Returns the new score of each customer changed."""
        ...

    async def blacklist(
        self, tenant_id: str, customer_ids: Collection[str], reason: str, *, now: datetime
    ) -> list[str]:
        """The customers that were not blacklisted yet (and are now)."""
        ...

    async def assign_owner(
        self,
        tenant_id: str,
        customer_ids: Collection[str],
        owner_member_id: str,
        department_id: str,
        *,
        now: datetime,
    ) -> dict[str, str]:
        """Customers whose owner (or department, unless "" = keep) changed,
        with their department afterwards."""
        ...

    async def add_timeline(self, entries: Sequence[TimelineEntry]) -> None: ...


class JobRepository(Protocol):
    """Jobs of a tenant; see adapters/job_repository.py.

    Files of a job (an import's upload, an export's output) are kept in
    chunks (role "input" or "output"), so no reader or writer needs a whole
    file in memory.

    A running job is held by one worker until its lease (``lease_until``)
    runs out; every write of the runner names the lease it holds and does
    nothing once another worker has taken the job over.
    """

    @property
    def bulk(self) -> BulkCustomerWrites: ...

    async def add(self, job: Job) -> None:
        """Raises JobRequestTaken when the tenant has a job with its request_id."""
        ...

    async def get(
        self, tenant_id: str, job_id: str, visibility: Visibility | None = None
    ) -> Job | None: ...

    async def for_request(self, tenant_id: str, request_id: str) -> Job | None: ...

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        kind: JobKind | None,
        state: JobState | None,
        after: list[str],
        limit: int,
    ) -> list[Job]:
        """Newest first; keys [create time, id]."""
        ...

    async def cancel(self, tenant_id: str, job_id: str, *, now: datetime) -> None:
        """A pending job is cancelled at once; a running one is asked to stop."""
        ...

    async def claim(
        self, kinds: Collection[JobKind], *, now: datetime, lease_until: datetime
    ) -> Job | None:
        """Take a pending job, or a running one whose lease ran out, in one
        conditional UPDATE (two workers never take the same job)."""
        ...

    async def save_progress(
        self,
        job_id: str,
        *,
        held: datetime,
        lease_until: datetime,
        now: datetime,
        processed: int = 0,
        succeeded: int = 0,
        failed: int = 0,
        total: int | None = None,
        errors: Sequence[JobError] | None = None,
        cursor: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Add the counts, replace what is given, renew the lease to
        ``lease_until``; False (nothing written) when the lease is not ``held``."""
        ...

    async def cancel_requested(self, job_id: str) -> bool: ...

    async def finish(
        self, job_id: str, *, held: datetime, state: JobState, error_message: str, now: datetime
    ) -> bool: ...

    async def release(self, job_id: str, *, held: datetime, now: datetime) -> bool:
        """Back to pending, for another worker (this one is shutting down)."""
        ...

    async def append_file_chunk(
        self, tenant_id: str, job_id: str, role: str, seq: int, data: bytes
    ) -> None: ...

    def read_file(self, tenant_id: str, job_id: str, role: str) -> AsyncIterator[bytes]:
        """The chunks in order, each fetched on its own."""
        ...


class JobContext(Protocol):
    @property
    def job(self) -> Job: ...

    async def set_total(self, total: int) -> None: ...

    async def report(
        self,
        *,
        processed: int,
        succeeded: int,
        failed: int = 0,
        errors: Sequence[JobError] = (),
        cursor: dict[str, Any] | None = None,
    ) -> None:
        """Add this batch's counts, keep the first errors, save the cursor."""
        ...

    async def set_result(self, result: dict[str, Any]) -> None: ...


class JobHandler(Protocol):
    async def run(self, ctx: JobContext) -> None:
        """Do the job (or its remainder, from ctx.job.cursor)."""
        ...
