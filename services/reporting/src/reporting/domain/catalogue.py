"""What reporting measures and what callers can ask for.

A *measure* is what folding events stores: per tenant, hour and combination of
dimension values, a count, a sum and histogram buckets. A *metric* is what
QueryMetric answers: one measure read with an aggregation (a count, a sum, an
average with percentiles, a ratio of two measures, a level that adds up every
change since the beginning, or a funnel over lifecycle stages).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Dimension(Enum):
    TEAM = "team"
    DEPARTMENT = "department"
    AGENT = "agent"
    MARKET = "market"
    STORE = "store"
    CHANNEL = "channel"
    LANGUAGE = "language"
    TIER = "tier"
    TAG = "tag"
    RULE = "rule"
    CASE_TYPE = "case_type"
    STAGE = "stage"
    OUTCOME = "outcome"
    CURRENCY = "currency"


# The dimensions stored as their own columns, in column order (TAG is kept on
# separate fan-out rows: a customer with three tags counts once per tag there
# and once, untagged, everywhere else).
ROW_DIMENSIONS = tuple(d for d in Dimension if d is not Dimension.TAG)


class Aggregation(Enum):
    COUNT = "count"
    SUM = "sum"
    # average, with p50/p90 and the histogram
    DISTRIBUTION = "distribution"
    # count of measure ÷ count of denominator
    RATIO = "ratio"
    # sum of measure ÷ count of denominator (e.g. order value per buying customer)
    SUM_PER = "sum_per"
    # every +1/-1 since the beginning, as of the end of each bucket
    LEVEL = "level"
    # entries of each lifecycle stage ÷ entries of the stage before it
    FUNNEL = "funnel"


class Measure(Enum):
    MESSAGES_IN = "messages_in"
    MESSAGES_OUT = "messages_out"
    FIRST_RESPONSE_SECONDS = "first_response_seconds"
    REPLY_SECONDS = "reply_seconds"
    RESOLUTION_SECONDS = "resolution_seconds"
    CONVERSATIONS_OPENED = "conversations_opened"
    CONVERSATIONS_CLOSED = "conversations_closed"
    CONVERSATIONS_CLOSED_ANSWERED = "conversations_closed_answered"
    CONVERSATIONS_CLOSED_AUTOMATED = "conversations_closed_automated"
    CONVERSATIONS_FIRST_ANSWERED_BY_RULE = "conversations_first_answered_by_rule"
    CONVERSATIONS_TRANSFERRED = "conversations_transferred"
    CONVERSATION_STATUS = "conversation_status"
    CONVERSATIONS_ASSIGNED = "conversations_assigned"
    RULE_FIRED = "rule_fired"
    RULE_EVALUATED = "rule_evaluated"
    RULE_MATCHED = "rule_matched"
    RULE_SUPPRESSED = "rule_suppressed"
    RULE_ACTIONS_COMPLETED = "rule_actions_completed"
    RULE_ACTIONS_SUCCEEDED = "rule_actions_succeeded"
    STAGE_ENTERED = "stage_entered"
    STAGE_SECONDS = "stage_seconds"
    ORDER_VALUE = "order_value"
    BUYING_CUSTOMERS = "buying_customers"
    REPEAT_CUSTOMERS = "repeat_customers"
    CASES_OPENED = "cases_opened"
    CASE_TRANSITIONS = "case_transitions"
    CASE_STATE = "case_state"
    REFUNDED_AMOUNT = "refunded_amount"
    CASE_RESOLUTION_SECONDS = "case_resolution_seconds"
    CSAT_SCORE = "csat_score"
    CUSTOMERS_CREATED = "customers_created"
    CUSTOMERS_TAGGED = "customers_tagged"
    CUSTOMER_TIER = "customer_tier"
    CUSTOMER_TAG = "customer_tag"


_D = Dimension
CUSTOMER_DIMENSIONS = frozenset({_D.DEPARTMENT, _D.MARKET, _D.TIER, _D.TAG})
CONVERSATION_DIMENSIONS = CUSTOMER_DIMENSIONS | {
    _D.CHANNEL,
    _D.STORE,
    _D.LANGUAGE,
    _D.AGENT,
    _D.TEAM,
}


@dataclass(frozen=True)
class Metric:
    name: str
    display_name: str
    description: str
    unit: str
    aggregation: Aggregation
    measure: Measure
    dimensions: frozenset[Dimension]
    denominator: Measure | None = None
    # Always applied (e.g. the unread backlog is the UNREAD level).
    fixed_filter: tuple[Dimension, str] | None = None


def _m(
    name: str,
    display_name: str,
    description: str,
    unit: str,
    aggregation: Aggregation,
    measure: Measure,
    dimensions: frozenset[Dimension] | set[Dimension],
    denominator: Measure | None = None,
    fixed_filter: tuple[Dimension, str] | None = None,
) -> Metric:
    return Metric(
        name,
        display_name,
        description,
        unit,
        aggregation,
        measure,
        frozenset(dimensions),
        denominator,
        fixed_filter,
    )


A = Aggregation
M = Measure
CONV = CONVERSATION_DIMENSIONS
CUST = CUSTOMER_DIMENSIONS

METRICS: tuple[Metric, ...] = (
    _m("messages_received", "Messages in", "Inbound customer messages.", "count",
       A.COUNT, M.MESSAGES_IN, CONV),
    _m("messages_sent", "Messages out", "Messages sent to customers, by agents, rules or "
       "messaging itself (outcome: agent, rule or system: the CSAT invitation).", "count",
       A.COUNT, M.MESSAGES_OUT,
       CONV | {_D.RULE, _D.OUTCOME}),
    _m("first_response_time", "First response time", "From a conversation's first "
       "unanswered message to its first reply.", "seconds", A.DISTRIBUTION,
       M.FIRST_RESPONSE_SECONDS, CONV | {_D.OUTCOME}),
    _m("reply_time", "Reply time", "From the oldest unanswered customer message to the "
       "reply that answers it.", "seconds", A.DISTRIBUTION, M.REPLY_SECONDS,
       CONV | {_D.OUTCOME}),
    _m("resolution_time", "Resolution time", "From a conversation's (re)opening to its "
       "closing.", "seconds", A.DISTRIBUTION, M.RESOLUTION_SECONDS, CONV),
    _m("conversations_opened", "Conversations opened", "New conversations.", "count",
       A.COUNT, M.CONVERSATIONS_OPENED, CONV),
    _m("conversations_closed", "Conversations closed", "Conversations closed.", "count",
       A.COUNT, M.CONVERSATIONS_CLOSED, CONV),
    _m("conversations_by_status", "Conversations by status", "Conversations in each "
       "status (outcome) at the end of each bucket.", "count", A.LEVEL,
       M.CONVERSATION_STATUS, CONV | {_D.OUTCOME}),
    _m("unread_backlog", "Unread backlog", "Conversations waiting unread at the end of "
       "each bucket.", "count", A.LEVEL, M.CONVERSATION_STATUS, CONV,
       fixed_filter=(_D.OUTCOME, "UNREAD")),
    _m("automation_rate", "Automation rate", "Closed conversations answered by rules "
       "only, of the closed conversations that were answered.", "ratio", A.RATIO,
       M.CONVERSATIONS_CLOSED_AUTOMATED, CONV, denominator=M.CONVERSATIONS_CLOSED_ANSWERED),
    _m("transfer_to_human_rate", "Transfer to human rate", "Conversations first answered "
       "by a rule that an agent then answered.", "ratio", A.RATIO,
       M.CONVERSATIONS_TRANSFERRED, CONV, denominator=M.CONVERSATIONS_FIRST_ANSWERED_BY_RULE),
    _m("conversations_assigned", "Assignments", "Conversations assigned, per agent and "
       "team (workload).", "count", A.COUNT, M.CONVERSATIONS_ASSIGNED, CONV),
    _m("rule_hits", "Rule hits", "Rule runs that fired.", "count", A.COUNT, M.RULE_FIRED,
       CUST | {_D.RULE}),
    _m("rule_evaluations", "Rule evaluations", "Times each rule was evaluated, matched or "
       "not (from rules' own counters).", "count", A.COUNT, M.RULE_EVALUATED, {_D.RULE}),
    _m("rule_hit_rate", "Rule hit rate", "Evaluations whose condition held, of all "
       "evaluations (fired, shadow and suppressed alike).", "ratio", A.RATIO, M.RULE_MATCHED,
       {_D.RULE}, denominator=M.RULE_EVALUATED),
    _m("rule_suppressions", "Rule suppressions", "Matches not acted on, by reason "
       "(outcome: cooldown, rollout, stop, loop_guard, blacklist).", "count", A.COUNT,
       M.RULE_SUPPRESSED, {_D.RULE, _D.OUTCOME}),
    _m("rule_actions", "Rule actions", "Rule actions applied, by outcome (SUCCEEDED, "
       "FAILED, SKIPPED).", "count", A.COUNT, M.RULE_ACTIONS_COMPLETED,
       {_D.RULE, _D.OUTCOME}),
    _m("rule_success_rate", "Rule success rate", "Rule actions that succeeded, of those "
       "completed.", "ratio", A.RATIO, M.RULE_ACTIONS_SUCCEEDED, {_D.RULE},
       denominator=M.RULE_ACTIONS_COMPLETED),
    _m("stage_entries", "Stage entries", "Customers entering each lifecycle stage.",
       "count", A.COUNT, M.STAGE_ENTERED, CUST | {_D.STAGE}),
    _m("stage_conversion", "Stage conversion", "Entries of each lifecycle stage ÷ "
       "entries of the stage before it (group by stage).", "ratio", A.FUNNEL,
       M.STAGE_ENTERED, CUST | {_D.STAGE}),
    _m("time_in_stage", "Time in stage", "How long customers stayed in a stage before "
       "leaving it.", "seconds", A.DISTRIBUTION, M.STAGE_SECONDS, CUST | {_D.STAGE}),
    _m("order_value", "Order value", "Value of recorded orders (group by currency).",
       "amount", A.SUM, M.ORDER_VALUE, CUST | {_D.CURRENCY, _D.STORE}),
    _m("clv", "Customer lifetime value", "Order value per buying customer (group by "
       "currency).", "amount", A.SUM_PER, M.ORDER_VALUE, CUST | {_D.CURRENCY, _D.STORE},
       denominator=M.BUYING_CUSTOMERS),
    _m("repeat_purchase_rate", "Repeat purchase rate", "Buying customers who ordered a "
       "second time.", "ratio", A.RATIO, M.REPEAT_CUSTOMERS,
       CUST | {_D.CURRENCY, _D.STORE}, denominator=M.BUYING_CUSTOMERS),
    _m("cases_opened", "Cases opened", "After-sales cases opened.", "count", A.COUNT,
       M.CASES_OPENED, CUST | {_D.CASE_TYPE}),
    _m("case_transitions", "Case transitions", "Case state changes, by the state "
       "entered (outcome).", "count", A.COUNT, M.CASE_TRANSITIONS,
       CUST | {_D.CASE_TYPE, _D.OUTCOME}),
    _m("cases_by_state", "Cases by state", "Cases in each state (outcome) at the end of "
       "each bucket.", "count", A.LEVEL, M.CASE_STATE, CUST | {_D.CASE_TYPE, _D.OUTCOME}),
    _m("refunded_amount", "Refunded amount", "Amounts of cases that reached REFUNDED.",
       "amount", A.SUM, M.REFUNDED_AMOUNT, CUST | {_D.CASE_TYPE, _D.CURRENCY}),
    _m("case_resolution_time", "Case resolution time", "From a case's opening to its "
       "closing.", "seconds", A.DISTRIBUTION, M.CASE_RESOLUTION_SECONDS,
       CUST | {_D.CASE_TYPE}),
    _m("csat", "CSAT", "Satisfaction scores (1-5): average and distribution (group by "
       "outcome for the count of each score).", "score", A.DISTRIBUTION, M.CSAT_SCORE,
       CONV | {_D.OUTCOME}),
    _m("customers_created", "Customers created", "New customers.", "count", A.COUNT,
       M.CUSTOMERS_CREATED, CUST),
    _m("customers_tagged", "Tag events", "Times tags were added to customers.", "count",
       A.COUNT, M.CUSTOMERS_TAGGED, CUST),
    _m("customers_by_tier", "Customers by tier", "Customers in each tier at the end of "
       "each bucket.", "count", A.LEVEL, M.CUSTOMER_TIER, {_D.TIER, _D.DEPARTMENT, _D.MARKET}),
    _m("customers_by_tag", "Customers by tag", "Customers carrying each tag at the end of "
       "each bucket (group by tag).", "count", A.LEVEL, M.CUSTOMER_TAG,
       {_D.TAG, _D.DEPARTMENT, _D.MARKET, _D.TIER}),
)  # fmt: skip

METRICS_BY_NAME = {m.name: m for m in METRICS}
