"""Single-customer writes that lose a race with another writer run again."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import Aborted
from customers.app.conflicts import ATTEMPTS, ChangedMeanwhile, retried_when_changed_meanwhile


async def test_a_write_that_lost_a_race_runs_again_on_the_new_version() -> None:
    runs: list[int] = []

    @retried_when_changed_meanwhile
    async def write(value: int) -> int:
        runs.append(value)
        if len(runs) < 3:
            raise ChangedMeanwhile()
        return value * 2

    assert await write(21) == 42
    assert runs == [21, 21, 21]


async def test_a_write_that_keeps_losing_answers_aborted_after_its_attempts() -> None:
    runs = 0

    @retried_when_changed_meanwhile
    async def write() -> None:
        nonlocal runs
        runs += 1
        raise ChangedMeanwhile()

    with pytest.raises(Aborted, match="changed while it was being updated"):
        await write()
    assert runs == ATTEMPTS


async def test_other_errors_are_not_retried() -> None:
    runs = 0

    @retried_when_changed_meanwhile
    async def write() -> None:
        nonlocal runs
        runs += 1
        raise Aborted.etag_mismatch("customers/c1")

    with pytest.raises(Aborted, match="changed by someone else"):
        await write()
    assert runs == 1
