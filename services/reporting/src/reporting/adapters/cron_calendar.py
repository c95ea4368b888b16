"""Five-field cron expressions in a time zone (croniter)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter


class CroniterCalendar:
    def problem(self, expression: str, time_zone: str) -> str | None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown IANA time zone {time_zone!r}"
        if len(expression.split()) != 5:
            return "a cron expression has five fields: minute hour day month weekday"
        try:
            croniter(expression, datetime(2026, 1, 1, tzinfo=ZoneInfo(time_zone)))
        except (CroniterError, ValueError, KeyError) as exc:
            return f"does not parse: {exc}"
        return None

    def next_after(self, expression: str, time_zone: str, after: datetime) -> datetime:
        zone = ZoneInfo(time_zone)
        nxt = croniter(expression, after.astimezone(zone)).get_next(datetime)
        assert isinstance(nxt, datetime)
        return nxt.astimezone(UTC)
