"""What one event adds to the counts (pure Python).

Every event adds 1 for its type on its UTC day, under the owner and department
of the customer it is about, as known when it is counted, so a caller's data
scope can apply to the figures. An event about no known customer counts for
the whole tenant only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class Owner:
    """Who a customer belongs to: a member and a department (ids)."""

    member_id: str
    department_id: str


# The owner of events about no known customer: only callers who see the whole
# tenant see their counts.
NOBODY = Owner("", "")


@dataclass(frozen=True)
class ObservedEvent:
    """An event as reporting needs it, whichever service published it."""

    tenant_id: str
    event_type: str
    occurred_at: datetime  # timezone-aware
    customer: str = ""  # the customer the event is about, "" when none
    new_owner: Owner | None = None  # the owner of a customer this event creates

    @property
    def day(self) -> date:
        return self.occurred_at.astimezone(UTC).date()


@dataclass(frozen=True)
class CountKey:
    """One row of the counts: +1 goes here."""

    tenant_id: str
    event_type: str
    day: date
    owner: Owner


def count_key(event: ObservedEvent, owner: Owner) -> CountKey:
    return CountKey(event.tenant_id, event.event_type, event.day, owner)


CustomerRef = tuple[str, str]  # (tenant id, customer)


def owners_to_look_up(events: Sequence[ObservedEvent]) -> set[CustomerRef]:
    """The customers whose owner counting ``events`` in order needs from the
    store: those an event is about before any event of the batch creates them."""
    created: set[CustomerRef] = set()
    needed: set[CustomerRef] = set()
    for event in events:
        if not event.customer:
            continue
        ref = (event.tenant_id, event.customer)
        if event.new_owner is not None:
            created.add(ref)
        elif ref not in created:
            needed.add(ref)
    return needed


@dataclass
class Tally:
    """What counting a batch of events adds: +n per count key, and the owners
    of the customers the batch creates (the last one, when created again)."""

    counts: dict[CountKey, int] = field(default_factory=dict)
    new_owners: dict[CustomerRef, Owner] = field(default_factory=dict)


def tally(events: Sequence[ObservedEvent], known: Mapping[CustomerRef, Owner]) -> Tally:
    """Counts ``events`` in order as if one at a time: each under the owner of its
    customer as known then, from ``known`` (the stored owners, a missing one is
    NOBODY) or from an earlier event of the batch that created the customer."""
    result = Tally()
    for event in events:
        owner = NOBODY
        if event.customer:
            ref = (event.tenant_id, event.customer)
            if event.new_owner is not None:
                result.new_owners[ref] = owner = event.new_owner
            elif ref in result.new_owners:
                owner = result.new_owners[ref]
            else:
                owner = known.get(ref, NOBODY)
        key = count_key(event, owner)
        result.counts[key] = result.counts.get(key, 0) + 1
    return result
