"""Jobs: bulk operations, imports and exports that run in the background with progress.

``JobService`` starts, reads and cancels jobs for callers. ``JobRunner`` is
the background worker that runs them: it claims one job at a time with a
lease, hands it to the handler of its kind, and records how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    NotFound,
    PreconditionViolation,
)
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.job_ports import JobCancelled, JobHandler, JobRequestTaken
from customers.app.ports import UnitOfWork
from customers.domain.jobs import (
    MAX_JOB_ERRORS,
    Job,
    JobError,
    JobKind,
    JobScope,
    JobState,
    job_name,
)
from customers.domain.model import validate_request_id

log = logging.getLogger(__name__)

JOB = "crosstalk.io/Job"
FILE_CHUNK_BYTES = 1024 * 1024


def scope_of(visibility: Visibility) -> JobScope:
    """The data scope a job started by this caller acts in."""
    return JobScope(
        data_scope=visibility.scope.value,
        member_id=visibility.member_id,
        department_ids=visibility.departments,
    )


def visibility_of(scope: JobScope) -> Visibility:
    """The customers a job may touch: those its starter could see."""
    return Visibility(DataScope(scope.data_scope), scope.member_id, scope.department_ids)


def _visibility(scope_or_visibility: JobScope | Visibility) -> Visibility:
    if isinstance(scope_or_visibility, JobScope):
        return visibility_of(scope_or_visibility)
    return scope_or_visibility


def _sees(job: Job, visibility: Visibility) -> bool:
    return job.visible_to(visibility.member_id, sees_everything=visibility.scope is DataScope.ALL)


@dataclass(frozen=True)
class JobService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def start(
        self,
        *,
        tenant_id: str,
        scope: JobScope,
        creator_member_id: str,
        kind: JobKind,
        description: str,
        spec: dict[str, Any],
        request_id: str = "",
        preview_only: bool = False,
        input_file: bytes | None = None,
    ) -> Job:
        """Writes the job (PENDING) and its input file in one unit of work.

        A request_id the tenant used before returns the job it started.
        """
        request_id = validate_request_id(request_id)
        now = utc_now()
        job = Job(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            kind=kind,
            state=JobState.PENDING,
            description=description,
            spec=spec,
            scope=scope,
            creator_member_id=creator_member_id,
            created_at=now,
            updated_at=now,
            request_id=request_id,
            preview_only=preview_only,
        )
        async with self.new_uow() as uow:
            earlier = await self._earlier(uow, job)
            if earlier is not None:
                return earlier
            try:
                await uow.jobs.add(job)
            except JobRequestTaken:
                # Started concurrently with the same request_id: that one counts.
                taken = await self._earlier(uow, job)
                if taken is None:
                    raise
                return taken
            if input_file is not None:
                for seq, start in enumerate(range(0, len(input_file), FILE_CHUNK_BYTES)):
                    chunk = input_file[start : start + FILE_CHUNK_BYTES]
                    await uow.jobs.append_file_chunk(tenant_id, job.id, "input", seq, chunk)
            await uow.commit()
        return job

    async def _earlier(self, uow: UnitOfWork, job: Job) -> Job | None:
        if not job.request_id:
            return None
        earlier = await uow.jobs.for_request(job.tenant_id, job.request_id)
        if earlier is None:
            return None
        if not _sees(earlier, visibility_of(job.scope)):
            raise AlreadyExists(JOB, job.request_id, message="request_id is used by another job")
        return earlier

    async def get(
        self, tenant_id: str, scope_or_visibility: JobScope | Visibility, job_id: str
    ) -> Job:
        async with self.new_uow() as uow:
            job = await uow.jobs.get(tenant_id, job_id, _visibility(scope_or_visibility))
        if job is None:
            raise NotFound(JOB, job_name(job_id))
        return job

    async def page(
        self,
        tenant_id: str,
        scope_or_visibility: JobScope | Visibility,
        *,
        kind: JobKind | None = None,
        state: JobState | None = None,
        after: list[str],
        limit: int,
    ) -> list[Job]:
        """Newest first."""
        async with self.new_uow() as uow:
            return await uow.jobs.page(
                tenant_id,
                _visibility(scope_or_visibility),
                kind=kind,
                state=state,
                after=after,
                limit=limit,
            )

    async def cancel(
        self, tenant_id: str, scope_or_visibility: JobScope | Visibility, job_id: str
    ) -> Job:
        """A pending job is cancelled at once; a running one stops after its current batch.

        Cancelling a cancelled job returns it; a job that ended otherwise cannot be.
        """
        visibility = _visibility(scope_or_visibility)
        async with self.new_uow() as uow:
            job = await uow.jobs.get(tenant_id, job_id, visibility)
            if job is None:
                raise NotFound(JOB, job_name(job_id))
            if job.state is JobState.CANCELLED:
                return job
            if job.state.finished:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "JOB_FINISHED",
                            job_name(job_id),
                            f"the job has already ended ({job.state.value})",
                        )
                    ]
                )
            await uow.jobs.cancel(tenant_id, job_id, now=utc_now())
            cancelled = await uow.jobs.get(tenant_id, job_id)
            await uow.commit()
        assert cancelled is not None
        return cancelled


# --- the runner ---------------------------------------------------------------


class _LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew its lease)."""


class _Interrupted(Exception):
    """The worker is shutting down; the job is handed back, resumable."""


class _RunningJob:
    """The JobContext of one run: progress, cursor and lease, all fenced by the lease held."""

    def __init__(
        self,
        runner: JobRunner,
        job: Job,
        held: datetime,
        stop: asyncio.Event,
    ) -> None:
        self._runner = runner
        self._job = job
        self._held = held
        self._stop = stop
        self._lock = asyncio.Lock()
        self._lost = False

    @property
    def job(self) -> Job:
        return self._job

    @property
    def held(self) -> datetime:
        return self._held

    async def _save(self, **changes: Any) -> bool:
        """One fenced write that also renews the lease; False once the lease is lost."""
        async with self._lock:
            if self._lost:
                return False
            now = self._runner.clock()
            until = now + self._runner.lease
            async with self._runner.new_uow() as uow:
                saved = await uow.jobs.save_progress(
                    self._job.id, held=self._held, lease_until=until, now=now, **changes
                )
                cancel = saved and await uow.jobs.cancel_requested(self._job.id)
                await uow.commit()
            if not saved:
                self._lost = True
                return False
            self._held = until
            if cancel:
                self._job = replace(self._job, cancel_requested=True)
            return True

    async def renew(self) -> bool:
        return await self._save()

    async def set_total(self, total: int) -> None:
        if not await self._save(total=total):
            raise _LeaseLost(self._job.id)
        self._job = replace(self._job, total_count=total)

    async def report(
        self,
        *,
        processed: int,
        succeeded: int,
        failed: int = 0,
        errors: Sequence[JobError] = (),
        cursor: dict[str, Any] | None = None,
    ) -> None:
        job = self._job
        kept = job.errors
        if errors and len(kept) < MAX_JOB_ERRORS:
            kept = (*kept, *errors)[:MAX_JOB_ERRORS]
        saved = await self._save(
            processed=processed,
            succeeded=succeeded,
            failed=failed,
            errors=kept if kept != job.errors else None,
            cursor=cursor,
        )
        if not saved:
            raise _LeaseLost(job.id)
        self._job = replace(
            self._job,
            processed_count=job.processed_count + processed,
            succeeded_count=job.succeeded_count + succeeded,
            failed_count=job.failed_count + failed,
            errors=kept,
            cursor=job.cursor if cursor is None else cursor,
        )
        if self._job.cancel_requested:
            raise JobCancelled(job.id)
        if self._stop.is_set():
            raise _Interrupted(job.id)

    async def set_result(self, result: dict[str, Any]) -> None:
        if not await self._save(result=result):
            raise _LeaseLost(self._job.id)
        self._job = replace(self._job, result=result)

    async def heartbeat(self, done: asyncio.Event) -> None:
        """Renews the lease in the background (for handlers with long steps
        between reports) until ``done`` is set or the lease is lost."""
        interval = self._runner.lease.total_seconds() / 3
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), interval)
            if done.is_set():
                return
            try:
                if not await self.renew():
                    return
            except Exception:
                log.exception("renewing the lease of %s failed", job_name(self._job.id))


class JobRunner:
    """Runs jobs in the background, one at a time per runner, any number of runners.

    A job is claimed with a lease (a conditional UPDATE, so two workers never
    run it at once); the lease is renewed with each report and by a
    heartbeat. A job whose worker died is claimed again once its lease ran
    out and resumes from its saved cursor. On shutdown the current batch is
    finished and the job goes back to PENDING for the next worker.
    """

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        handlers: Mapping[JobKind, JobHandler],
        *,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.new_uow = new_uow
        self.handlers = handlers
        self.lease = lease
        self.poll_interval = poll_interval
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: runs jobs until ``stop`` is set."""
        while not stop.is_set():
            try:
                ran = await self.run_once(stop)
            except Exception:
                log.exception("job runner pass failed")
                ran = False
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def run_until_idle(self) -> int:
        """Runs jobs until none is left to claim; returns how many ran."""
        count = 0
        while await self.run_once():
            count += 1
        return count

    async def run_once(self, stop: asyncio.Event | None = None) -> bool:
        """Claims one job and runs it to its end; False when there was none."""
        now = self.clock()
        async with self.new_uow() as uow:
            job = await uow.jobs.claim(self.handlers.keys(), now=now, lease_until=now + self.lease)
            await uow.commit()
        if job is None:
            return False
        running = _RunningJob(self, job, now + self.lease, stop or asyncio.Event())
        done = asyncio.Event()
        heartbeat = asyncio.create_task(running.heartbeat(done))
        try:
            state, message = await self._run(running)
        finally:
            # Let a renewal under way finish, so the lease held stays known.
            done.set()
            await heartbeat
        if state is not None:
            await self._end(running, state, message)
        return True

    async def _run(self, running: _RunningJob) -> tuple[JobState | None, str]:
        """How the job ended; state None when this worker no longer holds it."""
        job = running.job
        if job.cancel_requested:
            return JobState.CANCELLED, ""
        try:
            await self.handlers[job.kind].run(running)
        except JobCancelled:
            return JobState.CANCELLED, ""
        except _LeaseLost:
            log.warning("lost the lease of %s; another worker carries on", job_name(job.id))
            return None, ""
        except _Interrupted:
            await self._hand_back(running)
            return None, ""
        except DomainError as exc:
            return JobState.FAILED, exc.message
        except Exception:
            log.exception("%s failed", job_name(job.id))
            return JobState.FAILED, "the job stopped on an unexpected error; start it again"
        return JobState.SUCCEEDED, ""

    async def _end(self, running: _RunningJob, state: JobState, message: str) -> None:
        async with self.new_uow() as uow:
            ended = await uow.jobs.finish(
                running.job.id,
                held=running.held,
                state=state,
                error_message=message,
                now=self.clock(),
            )
            await uow.commit()
        if not ended:
            log.warning("%s was taken over before it could end", job_name(running.job.id))

    async def _hand_back(self, running: _RunningJob) -> None:
        async with self.new_uow() as uow:
            await uow.jobs.release(running.job.id, held=running.held, now=self.clock())
            await uow.commit()
