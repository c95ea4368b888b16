"""Reporting's domain and use cases, with in-memory ports."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from crosstalk_common.errors import InvalidArgument
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from reporting.app.counting import count_events
from reporting.app.metrics import ReportingService
from reporting.domain.counting import NOBODY, CountKey, ObservedEvent, Owner
from reporting.domain.metrics import MAX_RANGE_DAYS, Granularity, MetricQuery, roll_up
from services.reporting.tests.event_sequences import (
    counted_one_at_a_time,
    random_batches,
    random_events,
)
from services.reporting.tests.fakes import FakeUnitOfWork

TENANT = "t1"
ANNA = Owner("m-anna", "d-sales")
BEN = Owner("m-ben", "d-support")
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
EVERYTHING = Visibility(DataScope.ALL)


def observed(
    event_type: str, customer: str = "", *, at: datetime = NOON, new_owner: Owner | None = None
) -> ObservedEvent:
    return ObservedEvent(TENANT, event_type, at, customer, new_owner)


def query(metric: str, start: datetime, end: datetime, granularity: Granularity) -> MetricQuery:
    return MetricQuery(metric=metric, start=start, end=end, granularity=granularity)


# -- domain


def test_an_event_counts_on_its_utc_day() -> None:
    late_in_new_york = datetime(2026, 3, 4, 21, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert observed("message.received", at=late_in_new_york).day == date(2026, 3, 5)
    early_in_tokyo = datetime(2026, 3, 5, 7, 0, tzinfo=timezone(timedelta(hours=9)))
    assert observed("message.received", at=early_in_tokyo).day == date(2026, 3, 4)


def test_days_roll_up_into_weeks_from_monday_and_calendar_months() -> None:
    daily = [
        (date(2026, 3, 1), 1),
        (date(2026, 3, 2), 2),
        (date(2026, 3, 8), 4),
        (date(2026, 3, 9), 8),
    ]
    # 2026-03-01 is a Sunday: its week began on Monday 2026-02-23
    assert roll_up(daily, Granularity.WEEK) == [
        (date(2026, 2, 23), 1),
        (date(2026, 3, 2), 6),
        (date(2026, 3, 9), 8),
    ]
    assert roll_up(daily, Granularity.MONTH) == [(date(2026, 3, 1), 15)]
    assert roll_up(daily, Granularity.DAY) == daily


def test_a_query_names_its_faults_by_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        query("sales", NOON, NOON, Granularity.DAY).validate()
    assert [v.field for v in caught.value.violations] == ["metric", "end_time"]
    too_long = NOON + timedelta(days=MAX_RANGE_DAYS + 1)
    with pytest.raises(InvalidArgument) as caught:
        query("rules_fired", NOON, too_long, Granularity.DAY).validate()
    assert [v.field for v in caught.value.violations] == ["end_time"]
    query("rules_fired", NOON, NOON + timedelta(days=MAX_RANGE_DAYS), Granularity.DAY).validate()


# -- counting


async def test_a_created_customer_is_remembered_and_its_events_count_under_its_owner() -> None:
    uow = FakeUnitOfWork()
    await count_events(uow, [observed("customer.created", "customers/1", new_owner=ANNA)])
    await count_events(uow, [observed("message.received", "customers/1")])
    await count_events(uow, [observed("message.received", "customers/1")])
    day = NOON.date()
    assert uow.counts.rows == {
        CountKey(TENANT, "customer.created", day, ANNA): 1,
        CountKey(TENANT, "message.received", day, ANNA): 2,
    }
    assert uow.owners.owners == {(TENANT, "customers/1"): ANNA}
    assert (uow.opened, uow.commits) == (3, 3)


async def test_events_about_no_known_customer_count_for_nobody() -> None:
    uow = FakeUnitOfWork()
    await count_events(uow, [observed("tenant.created")])
    await count_events(uow, [observed("message.received", "customers/unknown")])
    day = NOON.date()
    assert uow.counts.rows == {
        CountKey(TENANT, "tenant.created", day, NOBODY): 1,
        CountKey(TENANT, "message.received", day, NOBODY): 1,
    }
    assert uow.owners.owners == {}


async def test_an_owner_is_the_one_known_when_the_event_is_counted() -> None:
    uow = FakeUnitOfWork()
    await count_events(uow, [observed("customer.created", "customers/1", new_owner=ANNA)])
    await count_events(uow, [observed("customer.tagged", "customers/1")])
    await count_events(uow, [observed("customer.created", "customers/1", new_owner=BEN)])
    await count_events(uow, [observed("customer.tagged", "customers/1")])
    day = NOON.date()
    assert uow.counts.rows[CountKey(TENANT, "customer.tagged", day, ANNA)] == 1
    assert uow.counts.rows[CountKey(TENANT, "customer.tagged", day, BEN)] == 1


@pytest.mark.parametrize("seed", range(20))
async def test_events_counted_in_batches_add_up_as_counted_one_at_a_time(seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, ["t1", "t2"], 120)
    one_at_a_time, batched = FakeUnitOfWork(), FakeUnitOfWork()
    for event in events:
        await count_events(one_at_a_time, [event])
    batches = random_batches(rng, events)
    for batch in batches:
        await count_events(batched, batch)

    counts, owners = counted_one_at_a_time(events)
    assert one_at_a_time.counts.rows == counts
    assert batched.counts.rows == counts
    assert batched.owners.owners == one_at_a_time.owners.owners == owners
    assert (batched.opened, batched.commits) == (len(batches), len(batches))


async def test_a_batch_reads_the_owners_it_needs_at_once_and_counts_each_key_once() -> None:
    uow = FakeUnitOfWork()
    await count_events(uow, [observed("customer.created", "customers/1", new_owner=ANNA)])
    batch = [
        observed("message.received", "customers/1"),
        observed("message.received", "customers/2"),
        observed("customer.created", "customers/2", new_owner=BEN),  # before it: nobody's
        observed("message.received", "customers/2"),
        observed("customer.created", "customers/3", new_owner=BEN),  # never looked up
        observed("message.received", "customers/3"),
        observed("message.received", "customers/1"),
        observed("tenant.created"),
    ]
    await count_events(uow, batch)
    day = NOON.date()
    assert uow.owners.lookups == [{(TENANT, "customers/1"), (TENANT, "customers/2")}]
    assert uow.counts.rows == {
        CountKey(TENANT, "customer.created", day, ANNA): 1,
        CountKey(TENANT, "message.received", day, ANNA): 2,
        CountKey(TENANT, "message.received", day, NOBODY): 1,
        CountKey(TENANT, "customer.created", day, BEN): 2,
        CountKey(TENANT, "message.received", day, BEN): 2,
        CountKey(TENANT, "tenant.created", day, NOBODY): 1,
    }
    assert uow.owners.owners == {
        (TENANT, "customers/1"): ANNA,
        (TENANT, "customers/2"): BEN,
        (TENANT, "customers/3"): BEN,
    }
    assert (uow.opened, uow.commits) == (2, 2)


# -- reading


async def _counted(*events: ObservedEvent) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for event in events:
        await count_events(uow, [event])
    return uow


async def test_the_dashboard_shows_every_metric_within_the_scope() -> None:
    uow = await _counted(
        observed("customer.created", "customers/a", new_owner=ANNA),
        observed("customer.created", "customers/b", new_owner=BEN),
        observed("message.received", "customers/a"),
        observed("message.received", "customers/b"),
        observed("message.received"),
        observed("conversation.opened", "customers/a"),
    )
    service = ReportingService(uow)
    assert await service.dashboard(TENANT, EVERYTHING) == {
        "messages_received": 3,
        "rules_fired": 0,
        "customers_created": 2,
        "customers_tagged": 0,
    }
    anna = Visibility(DataScope.OWN, member_id=ANNA.member_id)
    assert await service.dashboard(TENANT, anna) == {
        "messages_received": 1,
        "rules_fired": 0,
        "customers_created": 1,
        "customers_tagged": 0,
    }
    support = Visibility(DataScope.DEPARTMENT, departments=frozenset({BEN.department_id}))
    assert (await service.dashboard(TENANT, support))["messages_received"] == 1
    assert await service.dashboard("another-tenant", EVERYTHING) == dict.fromkeys(
        ["messages_received", "rules_fired", "customers_created", "customers_tagged"], 0
    )


async def test_a_metric_reads_its_event_type_over_the_days_of_the_range_in_buckets() -> None:
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    uow = await _counted(
        *(observed("rule.fired", at=monday + timedelta(days=d)) for d in (0, 1, 6, 7, 8, 30))
    )
    service = ReportingService(uow)
    start, end = monday, monday + timedelta(days=10)
    weekly = await service.query(
        TENANT, EVERYTHING, query("rules_fired", start, end, Granularity.WEEK)
    )
    assert weekly == [(date(2026, 3, 2), 3), (date(2026, 3, 9), 2)]
    assert uow.counts.asked == [(TENANT, "rule.fired", date(2026, 3, 2), date(2026, 3, 12))]


async def test_a_bad_query_reads_nothing() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidArgument):
        await ReportingService(uow).query(
            TENANT, EVERYTHING, query("nope", NOON, NOON + timedelta(days=1), Granularity.DAY)
        )
    assert uow.opened == 0
