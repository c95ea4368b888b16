"""Exports run as jobs, scheduled reports, and the worker that runs both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import Aborted, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from reporting.app.metrics import ReportingService
from reporting.app.ports import (
    CronCalendar,
    JobsUnitOfWork,
    Mailer,
    MailFailed,
    ReportRenderer,
)
from reporting.domain.events import ReportReady
from reporting.domain.reports import (
    FILE_LIFETIME,
    FileState,
    ReportFile,
    ReportSpec,
    Schedule,
    may_manage,
    table_of,
)

log = logging.getLogger(__name__)
MAX_ERROR = 2000


def _may_read(visibility: Visibility, member_id: str, owner: str) -> bool:
    """A report is its owner's, and readable by whoever sees the whole tenant."""
    return visibility.scope is DataScope.ALL or (bool(member_id) and member_id == owner)


@dataclass(frozen=True)
class ReportJobs:
    new_uow: UnitOfWorkFactory[JobsUnitOfWork]
    metrics: ReportingService
    renderer: ReportRenderer
    mailer: Mailer | None
    calendar: CronCalendar
    clock: Callable[[], datetime] = utc_now

    # -- exports -------------------------------------------------------------------

    async def export(
        self, tenant_id: str, visibility: Visibility, member_id: str, spec: ReportSpec
    ) -> ReportFile:
        """Queues a report file built under the caller's data scope."""
        spec.validate()
        now = self.clock()
        file = ReportFile(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            owner=member_id,
            visibility=visibility,
            spec=spec,
            state=FileState.PENDING,
            created_at=now,
            expires_at=now + FILE_LIFETIME,
        )
        async with self.new_uow() as uow:
            await uow.reports.add_file(file)
            await uow.commit()
        return file

    async def file(
        self, tenant_id: str, visibility: Visibility, member_id: str, file_id: str
    ) -> ReportFile:
        async with self.new_uow() as uow:
            file = await uow.reports.file(tenant_id, file_id)
        if file is None or not _may_read(visibility, member_id, file.owner):
            raise NotFound("reportFile", f"reportFiles/{file_id}")
        return file

    async def build_next(self) -> bool:
        """Builds the oldest pending file, if any; True when one was built (or failed)."""
        async with self.new_uow() as uow:
            file = await uow.reports.claim_pending_file(self.clock())
            await uow.commit()
        if file is None:
            return False
        try:
            tables = []
            for metric in file.spec.metrics:
                answer = await self.metrics.query(
                    file.tenant_id, file.visibility, file.spec.query(metric)
                )
                tables.append(
                    table_of(
                        metric,
                        answer.metric.unit,
                        file.spec.query(metric).group_bys,
                        [*answer.current.points],
                    )
                )
            content, content_type = self.renderer.render(tables, file.spec.format)
        except Exception as exc:  # a bad file must not stop the worker
            log.exception("report file %s failed", file.id)
            file = replace(file, state=FileState.FAILED, error=str(exc)[:MAX_ERROR])
            async with self.new_uow() as uow:
                await uow.reports.save_file(file)
                await uow.commit()
            return True
        stamp = file.spec.end.strftime("%Y-%m-%d")
        file = replace(
            file,
            state=FileState.SUCCEEDED,
            content=content,
            content_type=content_type,
            filename=f"crosstalk-report-{stamp}.{file.spec.format.value}",
        )
        async with self.new_uow() as uow:
            await uow.reports.save_file(file)
            await uow.record(
                ReportReady(
                    tenant_id=file.tenant_id,
                    report_file=file.id,
                    scheduled_report=file.scheduled_report,
                    format=file.spec.format,
                    start=file.spec.start,
                    end=file.spec.end,
                    size_bytes=file.size,
                    recipients=file.recipients,
                )
            )
            await uow.commit()
        if file.recipients:
            await self._mail(file)
        return True

    async def _mail(self, file: ReportFile) -> None:
        if self.mailer is None:
            error = "not mailed: no SMTP server is configured (REPORTING_SMTP_HOST)"
        else:
            try:
                await self.mailer.send(
                    file.recipients,
                    f"Crosstalk report {file.spec.start:%Y-%m-%d} - {file.spec.end:%Y-%m-%d}",
                    "Your scheduled Crosstalk report is attached.\n",
                    (file.filename, file.content_type, file.content),
                )
                return
            except MailFailed as exc:
                error = f"not mailed: {exc}"[:MAX_ERROR]
        async with self.new_uow() as uow:
            await uow.reports.save_file(replace(file, error=error))
            await uow.commit()

    # -- schedules -------------------------------------------------------------------

    def _next_run(self, schedule: Schedule, after: datetime) -> datetime:
        return self.calendar.next_after(schedule.cron, schedule.time_zone or "UTC", after)

    async def create_schedule(self, schedule: Schedule) -> Schedule:
        schedule.validate(self.calendar.problem(schedule.cron, schedule.time_zone or "UTC"))
        now = self.clock()
        schedule = replace(
            schedule,
            id=str(uuid.uuid4()),
            created_at=now,
            updated_at=now,
            next_run_at=self._next_run(schedule, now) if schedule.enabled else None,
            version=1,
        )
        async with self.new_uow() as uow:
            await uow.reports.add_schedule(schedule)
            await uow.commit()
        return schedule

    async def schedule(
        self, tenant_id: str, schedule_id: str, caller: ScheduleCaller | None = None
    ) -> Schedule:
        """The schedule; ``caller``, when given, must be one who may manage it (a
        schedule another may not manage does not exist for them: its recipients
        and the figures it asks for are its owner's business)."""
        async with self.new_uow() as uow:
            found = await uow.reports.schedule(tenant_id, schedule_id)
        if found is None or not _visible_to(found, caller):
            raise NotFound("scheduledReport", f"scheduledReports/{schedule_id}")
        return found

    async def schedules(
        self,
        tenant_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
        caller: ScheduleCaller | None = None,
    ) -> list[Schedule]:
        """Up to ``limit`` schedules after ``after`` (created_at, id), those ``caller``
        may manage when given: stored ones are read in pages until that many are
        found or none are left."""
        found: list[Schedule] = []
        async with self.new_uow() as uow:
            while len(found) < limit:
                page = await uow.reports.schedules(tenant_id, after, limit)
                found.extend(s for s in page if _visible_to(s, caller))
                if len(page) < limit:
                    break
                last = page[-1]
                assert last.created_at is not None
                after = (last.created_at, last.id)
        return found[:limit]

    async def update_schedule(
        self,
        tenant_id: str,
        schedule_id: str,
        change: Callable[[Schedule], Schedule],
        caller: ScheduleCaller | None = None,
    ) -> Schedule:
        """Applies ``change`` (which checks the etag and the mask) to the stored schedule;
        ``caller``, when given, must be one who may manage it (NotFound otherwise)."""
        async with self.new_uow() as uow:
            current = await uow.reports.schedule(tenant_id, schedule_id)
            if current is None or not _visible_to(current, caller):
                raise NotFound("scheduledReport", f"scheduledReports/{schedule_id}")
            changed = change(current)
            changed.validate(self.calendar.problem(changed.cron, changed.time_zone or "UTC"))
            now = self.clock()
            changed = replace(
                changed,
                updated_at=now,
                version=current.version + 1,
                next_run_at=self._next_run(changed, now) if changed.enabled else None,
            )
            if not await uow.reports.save_schedule(changed, current.version):
                raise Aborted.etag_mismatch(f"scheduledReports/{schedule_id}")
            await uow.commit()
        return changed

    async def delete_schedule(
        self,
        tenant_id: str,
        schedule_id: str,
        etag_check: Callable[[Schedule], None],
        caller: ScheduleCaller | None = None,
    ) -> None:
        async with self.new_uow() as uow:
            current = await uow.reports.schedule(tenant_id, schedule_id)
            if current is None or not _visible_to(current, caller):
                raise NotFound("scheduledReport", f"scheduledReports/{schedule_id}")
            etag_check(current)
            await uow.reports.delete_schedule(tenant_id, schedule_id)
            await uow.commit()

    async def start_due_schedules(self) -> int:
        """Queues a file for every schedule whose time has come, and moves each
        schedule to its next time in the same transaction (a run starts once)."""
        now = self.clock()
        started = 0
        async with self.new_uow() as uow:
            for schedule in await uow.reports.due_schedules(now, 50):
                due = schedule.next_run_at or now
                file = ReportFile(
                    id=str(uuid.uuid4()),
                    tenant_id=schedule.tenant_id,
                    owner=schedule.owner,
                    visibility=schedule.visibility,
                    spec=schedule.spec_ending(due),
                    state=FileState.PENDING,
                    created_at=now,
                    expires_at=now + FILE_LIFETIME,
                    scheduled_report=schedule.id,
                    recipients=schedule.recipients,
                )
                moved = replace(
                    schedule,
                    last_run_at=now,
                    last_report_file=file.id,
                    next_run_at=self._next_run(schedule, max(now, due)),
                    version=schedule.version + 1,
                )
                if await uow.reports.save_schedule(moved, schedule.version):
                    await uow.reports.add_file(file)
                    started += 1
            await uow.commit()
        return started

    async def run(self, stop: asyncio.Event, *, idle: timedelta = timedelta(seconds=1)) -> None:
        """The worker: starts due schedules and builds pending files until ``stop``."""
        while not stop.is_set():
            try:
                await self.start_due_schedules()
                while not stop.is_set() and await self.build_next():
                    pass
                async with self.new_uow() as uow:
                    await uow.reports.drop_expired_files(self.clock())
                    await uow.commit()
            except Exception:  # keep the worker alive; the next round retries
                log.exception("report worker round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle.total_seconds())


@dataclass(frozen=True)
class ScheduleCaller:
    """Who reads, changes or deletes a schedule: their member id and data scope."""

    member_id: str
    visibility: Visibility


def _visible_to(schedule: Schedule, caller: ScheduleCaller | None) -> bool:
    """Whether ``caller`` (when given) may see, change and delete ``schedule``. One
    who may not is answered as if it did not exist: its recipients and what it
    reports are its owner's business."""
    return caller is None or may_manage(schedule, caller.member_id, caller.visibility)
