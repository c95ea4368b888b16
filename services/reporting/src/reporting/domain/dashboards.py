"""Dashboards: each member's tiles, and the defaults a member starts from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.permissions import DataScope
from reporting.domain.catalogue import Dimension
from reporting.domain.querying import Granularity, MetricQuery

MAX_TILES = 24
DEFAULT_LOOKBACK = timedelta(days=7)
MAX_LOOKBACK = timedelta(days=366)


@dataclass(frozen=True)
class Tile:
    title: str
    metric: str
    lookback: timedelta = DEFAULT_LOOKBACK
    granularity: Granularity = Granularity.DAY
    group_bys: tuple[Dimension, ...] = ()
    filters: tuple[tuple[Dimension, tuple[str, ...]], ...] = ()
    time_zone: str = ""


def validate_tiles(tiles: tuple[Tile, ...]) -> None:
    problems: list[FieldViolation] = []
    if len(tiles) > MAX_TILES:
        problems.append(FieldViolation("dashboard.tiles", f"at most {MAX_TILES} tiles"))
    end = datetime(2026, 1, 1, tzinfo=UTC)
    for i, tile in enumerate(tiles[:MAX_TILES]):
        prefix = f"dashboard.tiles[{i}]"
        if not tile.title.strip():
            problems.append(FieldViolation(f"{prefix}.title", "is required"))
        if tile.lookback <= timedelta(0) or tile.lookback > MAX_LOOKBACK:
            problems.append(
                FieldViolation(f"{prefix}.lookback", "must be between 1 s and 366 days")
            )
            continue
        query = MetricQuery(
            tile.metric,
            end - tile.lookback,
            end,
            tile.granularity,
            tile.time_zone,
            tile.group_bys,
            tile.filters,
        )
        try:
            query.validate()
        except InvalidArgument as bad:
            problems.extend(
                FieldViolation(f"{prefix}.{v.field}", v.description) for v in bad.violations
            )
    if problems:
        raise InvalidArgument(problems)


_TEAM_LEAD = (
    Tile("Messages in", "messages_received", group_bys=(Dimension.CHANNEL,)),
    Tile("First response time", "first_response_time", group_bys=(Dimension.AGENT,)),
    Tile("Unread backlog", "unread_backlog"),
    Tile("CSAT", "csat", group_bys=(Dimension.AGENT,)),
    Tile("Automation rate", "automation_rate"),
)
_MANAGER = (
    Tile("Messages in", "messages_received", group_bys=(Dimension.MARKET,)),
    Tile("First response time", "first_response_time", group_bys=(Dimension.TEAM,)),
    Tile("Automation rate", "automation_rate"),
    Tile("Rule hits", "rule_hits", group_bys=(Dimension.RULE,)),
    Tile("Order value", "order_value", group_bys=(Dimension.CURRENCY,)),
    Tile("CSAT", "csat"),
    Tile("Stage conversion", "stage_conversion", lookback=timedelta(days=30)),
)
_AGENT = (
    Tile("Messages in", "messages_received"),
    Tile("Unread backlog", "unread_backlog"),
    Tile("First response time", "first_response_time"),
    Tile("CSAT", "csat"),
)


def default_tiles(scope: DataScope, permissions: frozenset[str]) -> tuple[Tile, ...]:
    """The tiles of a member who saved none, by what their role lets them see:
    the whole tenant (managers), a department (team leads) or their own."""
    if scope is DataScope.ALL and "reports.export" in permissions:
        return _MANAGER
    if scope in (DataScope.ALL, DataScope.DEPARTMENT):
        return _TEAM_LEAD
    return _AGENT
