"""Each member's dashboard: their tiles, or their role's defaults, computed now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import Aborted
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from reporting.app.metrics import MetricAnswer, ReportingService
from reporting.app.ports import JobsUnitOfWork
from reporting.domain.dashboards import Tile, default_tiles, validate_tiles
from reporting.domain.querying import MetricQuery


@dataclass(frozen=True)
class DashboardView:
    headlines: dict[str, int]
    tiles: list[tuple[Tile, MetricAnswer]]
    default: bool
    version: int


@dataclass(frozen=True)
class Dashboards:
    new_uow: UnitOfWorkFactory[JobsUnitOfWork]
    metrics: ReportingService
    clock: Callable[[], datetime] = utc_now

    async def view(
        self,
        tenant_id: str,
        visibility: Visibility,
        member_id: str,
        scope: DataScope,
        permissions: frozenset[str],
    ) -> DashboardView:
        async with self.new_uow() as uow:
            saved = await uow.dashboards.tiles(tenant_id, member_id) if member_id else None
        tiles, version = saved if saved is not None else (default_tiles(scope, permissions), 0)
        now = self.clock()
        computed = []
        for tile in tiles:
            query = MetricQuery(
                tile.metric,
                now - tile.lookback,
                now,
                tile.granularity,
                tile.time_zone,
                tile.group_bys,
                tile.filters,
            )
            computed.append((tile, await self.metrics.query(tenant_id, visibility, query)))
        headlines = await self.metrics.dashboard(tenant_id, visibility)
        return DashboardView(headlines, computed, saved is None, version)

    async def save(
        self, tenant_id: str, member_id: str, tiles: tuple[Tile, ...], expected_version: int | None
    ) -> int:
        """Saves the member's tiles (none: back to the defaults); the new version.
        ``expected_version`` (from the etag) must match when given."""
        validate_tiles(tiles)
        async with self.new_uow() as uow:
            saved = await uow.dashboards.tiles(tenant_id, member_id)
            current = saved[1] if saved is not None else 0
            if expected_version is not None and expected_version != current:
                raise Aborted.etag_mismatch("dashboard")
            if not tiles:
                await uow.dashboards.forget_tiles(tenant_id, member_id)
                version = 0
            else:
                version = current + 1
                await uow.dashboards.save_tiles(tenant_id, member_id, tiles, version)
            await uow.commit()
        return version
