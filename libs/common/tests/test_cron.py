from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crosstalk_common.cron import cron_problem, next_after


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 9 * * MON", None),
        ("*/15 8-18 * * 1-5", None),
        ("0 9 29 2 *", None),  # leap years only: it does fire
        ("0 9 * *", "has 5 fields"),
        ("0 9 * * * *", "has 5 fields"),
        ("61 9 * * *", "does not parse"),
        ("0 9 * * FUNDAY", "does not parse"),
        ("0 9 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
    ],
)
def test_an_expression_that_cannot_run_says_why(expression: str, problem: str | None) -> None:
    found = cron_problem(expression)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_the_next_time_is_read_in_the_zone_and_given_in_utc() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    # 09:00 in Shanghai is 01:00 UTC; just after it, the next is the following day's.
    assert next_after("0 9 * * *", shanghai, datetime(2026, 3, 5, 0, 30, tzinfo=UTC)) == (
        datetime(2026, 3, 5, 1, tzinfo=UTC)
    )
    assert next_after("0 9 * * *", shanghai, datetime(2026, 3, 5, 1, tzinfo=UTC)) == (
        datetime(2026, 3, 6, 1, tzinfo=UTC)
    )
    # Across a change of clocks: 09:00 in Berlin is 08:00 UTC before 29 March, 07:00 after.
    berlin = ZoneInfo("Europe/Berlin")
    assert next_after("0 9 * * *", berlin, datetime(2026, 3, 28, 9, tzinfo=UTC)) == (
        datetime(2026, 3, 29, 7, tzinfo=UTC)
    )
