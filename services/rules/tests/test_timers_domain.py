"""Durable timers in the domain: keys and ids, due times, schedules read in a
time zone (across a DST change), and the re-check of a no-reply wait."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from rules.domain.actions import AddNote
from rules.domain.model import Rule, TimeTrigger, Trigger
from rules.domain.timers import (
    NEVER,
    TIMER_NAMESPACE,
    case_facts_at,
    case_open_timer,
    next_occurrence,
    no_reply_timer,
    schedule_timer,
    still_waiting,
)

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def rule(trigger: Trigger, timer: TimeTrigger, version: int = 1) -> Rule:
    return Rule(
        id="r1",
        tenant_id="t1",
        display_name="x",
        trigger=trigger,
        condition=None,
        actions=(AddNote("n"),),
        time_trigger=timer,
        version=version,
    )


NO_REPLY = rule(Trigger.NO_REPLY_TIMEOUT, TimeTrigger(delay_seconds=24 * 3600))


def test_a_no_reply_wait_is_keyed_by_the_stretch_since_the_last_agent_reply() -> None:
    first = no_reply_timer(
        NO_REPLY,
        conversation="conversations/1",
        customer="customers/1",
        last_agent_reply=None,
        waiting_since=T0,
    )
    later = no_reply_timer(
        NO_REPLY,
        conversation="conversations/1",
        customer="customers/1",
        last_agent_reply=None,
        waiting_since=T0 + timedelta(hours=3),
    )
    after_reply = no_reply_timer(
        NO_REPLY,
        conversation="conversations/1",
        customer="customers/1",
        last_agent_reply=T0 + timedelta(hours=4),
        waiting_since=T0 + timedelta(hours=5),
    )
    assert first.cycle == NEVER
    assert first.due_at == T0 + timedelta(days=1)
    # The same stretch: the same key and id (the first one armed stands).
    assert (later.key, later.id) == (first.key, first.id)
    assert after_reply.id != first.id
    assert after_reply.due_at == T0 + timedelta(days=1, hours=5)
    # A new version of the rule waits on its own timer.
    v2 = no_reply_timer(
        rule(Trigger.NO_REPLY_TIMEOUT, TimeTrigger(delay_seconds=3600), version=2),
        conversation="conversations/1",
        customer="customers/1",
        last_agent_reply=None,
        waiting_since=T0,
    )
    assert v2.id != first.id
    # Derived ids: stable, and distinct per firing and per customer.
    assert first.event_id() == later.event_id()
    assert first.event_id("customers/a") != first.event_id("customers/b")
    assert first.run_key() != after_reply.run_key()
    assert first.id == str(uuid.uuid5(TIMER_NAMESPACE, "\x1f".join(("timer", first.key))))


def test_still_waiting_reads_the_conversation_as_projected_now() -> None:
    timer = no_reply_timer(
        NO_REPLY, conversation="c", customer="u", last_agent_reply=T0, waiting_since=T0
    )
    assert still_waiting(timer, None)
    assert still_waiting(timer, {"conversation.status": "unread"})
    assert still_waiting(
        timer,
        {
            "conversation.status": "in_progress",
            "conversation.last_agent_reply_time": T0.isoformat(),
        },
    )
    assert not still_waiting(timer, {"conversation.status": "replied"})
    assert not still_waiting(timer, {"conversation.status": "closed"})
    assert not still_waiting(
        timer, {"conversation.last_agent_reply_time": (T0 + timedelta(minutes=1)).isoformat()}
    )
    never = no_reply_timer(
        NO_REPLY, conversation="c", customer="u", last_agent_reply=None, waiting_since=T0
    )
    assert not still_waiting(never, {"conversation.last_agent_reply_time": T0.isoformat()})


def test_a_case_open_timer_is_due_after_the_delay_and_knows_its_age() -> None:
    case_rule = rule(Trigger.CASE_OPEN_TIMEOUT, TimeTrigger(delay_seconds=3 * 24 * 3600))
    timer = case_open_timer(
        case_rule,
        case="cases/1",
        customer="customers/1",
        conversation="",
        opened_at=T0,
        facts={"case.type": "refund"},
    )
    assert timer.due_at == T0 + timedelta(days=3)
    facts = case_facts_at(timer, T0 + timedelta(days=3, hours=12))
    assert facts == {"case.type": "refund", "case.age_hours": pytest.approx(84.0)}


def test_a_schedule_is_read_in_its_zone_across_a_dst_change() -> None:
    madrid = rule(Trigger.SCHEDULE, TimeTrigger(cron="0 9 * * 1", time_zone="Europe/Madrid"))
    # Winter (UTC+1): Monday 09:00 is 08:00 UTC.
    assert next_occurrence(madrid, T0 - timedelta(hours=3)) == datetime(
        2026, 12, 7, 8, 0, tzinfo=UTC
    )
    assert next_occurrence(madrid, datetime(2026, 12, 7, 8, 0, tzinfo=UTC)) == datetime(
        2026, 12, 14, 8, 0, tzinfo=UTC
    )
    # Summer (UTC+2), after the last Sunday of March: 07:00 UTC.
    assert next_occurrence(madrid, datetime(2027, 3, 27, tzinfo=UTC)) == datetime(
        2027, 3, 29, 7, 0, tzinfo=UTC
    )
    # Without a zone on the rule, the tenant's; without either, UTC.
    bare = rule(Trigger.SCHEDULE, TimeTrigger(cron="30 18 * * *"))
    assert next_occurrence(bare, T0, "Asia/Shanghai") == datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    assert next_occurrence(bare, T0) == datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
    one = schedule_timer(madrid, datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    again = schedule_timer(madrid, datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    week = schedule_timer(madrid, datetime(2026, 12, 14, 8, 0, tzinfo=UTC))
    assert one.id == again.id != week.id
