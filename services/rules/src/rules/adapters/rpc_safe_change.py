"""RulesService RPCs of safe change: DryRun and Backtest. Mapping only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from crosstalk.rules.v1 import rules_service_pb2 as pb
from crosstalk_common.api.channels import channel_or_none
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.bus.envelope import UndecodableEvent, read_event
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from rules.adapters.action_mapping import action_to_pb
from rules.adapters.engine_mapping import OUTCOME_PB, occurrence_of, trace_to_pb
from rules.adapters.management_mapping import trigger_from_pb
from rules.adapters.mapping import rule_from_pb
from rules.app.safe_change import DryEvaluation, SafeChange, Sample
from rules.app.use_cases import rule_name
from rules.domain.evaluation import facts_from_json, facts_to_json, trace_to_json
from rules.domain.facts import fact
from rules.domain.model import Rule, Trigger

Context = Any
MAX_GIVEN_FACTS = 200
MOST_SAMPLES = 100  # sample event ids per rule a backtest answers with


def _drafts(tenant_id: str, drafts: Any, path: str) -> list[Rule]:
    found: list[Rule] = []
    problems: list[FieldViolation] = []
    for i, body in enumerate(drafts):
        try:
            draft = rule_from_pb(tenant_id, body)
        except InvalidArgument as exc:
            problems.extend(
                FieldViolation(f"{path}[{i}]" + v.field.removeprefix("rule"), v.description)
                for v in exc.violations
            )
            continue
        if body.name:
            draft = replace(draft, id=resource_id(body.name, "rules", field=f"{path}[{i}].name"))
        found.append(draft)
    if problems:
        raise InvalidArgument(problems)
    return found


def _given(facts: Struct) -> dict[str, Any]:
    given = json_format.MessageToDict(facts)
    if len(given) > MAX_GIVEN_FACTS:
        raise InvalidArgument.field("facts", f"at most {MAX_GIVEN_FACTS} facts")
    unknown = [name for name in given if fact(name) is None]
    if unknown:
        raise InvalidArgument.field(
            "facts", f"unknown facts {', '.join(sorted(unknown))}; see ListFacts"
        )
    return facts_from_json(given)


def _sample(tenant_id: str, request: pb.DryRunRequest) -> Sample:
    given = _given(request.facts)
    kind = request.WhichOneof("input")
    if kind == "message":
        message = request.message
        customer = ""
        if message.customer:
            customer = "customers/" + resource_id(
                message.customer, "customers", field="message.customer"
            )
        channel = channel_or_none(message.channel)
        facts: dict[str, Any] = {"message.text": message.text}
        if message.language:
            facts["message.language"] = message.language
        if channel is not None:
            facts["message.channel"] = channel.value
        return Sample(tenant_id, Trigger.MESSAGE_RECEIVED, customer, "", facts, given)
    if kind == "event":
        try:
            event = read_event(request.event.SerializeToString())
        except UndecodableEvent as exc:
            raise InvalidArgument.field("event", str(exc)) from None
        event.envelope.tenant_id = tenant_id  # the caller's tenant, never the sample's
        occurrence = occurrence_of(event)
        if occurrence is None:
            raise InvalidArgument.field("event.type", f"{event.envelope.type!r} triggers no rule")
        facts = dict(occurrence.facts)
        if occurrence.customer_snapshot is not None:
            facts.update(occurrence.customer_snapshot[1])
        if occurrence.conversation_facts:
            facts.update(occurrence.conversation_facts)
        return Sample(
            tenant_id,
            occurrence.trigger,
            occurrence.customer,
            occurrence.conversation,
            facts,
            given,
        )
    if not request.trigger:
        raise InvalidArgument.field(
            "trigger", "give a message, an event, or facts with their trigger"
        )
    return Sample(tenant_id, trigger_from_pb(request.trigger, "trigger"), given=given)


def _evaluation_pb(evaluation: DryEvaluation) -> pb.RuleEvaluation:
    verdict = evaluation.verdict
    out = pb.RuleEvaluation(
        rule=rule_name(verdict.rule.id) if evaluation.draft_index is None else "",
        draft_index=evaluation.draft_index or 0,
        rule_version=verdict.rule.version,
        outcome=OUTCOME_PB[verdict.outcome],
        summary=verdict.summary,
    )
    if verdict.trace is not None:
        out.condition_trace.CopyFrom(trace_to_pb(trace_to_json(verdict.trace)))
    out.actions.extend(action_to_pb(a) for a in evaluation.actions)
    return out


def _struct(facts: Mapping[str, Any]) -> Struct:
    struct = Struct()
    struct.update({k: v for k, v in facts_to_json(facts).items() if v is not None})
    return struct


class SafeChangeRpcs:
    """Mixed into RulesServicer."""

    _safe_change: SafeChange

    async def DryRun(self, request: pb.DryRunRequest, context: Context) -> pb.DryRunResponse:
        caller = require_caller(context)
        sample = _sample(caller.tenant_id, request)
        result = await self._safe_change.dry_run(
            sample,
            visibility=caller.visibility,
            rule_ids=[
                resource_id(name, "rules", field=f"rules[{i}]")
                for i, name in enumerate(request.rules)
            ],
            drafts=_drafts(caller.tenant_id, request.draft_rules, "draft_rules"),
            include_disabled=request.include_disabled,
            ignore_limits=request.ignore_limits,
        )
        return pb.DryRunResponse(
            evaluations=[_evaluation_pb(e) for e in result.evaluations],
            facts=_struct(result.facts),
        )

    async def Backtest(self, request: pb.BacktestRequest, context: Context) -> pb.BacktestResponse:
        caller = require_caller(context)
        if not 0 <= request.max_samples <= MOST_SAMPLES:
            raise InvalidArgument.field(
                "max_samples", f"must be 1 to {MOST_SAMPLES} (or 0 for the default, 10)"
            )
        if not request.HasField("start_time") or not request.HasField("end_time"):
            raise InvalidArgument.field(
                "start_time" if not request.HasField("start_time") else "end_time",
                "a backtest needs start_time and end_time",
            )
        report = await self._safe_change.backtest(
            caller.tenant_id,
            visibility=caller.visibility,
            start=from_timestamp(request.start_time),
            end=from_timestamp(request.end_time),
            rule_ids=[
                resource_id(name, "rules", field=f"rules[{i}]")
                for i, name in enumerate(request.rules)
            ],
            drafts=_drafts(caller.tenant_id, request.draft_rules, "draft_rules"),
            max_samples=request.max_samples or 10,
        )
        response = pb.BacktestResponse(event_count=report.events)
        for result in report.results:
            added, removed = result.added, result.removed
            cap = request.max_samples or 10
            response.results.add(
                # A draft is named by its draft_index only (rule stays empty).
                rule=rule_name(result.rule_id) if result.draft_index is None else "",
                draft_index=result.draft_index or 0,
                evaluated_count=result.evaluated,
                hit_count=result.hits,
                customer_count=len(result.customers),
                sample_event_ids=result.samples,
                live_hit_count=result.live_hits,
                live_fired_count=result.live_fired,
                customers_added=added[:cap],
                customers_removed=removed[:cap],
                customers_added_count=len(added),
                customers_removed_count=len(removed),
            )
        return response
