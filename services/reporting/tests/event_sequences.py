"""Random sequences of observed events, how counting them one at a time used to
add up (each event alone: its owner read, then one +1), and random batches."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from reporting.domain.counting import NOBODY, CountKey, CustomerRef, ObservedEvent, Owner

OWNERS = (Owner("m-anna", "d-sales"), Owner("m-ben", "d-support"), Owner("m-cleo", "d-sales"))
TYPES = ("message.received", "customer.tagged", "rule.fired")
START = datetime(2026, 3, 4, 22, 0, tzinfo=UTC)


def random_events(rng: random.Random, tenants: Sequence[str], n: int) -> list[ObservedEvent]:
    """Events of a few tenants about a few customers (or none) over two UTC days;
    about one in five creates its customer, again sometimes with another owner,
    and now and then one creates no customer at all (it names none)."""
    events = []
    for _ in range(n):
        tenant = rng.choice(tenants)
        customer = rng.choice(["", "customers/1", "customers/2", "customers/3"])
        at = START + timedelta(hours=rng.randrange(4))
        if rng.random() < 0.2:
            owner = rng.choice(OWNERS)
            events.append(ObservedEvent(tenant, "customer.created", at, customer, owner))
        else:
            events.append(ObservedEvent(tenant, rng.choice(TYPES), at, customer))
    return events


def random_batches(
    rng: random.Random, events: Sequence[ObservedEvent]
) -> list[list[ObservedEvent]]:
    """``events`` in order, cut into batches of 1 to 12."""
    batches, i = [], 0
    while i < len(events):
        size = rng.randint(1, 12)
        batches.append(list(events[i : i + size]))
        i += size
    return batches


def counted_one_at_a_time(
    events: Sequence[ObservedEvent],
) -> tuple[dict[CountKey, int], dict[CustomerRef, Owner]]:
    """The counts and owners that counting ``events`` one at a time gave before
    batches: a created customer's owner remembered, then +1 under the owner known."""
    counts: dict[CountKey, int] = {}
    owners: dict[CustomerRef, Owner] = {}
    for event in events:
        owner = NOBODY
        if event.customer and event.new_owner is not None:
            owners[(event.tenant_id, event.customer)] = owner = event.new_owner
        elif event.customer:
            owner = owners.get((event.tenant_id, event.customer), NOBODY)
        key = CountKey(event.tenant_id, event.event_type, event.day, owner)
        counts[key] = counts.get(key, 0) + 1
    return counts, owners
