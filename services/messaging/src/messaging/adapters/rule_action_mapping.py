"""Rule actions between the domain and the contract's events (rule.action.* in,
rule.action.completed out)."""

from __future__ import annotations

from crosstalk.events.v1 import rule_events_pb2
from messaging.domain.events import RuleActionCompleted
from messaging.domain.rule_actions import RuleActionOutcome

_OUTCOMES = {
    RuleActionOutcome.SUCCEEDED: rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED,
    RuleActionOutcome.FAILED: rule_events_pb2.RULE_ACTION_OUTCOME_FAILED,
    RuleActionOutcome.SKIPPED: rule_events_pb2.RULE_ACTION_OUTCOME_SKIPPED,
}


def rule_action_completed_pb(event: RuleActionCompleted) -> rule_events_pb2.RuleActionCompleted:
    return rule_events_pb2.RuleActionCompleted(
        rule=event.rule,
        run=event.key.run,
        action_index=event.key.action_index,
        action_type=event.action_type,
        outcome=_OUTCOMES[event.result.outcome],
        reason=event.result.reason,
        result=event.result.result,
    )
