"""Days, weeks and months are cut by the database (integers, no time zone of
its own) exactly as ``bucket_start`` cuts each hour in the zone: zones with
daylight saving, half- and quarter-hour offsets, a 30-minute daylight shift."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.adapters.tables import (
    measure_day_buckets,
    measure_day_shifts,
    measure_days,
    measure_open_day_buckets,
    measure_open_days,
    outbox,
)
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.metrics import ReportingService
from reporting.bootstrap import MIGRATIONS
from reporting.domain import histogram
from reporting.domain.catalogue import Dimension, Measure
from reporting.domain.folding import Observation
from reporting.domain.querying import (
    Granularity,
    MetricQuery,
    bucket_start,
    cover,
    cuts_for,
    settled_through,
    zone_shifts,
)
from tests.service_databases import database_sessions, migrated_database_url

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


@pytest.fixture
async def fresh_uow(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Callable[[], ReportingUnitOfWork]]:
    """Units of work on a database of this test's own: no other test's fold
    has settled any day there."""
    url = migrated_database_url("reporting", MIGRATIONS, tmp_path_factory)
    async with database_sessions(url) as sessions:
        yield lambda: ReportingUnitOfWork(sessions, outbox)


async def _rows_by_table(
    new_uow: Callable[[], ReportingUnitOfWork], tenant: str, shift: int
) -> dict[str, list[int]]:
    """The stored days of the tenant's day rows, per day table."""
    out = {}
    async with new_uow() as uow:
        for table in (
            measure_days,
            measure_day_buckets,
            measure_open_days,
            measure_open_day_buckets,
        ):
            days = await uow.session.scalars(
                select(table.c.day).where(table.c.tenant_id == tenant, table.c.shift == shift)
            )
            out[table.name] = sorted(set(days))
    return out


async def _settled_day(new_uow: Callable[[], ReportingUnitOfWork], shift: int) -> int:
    async with new_uow() as uow:
        through = await uow.session.scalar(
            select(measure_day_shifts.c.settled_through).where(measure_day_shifts.c.shift == shift)
        )
    assert through is not None
    return int(through)


async def test_days_settle_in_key_order_once_later_hours_are_folded(
    fresh_uow: Callable[[], ReportingUnitOfWork], tenant: str
) -> None:
    """Folded a day at a time, in time order: each day's rows move from the
    open tables to the settled ones once hours two hours past its end are
    folded; the last day stays open. A late observation of a settled day is
    added where that day is. Every cut equals the hours cut one by one."""
    zone = "America/New_York"
    shifts = zone_shifts([zone], around=FIRST)  # winter's and summer's
    async with fresh_uow() as uow:
        await uow.measures.keep_day_shifts(shifts)
        await uow.commit()
    observations = _observations(tenant)
    for day in range(HOURS // 24):
        async with fresh_uow() as uow:
            await uow.measures.add([o for o in observations if (o.at - FIRST).days == day])
            await uow.commit()
    latest = max(int(o.at.timestamp()) for o in observations)
    stored = {}
    for shift in shifts:
        through = await _settled_day(fresh_uow, shift)
        assert through == settled_through(latest, shift)
        stored[shift] = await _rows_by_table(fresh_uow, tenant, shift)
        for settled, still_open in (
            ("measure_days", "measure_open_days"),
            ("measure_day_buckets", "measure_open_day_buckets"),
        ):
            assert max(stored[shift][settled]) == through
            assert min(stored[shift][still_open]) == through + 1
    await _check_every_cut(fresh_uow, tenant, zone, observations)

    late = Observation(
        tenant, Measure.FIRST_RESPONSE_SECONDS, FIRST + timedelta(days=3, minutes=5), 1, 4000.0,
        (("channel", "WHATSAPP"),), (), "", "late", "", "fr-late", measured=True,
    )  # fmt: skip
    async with fresh_uow() as uow:
        await uow.measures.add([late])
        await uow.commit()
    for shift in shifts:
        assert await _rows_by_table(fresh_uow, tenant, shift) == stored[shift]
    await _check_every_cut(fresh_uow, tenant, zone, [*observations, late])


async def test_folds_settling_side_by_side_count_each_observation_once(
    fresh_uow: Callable[[], ReportingUnitOfWork], tenant: str
) -> None:
    """Three folds at once, each a day's observations at a time out of
    interleaved days: each may settle days the others write (PostgreSQL: in
    parallel transactions). Every cut still equals the hours cut one by one."""
    zone = "America/New_York"
    shifts = zone_shifts([zone], around=FIRST)
    async with fresh_uow() as uow:
        await uow.measures.keep_day_shifts(shifts)
        await uow.commit()
    observations = _observations(tenant)
    days = [[o for o in observations if (o.at - FIRST).days == day] for day in range(HOURS // 24)]

    async def fold(worker: int) -> None:
        for batch in days[worker::3]:
            async with fresh_uow() as uow:
                await uow.measures.add(batch)
                await uow.commit()

    await asyncio.gather(*(fold(w) for w in range(3)))
    await _check_every_cut(fresh_uow, tenant, zone, observations)
