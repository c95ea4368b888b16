"""A tenant's settings for rules: its time zone and calendar (business hours,
holidays), how long the evaluation log keeps trigger facts, and the secret
webhook actions are signed with.

Identity's tenant settings events carry no time zone, so rules keeps its own
(``GetRuleSettings`` / ``UpdateRuleSettings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.errors import FieldViolation, InvalidArgument
from rules.domain.evaluation import BusinessCalendar

DEFAULT_RETENTION = timedelta(days=30)
MAX_RETENTION = timedelta(days=400)
MAX_HOURS_ENTRIES = 21
MAX_HOLIDAYS = 100


@dataclass(frozen=True)
class OpeningHours:
    weekday: int  # 1 = Monday ... 7 = Sunday
    start: time
    end: time


DEFAULT_HOURS = tuple(OpeningHours(d, time(9), time(18)) for d in range(1, 6))


@dataclass(frozen=True)
class RuleSettings:
    tenant_id: str
    time_zone: str = ""
    hours: tuple[OpeningHours, ...] = ()  # empty: Monday to Friday 09:00-18:00
    holidays: tuple[date, ...] = ()
    retention: timedelta = DEFAULT_RETENTION
    webhook_secret: str = field(default="", repr=False)  # sealed at rest by the adapter
    updated_at: datetime | None = None

    def calendar(self) -> BusinessCalendar:
        by_day: dict[int, list[tuple[time, time]]] = {}
        for h in self.hours or DEFAULT_HOURS:
            by_day.setdefault(h.weekday, []).append((h.start, h.end))
        return BusinessCalendar(
            time_zone=self.time_zone or "UTC",
            hours={d: tuple(spans) for d, spans in by_day.items()},
            holidays=frozenset(self.holidays),
        )


def parse_clock(text: str, path: str, problems: list[FieldViolation]) -> time | None:
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        problems.append(FieldViolation(path, f"write the time as HH:MM, not {text!r}"))
        return None


def read_settings(
    tenant_id: str,
    *,
    time_zone: str,
    hours: Sequence[tuple[int, str, str]],
    holidays: Sequence[str],
    retention: timedelta | None,
    webhook_secret: str,
    path: str = "settings",
) -> RuleSettings:
    """Settings from what a client sent; INVALID_ARGUMENT naming every bad field."""
    problems: list[FieldViolation] = []
    if time_zone:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                FieldViolation(f"{path}.time_zone", f"{time_zone!r} is not an IANA time zone")
            )
    if len(hours) > MAX_HOURS_ENTRIES:
        problems.append(
            FieldViolation(f"{path}.business_hours", f"at most {MAX_HOURS_ENTRIES} entries")
        )
    opening = []
    for i, (weekday, start_text, end_text) in enumerate(hours):
        where = f"{path}.business_hours[{i}]"
        if not 1 <= weekday <= 7:
            problems.append(FieldViolation(f"{where}.weekday", "1 (Monday) to 7 (Sunday)"))
        start = parse_clock(start_text, f"{where}.start", problems)
        end = parse_clock(end_text, f"{where}.end", problems)
        if start is not None and end is not None:
            if end <= start:
                problems.append(FieldViolation(f"{where}.end", "must be after start"))
            opening.append(OpeningHours(weekday, start, end))
    if len(holidays) > MAX_HOLIDAYS:
        problems.append(FieldViolation(f"{path}.holidays", f"at most {MAX_HOLIDAYS} days"))
    days = []
    for i, text in enumerate(holidays):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            problems.append(FieldViolation(f"{path}.holidays[{i}]", "write a day as YYYY-MM-DD"))
    kept = retention or DEFAULT_RETENTION
    if not timedelta(days=1) <= kept <= MAX_RETENTION:
        problems.append(
            FieldViolation(f"{path}.evaluation_log_retention", "between 1 and 400 days")
        )
    if problems:
        raise InvalidArgument(problems)
    return RuleSettings(
        tenant_id=tenant_id,
        time_zone=time_zone,
        hours=tuple(opening),
        holidays=tuple(days),
        retention=kept,
        webhook_secret=webhook_secret,
    )
