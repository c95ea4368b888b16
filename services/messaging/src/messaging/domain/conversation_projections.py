"""What messaging keeps of other services' data: customers (snapshots) and members.

Customer events carry a ``CustomerSnapshot`` with a version; the projection applies one
only when its version is newer than the one it holds (``CustomerSnapshot.replaces``), so
events that arrive late or twice change nothing.
"""

from __future__ import annotations

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
