"""Histogram buckets, time zones and validation: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crosstalk_common.errors import InvalidArgument
from reporting.domain import histogram
from reporting.domain.catalogue import METRICS_BY_NAME, Dimension
from reporting.domain.querying import (
    Granularity,
    HourRow,
    MetricQuery,
    bucket_start,
    bucket_starts,
    combine,
)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0, 1.5, 59.9, 60.0, 3600.0, 86_400.0, 1e9])
def test_every_value_falls_inside_its_bucket(value: float) -> None:
    lower, upper = histogram.bounds(histogram.bucket_of(value))
    assert lower <= value < upper


def test_a_bucket_is_at_most_a_fifth_wide() -> None:
    for bucket in range(1, histogram.LAST_BUCKET):
        lower, upper = histogram.bounds(bucket)
        assert upper / lower <= 1.19


def test_percentiles_from_buckets_stay_within_the_bucket_of_the_true_value() -> None:
    values = [float(v) for v in range(1, 1001)]  # 1 .. 1000 s
    buckets: dict[int, int] = {}
    for v in values:
        b = histogram.bucket_of(v)
        buckets[b] = buckets.get(b, 0) + 1
    for q, true in ((0.5, 500.0), (0.9, 900.0), (0.99, 990.0)):
        lower, upper = histogram.bounds(histogram.bucket_of(true))
        assert lower <= histogram.quantile(buckets, q) <= upper
    assert histogram.quantile({}, 0.5) == 0.0


def test_buckets_of_two_hours_add_up_to_the_buckets_of_both() -> None:
    first = {histogram.bucket_of(v): 1 for v in (3.0, 70.0)}
    second = {histogram.bucket_of(v): 1 for v in (5.0, 70.5)}
    merged = dict(first)
    histogram.merge(merged, second)
    assert sum(merged.values()) == 4
    assert merged[histogram.bucket_of(70.0)] == 2


def test_a_day_in_shanghai_is_not_a_utc_day() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    late_utc = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)  # 01:00 on the 5th in Shanghai
    assert bucket_start(late_utc, shanghai, Granularity.DAY) == datetime(
        2026, 3, 5, tzinfo=shanghai
    )
    assert bucket_start(late_utc, ZoneInfo("UTC"), Granularity.DAY) == datetime(
        2026, 3, 4, tzinfo=ZoneInfo("UTC")
    )


def test_weeks_start_on_monday_and_months_on_the_first_in_the_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    at = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # Sunday, the day clocks go forward
    assert bucket_start(at, berlin, Granularity.WEEK) == datetime(2026, 3, 23, tzinfo=berlin)
    assert bucket_start(at, berlin, Granularity.MONTH) == datetime(2026, 3, 1, tzinfo=berlin)
    query = MetricQuery(
        "messages_received",
        datetime(2026, 3, 28, tzinfo=berlin),
        datetime(2026, 3, 31, tzinfo=berlin),
        Granularity.DAY,
        "Europe/Berlin",
    )
    starts = bucket_starts(query)
    assert [s.day for s in starts] == [28, 29, 30]
    short_day = starts[2].astimezone(UTC) - starts[1].astimezone(UTC)
    assert short_day.total_seconds() == 23 * 3600


def test_hourly_rows_fold_into_local_days() -> None:
    metric = METRICS_BY_NAME["messages_received"]
    query = MetricQuery(
        "messages_received",
        datetime(2026, 3, 4, tzinfo=UTC),
        datetime(2026, 3, 6, tzinfo=UTC),
        Granularity.DAY,
        "Asia/Shanghai",
    )
    rows = [
        HourRow(datetime(2026, 3, 4, 15, tzinfo=UTC), (), 2, 0.0),  # 23:00 on the 4th
        HourRow(datetime(2026, 3, 4, 16, tzinfo=UTC), (), 3, 0.0),  # 00:00 on the 5th
    ]
    result = combine(metric, query, rows)
    assert [(p.start.day, p.value) for p in result.points] == [(4, 2.0), (5, 3.0)]
    assert result.summary.value == 5.0


def test_a_query_names_each_bad_field() -> None:
    start = datetime(2026, 3, 4, tzinfo=UTC)
    with pytest.raises(InvalidArgument) as caught:
        MetricQuery(
            "rule_hits",
            start,
            start.replace(year=2030),
            time_zone="Mars/Olympus",
            group_bys=(Dimension.CHANNEL,),
            filters=((Dimension.CASE_TYPE, ()),),
        ).validate()
    assert [v.field for v in caught.value.violations] == [
        "end_time",
        "time_zone",
        "group_bys[0]",
        "filters[0].dimension",
        "filters[0].values",
    ]
    with pytest.raises(InvalidArgument) as unknown:
        MetricQuery("nope", start, start.replace(day=5)).validate()
    assert [v.field for v in unknown.value.violations] == ["metric"]


@pytest.mark.parametrize(
    ("start", "end", "refused"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 5, tzinfo=UTC), ["start_time"]),
        (datetime(9999, 12, 25, tzinfo=UTC), datetime.max.replace(tzinfo=UTC), ["end_time"]),
        (
            datetime(1969, 12, 31, tzinfo=UTC),
            datetime(3000, 1, 2, tzinfo=UTC),
            ["start_time", "end_time"],
        ),
        (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC), []),
    ],
)
def test_a_range_lies_between_1970_and_3000(
    start: datetime, end: datetime, refused: list[str]
) -> None:
    """Its buckets and its previous period in a time zone reached past year 1 or 9999
    at the ends of what a timestamp holds: a 500."""
    query = MetricQuery(
        "messages_received", start, end, time_zone="Asia/Shanghai", compare_previous=True
    )
    if not refused:
        query.validate()
        return
    with pytest.raises(InvalidArgument) as caught:
        query.validate()
    assert [v.field for v in caught.value.violations] == refused
