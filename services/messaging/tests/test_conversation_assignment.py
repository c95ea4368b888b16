"""Assignment strategies over fake members: round robin, least busy, language-aware;
availability and capacity respected."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import FailedPrecondition
from messaging.domain.conversation_assignment import (
    AssignStrategy,
    Availability,
    Candidate,
    pick_member,
)

GROUP = "groups/support"
ANA = Candidate("members/ana", ("es", "en"), capacity=3, open_conversations=2)
BEN = Candidate("members/ben", ("de",), capacity=0, open_conversations=7)
CAI = Candidate("members/cai", ("en-GB",), capacity=5, open_conversations=1)
TEAM = (BEN, CAI, ANA)  # not in name order: the strategies sort


def test_round_robin_takes_turns_by_name_and_wraps() -> None:
    picks = []
    last = ""
    for _ in range(4):
        last = pick_member(AssignStrategy.ROUND_ROBIN, GROUP, TEAM, last_member=last)
        picks.append(last)

    assert picks == ["members/ana", "members/ben", "members/cai", "members/ana"]


def test_round_robin_skips_members_who_are_away_offline_disabled_or_full() -> None:
    team = (
        Candidate("members/a", availability=Availability.AWAY),
        Candidate("members/b", availability=Availability.OFFLINE),
        Candidate("members/c", enabled=False),
        Candidate("members/d", capacity=2, open_conversations=2),
        Candidate("members/e", availability=Availability.AVAILABLE),
    )

    assert pick_member(AssignStrategy.ROUND_ROBIN, GROUP, team) == "members/e"


def test_round_robin_after_a_member_who_left_the_group_goes_on_from_the_name() -> None:
    assert (
        pick_member(AssignStrategy.ROUND_ROBIN, GROUP, TEAM, last_member="members/bob")
        == "members/cai"
    )


def test_least_busy_picks_the_fewest_open_conversations() -> None:
    assert pick_member(AssignStrategy.LEAST_BUSY, GROUP, TEAM) == "members/cai"


def test_least_busy_breaks_ties_by_turn() -> None:
    team = (
        Candidate("members/x", open_conversations=1),
        Candidate("members/y", open_conversations=1),
    )

    first = pick_member(AssignStrategy.LEAST_BUSY, GROUP, team)
    second = pick_member(AssignStrategy.LEAST_BUSY, GROUP, team, last_member=first)

    assert (first, second) == ("members/x", "members/y")


def test_no_limit_means_capacity_zero() -> None:
    only_ben = (BEN, Candidate("members/full", capacity=1, open_conversations=1))

    assert pick_member(AssignStrategy.LEAST_BUSY, GROUP, only_ben) == "members/ben"


@pytest.mark.parametrize(
    ("language", "picked"),
    [
        ("es", "members/ana"),  # only Ana speaks Spanish, though busier than Cai
        ("de-AT", "members/ben"),  # primary subtag matches, however busy Ben is
        ("en", "members/cai"),  # Ana and Cai both do; Cai is the less busy
        ("fr", "members/cai"),  # nobody does: the least busy of all
        ("und", "members/cai"),
    ],
)
def test_language_aware_prefers_members_who_work_in_the_language(
    language: str, picked: str
) -> None:
    assert pick_member(AssignStrategy.LANGUAGE_AWARE, GROUP, TEAM, language=language) == picked


def test_language_aware_ignores_a_speaker_at_capacity() -> None:
    full_ana = Candidate("members/ana", ("es",), capacity=2, open_conversations=2)

    assert (
        pick_member(AssignStrategy.LANGUAGE_AWARE, GROUP, (full_ana, BEN, CAI), language="es")
        == "members/cai"
    )


@pytest.mark.parametrize("strategy", list(AssignStrategy))
def test_nobody_available_is_a_failed_precondition_naming_the_group(
    strategy: AssignStrategy,
) -> None:
    team = (Candidate("members/a", availability=Availability.OFFLINE),)

    with pytest.raises(FailedPrecondition) as refused:
        pick_member(strategy, GROUP, team)

    assert refused.value.reason == "NO_MEMBER_AVAILABLE"
    assert refused.value.violations[0].subject == GROUP
