"""The conversation status machine (core_loop §6): inbound, agent replies, statuses set by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.errors import InvalidArgument
from messaging.domain.conversation_state import (
    ConversationState,
    ConversationStatus,
    StatusChange,
    record_agent_reply,
    record_inbound,
    set_status,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CUSTOMER = "customers/c-1"
AGENT = "members/m-1"
S = ConversationStatus


def test_the_first_inbound_of_a_new_conversation_counts_one_follow_up() -> None:
    state, change = record_inbound(ConversationState(opened_at=T0), T0, CUSTOMER)

    assert state == ConversationState(S.UNREAD, 1, T0, None, T0)
    assert change is None


@pytest.mark.parametrize("before", [S.REPLIED, S.CLOSED])
def test_inbound_turns_replied_and_closed_into_unread(before: ConversationStatus) -> None:
    at = T0 + timedelta(hours=1)
    state, change = record_inbound(ConversationState(before, opened_at=T0), at, CUSTOMER)

    assert state.status is S.UNREAD
    assert state.follow_ups == 1
    assert change == StatusChange(before, S.UNREAD, CUSTOMER, at)


@pytest.mark.parametrize("kept", [S.UNREAD, S.IN_PROGRESS, S.EXCEPTION])
def test_inbound_keeps_unread_in_progress_and_exception_and_raises_the_count(
    kept: ConversationStatus,
) -> None:
    at = T0 + timedelta(minutes=5)
    state, change = record_inbound(ConversationState(kept, follow_ups=2), at, CUSTOMER)

    assert (state.status, state.follow_ups, state.last_inbound_at) == (kept, 3, at)
    assert change is None


def test_a_closed_conversation_reopens_from_the_new_message() -> None:
    closed = ConversationState(S.CLOSED, follow_ups=0, opened_at=T0)
    at = T0 + timedelta(days=3)

    state, change = record_inbound(closed, at, CUSTOMER)

    assert state.opened_at == at
    assert change is not None
    assert change.reopened


def test_an_agent_reply_makes_it_replied_and_resets_the_follow_ups() -> None:
    unread = ConversationState(S.UNREAD, follow_ups=4, last_inbound_at=T0)
    at = T0 + timedelta(minutes=7)

    state, change = record_agent_reply(unread, at, AGENT)

    assert state == ConversationState(S.REPLIED, 0, T0, at, None)
    assert change == StatusChange(S.UNREAD, S.REPLIED, AGENT, at)
    assert not change.reopened


def test_a_second_reply_changes_no_status() -> None:
    replied = ConversationState(S.REPLIED, last_agent_reply_at=T0)

    state, change = record_agent_reply(replied, T0 + timedelta(minutes=1), AGENT)

    assert state.last_agent_reply_at == T0 + timedelta(minutes=1)
    assert change is None


@pytest.mark.parametrize("to", [S.IN_PROGRESS, S.EXCEPTION, S.CLOSED])
def test_agents_set_in_progress_exception_and_closed(to: ConversationStatus) -> None:
    state, change = set_status(ConversationState(S.UNREAD, follow_ups=2), to, T0, AGENT)

    assert state.status is to
    assert state.follow_ups == 2
    assert change == StatusChange(S.UNREAD, to, AGENT, T0)


def test_setting_the_status_it_has_is_no_change() -> None:
    state, change = set_status(ConversationState(S.CLOSED), S.CLOSED, T0, AGENT)

    assert state.status is S.CLOSED
    assert change is None


@pytest.mark.parametrize("to", [S.UNREAD, S.REPLIED])
def test_unread_and_replied_cannot_be_set_by_hand(to: ConversationStatus) -> None:
    with pytest.raises(InvalidArgument) as refused:
        set_status(ConversationState(S.IN_PROGRESS), to, T0, AGENT)

    assert [v.field for v in refused.value.violations] == ["status"]


def test_the_whole_round_of_a_conversation() -> None:
    state = ConversationState(opened_at=T0)
    changes = []
    steps = [
        lambda s, at: record_inbound(s, at, CUSTOMER),
        lambda s, at: set_status(s, S.IN_PROGRESS, at, AGENT),
        lambda s, at: record_inbound(s, at, CUSTOMER),
        lambda s, at: record_agent_reply(s, at, AGENT),
        lambda s, at: set_status(s, S.CLOSED, at, AGENT),
        lambda s, at: record_inbound(s, at, CUSTOMER),
    ]
    for minute, step in enumerate(steps):
        state, change = step(state, T0 + timedelta(minutes=minute))
        if change is not None:
            changes.append((change.from_status, change.to_status))

    assert changes == [
        (S.UNREAD, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.REPLIED),
        (S.REPLIED, S.CLOSED),
        (S.CLOSED, S.UNREAD),
    ]
    assert state.follow_ups == 1
