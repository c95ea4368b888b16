"""MessagingService RPCs: channel configs and inbound deliveries (webhook, e-mail)."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.messaging.v1 import channels_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.grpc.auth import require_caller
from messaging.adapters.channel_mapping import (
    channel_config_changes_from_pb,
    channel_config_to_pb,
    inbound_receipt_to_pb,
    new_channel_config_from_pb,
)
from messaging.adapters.channel_repository import keyset_of
from messaging.app.channels import ChannelConfigService, InboundChannels, WebhookHeaders

Context = Any

TIMESTAMP_HEADER = "x-crosstalk-timestamp"
SIGNATURE_HEADER = "x-crosstalk-signature"
IDEMPOTENCY_HEADER = "idempotency-key"
INBOUND_SECRET_HEADER = "x-crosstalk-inbound-secret"  # noqa: S105 - a header name


def _header(context: Context, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return ""


def _config_id(name: str, field: str) -> str:
    return resource_id(name, "channelConfigs", field=field)


class ChannelRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _channel_configs: ChannelConfigService
    _inbound: InboundChannels
    _page_tokens: PageTokenCodec

    async def CreateChannelConfig(
        self, request: pb.CreateChannelConfigRequest, context: Context
    ) -> channels_pb2.ChannelConfig:
        caller = require_caller(context)
        draft, secrets = new_channel_config_from_pb(caller.tenant_id, request.channel_config)
        return channel_config_to_pb(await self._channel_configs.create(draft, secrets))

    async def GetChannelConfig(
        self, request: pb.GetChannelConfigRequest, context: Context
    ) -> channels_pb2.ChannelConfig:
        caller = require_caller(context)
        config_id = _config_id(request.name, "name")
        return channel_config_to_pb(await self._channel_configs.get(caller.tenant_id, config_id))

    async def ListChannelConfigs(
        self, request: pb.ListChannelConfigsRequest, context: Context
    ) -> pb.ListChannelConfigsResponse:
        caller = require_caller(context)
        window = self._page_tokens.window(request, caller.tenant_id, "channelConfigs")
        page = await self._channel_configs.page(
            caller.tenant_id, after=window.after, limit=window.limit
        )
        items, token = window.cut(page, keyset_of)
        return pb.ListChannelConfigsResponse(
            channel_configs=[channel_config_to_pb(c) for c in items], next_page_token=token
        )

    async def UpdateChannelConfig(
        self, request: pb.UpdateChannelConfigRequest, context: Context
    ) -> channels_pb2.ChannelConfig:
        caller = require_caller(context)
        config_id = _config_id(request.channel_config.name, "channel_config.name")
        changes, secret_changes = channel_config_changes_from_pb(request)
        updated = await self._channel_configs.update(
            caller.tenant_id, config_id, changes, secret_changes, request.channel_config.etag
        )
        return channel_config_to_pb(updated)

    async def DeleteChannelConfig(
        self, request: pb.DeleteChannelConfigRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        config_id = _config_id(request.name, "name")
        await self._channel_configs.delete(caller.tenant_id, config_id, request.etag)
        return Empty()

    async def ReceiveWebhook(
        self, request: pb.ReceiveWebhookRequest, context: Context
    ) -> pb.InboundReceipt:
        config_id = _config_id(request.channel_config, "channel_config")
        headers = WebhookHeaders(
            timestamp=_header(context, TIMESTAMP_HEADER),
            signature=_header(context, SIGNATURE_HEADER),
            idempotency_key=_header(context, IDEMPOTENCY_HEADER),
        )
        receipt = await self._inbound.receive_webhook(config_id, headers, request.body.data)
        return inbound_receipt_to_pb(receipt)

    async def ReceiveEmail(
        self, request: pb.ReceiveEmailRequest, context: Context
    ) -> pb.InboundReceipt:
        config_id = _config_id(request.channel_config, "channel_config")
        secret = _header(context, INBOUND_SECRET_HEADER)
        receipt = await self._inbound.receive_email(config_id, secret, request.body.data)
        return inbound_receipt_to_pb(receipt)
