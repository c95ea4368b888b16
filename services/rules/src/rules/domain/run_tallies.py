"""Per rule and hour counters rebuilt from the runs a caller may see.

``rule_hourly_stats`` counts every evaluation of the whole tenant and knows no
customer, so a caller whose data scope is a department or their own customers
gets counters added up from the runs of the customers they see instead: each
run's outcome counts as the engine counted it (``counters_of``) and each of its
actions that succeeded or failed on the hour the run fired. Evaluations whose
condition did not hold are not runs, and neither are events the loop guard
stopped at depth 3: ``EVALUATED`` (so the hit rate) is not known per customer
and stays 0, as reporting shows no rule evaluations to a scoped caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rules.domain.evaluation import Outcome
from rules.domain.runs import ActionStatus, Counter, HourCounts, counters_of

_ACTION_COUNTERS = {
    ActionStatus.SUCCEEDED: Counter.ACTIONS_SUCCEEDED,
    ActionStatus.FAILED: Counter.ACTIONS_FAILED,
}


@dataclass(frozen=True)
class RunTally:
    """What one run adds to its rule's counters."""

    rule_id: str
    outcome: Outcome
    at: datetime  # when the run was recorded (UTC)
    actions: tuple[ActionStatus, ...] = ()


def hours_of_runs(tallies: Iterable[RunTally]) -> list[HourCounts]:
    """Counters per rule and hour (UTC), added up from the runs."""
    totals: dict[tuple[str, datetime], dict[Counter, int]] = {}
    for tally in tallies:
        hour = tally.at.replace(minute=0, second=0, microsecond=0)
        counts = totals.setdefault((tally.rule_id, hour), {})
        added = [*counters_of(tally.outcome)]
        added += [_ACTION_COUNTERS[s] for s in tally.actions if s in _ACTION_COUNTERS]
        for counter in added:
            counts[counter] = counts.get(counter, 0) + 1
    return [HourCounts(rule_id, hour, counts) for (rule_id, hour), counts in sorted(totals.items())]
