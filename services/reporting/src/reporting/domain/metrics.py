"""Metrics reporting offers, and how daily counts roll up into buckets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument

# metric name -> the event type it counts
COUNTED_EVENTS = {
    "messages_received": "message.received",
    "rules_fired": "rule.fired",
    "customers_created": "customer.created",
    "customers_tagged": "customer.tagged",
}
MAX_RANGE_DAYS = 366 * 3


class Granularity(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def bucket_start(day: date, granularity: Granularity) -> date:
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


@dataclass(frozen=True)
class MetricQuery:
    metric: str
    start: datetime
    end: datetime
    granularity: Granularity

    def validate(self) -> None:
        problems = []
        if self.metric not in COUNTED_EVENTS:
            known = ", ".join(sorted(COUNTED_EVENTS))
            problems.append(
                FieldViolation("metric", f"unknown metric {self.metric!r}; known: {known}")
            )
        if self.end <= self.start:
            problems.append(FieldViolation("end_time", "must be after start_time"))
        elif (self.end - self.start).days > MAX_RANGE_DAYS:
            problems.append(
                FieldViolation("end_time", f"a range spans at most {MAX_RANGE_DAYS} days")
            )
        if problems:
            raise InvalidArgument(problems)


def roll_up(daily: Iterable[tuple[date, int]], granularity: Granularity) -> list[tuple[date, int]]:
    buckets: dict[date, int] = {}
    for day, count in daily:
        key = bucket_start(day, granularity)
        buckets[key] = buckets.get(key, 0) + count
    return sorted(buckets.items())
