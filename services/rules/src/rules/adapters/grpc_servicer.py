"""RulesService over gRPC: proto mapping only."""

from __future__ import annotations

from typing import Any

from crosstalk.rules.v1 import resources_pb2
from crosstalk.rules.v1 import rules_service_pb2 as pb
from crosstalk.rules.v1 import rules_service_pb2_grpc as pb_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.grpc.auth import require_caller
from rules.adapters.mapping import rule_from_pb, rule_to_pb
from rules.app.use_cases import RuleService
from rules.domain.model import MAX_RULES_PER_PAGE, Rule

Context = Any


def _rule_keys(rule: Rule) -> list[str]:
    assert rule.created_at is not None
    return [rule.created_at.isoformat(), rule.id]


class RulesServicer(pb_grpc.RulesServiceServicer):
    def __init__(self, service: RuleService, page_tokens: PageTokenCodec) -> None:
        self._service = service
        self._tokens = page_tokens

    async def CreateRule(
        self, request: pb.CreateRuleRequest, context: Context
    ) -> resources_pb2.Rule:
        caller = require_caller(context)
        return rule_to_pb(await self._service.create(rule_from_pb(caller.tenant_id, request.rule)))

    async def GetRule(self, request: pb.GetRuleRequest, context: Context) -> resources_pb2.Rule:
        caller = require_caller(context)
        return rule_to_pb(
            await self._service.get(caller.tenant_id, resource_id(request.name, "rules"))
        )

    async def ListRules(
        self, request: pb.ListRulesRequest, context: Context
    ) -> pb.ListRulesResponse:
        caller = require_caller(context)
        window = self._tokens.window(request, caller.tenant_id, "rules", maximum=MAX_RULES_PER_PAGE)
        fetched = await self._service.page(caller.tenant_id, after=window.after, limit=window.limit)
        page, token = window.cut(fetched, _rule_keys)
        return pb.ListRulesResponse(rules=[rule_to_pb(r) for r in page], next_page_token=token)
