"""Report specs, schedules and tiles to and from the JSON stored for them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reporting.domain.catalogue import Dimension
from reporting.domain.dashboards import Tile
from reporting.domain.querying import Granularity
from reporting.domain.reports import FileFormat, ReportSpec


def _filters_json(filters: tuple[tuple[Dimension, tuple[str, ...]], ...]) -> list[Any]:
    return [[d.value, list(values)] for d, values in filters]


def _filters(data: list[Any]) -> tuple[tuple[Dimension, tuple[str, ...]], ...]:
    return tuple((Dimension(d), tuple(str(v) for v in values)) for d, values in data)


def spec_to_json(spec: ReportSpec) -> dict[str, Any]:
    return {
        "metrics": list(spec.metrics),
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "format": spec.format.value,
        "granularity": spec.granularity.value,
        "time_zone": spec.time_zone,
        "group_bys": [d.value for d in spec.group_bys],
        "filters": _filters_json(spec.filters),
    }


def spec_from_json(data: dict[str, Any]) -> ReportSpec:
    return ReportSpec(
        metrics=tuple(data["metrics"]),
        start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]),
        format=FileFormat(data["format"]),
        granularity=Granularity(data.get("granularity", "day")),
        time_zone=data.get("time_zone", ""),
        group_bys=tuple(Dimension(d) for d in data.get("group_bys", [])),
        filters=_filters(data.get("filters", [])),
    )


def tile_to_json(tile: Tile) -> dict[str, Any]:
    return {
        "title": tile.title,
        "metric": tile.metric,
        "lookback_seconds": tile.lookback.total_seconds(),
        "granularity": tile.granularity.value,
        "group_bys": [d.value for d in tile.group_bys],
        "filters": _filters_json(tile.filters),
        "time_zone": tile.time_zone,
    }


def tile_from_json(data: dict[str, Any]) -> Tile:
    return Tile(
        title=data["title"],
        metric=data["metric"],
        lookback=timedelta(seconds=float(data["lookback_seconds"])),
        granularity=Granularity(data.get("granularity", "day")),
        group_bys=tuple(Dimension(d) for d in data.get("group_bys", [])),
        filters=_filters(data.get("filters", [])),
        time_zone=data.get("time_zone", ""),
    )
