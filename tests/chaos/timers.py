"""The chaos suite's durable-timer workload: "no agent reply for a few seconds".

Every ``TIMER_EVERY``-th message of the load comes in over web chat instead of
e-mail (a new visitor, so a new conversation). A second rule of the tenant,
``TRIGGER_NO_REPLY_TIMEOUT`` with a ``TIMER_DELAY_SECONDS`` delay and the condition
``conversation.channel = web_chat``, waits on every conversation; nobody answers
any of them, so for each web chat conversation its timer must fire exactly once:
one matched run of the timer rule, one score change of ``TIMER_SCORE_DELTA`` and
one ``TIMER_NOTE`` note; for the e-mail conversations (whose timers are armed too
and find the condition false) none of these.

The refund rule's effects stay apart: another score delta, another note text, runs
counted per rule (harness.Audit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

TIMER_EVERY = 5
TIMER_DELAY_SECONDS = 4
TIMER_SCORE_DELTA = 3
TIMER_NOTE = "No answer yet: someone should follow up."
TIMER_CHANNEL = "CHANNEL_WEB_CHAT"


def has_timer(n: int) -> bool:
    """Whether the load's n-th message is one a timer must fire for."""
    return n % TIMER_EVERY == 0


def timer_rule_body() -> dict[str, Any]:
    return {
        "displayName": "chaos: web chat unanswered -> score, note",
        "trigger": "TRIGGER_NO_REPLY_TIMEOUT",
        "enabled": True,
        "timeTrigger": {"delay": f"{TIMER_DELAY_SECONDS}s"},
        "condition": {
            "leaf": {
                "field": "conversation.channel",
                "operator": "OPERATOR_EQUALS",
                "values": ["web_chat"],
            }
        },
        "actions": [
            {"adjustScore": {"delta": str(TIMER_SCORE_DELTA), "reason": "no answer in time"}},
            {"addNote": {"text": TIMER_NOTE}},
        ],
    }


class Rows(Protocol):
    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]: ...


@dataclass
class TimerEffects:
    """Per customer id: the timer rule's matched runs, score changes and notes."""

    runs: Counter[str]
    scores: Counter[str]
    notes: Counter[str]

    def per_customer(self) -> dict[str, Counter[str]]:
        return {"timer run": self.runs, "timer score": self.scores, "timer note": self.notes}


def read_timer_effects(
    tenant: str, rule_id: str, *, rules: Rows, customers: Rows, messaging: Rows
) -> TimerEffects:
    def tail(name: str) -> str:
        return name.rsplit("/", 1)[-1]

    runs = rules.rows(
        "SELECT customer, count(*) FROM rule_runs WHERE tenant_id = %s AND rule_id = %s"
        " AND outcome = 'matched' GROUP BY customer",
        tenant,
        rule_id,
    )
    scores = customers.rows(
        "SELECT customer_id, count(*) FROM customer_score_changes"
        " WHERE tenant_id = %s AND delta = %s GROUP BY customer_id",
        tenant,
        TIMER_SCORE_DELTA,
    )
    notes = messaging.rows(
        "SELECT customer, count(*) FROM messages WHERE tenant_id = %s"
        " AND internal_note = TRUE AND text = %s GROUP BY customer",
        tenant,
        TIMER_NOTE,
    )
    return TimerEffects(
        runs=Counter({tail(c): n for c, n in runs}),
        scores=Counter(dict(scores)),
        notes=Counter({tail(c): n for c, n in notes}),
    )


class Waiting(Protocol):
    """A message of the load as the timer check sees it (harness.Sent)."""

    @property
    def external_id(self) -> str: ...
    @property
    def customer(self) -> str: ...
    @property
    def timer(self) -> bool: ...


def timers_missing_and_doubled(
    accepted: Iterable[Waiting], effects: TimerEffects
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(effect -> messages whose timer did not fire, effect -> messages whose timer
    fired twice or fired where the condition was false)."""
    missing: dict[str, list[str]] = {}
    doubled: dict[str, list[str]] = {}
    for entry in accepted:
        for effect, counts in effects.per_customer().items():
            n = counts[entry.customer]
            if entry.timer and n == 0:
                missing.setdefault(effect, []).append(entry.external_id)
            elif n > int(entry.timer):
                doubled.setdefault(effect, []).append(entry.external_id)
    return missing, doubled
