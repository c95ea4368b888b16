"""Reading a metric: which rows to read, and how hourly rows become points.

Rows are stored per UTC hour; buckets of a day, week or month are cut in the
caller's time zone, so "a day in Asia/Shanghai" is its own 24 hours. The
store adds the hours up per bucket as ``Cuts`` says (the zone's offsets over
the range, worked out here), and ``combine`` makes the points. Every figure
comes from stored counts, sums and histogram buckets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.errors import FieldViolation, InvalidArgument
from reporting.domain import histogram
from reporting.domain.catalogue import METRICS_BY_NAME, Aggregation, Dimension, Measure, Metric

MAX_RANGE_DAYS = 366 * 3
# A range lies within these: hours, local days and the previous period of a range
# at the ends of what a timestamp can hold are not times anyone has figures for,
# and reached past year 1 or 9999 when worked out in a time zone.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
MAX_HOURLY_RANGE_DAYS = 31
MAX_GROUP_BYS = 2
# Lifecycle stages in funnel order.
STAGE_ORDER = ("POTENTIAL", "INTENT", "DEAL", "REPEAT")


class Granularity(Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


Groups = tuple[str, ...]


@dataclass(frozen=True)
class MetricQuery:
    metric: str
    start: datetime
    end: datetime
    granularity: Granularity = Granularity.DAY
    time_zone: str = ""
    group_bys: tuple[Dimension, ...] = ()
    filters: tuple[tuple[Dimension, tuple[str, ...]], ...] = ()
    compare_previous: bool = False

    def _range_problems(self) -> list[FieldViolation]:
        ends = []
        if self.start < EARLIEST:
            ends.append(FieldViolation("start_time", "must be 1970-01-01 or later"))
        if self.end > LATEST:
            ends.append(FieldViolation("end_time", "must be 3000-01-01 or earlier"))
        if ends:  # a range past those ends is not looked into further
            return ends
        days = (self.end - self.start).days
        if self.end <= self.start:
            return [FieldViolation("end_time", "must be after start_time")]
        if days > MAX_RANGE_DAYS:
            return [FieldViolation("end_time", f"a range spans at most {MAX_RANGE_DAYS} days")]
        if self.granularity is Granularity.HOUR and days > MAX_HOURLY_RANGE_DAYS:
            return [
                FieldViolation(
                    "end_time",
                    f"hourly buckets cover at most {MAX_HOURLY_RANGE_DAYS} days; "
                    "use a wider granularity",
                )
            ]
        return []

    def validate(self) -> Metric:
        """The metric asked for; INVALID_ARGUMENT naming each bad field."""
        problems = []
        metric = METRICS_BY_NAME.get(self.metric)
        if metric is None:
            known = ", ".join(sorted(METRICS_BY_NAME))
            problems.append(
                FieldViolation("metric", f"unknown metric {self.metric!r}; known: {known}")
            )
        problems.extend(self._range_problems())
        if self.time_zone:
            try:
                ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(
                    FieldViolation("time_zone", f"unknown IANA time zone {self.time_zone!r}")
                )
        if len(self.group_bys) > MAX_GROUP_BYS:
            problems.append(FieldViolation("group_bys", "at most 2 dimensions"))
        if len(set(self.group_bys)) != len(self.group_bys):
            problems.append(FieldViolation("group_bys", "a dimension is named twice"))
        if metric is not None:
            allowed = ", ".join(sorted(d.value for d in metric.dimensions))
            for i, dim in enumerate(self.group_bys):
                if dim not in metric.dimensions:
                    problems.append(
                        FieldViolation(
                            f"group_bys[{i}]",
                            f"{self.metric} cannot be split by {dim.value}; it can by: {allowed}",
                        )
                    )
            for i, (dim, values) in enumerate(self.filters):
                if dim not in metric.dimensions:
                    problems.append(
                        FieldViolation(
                            f"filters[{i}].dimension",
                            f"{self.metric} cannot be filtered by {dim.value}; "
                            f"it can by: {allowed}",
                        )
                    )
                if not values:
                    problems.append(FieldViolation(f"filters[{i}].values", "name a value"))
        if problems:
            raise InvalidArgument(problems)
        assert metric is not None
        return metric

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or "UTC")

    def previous(self) -> MetricQuery:
        length = self.end - self.start
        return MetricQuery(
            self.metric,
            self.start - length,
            self.start,
            self.granularity,
            self.time_zone,
            self.group_bys,
            self.filters,
            False,
        )


_EPOCH_DAY = date(1970, 1, 1).toordinal()
_HOUR = 3600
_DAY = 86_400


@dataclass(frozen=True)
class Cuts:
    """How stored hours fall into a query's buckets, so that the store adds
    them up per bucket (one row per bucket and group) instead of handing over
    every hour.

    An hour ``h`` (its UTC start, as seconds since the epoch ``s``) counts in
    the bucket of its local time ``local = s + offset``, the zone's UTC offset
    at ``h`` (``offsets``: from the range's first hour on, each first hour, as
    epoch seconds, of a stretch with one offset, and that offset). Its bucket's
    key is, by granularity:

    - hour: ``s // 3600``;
    - day: ``local // 86400``, the local date as days since 1970-01-01;
    - week: ``(local // 86400 + 3) // 7``, weeks since Monday 1969-12-29;
    - month: how many of ``months[1:]`` (local day numbers of the 1sts of the
      months after the first bucket's) are <= ``local // 86400``.

    That is ``bucket_start`` worked out in integers (what a database does with
    no time zones of its own), and ``instant(key)`` is an instant inside the
    bucket, so the points are those the hours cut one by one would give.
    """

    zone: ZoneInfo
    granularity: Granularity
    offsets: tuple[tuple[int, int], ...]
    months: tuple[int, ...] = ()

    def day_key(self, day: int) -> int:
        """The key of the bucket a local day (days since 1970-01-01) is in."""
        if self.granularity is Granularity.WEEK:
            return (day + 3) // 7
        if self.granularity is Granularity.MONTH:
            return bisect_right(self.months, day, 1) - 1
        return day

    def instant(self, key: int) -> datetime:
        """An instant in the bucket of ``key`` (its start for day, week, month)."""
        if self.granularity is Granularity.HOUR:
            return datetime.fromtimestamp(key * _HOUR, UTC)
        if self.granularity is Granularity.DAY:
            day = key
        elif self.granularity is Granularity.WEEK:
            day = key * 7 - 3
        else:
            day = self.months[min(key, len(self.months) - 1)]
        local = date.fromordinal(day + _EPOCH_DAY)
        return datetime(local.year, local.month, local.day, tzinfo=self.zone)


def _offset(zone: ZoneInfo, seconds: int) -> int:
    at = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    delta = at.utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@lru_cache(maxsize=256)
def cuts_for(zone_name: str, granularity: Granularity, start: datetime, end: datetime) -> Cuts:
    """The cuts of the hours from ``start`` (an hour start) until ``end`` (UTC)."""
    zone = ZoneInfo(zone_name or "UTC")
    first = int(start.timestamp())
    last = int(end.timestamp())
    offsets = [(first, _offset(zone, first))]
    # The offset sampled a day apart; where it moved, the first hour with the
    # new one found by halving (zones change it at most once a day).
    at = first
    while at < last:
        following = min(at + _DAY, first + (last - 1 - first) // _HOUR * _HOUR)
        if following <= at:
            break
        value = _offset(zone, following)
        if value != offsets[-1][1]:
            low, high = at, following  # low has the old offset, high the new
            while high - low > _HOUR:
                middle = low + (high - low) // 2 // _HOUR * _HOUR
                if _offset(zone, middle) == value:
                    high = middle
                else:
                    low = middle
            offsets.append((high, value))
        at = following
    months: tuple[int, ...] = ()
    if granularity is Granularity.MONTH:
        begin = bucket_start(start, zone, granularity).date()
        stop = bucket_start(end, zone, granularity).date()
        firsts = [begin]
        while firsts[-1] < stop:
            previous = firsts[-1]
            firsts.append(date(previous.year + previous.month // 12, previous.month % 12 + 1, 1))
        months = tuple(d.toordinal() - _EPOCH_DAY for d in firsts)
    return Cuts(zone, granularity, tuple(offsets), months)


HOURLY_UTC = Cuts(ZoneInfo("UTC"), Granularity.HOUR, ((0, 0),))


def day_shift(offset: int) -> tuple[int, int]:
    """Where a zone's local days fall among stored day rows, for a UTC offset
    (seconds): ``(shift, days)``. Day rows of shift ``s`` (0-23) add up the
    hours ``h`` (epoch seconds) by ``(h + 3600 * s) // 86400``; a local day
    (``Cuts``: ``(h + offset) // 86400``, hours cut at the whole hour below the
    offset) is that stored day plus ``days`` (-1 west of UTC)."""
    hours = offset // _HOUR
    return hours % 24, hours // 24


def stored_day(epoch_seconds: int, shift: int) -> int:
    """The stored day of shift ``shift`` an hour (its epoch seconds) counts in."""
    return (epoch_seconds + _HOUR * shift) // _DAY


# A stored day settles (its day rows move to where a query reads them as one
# stretch of the table) once an hour this long after its end has been folded.
SETTLE_AFTER_SECONDS = 2 * _HOUR


def settled_through(latest_epoch_seconds: int, shift: int) -> int:
    """The last stored day of ``shift`` settled once an hour starting at
    ``latest_epoch_seconds`` has been folded."""
    return stored_day(latest_epoch_seconds - SETTLE_AFTER_SECONDS, shift) - 1


def zone_shifts(zones: Iterable[str], around: datetime | None = None) -> frozenset[int]:
    """The shifts of the offsets ``zones`` have had over the longest range a
    query spans before ``around`` (now) and use for a year after it."""
    at = hour_floor(around or datetime.now(UTC))
    start, end = at - timedelta(days=MAX_RANGE_DAYS), at + timedelta(days=366)
    return frozenset(
        day_shift(offset)[0]
        for zone in zones
        for _, offset in cuts_for(zone, Granularity.DAY, start, end).offsets
    )


@dataclass(frozen=True)
class DayRun:
    """Local days ``first``..``last`` (day numbers, ``Cuts``) read from the day
    rows of ``shift``: stored day = local day - ``days``."""

    shift: int
    days: int
    first: int
    last: int


@dataclass(frozen=True)
class Cover:
    """How a range is read: whole local days from day rows, the rest of its
    hours (``hours``: [start, end) epoch-second ranges) from hour rows."""

    days: tuple[DayRun, ...]
    hours: tuple[tuple[int, int], ...]


def cover(cuts: Cuts, start: datetime, end: datetime, shifts: frozenset[int]) -> Cover:
    """The local days of ``cuts`` wholly inside ``start`` (an hour start) ..
    ``end`` with one offset all day, whose shift has day rows (``shifts``);
    every other hour of the range is read hour by hour. Buckets of an hour
    never read day rows."""
    first, last = int(start.timestamp()), int(end.timestamp())
    whole = first, last + (-last % _HOUR)  # the hours a query reads: h < end
    if cuts.granularity is Granularity.HOUR or not shifts or whole[0] >= whole[1]:
        return Cover((), (whole,))
    runs: list[DayRun] = []
    hours: list[tuple[int, int]] = []
    at = whole[0]  # hours before ``at`` are placed
    stretches = [*cuts.offsets[1:], (whole[1], 0)]
    for (since, offset), (until, _) in zip(cuts.offsets, stretches, strict=True):
        shift, days = day_shift(offset)
        if shift not in shifts:
            continue
        local_hours = offset // _HOUR
        # Local day n holds the hours from 86400 n - 3600 * local_hours, 24 of them.
        day = -(-(max(since, at) + _HOUR * local_hours) // _DAY)
        while (begin := _DAY * day - _HOUR * local_hours) + _DAY <= min(until, whole[1]):
            if begin > at:
                hours.append((at, begin))
            if runs and runs[-1].shift == shift and runs[-1].last == day - 1:
                runs[-1] = DayRun(shift, days, runs[-1].first, day)
            else:
                runs.append(DayRun(shift, days, day, day))
            at = begin + _DAY
            day += 1
    if at < whole[1]:
        hours.append((at, whole[1]))
    return Cover(tuple(runs), tuple(hours))


@dataclass(frozen=True)
class RowSpec:
    """What the store must read for one measure of a query, added up per
    bucket of ``cuts``."""

    measure: Measure
    start: datetime  # UTC, inclusive (an hour start)
    end: datetime  # UTC, exclusive
    group_bys: tuple[Dimension, ...]
    filters: tuple[tuple[Dimension, tuple[str, ...]], ...]
    cuts: Cuts = HOURLY_UTC

    @property
    def by_tag(self) -> bool:
        return Dimension.TAG in self.group_bys or any(d is Dimension.TAG for d, _ in self.filters)

    @property
    def kind(self) -> str:
        """The rows that answer it: "all" when no dimension is named, the one
        dimension's own rows when one is (split or filtered), "full" otherwise."""
        named = set(self.group_bys) | {d for d, _ in self.filters}
        if not named:
            return "all"
        if len(named) == 1:
            return next(iter(named)).value
        return "full"


def hour_floor(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def row_specs(metric: Metric, query: MetricQuery) -> list[RowSpec]:
    """The measures to read: the metric's own and, for ratios, its denominator."""
    group_bys = query.group_bys
    if metric.aggregation is Aggregation.FUNNEL and Dimension.STAGE not in group_bys:
        group_bys = (*group_bys, Dimension.STAGE)
    filters = query.filters
    if metric.fixed_filter is not None:
        dim, value = metric.fixed_filter
        filters = (*filters, (dim, (value,)))
    start = hour_floor(query.start)
    end = query.end.astimezone(UTC)
    cuts = cuts_for(query.time_zone, query.granularity, start, end)
    specs = [RowSpec(metric.measure, start, end, group_bys, filters, cuts)]
    if metric.denominator is not None:
        specs.append(RowSpec(metric.denominator, start, end, group_bys, filters, cuts))
    return specs


@dataclass(frozen=True)
class HourRow:
    hour: datetime  # UTC
    groups: Groups
    count: int
    total: float


@dataclass(frozen=True)
class BucketCounts:
    """A group's histogram in one bucket of the query (``hour`` is an instant in
    it): the count of each histogram bucket."""

    hour: datetime
    groups: Groups
    counts: dict[int, int]


# The group of the records that name no value of the dimension split by.
UNSET: Groups = ("",)


def unset_dimension(spec: RowSpec) -> Dimension | None:
    """The dimension ``spec`` splits by when the records that name no value of it
    must be added as a group of their own (UNSET): a dimension's own rows hold
    only the records that name one (a conversation with no agent, a customer
    with no country), so a split by it alone would leave the rest out of the
    points and the total. Their figures are the whole's less the groups'. Not
    for tags (a record counts once per tag, so the groups do not add up to the
    whole), nor when filters are given (the rows read then hold every record,
    the unset ones under "")."""
    if len(spec.group_bys) != 1 or spec.filters:
        return None
    dimension = spec.group_bys[0]
    return None if dimension is Dimension.TAG else dimension


def whole(spec: RowSpec) -> RowSpec:
    """``spec`` unsplit and unfiltered: every record in its range."""
    return replace(spec, group_bys=(), filters=())


def with_unset_rows(
    query: MetricQuery, grouped: Sequence[HourRow], everything: Sequence[HourRow]
) -> list[HourRow]:
    """``grouped`` and, per bucket of the query, what ``everything`` holds beyond
    the groups, as the UNSET group."""
    left: dict[datetime, list[float]] = {}
    for r in everything:
        at = bucket_start(r.hour, query.zone, query.granularity)
        acc = left.setdefault(at, [0, 0.0])
        acc[0] += r.count
        acc[1] += r.total
    for r in grouped:
        found = left.get(bucket_start(r.hour, query.zone, query.granularity))
        if found is not None:
            found[0] -= r.count
            found[1] -= r.total
    # A level's changes may be negative (customers leaving "no tier" for one).
    unset = [HourRow(at, UNSET, int(n), total) for at, (n, total) in left.items() if n]
    return [*grouped, *unset]


def with_unset_buckets(
    query: MetricQuery, grouped: Sequence[BucketCounts], everything: Sequence[BucketCounts]
) -> list[BucketCounts]:
    """As ``with_unset_rows``, for histogram counts."""
    left: dict[datetime, dict[int, int]] = {}
    for b in everything:
        at = bucket_start(b.hour, query.zone, query.granularity)
        histogram.merge(left.setdefault(at, {}), b.counts)
    for b in grouped:
        counts = left.get(bucket_start(b.hour, query.zone, query.granularity))
        if counts is not None:
            for bucket, n in b.counts.items():
                counts[bucket] = counts.get(bucket, 0) - n
    unset = []
    for at, counts in left.items():
        kept = {bucket: n for bucket, n in counts.items() if n > 0}
        if kept:
            unset.append(BucketCounts(at, UNSET, kept))
    return [*grouped, *unset]


def with_unset_level(
    grouped: Mapping[Groups, int], everything: Mapping[Groups, int]
) -> dict[Groups, int]:
    """As ``with_unset_rows``, for the levels standing before the range."""
    out = dict(grouped)
    rest = sum(everything.values()) - sum(grouped.values())
    if rest:
        out[UNSET] = rest
    return out


@dataclass
class Point:
    start: datetime  # the bucket's start in the query's time zone
    groups: Groups
    count: int = 0
    total: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)
    numerator: int = 0
    denominator: int = 0
    value: float = 0.0
    p50: float = 0.0
    p90: float = 0.0


def bucket_start(at: datetime, zone: ZoneInfo, granularity: Granularity) -> datetime:
    local = at.astimezone(zone)
    if granularity is Granularity.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if granularity is Granularity.WEEK:
        day -= timedelta(days=day.weekday())
    elif granularity is Granularity.MONTH:
        day = day.replace(day=1)
    return day.replace(tzinfo=zone)


def _next_bucket(start: datetime, zone: ZoneInfo, granularity: Granularity) -> datetime:
    naive = start.replace(tzinfo=None)
    if granularity is Granularity.HOUR:
        utc = start.astimezone(UTC) + timedelta(hours=1)
        return utc.astimezone(zone)
    if granularity is Granularity.DAY:
        naive += timedelta(days=1)
    elif granularity is Granularity.WEEK:
        naive += timedelta(days=7)
    else:
        naive = (naive.replace(day=28) + timedelta(days=4)).replace(day=1)
    return naive.replace(tzinfo=zone)


def bucket_starts(query: MetricQuery) -> list[datetime]:
    """Every bucket start from the one holding ``start`` to the one before ``end``."""
    zone = query.zone
    starts = []
    current = bucket_start(query.start, zone, query.granularity)
    while current < query.end:
        starts.append(current)
        current = _next_bucket(current, zone, query.granularity)
    return starts


def _finish(point: Point, aggregation: Aggregation) -> None:
    if aggregation is Aggregation.COUNT or aggregation is Aggregation.LEVEL:
        point.value = float(point.count)
    elif aggregation is Aggregation.SUM:
        point.value = point.total
    elif aggregation is Aggregation.DISTRIBUTION:
        point.value = point.total / point.count if point.count else 0.0
        point.p50 = histogram.quantile(point.buckets, 0.5)
        point.p90 = histogram.quantile(point.buckets, 0.9)
    elif aggregation is Aggregation.RATIO:
        point.value = point.numerator / point.denominator if point.denominator else 0.0
    elif aggregation is Aggregation.SUM_PER:
        point.value = point.total / point.denominator if point.denominator else 0.0


@dataclass
class QueryResult:
    points: list[Point]
    summary: Point


def combine(
    metric: Metric,
    query: MetricQuery,
    rows: Sequence[HourRow],
    buckets: Sequence[BucketCounts] = (),
    denominator_rows: Sequence[HourRow] = (),
    level_before: Mapping[Groups, int] | None = None,
) -> QueryResult:
    """Points (one per bucket and group, oldest first, then by group) and the
    whole range as one point."""
    zone, granularity = query.zone, query.granularity
    aggregation = metric.aggregation
    points: dict[tuple[datetime, Groups], Point] = {}
    summary = Point(start=bucket_start(query.start, zone, granularity), groups=())

    starts: dict[datetime, datetime] = {}

    def point(hour: datetime, groups: Groups) -> Point:
        start = starts.get(hour)
        if start is None:
            start = starts[hour] = bucket_start(hour, zone, granularity)
        found = points.get((start, groups))
        if found is None:
            found = points[(start, groups)] = Point(start, groups)
        return found

    for row in rows:
        p = point(row.hour, row.groups)
        p.count += row.count
        p.total += row.total
        p.numerator += row.count
        summary.count += row.count
        summary.total += row.total
        summary.numerator += row.count
    for b in buckets:
        histogram.merge(point(b.hour, b.groups).buckets, b.counts)
        histogram.merge(summary.buckets, b.counts)
    for row in denominator_rows:
        point(row.hour, row.groups).denominator += row.count
        summary.denominator += row.count

    if aggregation is Aggregation.LEVEL:
        return _levels(metric, query, points, level_before or {})
    if aggregation is Aggregation.FUNNEL:
        return _funnel(query, points)
    ordered = [points[k] for k in sorted(points, key=lambda k: (k[0], k[1]))]
    for p in ordered:
        _finish(p, aggregation)
    _finish(summary, aggregation)
    return QueryResult(ordered, summary)


def _levels(
    metric: Metric,
    query: MetricQuery,
    deltas: Mapping[tuple[datetime, Groups], Point],
    before: Mapping[Groups, int],
) -> QueryResult:
    """Each group's level at the end of every bucket: what stood before the
    range plus the changes up to that bucket."""
    groups = sorted(set(before) | {g for _, g in deltas})
    starts = bucket_starts(query)
    level = {g: before.get(g, 0) for g in groups}
    out = []
    for start in starts:
        for g in groups:
            delta = deltas.get((start, g))
            if delta is not None:
                level[g] += delta.count
            if level[g] or delta is not None:
                out.append(Point(start, g, count=level[g], value=float(level[g])))
    total = sum(level.values())
    summary = Point(starts[0] if starts else query.start, (), count=total, value=float(total))
    return QueryResult(out, summary)


def _funnel(query: MetricQuery, points: Mapping[tuple[datetime, Groups], Point]) -> QueryResult:
    """Entries of each stage ÷ entries of the stage before it, in each bucket and
    group (the stage is the last group value)."""
    out = []
    totals: dict[Groups, int] = {}
    for (start, groups), p in sorted(points.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        totals[groups] = totals.get(groups, 0) + p.count
        stage = groups[-1]
        if stage not in STAGE_ORDER or STAGE_ORDER.index(stage) == 0:
            p.numerator, p.denominator = p.count, p.count
        else:
            before = (*groups[:-1], STAGE_ORDER[STAGE_ORDER.index(stage) - 1])
            prev = points.get((start, before))
            p.numerator, p.denominator = p.count, prev.count if prev else 0
        p.value = p.numerator / p.denominator if p.denominator else 0.0
        out.append(p)
    first = sum(n for g, n in totals.items() if g[-1] == STAGE_ORDER[0])
    last = sum(n for g, n in totals.items() if g[-1] == STAGE_ORDER[-1])
    summary = Point(
        bucket_start(query.start, query.zone, query.granularity),
        (),
        numerator=last,
        denominator=first,
        value=last / first if first else 0.0,
    )
    return QueryResult(out, summary)


def shift(points: Iterable[Point], by: timedelta) -> list[Point]:
    """Points moved later by ``by`` (a previous period lined up with the current)."""
    moved = []
    for p in points:
        p.start = p.start + by
        moved.append(p)
    return moved
