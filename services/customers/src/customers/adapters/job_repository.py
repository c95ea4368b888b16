"""JobRepository in SQL, always filtered by tenant (the runner's writes by job id and lease)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from customers.adapters.bulk_customer_writes import SqlBulkCustomerWrites
from customers.adapters.tables import job_file_chunks, jobs
from customers.app.job_ports import JobRequestTaken
from customers.domain.jobs import Job, JobError, JobKind, JobScope, JobState

t = jobs


def _visible(visibility: Visibility) -> ColumnElement[bool]:
    """A member sees the jobs they started; a member who sees all data sees every job."""
    if visibility.scope is DataScope.ALL:
        return true()
    if not visibility.member_id:
        return false()
    return t.c.creator_member_id == visibility.member_id


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        t.c.state == JobState.PENDING.value,
        and_(t.c.state == JobState.RUNNING.value, t.c.lease_until < now),
    )


class SqlJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.bulk = SqlBulkCustomerWrites(session)

    # --- what callers do ------------------------------------------------------

    async def add(self, job: Job) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(insert(t).values(**_row(job)))
        except IntegrityError as exc:
            raise JobRequestTaken(job.request_id) from exc

    async def get(
        self, tenant_id: str, job_id: str, visibility: Visibility | None = None
    ) -> Job | None:
        where = [t.c.tenant_id == tenant_id, t.c.id == job_id]
        if visibility is not None:
            where.append(_visible(visibility))
        row = (await self._session.execute(select(t).where(*where))).first()
        return None if row is None else _job(row)

    async def for_request(self, tenant_id: str, request_id: str) -> Job | None:
        row = (
            await self._session.execute(
                select(t).where(t.c.tenant_id == tenant_id, t.c.request_id == request_id)
            )
        ).first()
        return None if row is None else _job(row)

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
        where = [t.c.tenant_id == tenant_id, _visible(visibility)]
        if kind is not None:
            where.append(t.c.kind == kind.value)
        if state is not None:
            where.append(t.c.state == state.value)
        if after:
            at, last_id = datetime.fromisoformat(after[0]), after[1]
            where.append(past([t.c.created_at, t.c.id], [at, last_id], descending=True))
        rows = await self._session.execute(
            select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        )
        return [_job(r) for r in rows]

    async def cancel(self, tenant_id: str, job_id: str, *, now: datetime) -> None:
        mine = [t.c.tenant_id == tenant_id, t.c.id == job_id]
        await self._session.execute(
            update(t)
            .where(*mine, t.c.state == JobState.PENDING.value)
            .values(
                state=JobState.CANCELLED.value, cancel_requested=True, ended_at=now, updated_at=now
            )
        )
        await self._session.execute(
            update(t)
            .where(*mine, t.c.state == JobState.RUNNING.value)
            .values(cancel_requested=True, updated_at=now)
        )

    # --- what the runner does ---------------------------------------------------

    async def claim(
        self, kinds: Collection[JobKind], *, now: datetime, lease_until: datetime
    ) -> Job | None:
        candidates = (
            await self._session.scalars(
                select(t.c.id)
                .where(t.c.kind.in_(sorted(k.value for k in kinds)), _claimable(now))
                .order_by(t.c.created_at, t.c.id)
                .limit(10)
            )
        ).all()
        for job_id in candidates:
            # Conditional: a worker that claimed it meanwhile makes this match no row.
            result = await self._session.execute(
                update(t)
                .where(t.c.id == job_id, _claimable(now))
                .values(
                    state=JobState.RUNNING.value,
                    lease_until=lease_until,
                    started_at=func.coalesce(t.c.started_at, now),
                    updated_at=now,
                )
            )
            if getattr(result, "rowcount", 0) == 1:
                row = (await self._session.execute(select(t).where(t.c.id == job_id))).one()
                return _job(row)
        return None

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
        values: dict[str, Any] = {"lease_until": lease_until, "updated_at": now}
        if processed:
            values["processed_count"] = t.c.processed_count + processed
        if succeeded:
            values["succeeded_count"] = t.c.succeeded_count + succeeded
        if failed:
            values["failed_count"] = t.c.failed_count + failed
        if total is not None:
            values["total_count"] = total
        if errors is not None:
            values["errors"] = [_error_json(e) for e in errors]
        if cursor is not None:
            values["cursor"] = cursor
        if result is not None:
            values["result"] = result
        return await self._held_update(job_id, held, values)

    async def cancel_requested(self, job_id: str) -> bool:
        return bool(
            await self._session.scalar(select(t.c.cancel_requested).where(t.c.id == job_id))
        )

    async def finish(
        self, job_id: str, *, held: datetime, state: JobState, error_message: str, now: datetime
    ) -> bool:
        values = {
            "state": state.value,
            "error_message": error_message[:1000],
            "lease_until": None,
            "ended_at": now,
            "updated_at": now,
        }
        return await self._held_update(job_id, held, values)

    async def release(self, job_id: str, *, held: datetime, now: datetime) -> bool:
        values = {"state": JobState.PENDING.value, "lease_until": None, "updated_at": now}
        return await self._held_update(job_id, held, values)

    async def _held_update(self, job_id: str, held: datetime, values: dict[str, Any]) -> bool:
        result = await self._session.execute(
            update(t)
            .where(
                t.c.id == job_id,
                t.c.state == JobState.RUNNING.value,
                t.c.lease_until == held,
            )
            .values(**values)
        )
        return getattr(result, "rowcount", 0) == 1

    # --- files ----------------------------------------------------------------

    async def append_file_chunk(
        self, tenant_id: str, job_id: str, role: str, seq: int, data: bytes
    ) -> None:
        await self._session.execute(
            insert(job_file_chunks).values(
                job_id=job_id, tenant_id=tenant_id, role=role, seq=seq, data=data
            )
        )

    async def read_file(self, tenant_id: str, job_id: str, role: str) -> AsyncIterator[bytes]:
        c = job_file_chunks.c
        mine = [c.tenant_id == tenant_id, c.job_id == job_id, c.role == role]
        seqs = (await self._session.scalars(select(c.seq).where(*mine).order_by(c.seq))).all()
        for seq in seqs:
            data = await self._session.scalar(select(c.data).where(*mine, c.seq == seq))
            if data is not None:
                yield bytes(data)


def _error_json(error: JobError) -> dict[str, Any]:
    return {
        "message": error.message,
        "customer_id": error.customer_id,
        "row": error.row,
        "column": error.column,
    }


def _scope_json(scope: JobScope) -> dict[str, Any]:
    return {
        "data_scope": scope.data_scope,
        "member_id": scope.member_id,
        "department_ids": sorted(scope.department_ids),
    }


def _row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "kind": job.kind.value,
        "state": job.state.value,
        "description": job.description[:500],
        "spec": job.spec,
        "scope": _scope_json(job.scope),
        "cursor": job.cursor,
        "result": job.result,
        "total_count": job.total_count,
        "processed_count": job.processed_count,
        "succeeded_count": job.succeeded_count,
        "failed_count": job.failed_count,
        "errors": [_error_json(e) for e in job.errors],
        "error_message": job.error_message[:1000],
        "creator_member_id": job.creator_member_id,
        # NULL when the caller sent none (NULLs never collide in the unique key).
        "request_id": job.request_id or None,
        "preview_only": job.preview_only,
        "cancel_requested": job.cancel_requested,
        "lease_until": None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "updated_at": job.updated_at,
    }


def _job(r: Any) -> Job:
    scope = r.scope or {}
    return Job(
        id=r.id,
        tenant_id=r.tenant_id,
        kind=JobKind(r.kind),
        state=JobState(r.state),
        description=r.description,
        spec=dict(r.spec or {}),
        scope=JobScope(
            data_scope=str(scope.get("data_scope", DataScope.OWN.value)),
            member_id=str(scope.get("member_id", "")),
            department_ids=frozenset(scope.get("department_ids", ())),
        ),
        creator_member_id=r.creator_member_id,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        request_id=r.request_id or "",
        preview_only=bool(r.preview_only),
        cancel_requested=bool(r.cancel_requested),
        cursor=dict(r.cursor or {}),
        result=dict(r.result or {}),
        total_count=int(r.total_count),
        processed_count=int(r.processed_count),
        succeeded_count=int(r.succeeded_count),
        failed_count=int(r.failed_count),
        errors=tuple(
            JobError(
                message=str(e.get("message", "")),
                customer_id=str(e.get("customer_id", "")),
                row=int(e.get("row", 0)),
                column=str(e.get("column", "")),
            )
            for e in (r.errors or [])
        ),
        error_message=r.error_message,
        started_at=as_utc(r.started_at) if r.started_at else None,
        ended_at=as_utc(r.ended_at) if r.ended_at else None,
    )
