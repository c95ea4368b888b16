"""Five-field cron expressions (minute hour day month weekday), read in a time zone.

Rules' schedule triggers and reporting's scheduled reports take the same
expressions and must refuse the same ones: one that does not parse, and one
that parses yet names no date at all ("0 9 30 2 *"), which croniter only
reports when asked for a next time, so a schedule would be stored and never run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

FIELDS = 5


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` cannot be a schedule, or None."""
    fields = expression.split()
    if len(fields) != FIELDS:
        return (
            f"a cron expression has {FIELDS} fields (minute hour day month weekday), "
            f"got {len(fields)}"
        )
    if not croniter.is_valid(expression):
        return f"{expression!r} does not parse as a cron expression"
    try:
        croniter(expression, datetime(2026, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        return f"{expression!r} never fires: no date matches its day and month"
    return None


def next_after(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The expression's first time strictly after ``after``, read in ``zone``; in UTC."""
    local = after.astimezone(zone)
    found = croniter(expression, local).get_next(datetime)
    assert isinstance(found, datetime)
    if found.tzinfo is None:
        found = found.replace(tzinfo=zone)
    return found.astimezone(UTC)
