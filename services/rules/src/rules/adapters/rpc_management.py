"""RulesService RPCs of rule management: create, get, list, update, versions,
rollback, enable, disable, delete, and the fact catalogue. Mapping only."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.rules.v1 import resources_pb2
from crosstalk.rules.v1 import rules_service_pb2 as pb
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.grpc.auth import Caller, require_caller
from rules.adapters.management_mapping import (
    facts_to_pb,
    rule_changes,
    rule_filter_from_pb,
    saved_to_pb,
    trigger_from_pb,
    version_to_pb,
)
from rules.adapters.mapping import rule_from_pb, rule_to_pb
from rules.app.managing import RuleManagement
from rules.domain.model import MAX_RULES_PER_PAGE, Rule, Trigger
from rules.domain.versions import RuleVersion

Context = Any
MAX_VERSIONS_PER_PAGE = 50


def _rule_keys(rule: Rule) -> list[str]:
    assert rule.created_at is not None
    return [str(rule.priority), rule.created_at.isoformat(), rule.id]


def _version_keys(version: RuleVersion) -> list[str]:
    return [str(version.rule.version)]


def _author(caller: Caller) -> str:
    return caller.member_id


class ManagementRpcs:
    """Mixed into RulesServicer."""

    _management: RuleManagement
    _tokens: PageTokenCodec

    async def CreateRule(
        self, request: pb.CreateRuleRequest, context: Context
    ) -> resources_pb2.Rule:
        caller = require_caller(context)
        draft = rule_from_pb(caller.tenant_id, request.rule)
        saved = await self._management.create(
            draft, author=_author(caller), request_id=request.request_id.strip()
        )
        return saved_to_pb(saved)

    async def GetRule(self, request: pb.GetRuleRequest, context: Context) -> resources_pb2.Rule:
        caller = require_caller(context)
        return rule_to_pb(
            await self._management.get(caller.tenant_id, resource_id(request.name, "rules"))
        )

    async def ListRules(
        self, request: pb.ListRulesRequest, context: Context
    ) -> pb.ListRulesResponse:
        caller = require_caller(context)
        where = rule_filter_from_pb(request)
        window = self._tokens.window(
            request,
            caller.tenant_id,
            "rules",
            request.trigger,
            request.enabled_only,
            request.disabled_only,
            request.query,
            request.tag,
            maximum=MAX_RULES_PER_PAGE,
        )
        fetched = await self._management.page(
            caller.tenant_id, where, after=window.after, limit=window.limit
        )
        page, token = window.cut(fetched, _rule_keys)
        return pb.ListRulesResponse(rules=[rule_to_pb(r) for r in page], next_page_token=token)

    async def UpdateRule(
        self, request: pb.UpdateRuleRequest, context: Context
    ) -> resources_pb2.Rule:
        caller = require_caller(context)
        rule_id = resource_id(request.rule.name, "rules", field="rule.name")
        changes = rule_changes(request.rule, list(request.update_mask.paths))
        saved = await self._management.update(
            caller.tenant_id, rule_id, changes, request.rule.etag, author=_author(caller)
        )
        return saved_to_pb(saved)

    async def DeleteRule(self, request: pb.DeleteRuleRequest, context: Context) -> Empty:
        caller = require_caller(context)
        await self._management.delete(
            caller.tenant_id, resource_id(request.name, "rules"), request.etag
        )
        return Empty()

    async def ListRuleVersions(
        self, request: pb.ListRuleVersionsRequest, context: Context
    ) -> pb.ListRuleVersionsResponse:
        caller = require_caller(context)
        rule_id = resource_id(request.parent, "rules", field="parent")
        window = self._tokens.window(
            request, caller.tenant_id, "ruleVersions", rule_id, maximum=MAX_VERSIONS_PER_PAGE
        )
        before = int(window.after[0]) if window.after else None
        fetched = await self._management.versions(
            caller.tenant_id, rule_id, before=before, limit=window.limit
        )
        page, token = window.cut(fetched, _version_keys)
        return pb.ListRuleVersionsResponse(
            rule_versions=[version_to_pb(v) for v in page], next_page_token=token
        )

    async def EnableRule(
        self, request: pb.EnableRuleRequest, context: Context
    ) -> resources_pb2.Rule:
        caller = require_caller(context)
        saved = await self._management.set_enabled(
            caller.tenant_id,
            resource_id(request.name, "rules"),
            True,
            request.etag,
            author=_author(caller),
        )
        return saved_to_pb(saved)

    async def DisableRule(
        self, request: pb.DisableRuleRequest, context: Context
    ) -> resources_pb2.Rule:
        caller = require_caller(context)
        saved = await self._management.set_enabled(
            caller.tenant_id,
            resource_id(request.name, "rules"),
            False,
            request.etag,
            author=_author(caller),
        )
        return saved_to_pb(saved)

    async def RollbackRule(
        self, request: pb.RollbackRuleRequest, context: Context
    ) -> resources_pb2.Rule:
        caller = require_caller(context)
        saved = await self._management.rollback(
            caller.tenant_id,
            resource_id(request.name, "rules"),
            request.version,
            request.etag,
            author=_author(caller),
        )
        return saved_to_pb(saved)

    async def ListFacts(
        self, request: pb.ListFactsRequest, context: Context
    ) -> pb.ListFactsResponse:
        caller = require_caller(context)
        triggers = (
            [trigger_from_pb(request.trigger, "trigger")] if request.trigger else list(Trigger)
        )
        window = self._tokens.window(
            request,
            caller.tenant_id,
            "ruleFacts",
            request.trigger,
            default=len(Trigger),
            maximum=len(Trigger),
        )
        start = int(window.after[0]) + 1 if window.after else 0
        fetched = list(enumerate(triggers))[start : start + window.limit]
        page, token = window.cut(fetched, lambda item: [str(item[0])])
        response = facts_to_pb([trigger for _, trigger in page])
        response.next_page_token = token
        return response
