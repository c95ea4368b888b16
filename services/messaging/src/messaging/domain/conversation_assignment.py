"""Picking a member of a group for a conversation: round robin, least busy, language-aware.

Pure functions over the candidates the member projection knows (identity's member events:
groups, languages, capacity, availability, enabled) and their open conversations. A member
is eligible when enabled, not AWAY or OFFLINE, and under capacity (0 means no limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from crosstalk_common.errors import FailedPrecondition, PreconditionViolation


class AssignStrategy(Enum):
    ROUND_ROBIN = "round_robin"
    LEAST_BUSY = "least_busy"
    LANGUAGE_AWARE = "language_aware"


class Availability(Enum):
    UNKNOWN = ""
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Candidate:
    # "members/{member}"
    member: str
    languages: tuple[str, ...] = ()
    # Most open conversations at once; 0 means no limit.
    capacity: int = 0
    availability: Availability = Availability.UNKNOWN
    enabled: bool = True
    # Conversations assigned to the member and not CLOSED.
    open_conversations: int = 0

    @property
    def eligible(self) -> bool:
        present = self.availability in (Availability.AVAILABLE, Availability.UNKNOWN)
        room = self.capacity <= 0 or self.open_conversations < self.capacity
        return self.enabled and present and room

    def speaks(self, language: str) -> bool:
        wanted = primary_subtag(language)
        return bool(wanted) and any(primary_subtag(known) == wanted for known in self.languages)


def primary_subtag(language: str) -> str:
    tag = language.split("-", 1)[0].strip().lower()
    return "" if tag in ("", "und") else tag


def pick_member(
    strategy: AssignStrategy,
    group: str,
    candidates: Sequence[Candidate],
    *,
    language: str = "",
    last_member: str = "",
) -> str:
    """The member to assign; FAILED_PRECONDITION when nobody in the group can take it.

    - ROUND_ROBIN: the next eligible member after ``last_member`` (by name, wrapping);
    - LEAST_BUSY: the eligible member with the fewest open conversations (then by turn);
    - LANGUAGE_AWARE: among eligible members who work in the conversation's language
      (primary subtag), the least busy; when none does, the least busy of all.
    """
    eligible = sorted((c for c in candidates if c.eligible), key=lambda c: c.member)
    if not eligible:
        raise FailedPrecondition(
            [
                PreconditionViolation(
                    "MEMBER_AVAILABLE",
                    group,
                    f"no member of {group} is enabled, available and under capacity",
                )
            ],
            reason="NO_MEMBER_AVAILABLE",
        )
    in_turn = _from_turn(eligible, last_member)
    if strategy is AssignStrategy.ROUND_ROBIN:
        return in_turn[0].member
    if strategy is AssignStrategy.LANGUAGE_AWARE:
        speakers = [c for c in in_turn if c.speaks(language)]
        in_turn = speakers or in_turn
    # min keeps the first of equals: the next in turn among the least busy.
    return min(in_turn, key=lambda c: c.open_conversations).member


def _from_turn(ordered: list[Candidate], last_member: str) -> list[Candidate]:
    """``ordered`` rotated to start after ``last_member`` (names sort the circle)."""
    after = [c for c in ordered if c.member > last_member]
    before = [c for c in ordered if c.member <= last_member]
    return after + before
