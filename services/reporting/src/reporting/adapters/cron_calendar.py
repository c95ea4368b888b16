"""Five-field cron expressions in a time zone (the kit's, on croniter)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.cron import cron_problem, next_after


class CroniterCalendar:
    def problem(self, expression: str, time_zone: str) -> str | None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown IANA time zone {time_zone!r}"
        return cron_problem(expression)

    def next_after(self, expression: str, time_zone: str, after: datetime) -> datetime:
        return next_after(expression, ZoneInfo(time_zone), after)
