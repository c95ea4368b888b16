"""Days, weeks and months are cut by the database (integers, no time zone of
its own) exactly as ``bucket_start`` cuts each hour in the zone: zones with
daylight saving, half- and quarter-hour offsets, a 30-minute daylight shift."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.adapters.tables import measure_days
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.metrics import ReportingService
from reporting.domain import histogram
from reporting.domain.catalogue import Dimension, Measure
from reporting.domain.folding import Observation
from reporting.domain.querying import (
    Granularity,
    MetricQuery,
    bucket_start,
    cover,
    cuts_for,
    zone_shifts,
)

EVERYTHING = Visibility(DataScope.ALL)
# Spans Europe's and the US's spring change, Lord Howe's 30-minute autumn
# change (5 April) and two month ends.
FIRST = datetime(2026, 2, 25, 5, tzinfo=UTC)
HOURS = 24 * 45
ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "UTC",
)


def _observations(tenant: str) -> list[Observation]:
    """Every hour: messages in (1 to 7, so a misplaced hour shows) on two
    channels, and a first response of a different length each hour."""
    out = []
    for i in range(HOURS):
        at = FIRST + timedelta(hours=i, minutes=17)
        for channel in ("EMAIL", "WHATSAPP"):
            out.append(
                Observation(
                    tenant, Measure.MESSAGES_IN, at, i % 7 + 1, 0.0,
                    (("channel", channel),), (), "", f"s{i}", "", f"in-{channel}-{i}",
                )
            )  # fmt: skip
        out.append(
            Observation(
                tenant, Measure.FIRST_RESPONSE_SECONDS, at, 1, float(30 + 37 * (i % 50)),
                (("channel", "EMAIL"),), (), "", f"s{i}", "", f"fr-{i}", measured=True,
            )
        )  # fmt: skip
    return out


def _expected(
    observations: list[Observation], measure: Measure, zone: ZoneInfo, granularity: Granularity
) -> dict[tuple[datetime, tuple[str, ...]], tuple[int, dict[int, int]]]:
    """Each (bucket start, channel)'s count and histogram, cut hour by hour."""
    out: dict[tuple[datetime, tuple[str, ...]], tuple[int, dict[int, int]]] = {}
    for o in observations:
        if o.measure is not measure:
            continue
        hour = o.at.replace(minute=0)
        key = (bucket_start(hour, zone, granularity), (dict(o.dims)["channel"],))
        count, buckets = out.get(key, (0, {}))
        if o.measured:
            b = histogram.bucket_of(o.value)
            buckets = {**buckets, b: buckets.get(b, 0) + 1}
        out[key] = (count + o.count, buckets)
    return out


@pytest.mark.parametrize("zone_name", ZONES)
async def test_the_database_cuts_local_days_weeks_and_months_as_the_zone_does(
    new_uow: Callable[[], ReportingUnitOfWork], tenant: str, zone_name: str
) -> None:
    observations = _observations(tenant)
    async with new_uow() as uow:
        await uow.measures.add(observations)
        await uow.commit()
    await _check_every_cut(new_uow, tenant, zone_name, observations)


async def _check_every_cut(
    new_uow: Callable[[], ReportingUnitOfWork],
    tenant: str,
    zone_name: str,
    observations: list[Observation],
) -> None:
    service = ReportingService(new_uow)
    zone = ZoneInfo(zone_name)
    end = FIRST + timedelta(hours=HOURS)
    for granularity in (Granularity.HOUR, Granularity.DAY, Granularity.WEEK, Granularity.MONTH):
        # The hourly view is capped at 31 days.
        until = FIRST + timedelta(days=30) if granularity is Granularity.HOUR else end
        hours = [o for o in observations if o.at < until]
        for metric, measure in (
            ("messages_received", Measure.MESSAGES_IN),
            ("first_response_time", Measure.FIRST_RESPONSE_SECONDS),
        ):
            query = MetricQuery(
                metric, FIRST, until, granularity, zone_name, group_bys=(Dimension.CHANNEL,)
            )
            answer = await service.query(tenant, EVERYTHING, query)
            got = {(p.start, p.groups): (p.count, p.buckets) for p in answer.current.points}
            expected = _expected(hours, measure, zone, granularity)
            if measure is Measure.MESSAGES_IN:
                got = {k: (count, {}) for k, (count, _) in got.items()}
            assert got == expected, (zone_name, granularity, metric)
            assert [p.start for p in answer.current.points] == sorted(
                p.start for p in answer.current.points
            )


@pytest.mark.parametrize("zone_name", ZONES)
async def test_local_days_read_from_day_rows_equal_the_hours_cut_one_by_one(
    new_uow: Callable[[], ReportingUnitOfWork], tenant: str, zone_name: str
) -> None:
    """Half the hours are folded before the zone's shifts get day rows (filled
    from the hour rows), half after (added by the fold); a shift given up
    again leaves the hour rows to answer. Every cut equals the hours cut one by
    one, across the zone's daylight-saving changes."""
    observations = _observations(tenant)
    half = len(observations) // 2
    shifts = zone_shifts([zone_name], around=FIRST)
    async with new_uow() as uow:
        await uow.measures.add(observations[:half])
        before = await uow.measures.day_shifts()
        await uow.measures.keep_day_shifts(before | shifts)
        await uow.measures.add(observations[half:])
        await uow.commit()
    end = FIRST + timedelta(hours=HOURS)
    cuts = cuts_for(zone_name, Granularity.DAY, FIRST, end)
    assert cover(cuts, FIRST, end, shifts).days  # the day rows are read
    async with new_uow() as uow:
        stored = await uow.session.scalar(
            select(func.count())
            .select_from(measure_days)
            .where(measure_days.c.tenant_id == tenant, measure_days.c.shift.in_(shifts))
        )
        assert stored
    await _check_every_cut(new_uow, tenant, zone_name, observations)
    async with new_uow() as uow:
        await uow.measures.keep_day_shifts(before - shifts)
        await uow.commit()
    await _check_every_cut(new_uow, tenant, zone_name, observations)
    async with new_uow() as uow:
        await uow.measures.keep_day_shifts(before)
        await uow.commit()
