"""What one event adds to the counts (pure Python).

Every event adds 1 for its type on its UTC day, under the owner and department
of the customer it is about, as known when it is counted, so a caller's data
scope can apply to the figures. An event about no known customer counts for
the whole tenant only.
"""

from __future__ import annotations

from dataclasses import dataclass
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
