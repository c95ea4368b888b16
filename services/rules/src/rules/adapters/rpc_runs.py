"""The engine's RPCs: ListRuleRuns, ExplainRuleRun, GetRuleStatistics,
GetRuleSettings, UpdateRuleSettings (proto mapping only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration

from crosstalk.rules.v1 import resources_pb2
from crosstalk.rules.v1 import rules_service_pb2 as pb
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id, resource_ids_of
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.clock import as_utc
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from rules.adapters.engine_mapping import OUTCOME_OF_PB, explanation_to_pb, run_to_pb
from rules.app.runs import RunService
from rules.domain.runs import Counter, Run, RunFilter
from rules.domain.settings import RuleSettings, read_settings

Context = Any
MAX_RUNS_PER_PAGE = 100
SETTINGS_NAME = "ruleSettings"


def _rule_of_parent(parent: str) -> str:
    """The rule id of "rules/{rule}", "" for "rules/-"."""
    if parent == "rules/-":
        return ""
    return resource_id(parent, "rules", field="parent")


def _run_keys(run: Run) -> list[str]:
    return [run.created_at.isoformat(), run.id]


def _time(request: Any, name: str) -> Any:
    return as_utc(getattr(request, name).ToDatetime()) if request.HasField(name) else None


def _window(request: Any) -> tuple[datetime | None, datetime | None]:
    """A request's start_time and end_time (each optional); an end at or before the
    start is refused, not answered with an empty page."""
    start, end = _time(request, "start_time"), _time(request, "end_time")
    if start is not None and end is not None and end <= start:
        raise InvalidArgument.field("end_time", "must be after start_time")
    return start, end


def settings_to_pb(settings: RuleSettings) -> pb.RuleSettings:
    out = pb.RuleSettings(
        name=SETTINGS_NAME,
        time_zone=settings.time_zone,
        holidays=[d.isoformat() for d in settings.holidays],
        evaluation_log_retention=Duration(seconds=int(settings.retention.total_seconds())),
        webhook_secret_set=bool(settings.webhook_secret),
    )
    for h in settings.hours:
        out.business_hours.add(
            weekday=h.weekday, start=h.start.strftime("%H:%M"), end=h.end.strftime("%H:%M")
        )
    if settings.updated_at is not None:
        out.update_time.CopyFrom(to_timestamp(settings.updated_at))
    return out


class EngineRpcs:
    _runs: RunService
    _tokens: PageTokenCodec

    async def ListRuleRuns(
        self, request: pb.ListRuleRunsRequest, context: Context
    ) -> pb.ListRuleRunsResponse:
        caller = require_caller(context)
        rule_id = _rule_of_parent(request.parent)
        outcome = None
        if request.outcome:
            outcome = OUTCOME_OF_PB.get(request.outcome)
            if outcome is None:
                raise InvalidArgument([FieldViolation("outcome", "not a known outcome")])
        start, end = _window(request)
        if request.customer:  # "customers/{id}", as runs store it
            resource_id(request.customer, "customers", field="customer")
        where = RunFilter(
            rule_id=rule_id,
            customer=request.customer,
            trigger_event_id=request.trigger_event_id,
            outcome=outcome,
            start=start,
            end=end,
        )
        window = self._tokens.window(
            request,
            caller.tenant_id,
            "rule_runs",
            request.parent,
            request.customer,
            request.trigger_event_id,
            request.outcome,
            request.start_time.SerializeToString(),
            request.end_time.SerializeToString(),
            maximum=MAX_RUNS_PER_PAGE,
        )
        fetched = await self._runs.page(
            caller.tenant_id, caller.visibility, where, after=window.after, limit=window.limit
        )
        page, token = window.cut(fetched, _run_keys)
        return pb.ListRuleRunsResponse(
            rule_runs=[run_to_pb(r) for r in page], next_page_token=token
        )

    async def ExplainRuleRun(
        self, request: pb.ExplainRuleRunRequest, context: Context
    ) -> resources_pb2.RuleRunExplanation:
        caller = require_caller(context)
        rule_id, run_id = resource_ids_of(request.name, "rules/{rule}/runs/{run}")
        run = await self._runs.get(caller.tenant_id, caller.visibility, rule_id, run_id)
        return explanation_to_pb(run)

    async def GetRuleStatistics(
        self, request: pb.GetRuleStatisticsRequest, context: Context
    ) -> pb.GetRuleStatisticsResponse:
        caller = require_caller(context)
        rule_id = _rule_of_parent(request.parent)
        start, end = _window(request)
        periods = await self._runs.statistics(
            caller.tenant_id,
            caller.visibility,
            rule_id,
            start=start,
            end=end,
            week=request.period == pb.STATISTICS_PERIOD_WEEK,
        )
        out = pb.GetRuleStatisticsResponse()
        for p in periods:
            c = p.counts
            out.statistics.add(
                rule=f"rules/{p.rule_id}",
                period_start_time=to_timestamp(p.start),
                evaluated_count=c.get(Counter.EVALUATED, 0),
                matched_count=c.get(Counter.MATCHED, 0),
                hit_rate=p.hit_rate,
                fired_count=c.get(Counter.FIRED, 0),
                shadow_count=c.get(Counter.SHADOW, 0),
                suppressed_cooldown_count=c.get(Counter.SUPPRESSED_COOLDOWN, 0),
                suppressed_rollout_count=c.get(Counter.SUPPRESSED_ROLLOUT, 0),
                suppressed_stop_count=c.get(Counter.SUPPRESSED_STOP, 0),
                suppressed_loop_guard_count=c.get(Counter.SUPPRESSED_LOOP_GUARD, 0),
                actions_succeeded_count=c.get(Counter.ACTIONS_SUCCEEDED, 0),
                actions_failed_count=c.get(Counter.ACTIONS_FAILED, 0),
            )
        return out

    async def GetRuleSettings(
        self, request: pb.GetRuleSettingsRequest, context: Context
    ) -> pb.RuleSettings:
        caller = require_caller(context)
        _settings_name(request.name, "name")
        return settings_to_pb(await self._runs.settings(caller.tenant_id))

    async def UpdateRuleSettings(
        self, request: pb.UpdateRuleSettingsRequest, context: Context
    ) -> pb.RuleSettings:
        caller = require_caller(context)
        sent = request.settings
        _settings_name(sent.name, "settings.name")
        current = await self._runs.settings(caller.tenant_id)
        paths = set(request.update_mask.paths) or {
            f.name for f, _ in sent.ListFields() if f.name != "name"
        }
        unknown = paths - {
            "time_zone",
            "business_hours",
            "holidays",
            "evaluation_log_retention",
            "webhook_secret",
        }
        if unknown:
            raise InvalidArgument(
                [FieldViolation("update_mask", f"cannot change {p}") for p in sorted(unknown)]
            )
        hours = (
            [(h.weekday, h.start, h.end) for h in sent.business_hours]
            if "business_hours" in paths
            else [
                (h.weekday, h.start.strftime("%H:%M"), h.end.strftime("%H:%M"))
                for h in current.hours
            ]
        )
        retention = (
            timedelta(seconds=sent.evaluation_log_retention.seconds)
            if "evaluation_log_retention" in paths
            else current.retention
        )
        settings = read_settings(
            caller.tenant_id,
            time_zone=sent.time_zone if "time_zone" in paths else current.time_zone,
            hours=hours,
            holidays=(
                list(sent.holidays)
                if "holidays" in paths
                else [d.isoformat() for d in current.holidays]
            ),
            retention=retention or None,
            webhook_secret=(
                sent.webhook_secret if "webhook_secret" in paths else current.webhook_secret
            ),
        )
        return settings_to_pb(await self._runs.save_settings(settings))


def _settings_name(name: str, field: str) -> None:
    if name != SETTINGS_NAME:
        raise InvalidArgument([FieldViolation(field, f'must be "{SETTINGS_NAME}"')])
