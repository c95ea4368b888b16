"""Report files, scheduled reports and dashboards in SQL, always filtered by tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.keyset import past
from reporting.adapters.report_json import (
    spec_from_json,
    spec_to_json,
    tile_from_json,
    tile_to_json,
)
from reporting.adapters.tables import dashboards, report_files, scheduled_reports
from reporting.domain.catalogue import Dimension
from reporting.domain.dashboards import Tile
from reporting.domain.querying import Granularity
from reporting.domain.reports import (
    FileFormat,
    FileState,
    ReportFile,
    Schedule,
    visibility_from_json,
    visibility_to_json,
)


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _file_row(file: ReportFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "tenant_id": file.tenant_id,
        "owner_member_id": file.owner,
        "visibility": visibility_to_json(file.visibility),
        "spec": spec_to_json(file.spec),
        "state": file.state.value,
        "created_at": file.created_at,
        "expires_at": file.expires_at,
        "scheduled_report": file.scheduled_report,
        "recipients": list(file.recipients),
        "filename": file.filename,
        "content_type": file.content_type,
        "content": file.content,
        "error": file.error,
    }


def _file(row: Any) -> ReportFile:
    created = _utc(row["created_at"])
    expires = _utc(row["expires_at"])
    assert created is not None
    assert expires is not None
    return ReportFile(
        id=row["id"],
        tenant_id=row["tenant_id"],
        owner=row["owner_member_id"],
        visibility=visibility_from_json(row["visibility"]),
        spec=spec_from_json(row["spec"]),
        state=FileState(row["state"]),
        created_at=created,
        expires_at=expires,
        scheduled_report=row["scheduled_report"],
        recipients=tuple(row["recipients"] or ()),
        filename=row["filename"],
        content_type=row["content_type"],
        content=bytes(row["content"] or b""),
        error=row["error"],
    )


def _schedule_body(s: Schedule) -> dict[str, Any]:
    return {
        "display_name": s.display_name,
        "metrics": list(s.metrics),
        "lookback_seconds": s.lookback.total_seconds(),
        "cron": s.cron,
        "time_zone": s.time_zone,
        "format": s.format.value,
        "recipients": list(s.recipients),
        "granularity": s.granularity.value,
        "group_bys": [d.value for d in s.group_bys],
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
        "last_run_at": s.last_run_at.isoformat() if s.last_run_at else None,
        "last_report_file": s.last_report_file,
    }


def _schedule_row(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "tenant_id": s.tenant_id,
        "owner_member_id": s.owner,
        "visibility": visibility_to_json(s.visibility),
        "body": _schedule_body(s),
        "enabled": s.enabled,
        "next_run_at": s.next_run_at,
        "created_at": s.created_at,
        "version": s.version,
    }


def _schedule(row: Any) -> Schedule:
    body = row["body"]
    return Schedule(
        id=row["id"],
        tenant_id=row["tenant_id"],
        owner=row["owner_member_id"],
        visibility=visibility_from_json(row["visibility"]),
        display_name=body["display_name"],
        metrics=tuple(body["metrics"]),
        lookback=timedelta(seconds=float(body["lookback_seconds"])),
        cron=body["cron"],
        time_zone=body["time_zone"],
        format=FileFormat(body["format"]),
        recipients=tuple(body["recipients"]),
        enabled=bool(row["enabled"]),
        granularity=Granularity(body.get("granularity", "day")),
        group_bys=tuple(Dimension(d) for d in body.get("group_bys", [])),
        created_at=_utc(row["created_at"]),
        updated_at=datetime.fromisoformat(body["updated_at"]) if body.get("updated_at") else None,
        next_run_at=_utc(row["next_run_at"]),
        last_run_at=datetime.fromisoformat(body["last_run_at"])
        if body.get("last_run_at")
        else None,
        last_report_file=body.get("last_report_file", ""),
        version=int(row["version"]),
    )


class SqlReportStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_file(self, file: ReportFile) -> None:
        await self._session.execute(insert(report_files).values(**_file_row(file)))

    async def file(self, tenant_id: str, file_id: str) -> ReportFile | None:
        row = (
            (
                await self._session.execute(
                    select(report_files).where(
                        report_files.c.tenant_id == tenant_id, report_files.c.id == file_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return _file(row) if row is not None else None

    async def claim_pending_file(self, now: datetime) -> ReportFile | None:
        # Pick the oldest, then move it from PENDING to RUNNING only if it is
        # still PENDING: of two workers racing for it, one gets it.
        for _ in range(3):
            row = (
                (
                    await self._session.execute(
                        select(report_files.c.id)
                        .where(report_files.c.state == FileState.PENDING.value)
                        .order_by(report_files.c.created_at)
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            claimed = await self._session.execute(
                update(report_files)
                .where(
                    report_files.c.id == row["id"],
                    report_files.c.state == FileState.PENDING.value,
                )
                .values(state=FileState.RUNNING.value)
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                found = (
                    (
                        await self._session.execute(
                            select(report_files).where(report_files.c.id == row["id"])
                        )
                    )
                    .mappings()
                    .first()
                )
                return _file(found) if found is not None else None
        return None

    async def save_file(self, file: ReportFile) -> None:
        row = _file_row(file)
        await self._session.execute(
            update(report_files)
            .where(report_files.c.tenant_id == file.tenant_id, report_files.c.id == file.id)
            .values(**{k: v for k, v in row.items() if k not in ("id", "tenant_id")})
        )

    async def drop_expired_files(self, now: datetime) -> int:
        result = await self._session.execute(
            delete(report_files).where(report_files.c.expires_at < now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def add_schedule(self, schedule: Schedule) -> None:
        await self._session.execute(insert(scheduled_reports).values(**_schedule_row(schedule)))

    async def schedule(self, tenant_id: str, schedule_id: str) -> Schedule | None:
        row = (
            (
                await self._session.execute(
                    select(scheduled_reports).where(
                        scheduled_reports.c.tenant_id == tenant_id,
                        scheduled_reports.c.id == schedule_id,
                    )
                )
            )
            .mappings()
            .first()
        )
        return _schedule(row) if row is not None else None

    async def schedules(
        self, tenant_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Schedule]:
        t = scheduled_reports
        stmt = select(t).where(t.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(past([t.c.created_at, t.c.id], list(after)))
        rows = await self._session.execute(stmt.order_by(t.c.created_at, t.c.id).limit(limit))
        return [_schedule(r) for r in rows.mappings()]

    async def save_schedule(self, schedule: Schedule, expected_version: int) -> bool:
        row = _schedule_row(schedule)
        result = await self._session.execute(
            update(scheduled_reports)
            .where(
                and_(
                    scheduled_reports.c.tenant_id == schedule.tenant_id,
                    scheduled_reports.c.id == schedule.id,
                    scheduled_reports.c.version == expected_version,
                )
            )
            .values(**{k: v for k, v in row.items() if k not in ("id", "tenant_id", "created_at")})
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def delete_schedule(self, tenant_id: str, schedule_id: str) -> bool:
        result = await self._session.execute(
            delete(scheduled_reports).where(
                scheduled_reports.c.tenant_id == tenant_id, scheduled_reports.c.id == schedule_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        t = scheduled_reports
        rows = await self._session.execute(
            select(t)
            .where(t.c.enabled.is_(True), t.c.next_run_at.is_not(None), t.c.next_run_at <= now)
            .order_by(t.c.next_run_at)
            .limit(limit)
        )
        return [_schedule(r) for r in rows.mappings()]


class SqlDashboardStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def tiles(self, tenant_id: str, member_id: str) -> tuple[tuple[Tile, ...], int] | None:
        row = (
            await self._session.execute(
                select(dashboards.c.tiles, dashboards.c.version).where(
                    dashboards.c.tenant_id == tenant_id, dashboards.c.member_id == member_id
                )
            )
        ).first()
        if row is None:
            return None
        return tuple(tile_from_json(t) for t in row[0]), int(row[1])

    async def save_tiles(
        self, tenant_id: str, member_id: str, tiles: tuple[Tile, ...], version: int
    ) -> None:
        await self.forget_tiles(tenant_id, member_id)
        await self._session.execute(
            insert(dashboards).values(
                tenant_id=tenant_id,
                member_id=member_id,
                tiles=[tile_to_json(t) for t in tiles],
                version=version,
            )
        )

    async def forget_tiles(self, tenant_id: str, member_id: str) -> None:
        await self._session.execute(
            delete(dashboards).where(
                dashboards.c.tenant_id == tenant_id, dashboards.c.member_id == member_id
            )
        )
