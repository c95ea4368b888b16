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
from messaging.adapters.rpc_notifications import NotificationRpcs
from messaging.adapters.rpc_replies import ReplyRpcs
from messaging.adapters.rpc_templates import TemplateRpcs
from messaging.app.cases import Cases
from messaging.app.channels import ChannelConfigService, InboundChannels
from messaging.app.conversations import ConversationService
from messaging.app.csat import CsatService
from messaging.app.notifications import Notifications
from messaging.app.replies import Replies
from messaging.app.settings import Settings
from messaging.app.templates import TemplateRenderer, TemplateService
from messaging.app.use_cases import MessagingService

Context = Any


class MessagingServicer(
    ConversationRpcs,
    ReplyRpcs,
    ChannelRpcs,
    TemplateRpcs,
    CsatRpcs,
    CaseRpcs,
    NotificationRpcs,
    pb_grpc.MessagingServiceServicer,
):
    def __init__(
        self,
        service: MessagingService,
        *,
        cases: Cases,
        page_tokens: PageTokenCodec,
        templates: TemplateService,
        renderer: TemplateRenderer,
        csat: CsatService,
        conversations: ConversationService | None = None,
        replies: Replies | None = None,
        settings: Settings | None = None,
        channel_configs: ChannelConfigService | None = None,
        inbound: InboundChannels | None = None,
        notifications: Notifications | None = None,
    ) -> None:
        self._service = service
        self._conversations = conversations or ConversationService(service.new_uow)
        self._cases = cases
        if notifications is not None:  # the notification RPCs need it (bootstrap passes it)
            self._notifications = notifications
        self._page_tokens = page_tokens
        self._templates = templates
        self._renderer = renderer
        self._csat = csat
        # The replies and settings RPCs need them (bootstrap always passes both).
        if replies is not None:
            self._replies = replies
        if settings is not None:
            self._settings = settings
        # The channel RPCs need them (bootstrap always passes both).
        if channel_configs is not None:
            self._channel_configs = channel_configs
        if inbound is not None:
            self._inbound = inbound

    async def IngestMessage(
        self, request: pb.IngestMessageRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        inbound = inbound_from_pb(request)
        channel_configs: ChannelConfigService | None = getattr(self, "_channel_configs", None)
        if channel_configs is not None:
            await channel_configs.check_inbound_reference(caller.tenant_id, inbound)
        return message_to_pb(await self._service.ingest(caller.tenant_id, inbound))
