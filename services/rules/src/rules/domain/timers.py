"""Durable timers of the time triggers (core_loop §4), pure Python.

A timer is one wait of one rule for one subject: "no agent reply for 24 h" on a
conversation, "case open for 3 days" on a case, one occurrence of a schedule.
Its key (tenant, rule, rule version, subject, cycle) is unique, so arming the
same wait twice keeps the first (its due time stands), and every id a firing
makes (the timer's row, the run, the outbox events) is derived from that key:
a timer fires one run, whatever crashes and restarts happen around it.

- NO_REPLY_TIMEOUT: subject = the conversation, cycle = the last agent reply
  time the customer's message saw ("never" before any), so each unanswered
  stretch has its own timer, due ``delay`` after the first unanswered message.
  An agent reply (REPLIED) or closing the conversation cancels it; when due it
  fires only if the conversation is still waiting (the projection re-checked).
- CASE_OPEN_TIMEOUT: subject = the case, cycle = its open time; due ``delay``
  after opening; a final state (CLOSED, CANCELLED) cancels it.
- SCHEDULE: subject = "schedule", cycle = the occurrence (UTC); the cron is
  read in the rule's time zone (else the tenant's); it fires for every
  customer of rules' projection the rule's condition holds for, in batches.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.cron import next_after
from rules.domain.model import Rule, Trigger

TIMER_TRIGGERS = (Trigger.NO_REPLY_TIMEOUT, Trigger.CASE_OPEN_TIMEOUT, Trigger.SCHEDULE)
# A conversation in these statuses is not waiting for an agent any more.
ANSWERED_STATUSES = frozenset({"replied", "closed"})
# A case in these states is over (messaging's case machine).
FINAL_CASE_STATES = frozenset({"closed", "cancelled"})
NEVER = "never"
SCHEDULE_SUBJECT = "schedule"
# uuid5 namespace of every id derived from a timer's key.
TIMER_NAMESPACE = uuid.UUID("6f0c1f52-5d1e-4c8e-9a55-0b7c3f1e2d41")
_NAMESPACE_BYTES = TIMER_NAMESPACE.bytes


class TimerState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"  # claimed by a poller, inside its transaction only
    FIRED = "fired"
    CANCELLED = "cancelled"


def derived_id(*parts: str) -> str:
    """A stable UUID (version 5) of the parts: the same parts, the same id.

    ``str(uuid.uuid5(TIMER_NAMESPACE, name))`` written out (a poller's batch
    derives several per timer; this is a third of the cost)."""
    name = "\x1f".join(parts).encode()
    b = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def instant_text(moment: datetime) -> str:
    """A moment as the cycle of a key: UTC, RFC 3339, microseconds kept."""
    return moment.astimezone(UTC).isoformat()


def parse_instant(text: str | None) -> datetime | None:
    if not text or text == NEVER:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Timer:
    tenant_id: str
    rule_id: str
    rule_version: int
    trigger: Trigger
    subject: str
    cycle: str
    due_at: datetime
    customer: str = ""
    conversation: str = ""
    # Facts the trigger's event carried that no projection keeps (a case's).
    facts: Mapping[str, Any] = field(default_factory=dict)
    state: TimerState = TimerState.PENDING
    # SCHEDULE: the last customer a committed batch of this occurrence covered.
    cursor: str = ""

    @cached_property
    def key(self) -> str:
        return "/".join(
            (self.tenant_id, self.rule_id, str(self.rule_version), self.subject, self.cycle)
        )

    @cached_property
    def id(self) -> str:
        return derived_id("timer", self.key)

    def event_id(self, customer: str = "") -> str:
        """The id of the occurrence this timer fires (for ``customer``, for a schedule)."""
        return derived_id("occurrence", self.key, customer)

    def run_key(self, customer: str = "") -> str:
        """What the fired run's id derives from (``Occurrence.run_key``)."""
        return f"timer:{self.key}:{customer}"


def _delay(rule: Rule) -> timedelta:
    timer = rule.time_trigger
    if timer is None or timer.delay_seconds <= 0:
        raise ValueError(f"rule {rule.id} has no delay")
    return timedelta(seconds=timer.delay_seconds)


def no_reply_timer(
    rule: Rule,
    *,
    conversation: str,
    customer: str,
    last_agent_reply: datetime | None,
    waiting_since: datetime,
) -> Timer:
    """The wait a customer's message starts (or joins, when one is pending for
    the same stretch: the key is the same and the first one stands)."""
    return Timer(
        tenant_id=rule.tenant_id,
        rule_id=rule.id,
        rule_version=rule.version,
        trigger=Trigger.NO_REPLY_TIMEOUT,
        subject=conversation,
        cycle=instant_text(last_agent_reply) if last_agent_reply else NEVER,
        due_at=waiting_since.astimezone(UTC) + _delay(rule),
        customer=customer,
        conversation=conversation,
    )


def case_open_timer(
    rule: Rule,
    *,
    case: str,
    customer: str,
    conversation: str,
    opened_at: datetime,
    facts: Mapping[str, Any],
) -> Timer:
    return Timer(
        tenant_id=rule.tenant_id,
        rule_id=rule.id,
        rule_version=rule.version,
        trigger=Trigger.CASE_OPEN_TIMEOUT,
        subject=case,
        cycle=instant_text(opened_at),
        due_at=opened_at.astimezone(UTC) + _delay(rule),
        customer=customer,
        conversation=conversation,
        facts=dict(facts),
    )


def schedule_zone(rule: Rule, tenant_zone: str) -> ZoneInfo:
    """The zone a schedule's cron is read in: the rule's, else the tenant's, else UTC."""
    name = (rule.time_trigger.time_zone if rule.time_trigger else "") or tenant_zone or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_occurrence(rule: Rule, after: datetime, tenant_zone: str = "") -> datetime:
    """The schedule's first occurrence strictly after ``after`` (UTC)."""
    if rule.time_trigger is None or not rule.time_trigger.cron:
        raise ValueError(f"rule {rule.id} has no cron")
    return next_after(rule.time_trigger.cron, schedule_zone(rule, tenant_zone), after)


def schedule_timer(rule: Rule, occurrence: datetime) -> Timer:
    return Timer(
        tenant_id=rule.tenant_id,
        rule_id=rule.id,
        rule_version=rule.version,
        trigger=Trigger.SCHEDULE,
        subject=SCHEDULE_SUBJECT,
        cycle=instant_text(occurrence),
        due_at=occurrence.astimezone(UTC),
    )


def still_waiting(timer: Timer, conversation: Mapping[str, Any] | None) -> bool:
    """A no-reply timer, re-checked on the conversation as projected now: no
    agent replied since the stretch began and the conversation is open."""
    if conversation is None:
        return True  # nothing known beyond the event that armed it
    if conversation.get("conversation.status") in ANSWERED_STATUSES:
        return False
    replied = parse_instant(conversation.get("conversation.last_agent_reply_time"))
    armed_after = parse_instant(timer.cycle)
    if replied is None:
        return True
    return armed_after is not None and replied <= armed_after


def case_facts_at(timer: Timer, now: datetime) -> dict[str, Any]:
    """A case-open timer's case facts, its age taken at ``now``."""
    facts = dict(timer.facts)
    opened = parse_instant(timer.cycle)
    if opened is not None:
        facts["case.age_hours"] = (now - opened).total_seconds() / 3600
    return facts


# --- what an event means for the timers (adapters map events to these) -------------------


@dataclass(frozen=True)
class CustomerWaiting:
    """A customer's message: a no-reply wait starts (or goes on)."""

    conversation: str
    customer: str
    last_agent_reply: datetime | None
    received_at: datetime


@dataclass(frozen=True)
class ConversationAnswered:
    """An agent replied or the conversation was closed: its no-reply waits end."""

    conversation: str


@dataclass(frozen=True)
class CaseOpened:
    case: str
    customer: str
    conversation: str
    opened_at: datetime
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class CaseEnded:
    """A case reached a final state: its case-open waits end."""

    case: str


TimerSignal = CustomerWaiting | ConversationAnswered | CaseOpened | CaseEnded
