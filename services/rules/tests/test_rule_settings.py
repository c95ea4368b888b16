"""A tenant's rule settings: what a client may send (rules/domain/settings.py)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from crosstalk_common.errors import InvalidArgument
from rules.domain.settings import OpeningHours, read_settings


def settings(**kw: object) -> object:
    values: dict[str, object] = {
        "time_zone": "Europe/Berlin",
        "hours": [(1, "08:30", "17:00")],
        "holidays": ["2026-12-25"],
        "retention": timedelta(days=10),
        "webhook_secret": "s",
    }
    values.update(kw)
    return read_settings("t1", **values)  # type: ignore[arg-type]


def test_good_settings_make_the_tenants_calendar() -> None:
    read = settings()
    assert read.hours == (OpeningHours(1, time(8, 30), time(17)),)  # type: ignore[attr-defined]
    assert read.holidays == (date(2026, 12, 25),)  # type: ignore[attr-defined]
    calendar = read.calendar()  # type: ignore[attr-defined]
    assert calendar.time_zone == "Europe/Berlin"
    assert calendar.hours == {1: ((time(8, 30), time(17)),)}
    assert settings(retention=None).retention == timedelta(days=30)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "settings.time_zone"),
        ({"hours": [(8, "09:00", "10:00")]}, "settings.business_hours[0].weekday"),
        ({"hours": [(1, "9am", "10:00")]}, "settings.business_hours[0].start"),
        ({"hours": [(1, "10:00", "09:00")]}, "settings.business_hours[0].end"),
        ({"hours": [(1, "09:00", "10:00")] * 22}, "settings.business_hours"),
        ({"holidays": ["25.12.2026"]}, "settings.holidays[0]"),
        ({"retention": timedelta(days=401)}, "settings.evaluation_log_retention"),
        ({"retention": timedelta(hours=1)}, "settings.evaluation_log_retention"),
    ],
)
def test_bad_settings_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        settings(**change)
    assert field in [v.field for v in refused.value.violations]
