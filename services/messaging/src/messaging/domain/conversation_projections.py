"""What messaging keeps of other services' data: customers (snapshots) and members.

Customer events carry a ``CustomerSnapshot`` with a version; the projection applies one
only when its version is newer than the one it holds (``CustomerSnapshot.replaces``), so
events that arrive late or twice change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from messaging.domain.conversation_assignment import Availability


@dataclass(frozen=True)
class CustomerSnapshot:
    # "customers/{customer}"
    customer: str
    version: int
    display_name: str = ""
    # ids, without "members/" / "departments/" (as a caller's data scope names them)
    owner_member_id: str = ""
    department_id: str = ""
    tier: str = ""
    # "tags/{tag}" and, in the same order, their display names
    tags: tuple[str, ...] = ()
    tag_labels: tuple[str, ...] = ()
    language: str = ""
    blacklisted: bool = False
    deleted: bool = False

    def replaces(self, stored: CustomerSnapshot | None) -> bool:
        return stored is None or self.version > stored.version


def newest_per_customer(snapshots: Iterable[CustomerSnapshot]) -> list[CustomerSnapshot]:
    """Of several snapshots (a batch of events), the newest of each customer, in the order
    the customers first came: the only ones that could replace what is held."""
    newest: dict[str, CustomerSnapshot] = {}
    for snapshot in snapshots:
        if snapshot.replaces(newest.get(snapshot.customer)):
            newest[snapshot.customer] = snapshot
    return list(newest.values())


@dataclass(frozen=True)
class MemberProfile:
    # "members/{member}"
    member: str
    display_name: str = ""
    # "groups/{group}"
    groups: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    capacity: int = 0
    availability: Availability = Availability.UNKNOWN
    enabled: bool = True
