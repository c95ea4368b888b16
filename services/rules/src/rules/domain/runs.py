"""Runs, their action outcomes, counters and the evaluation log (pure values).

A run is one rule's verdict on one triggering event that was more than "the
condition did not hold": fired, shadow, or suppressed (cooldown, rollout,
stop, blacklist, loop guard). It keeps the facts it saw and the condition
trace, so ``ExplainRuleRun`` can say why. Every evaluation, matched or not,
is counted per rule and hour (``HourCounts``); hit rate = matched / evaluated.
Every triggering event's facts go to the evaluation log, which backtests
replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from rules.domain.evaluation import Outcome
from rules.domain.model import Trigger


class ActionStatus(StrEnum):
    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ActionResult:
    """One action of a fired run and where it stands."""

    index: int
    kind: str  # "add_tag", "escalate", ... (domain.actions.KIND_OF)
    event_type: str  # the rule.action.* it was requested with
    status: ActionStatus = ActionStatus.REQUESTED
    event_id: str = ""
    error: str = ""
    result: str = ""
    completed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "event_type": self.event_type,
            "status": self.status.value,
            "event_id": self.event_id,
            "error": self.error,
            "result": self.result,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionResult:
        done = data.get("completed_at")
        return cls(
            index=int(data["index"]),
            kind=str(data["kind"]),
            event_type=str(data["event_type"]),
            status=ActionStatus(data["status"]),
            event_id=str(data.get("event_id", "")),
            error=str(data.get("error", "")),
            result=str(data.get("result", "")),
            completed_at=datetime.fromisoformat(done) if done else None,
        )


@dataclass(frozen=True)
class Run:
    id: str
    tenant_id: str
    rule_id: str
    rule_version: int
    trigger: Trigger
    trigger_event_id: str
    customer: str  # "customers/{id}"
    conversation: str  # "conversations/{id}" or ""
    outcome: Outcome
    summary: str
    facts: Mapping[str, Any]  # JSON-safe (evaluation.facts_to_json)
    trace: Mapping[str, Any] | None  # evaluation.trace_to_json, None without a condition
    actions: tuple[ActionResult, ...]
    created_at: datetime
    causation_depth: int = 0
    error: str = ""

    def with_outcome(
        self,
        action_index: int,
        status: ActionStatus,
        *,
        error: str,
        result: str,
        at: datetime,
    ) -> tuple[Run, ActionResult | None]:
        """The run with one action's outcome recorded, and the action as it was
        (None when the run has no such action)."""
        before = next((a for a in self.actions if a.index == action_index), None)
        if before is None:
            return self, None
        after = replace(before, status=status, error=error, result=result, completed_at=at)
        actions = tuple(after if a.index == action_index else a for a in self.actions)
        return replace(self, actions=actions), before


class Counter(StrEnum):
    """What is counted per rule and hour."""

    EVALUATED = "evaluated"
    MATCHED = "matched"  # the condition held (fired, shadow and suppressed alike)
    FIRED = "fired"
    SHADOW = "shadow"
    SUPPRESSED_COOLDOWN = "suppressed_cooldown"
    SUPPRESSED_ROLLOUT = "suppressed_rollout"
    SUPPRESSED_STOP = "suppressed_stop"
    SUPPRESSED_LOOP_GUARD = "suppressed_loop_guard"
    SUPPRESSED_BLACKLIST = "suppressed_blacklist"
    ACTIONS_SUCCEEDED = "actions_succeeded"
    ACTIONS_FAILED = "actions_failed"


_OUTCOME_COUNTERS: dict[Outcome, tuple[Counter, ...]] = {
    Outcome.MATCHED: (Counter.MATCHED, Counter.FIRED),
    Outcome.SHADOW_MATCHED: (Counter.MATCHED, Counter.SHADOW),
    Outcome.SKIPPED_COOLDOWN: (Counter.MATCHED, Counter.SUPPRESSED_COOLDOWN),
    Outcome.SKIPPED_ROLLOUT: (Counter.MATCHED, Counter.SUPPRESSED_ROLLOUT),
    Outcome.SKIPPED_STOPPED: (Counter.MATCHED, Counter.SUPPRESSED_STOP),
    Outcome.SKIPPED_BLACKLISTED: (Counter.MATCHED, Counter.SUPPRESSED_BLACKLIST),
    Outcome.SKIPPED_LOOP_GUARD: (Counter.SUPPRESSED_LOOP_GUARD,),
    Outcome.NOT_MATCHED: (),
    Outcome.FAILED: (),
}


def counters_of(outcome: Outcome) -> tuple[Counter, ...]:
    """What an outcome adds to besides ``EVALUATED``."""
    return _OUTCOME_COUNTERS[outcome]


@dataclass(frozen=True)
class HourCounts:
    """One rule's counters over one hour (UTC)."""

    rule_id: str
    hour: datetime
    counts: Mapping[Counter, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedTrigger:
    """A triggering event's facts, as the evaluation log keeps them (backtests
    replay them through draft and live rules)."""

    event_id: str
    tenant_id: str
    trigger: Trigger
    customer: str
    conversation: str
    facts: Mapping[str, Any]  # JSON-safe
    occurred_at: datetime
    causing_run: str = ""
    causation_depth: int = 0


@dataclass(frozen=True)
class RunFilter:
    """ListRuleRuns' filters; empty means any."""

    rule_id: str = ""  # "" for every rule
    customer: str = ""
    trigger_event_id: str = ""
    outcome: Outcome | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class PeriodCounts:
    """One rule's counters over one day or week (starting at local midnight)."""

    rule_id: str
    start: datetime
    counts: Mapping[Counter, int]

    @property
    def hit_rate(self) -> float:
        evaluated = self.counts.get(Counter.EVALUATED, 0)
        return self.counts.get(Counter.MATCHED, 0) / evaluated if evaluated else 0.0


def by_period(hours: Sequence[HourCounts], *, time_zone: str, week: bool) -> list[PeriodCounts]:
    """Hourly counters added up per rule and local day (or ISO week, from Monday)."""
    zone = ZoneInfo(time_zone or "UTC")
    totals: dict[tuple[str, datetime], dict[Counter, int]] = {}
    for row in hours:
        local = row.hour.astimezone(zone)
        day = local.date() - timedelta(days=local.weekday()) if week else local.date()
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        bucket = totals.setdefault((row.rule_id, start), {})
        for counter, amount in row.counts.items():
            bucket[counter] = bucket.get(counter, 0) + amount
    return [
        PeriodCounts(rule_id, start, counts) for (rule_id, start), counts in sorted(totals.items())
    ]
