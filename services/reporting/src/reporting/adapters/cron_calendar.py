"""Five-field cron expressions in a time zone (croniter)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter


class CroniterCalendar:
    def problem(self, expression: str, time_zone: str) -> str | None:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown IANA time zone {time_zone!r}"
        if len(expression.split()) != 5:
            return "a cron expression has five fields: minute hour day month weekday"
        try:
            schedule = croniter(expression, datetime(2026, 1, 1, tzinfo=ZoneInfo(time_zone)))
        except (CroniterError, ValueError, KeyError) as exc:
            return f"does not parse: {exc}"
        try:
            # A valid expression can name no date at all ("0 0 30 2 *"): croniter only
            # says so when asked for the next run, which creating the schedule does.
            schedule.get_next(datetime)
        except CroniterBadDateError:
            return "never fires: no date matches its day and month"
        return None

    def next_after(self, expression: str, time_zone: str, after: datetime) -> datetime:
        zone = ZoneInfo(time_zone)
        nxt = croniter(expression, after.astimezone(zone)).get_next(datetime)
        assert isinstance(nxt, datetime)
        return nxt.astimezone(UTC)
