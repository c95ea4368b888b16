"""Proto <-> domain for rule management: update masks, versions, warnings,
ListRules filters and the fact catalogue (ListFacts)."""

from __future__ import annotations

from typing import Any

from crosstalk.common.v1 import condition_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk.rules.v1 import rules_service_pb2 as pb
from crosstalk_common.api.field_mask import populated_fields, resolve_update_paths
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.conditions.model import FieldType, Op
from crosstalk_common.conditions.parse import operator_name
from crosstalk_common.errors import FieldViolation, InvalidArgument
from rules.adapters.action_mapping import action_from_pb
from rules.adapters.condition_reading import fields_of
from rules.adapters.mapping import rule_to_pb, time_trigger_from_pb
from rules.app.managing import SavedRule
from rules.app.ports import RuleFilter
from rules.app.use_cases import rule_name
from rules.domain.conflicts import Conflict
from rules.domain.facts import Fact, facts_of
from rules.domain.model import Trigger
from rules.domain.versions import UPDATABLE_FIELDS, RuleVersion

TRIGGERS = {resources_pb2.Trigger.Value(f"TRIGGER_{t.name}"): t for t in Trigger}
TRIGGER_NUMBERS = {t: n for n, t in TRIGGERS.items()}


def trigger_from_pb(number: int, field: str) -> Trigger:
    trigger: Trigger | None = TRIGGERS.get(number)  # type: ignore[call-overload]
    if trigger is None:
        raise InvalidArgument.field(field, "choose a trigger, e.g. TRIGGER_MESSAGE_RECEIVED")
    return trigger


def rule_changes(body: resources_pb2.Rule, mask_paths: list[str]) -> dict[str, Any]:
    """The Rule attributes an UpdateRule writes (AIP-134: no mask = the populated
    updatable fields; "*" = all of them)."""
    paths = resolve_update_paths(
        mask_paths, populated=populated_fields(body), updatable=UPDATABLE_FIELDS
    )
    changes: dict[str, Any] = {}
    problems: list[FieldViolation] = []
    for path in paths:
        if path == "trigger":
            try:
                changes["trigger"] = trigger_from_pb(body.trigger, "rule.trigger")
            except InvalidArgument as exc:
                problems.extend(exc.violations)
        elif path == "condition":
            changes["condition_blob"] = body.condition.SerializeToString(deterministic=True)
        elif path == "actions":
            actions = []
            for i, action_pb in enumerate(body.actions):
                action = action_from_pb(action_pb, f"rule.actions[{i}]")
                if isinstance(action, FieldViolation):
                    problems.append(action)
                else:
                    actions.append(action)
            changes["actions"] = tuple(actions)
        elif path == "cooldown":
            changes["cooldown_seconds"] = int(body.cooldown.seconds)
        elif path == "rollout_percent":
            changes["rollout_percent"] = body.rollout_percent or 100
        elif path == "time_trigger":
            changes["time_trigger"] = time_trigger_from_pb(body)
        else:
            changes[path] = getattr(body, path)
    if problems:
        raise InvalidArgument(problems)
    return changes


def warning_to_pb(conflict: Conflict) -> resources_pb2.RuleWarning:
    return resources_pb2.RuleWarning(
        code=conflict.code, message=conflict.message, rules=[rule_name(conflict.other_rule_id)]
    )


def saved_to_pb(saved: SavedRule) -> resources_pb2.Rule:
    message = rule_to_pb(saved.rule)
    message.warnings.extend(warning_to_pb(w) for w in saved.warnings)
    return message


def version_to_pb(version: RuleVersion) -> resources_pb2.RuleVersion:
    rule = version.rule
    return resources_pb2.RuleVersion(
        name=f"{rule_name(rule.id)}/versions/{rule.version}",
        rule=rule_to_pb(rule),
        author=f"members/{version.author}" if version.author else "",
        create_time=to_timestamp(version.created_at),
    )


def rule_filter_from_pb(request: pb.ListRulesRequest) -> RuleFilter:
    if request.enabled_only and request.disabled_only:
        raise InvalidArgument.field("disabled_only", "cannot be set with enabled_only")
    enabled = True if request.enabled_only else False if request.disabled_only else None
    trigger = None if request.trigger == 0 else trigger_from_pb(request.trigger, "trigger")
    return RuleFilter(trigger=trigger, enabled=enabled, query=request.query, tag=request.tag)


_FACT_TYPES = {
    FieldType.TEXT: pb.FACT_TYPE_TEXT,
    FieldType.KEYWORDS_TEXT: pb.FACT_TYPE_KEYWORDS_TEXT,
    FieldType.NUMBER: pb.FACT_TYPE_NUMBER,
    FieldType.TIMESTAMP: pb.FACT_TYPE_TIMESTAMP,
    FieldType.BOOLEAN: pb.FACT_TYPE_BOOLEAN,
    FieldType.TAGS: pb.FACT_TYPE_TAGS,
    FieldType.ENUM: pb.FACT_TYPE_ENUM,
}


def _fact_to_pb(fact: Fact) -> pb.Fact:
    order = list(Op)
    return pb.Fact(
        name=fact.name,
        type=_FACT_TYPES[fact.type],
        description=fact.description,
        enum_values=list(fact.enum_values),
        operators=[
            condition_pb2.Operator.Value(operator_name(op))
            for op in sorted(fact.spec().allowed_operators, key=order.index)
        ],
    )


def facts_to_pb(triggers: list[Trigger]) -> pb.ListFactsResponse:
    response = pb.ListFactsResponse()
    for trigger in triggers:
        entry = response.triggers.add(trigger=TRIGGER_NUMBERS[trigger])
        entry.facts.extend(_fact_to_pb(f) for f in facts_of(trigger))
        if "customer.segment" in fields_of(trigger):
            entry.facts.add(
                name="customer.segment",
                type=pb.FACT_TYPE_TEXT,
                description=(
                    "Whether the customer is in a saved segment: EQUALS (or NOT_EQUALS) "
                    '"segments/{segment}"; its condition is copied when the rule is saved'
                ),
                operators=[condition_pb2.OPERATOR_EQUALS, condition_pb2.OPERATOR_NOT_EQUALS],
            )
    return response
