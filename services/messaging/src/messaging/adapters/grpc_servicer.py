"""MessagingService over gRPC: proto mapping only, one mixin per area (rpc_<area>.py)."""

from __future__ import annotations

from typing import Any

from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import messaging_service_pb2_grpc as pb_grpc
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.grpc.auth import require_caller
from messaging.adapters.mapping import inbound_from_pb, message_to_pb
from messaging.adapters.rpc_cases import CaseRpcs
from messaging.adapters.rpc_channels import ChannelRpcs
from messaging.adapters.rpc_conversations import ConversationRpcs
from messaging.adapters.rpc_csat import CsatRpcs
from messaging.adapters.rpc_replies import ReplyRpcs
from messaging.adapters.rpc_templates import TemplateRpcs
from messaging.app.cases import Cases
from messaging.app.use_cases import MessagingService

Context = Any


class MessagingServicer(
    ConversationRpcs,
    ReplyRpcs,
    ChannelRpcs,
    TemplateRpcs,
    CsatRpcs,
    CaseRpcs,
    pb_grpc.MessagingServiceServicer,
):
    def __init__(
        self,
        service: MessagingService,
        *,
        cases: Cases,
        page_tokens: PageTokenCodec,
    ) -> None:
        self._service = service
        self._cases = cases
        self._page_tokens = page_tokens

    async def IngestMessage(
        self, request: pb.IngestMessageRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        inbound = inbound_from_pb(request)
        return message_to_pb(await self._service.ingest(caller.tenant_id, inbound))
