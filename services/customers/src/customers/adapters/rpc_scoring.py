"""CustomersService RPCs of one area, mixed into CustomersServicer: protos to use cases.

Score rules, tiers and tier rules (tenant configuration, no data scope).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import scoring_pb2
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.api.resource_names import optional_resource_id, resource_id
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.conditions.model import Node
from crosstalk_common.grpc.auth import require_caller
from customers.adapters.filtering import parse_customer_filter
from customers.app.score_rules import score_rule_name
from customers.app.scoring import ScoringService
from customers.app.search import CustomerSearch
from customers.app.tiers import tier_name, tier_rule_name
from customers.domain.scoring import (
    SCORE_RULE_EDITABLE_FIELDS,
    TIER_EDITABLE_FIELDS,
    TIER_RULE_EDITABLE_FIELDS,
    CapPeriod,
    ScoreRule,
    ScoreRuleFrequency,
    Tier,
    TierRule,
)

Context = Any  # grpc.aio.ServicerContext

_FREQUENCIES = {
    scoring_pb2.SCORE_RULE_FREQUENCY_ONCE: ScoreRuleFrequency.ONCE,
    scoring_pb2.SCORE_RULE_FREQUENCY_REPEATABLE: ScoreRuleFrequency.REPEATABLE,
}
_FREQUENCIES_PB = {v: k for k, v in _FREQUENCIES.items()}
_PERIODS = {
    scoring_pb2.CAP_PERIOD_DAY: CapPeriod.DAY,
    scoring_pb2.CAP_PERIOD_WEEK: CapPeriod.WEEK,
    scoring_pb2.CAP_PERIOD_MONTH: CapPeriod.MONTH,
    scoring_pb2.CAP_PERIOD_YEAR: CapPeriod.YEAR,
    scoring_pb2.CAP_PERIOD_LIFETIME: CapPeriod.LIFETIME,
}
_PERIODS_PB = {v: k for k, v in _PERIODS.items()}


def _blob(body: scoring_pb2.ScoreRule | scoring_pb2.TierRule) -> bytes:
    if not body.HasField("condition") or body.condition.WhichOneof("node") is None:
        return b""
    return body.condition.SerializeToString(deterministic=True)


def _score_rule_fields(body: scoring_pb2.ScoreRule, paths: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for path in paths:
        if path == "condition":
            values["condition_blob"] = _blob(body)
        elif path == "frequency":
            values["frequency"] = _FREQUENCIES.get(body.frequency)
        elif path == "cap_period":
            values["cap_period"] = _PERIODS.get(body.cap_period)
        elif path == "event_type":
            values["event_type"] = body.event_type.strip()
        else:
            values[path] = getattr(body, path)
    return values


def score_rule_to_pb(rule: ScoreRule) -> scoring_pb2.ScoreRule:
    out = scoring_pb2.ScoreRule(
        name=score_rule_name(rule.id),
        display_name=rule.display_name,
        event_type=rule.event_type,
        points=rule.points,
        frequency=_FREQUENCIES_PB.get(
            rule.frequency,  # type: ignore[arg-type]
            scoring_pb2.SCORE_RULE_FREQUENCY_UNSPECIFIED,
        ),
        cap_points=rule.cap_points,
        cap_period=_PERIODS_PB.get(rule.cap_period, scoring_pb2.CAP_PERIOD_UNSPECIFIED),  # type: ignore[arg-type]
        enabled=rule.enabled,
        create_time=to_timestamp(rule.created_at),
        update_time=to_timestamp(rule.updated_at),
        etag=rule.etag,
    )
    if rule.condition_blob:
        out.condition.ParseFromString(rule.condition_blob)
    return out


def tier_to_pb(tier: Tier) -> scoring_pb2.Tier:
    return scoring_pb2.Tier(
        name=tier_name(tier.id),
        display_name=tier.display_name,
        rank=tier.rank,
        description=tier.description,
        color=tier.color,
        create_time=to_timestamp(tier.created_at),
        update_time=to_timestamp(tier.updated_at),
        etag=tier.etag,
    )


def tier_rule_to_pb(rule: TierRule) -> scoring_pb2.TierRule:
    out = scoring_pb2.TierRule(
        name=tier_rule_name(rule.id),
        tier=tier_name(rule.tier_id),
        allow_downgrade=rule.allow_downgrade,
        enabled=rule.enabled,
        create_time=to_timestamp(rule.created_at),
        update_time=to_timestamp(rule.updated_at),
        etag=rule.etag,
    )
    if rule.condition_blob:
        out.condition.ParseFromString(rule.condition_blob)
    return out


class ScoringRpcs:
    _tokens: PageTokenCodec
    _scoring: ScoringService
    _search: CustomerSearch

    # --- score rules ----------------------------------------------------------

    async def CreateScoreRule(
        self, request: pb.CreateScoreRuleRequest, context: Context
    ) -> scoring_pb2.ScoreRule:
        caller = require_caller(context)
        body = request.score_rule
        draft = ScoreRule(
            id="",
            tenant_id=caller.tenant_id,
            display_name=body.display_name,
            event_type=body.event_type.strip(),
            points=body.points,
            frequency=_FREQUENCIES.get(body.frequency),
            condition_blob=_blob(body),
            cap_points=body.cap_points,
            cap_period=_PERIODS.get(body.cap_period),
            enabled=body.enabled,
        )
        return score_rule_to_pb(await self._scoring.create_score_rule(draft))

    async def GetScoreRule(
        self, request: pb.GetScoreRuleRequest, context: Context
    ) -> scoring_pb2.ScoreRule:
        caller = require_caller(context)
        rule_id = resource_id(request.name, "scoreRules", field="name")
        return score_rule_to_pb(await self._scoring.get_score_rule(caller.tenant_id, rule_id))

    async def ListScoreRules(
        self, request: pb.ListScoreRulesRequest, context: Context
    ) -> pb.ListScoreRulesResponse:
        caller = require_caller(context)
        window = self._tokens.window(request, caller.tenant_id, caller.subject, "scoreRules")
        page = await self._scoring.page_score_rules(
            caller.tenant_id, after=window.after, limit=window.limit
        )
        page, token = window.cut(page, lambda item: [_iso(item.created_at), item.id])
        return pb.ListScoreRulesResponse(
            score_rules=[score_rule_to_pb(r) for r in page], next_page_token=token
        )

    async def UpdateScoreRule(
        self, request: pb.UpdateScoreRuleRequest, context: Context
    ) -> scoring_pb2.ScoreRule:
        caller = require_caller(context)
        body = request.score_rule
        rule_id = resource_id(body.name, "scoreRules", field="score_rule.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=SCORE_RULE_EDITABLE_FIELDS,
        )
        updated = await self._scoring.update_score_rule(
            caller.tenant_id, rule_id, _score_rule_fields(body, paths), body.etag
        )
        return score_rule_to_pb(updated)

    async def DeleteScoreRule(self, request: pb.DeleteScoreRuleRequest, context: Context) -> Empty:
        caller = require_caller(context)
        rule_id = resource_id(request.name, "scoreRules", field="name")
        await self._scoring.delete_score_rule(caller.tenant_id, rule_id, request.etag)
        return Empty()

    # --- tiers ----------------------------------------------------------------

    async def CreateTier(self, request: pb.CreateTierRequest, context: Context) -> scoring_pb2.Tier:
        caller = require_caller(context)
        body = request.tier
        tier = await self._scoring.create_tier(
            Tier(
                id="",
                tenant_id=caller.tenant_id,
                display_name=body.display_name,
                rank=body.rank,
                description=body.description,
                color=body.color,
            )
        )
        return tier_to_pb(tier)

    async def GetTier(self, request: pb.GetTierRequest, context: Context) -> scoring_pb2.Tier:
        caller = require_caller(context)
        tier_id = resource_id(request.name, "tiers", field="name")
        return tier_to_pb(await self._scoring.get_tier(caller.tenant_id, tier_id))

    async def ListTiers(
        self, request: pb.ListTiersRequest, context: Context
    ) -> pb.ListTiersResponse:
        caller = require_caller(context)
        window = self._tokens.window(request, caller.tenant_id, caller.subject, "tiers")
        page = await self._scoring.page_tiers(
            caller.tenant_id, after=window.after, limit=window.limit
        )
        page, token = window.cut(page, lambda item: [str(item.rank), item.id])
        return pb.ListTiersResponse(tiers=[tier_to_pb(t) for t in page], next_page_token=token)

    async def UpdateTier(self, request: pb.UpdateTierRequest, context: Context) -> scoring_pb2.Tier:
        caller = require_caller(context)
        body = request.tier
        tier_id = resource_id(body.name, "tiers", field="tier.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=TIER_EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {path: getattr(body, path) for path in paths}
        tier = await self._scoring.update_tier(caller.tenant_id, tier_id, changes, body.etag)
        return tier_to_pb(tier)

    async def DeleteTier(self, request: pb.DeleteTierRequest, context: Context) -> Empty:
        caller = require_caller(context)
        tier_id = resource_id(request.name, "tiers", field="name")
        await self._scoring.delete_tier(caller.tenant_id, tier_id, request.etag)
        return Empty()

    # --- tier rules -------------------------------------------------------------

    async def _tier_rule_condition(self, tenant_id: str, body: scoring_pb2.TierRule) -> Node | None:
        return await parse_customer_filter(
            self._search,
            tenant_id,
            body.condition,
            field_path="tier_rule.condition",
            in_memory=True,
        )

    async def CreateTierRule(
        self, request: pb.CreateTierRuleRequest, context: Context
    ) -> scoring_pb2.TierRule:
        caller = require_caller(context)
        body = request.tier_rule
        rule = await self._scoring.create_tier_rule(
            TierRule(
                id="",
                tenant_id=caller.tenant_id,
                tier_id=optional_resource_id(body.tier, "tiers", field="tier_rule.tier"),
                condition=await self._tier_rule_condition(caller.tenant_id, body),
                condition_blob=_blob(body),
                allow_downgrade=body.allow_downgrade,
                enabled=body.enabled,
            )
        )
        return tier_rule_to_pb(rule)

    async def GetTierRule(
        self, request: pb.GetTierRuleRequest, context: Context
    ) -> scoring_pb2.TierRule:
        caller = require_caller(context)
        rule_id = resource_id(request.name, "tierRules", field="name")
        return tier_rule_to_pb(await self._scoring.get_tier_rule(caller.tenant_id, rule_id))

    async def ListTierRules(
        self, request: pb.ListTierRulesRequest, context: Context
    ) -> pb.ListTierRulesResponse:
        caller = require_caller(context)
        tier_id = optional_resource_id(request.tier, "tiers", field="tier")
        window = self._tokens.window(
            request, caller.tenant_id, caller.subject, "tierRules", tier_id
        )
        page = await self._scoring.page_tier_rules(
            caller.tenant_id, tier_id=tier_id, after=window.after, limit=window.limit
        )
        page, token = window.cut(page, lambda item: [_iso(item.created_at), item.id])
        return pb.ListTierRulesResponse(
            tier_rules=[tier_rule_to_pb(r) for r in page], next_page_token=token
        )

    async def UpdateTierRule(
        self, request: pb.UpdateTierRuleRequest, context: Context
    ) -> scoring_pb2.TierRule:
        caller = require_caller(context)
        body = request.tier_rule
        rule_id = resource_id(body.name, "tierRules", field="tier_rule.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=TIER_RULE_EDITABLE_FIELDS,
        )
        changes: dict[str, object] = {}
        for path in paths:
            if path == "tier":
                changes["tier_id"] = optional_resource_id(
                    body.tier, "tiers", field="tier_rule.tier"
                )
            elif path == "condition":
                changes["condition"] = await self._tier_rule_condition(caller.tenant_id, body)
                changes["condition_blob"] = _blob(body)
            else:
                changes[path] = getattr(body, path)
        rule = await self._scoring.update_tier_rule(caller.tenant_id, rule_id, changes, body.etag)
        return tier_rule_to_pb(rule)

    async def DeleteTierRule(self, request: pb.DeleteTierRuleRequest, context: Context) -> Empty:
        caller = require_caller(context)
        rule_id = resource_id(request.name, "tierRules", field="name")
        await self._scoring.delete_tier_rule(caller.tenant_id, rule_id, request.etag)
        return Empty()


def _iso(value: datetime | None) -> str:
    assert value is not None  # every stored rule has one
    return value.isoformat()
