"""MessagingService RPCs: after-sales cases."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.grpc.auth import Caller, require_caller
from messaging.adapters.case_mapping import (
    case_changes_from_pb,
    case_filter_from_pb,
    case_keys,
    case_state_from_pb,
    case_to_pb,
    new_case_from_pb,
)
from messaging.app.cases import Cases

Context = Any


def _actor(caller: Caller) -> str:
    return caller.subject or "system"


class CaseRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _cases: Cases
    _page_tokens: PageTokenCodec

    async def CreateCase(self, request: pb.CreateCaseRequest, context: Context) -> cases_pb2.Case:
        caller = require_caller(context)
        draft = new_case_from_pb(request.case)
        case = await self._cases.open(
            caller.tenant_id,
            caller.visibility,
            draft,
            actor=_actor(caller),
            request_id=request.request_id.strip(),
        )
        return case_to_pb(case)

    async def GetCase(self, request: pb.GetCaseRequest, context: Context) -> cases_pb2.Case:
        caller = require_caller(context)
        case_id = resource_id(request.name, "cases", field="name")
        return case_to_pb(await self._cases.get(caller.tenant_id, caller.visibility, case_id))

    async def ListCases(
        self, request: pb.ListCasesRequest, context: Context
    ) -> pb.ListCasesResponse:
        caller = require_caller(context)
        filters = case_filter_from_pb(request)
        window = self._page_tokens.window(
            request,
            caller.tenant_id,
            caller.subject,
            "cases",
            request.type,
            sorted(request.states),
            request.customer,
            request.assignee,
        )
        fetched = await self._cases.page(
            caller.tenant_id, caller.visibility, filters, after=window.after, limit=window.limit
        )
        page, token = window.cut(fetched, case_keys)
        return pb.ListCasesResponse(cases=[case_to_pb(c) for c in page], next_page_token=token)

    async def UpdateCase(self, request: pb.UpdateCaseRequest, context: Context) -> cases_pb2.Case:
        caller = require_caller(context)
        case_id = resource_id(request.case.name, "cases", field="case.name")
        changes = case_changes_from_pb(request)
        case = await self._cases.update(
            caller.tenant_id, caller.visibility, case_id, changes, request.case.etag
        )
        return case_to_pb(case)

    async def DeleteCase(self, request: pb.DeleteCaseRequest, context: Context) -> Empty:
        caller = require_caller(context)
        case_id = resource_id(request.name, "cases", field="name")
        await self._cases.delete(caller.tenant_id, caller.visibility, case_id, request.etag)
        return Empty()

    async def TransitionCase(
        self, request: pb.TransitionCaseRequest, context: Context
    ) -> cases_pb2.Case:
        caller = require_caller(context)
        case_id = resource_id(request.name, "cases", field="name")
        to = case_state_from_pb(request.state, field="state")
        case = await self._cases.transition(
            caller.tenant_id,
            caller.visibility,
            case_id,
            to,
            note=request.note,
            etag=request.etag,
            actor=_actor(caller),
        )
        return case_to_pb(case)
