"""MessagingService RPCs: agent replies, drafts, proactive messages and settings."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.common.v1 import channel_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import replies_pb2, resources_pb2
from crosstalk_common.api.channels import channel_from_pb
from crosstalk_common.api.field_mask import populated_fields, resolve_update_paths
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id, resource_ids_of
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from messaging.adapters.mapping import message_to_pb, sender_from_pb
from messaging.adapters.reply_mapping import (
    SETTINGS_NAME,
    settings_from_pb,
    settings_to_pb,
    translation_mode_from_pb,
    translation_setting_to_pb,
)
from messaging.app.replies import Replies
from messaging.app.settings import Settings
from messaging.domain.ingest_rules import normalized_external_id, normalized_store
from messaging.domain.model import Sender
from messaging.domain.replies import MessagingSettings, Outbound

Context = Any
_MESSAGE = "conversations/{conversation}/messages/{message}"


def _under(prefix: str, error: InvalidArgument) -> InvalidArgument:
    """The same violations named as fields of the request's ``prefix`` message."""
    return InvalidArgument(
        [FieldViolation(f"{prefix}.{v.field}", v.description) for v in error.violations]
    )


def _identity(identity: channel_pb2.ChannelIdentity) -> Sender:
    sender = sender_from_pb(identity, field="identity")
    if not sender.external_id:
        raise InvalidArgument.field("identity.external_id", "must not be empty")
    return Sender(
        sender.channel,
        normalized_external_id(sender.channel, sender.external_id),
        normalized_store(sender.store),
    )


class ReplyRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _replies: Replies
    _settings: Settings
    _page_tokens: PageTokenCodec

    async def SendReply(
        self, request: pb.SendReplyRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        conversation_id = resource_id(request.conversation, "conversations", field="conversation")
        outbound = Outbound(
            text=request.text,
            sent_by=caller.subject,
            language=request.language.strip(),
            skip_translation=request.skip_translation,
            template=request.template.strip(),
            template_version=request.template_version,
            request_id=request.request_id.strip(),
        )
        sent = await self._replies.send_reply(
            caller.tenant_id, caller.visibility, conversation_id, outbound
        )
        return message_to_pb(sent)

    async def ConfirmDraft(
        self, request: replies_pb2.ConfirmDraftRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        conversation_id, message_id = resource_ids_of(request.name, _MESSAGE)
        sent = await self._replies.confirm_draft(
            caller.tenant_id,
            caller.visibility,
            conversation_id,
            message_id,
            caller.subject,
            text=request.text,
            translated_text=request.translated_text,
        )
        return message_to_pb(sent)

    async def DiscardDraft(
        self, request: replies_pb2.DiscardDraftRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        conversation_id, message_id = resource_ids_of(request.name, _MESSAGE)
        await self._replies.discard_draft(
            caller.tenant_id, caller.visibility, conversation_id, message_id
        )
        return Empty()

    async def SendProactiveMessage(
        self, request: replies_pb2.SendProactiveMessageRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        customer_id = resource_id(request.customer, "customers", field="customer")
        identity = _identity(request.identity) if request.HasField("identity") else None
        channel = (
            channel_from_pb(request.channel, field="channel")
            if request.channel != channel_pb2.CHANNEL_UNSPECIFIED
            else None
        )
        outbound = Outbound(
            text=request.text,
            sent_by=caller.subject,
            language=request.language.strip(),
            skip_translation=request.skip_translation,
            template=request.template.strip(),
            request_id=request.request_id.strip(),
        )
        sent = await self._replies.send_proactive(
            caller.tenant_id,
            caller.visibility,
            f"customers/{customer_id}",
            outbound,
            identity=identity,
            channel=channel,
            subject=request.subject.strip(),
        )
        return message_to_pb(sent)

    # --- settings -----------------------------------------------------------------------

    async def GetMessagingSettings(
        self, request: replies_pb2.GetMessagingSettingsRequest, context: Context
    ) -> replies_pb2.MessagingSettings:
        caller = require_caller(context)
        if request.name and request.name != SETTINGS_NAME:
            raise InvalidArgument.field("name", f"must be {SETTINGS_NAME!r} (or empty)")
        return settings_to_pb(await self._settings.get(caller.tenant_id))

    async def UpdateMessagingSettings(
        self, request: replies_pb2.UpdateMessagingSettingsRequest, context: Context
    ) -> replies_pb2.MessagingSettings:
        caller = require_caller(context)
        wanted = settings_from_pb(caller.tenant_id, request.messaging_settings)
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(request.messaging_settings),
            updatable=MessagingSettings.UPDATABLE,
        )
        try:
            updated = await self._settings.update(
                caller.tenant_id, wanted, paths, request.messaging_settings.etag
            )
        except InvalidArgument as bad:
            raise _under("messaging_settings", bad) from None
        return settings_to_pb(updated)

    async def SetTranslationSetting(
        self, request: replies_pb2.SetTranslationSettingRequest, context: Context
    ) -> replies_pb2.TranslationSetting:
        caller = require_caller(context)
        wanted = request.translation_setting
        try:
            stored = await self._settings.set_translation(
                caller.tenant_id,
                wanted.subject,
                translation_mode_from_pb(wanted.mode),
                wanted.target_language,
            )
        except InvalidArgument as bad:
            raise _under("translation_setting", bad) from None
        return translation_setting_to_pb(stored)

    async def ListTranslationSettings(
        self, request: replies_pb2.ListTranslationSettingsRequest, context: Context
    ) -> replies_pb2.ListTranslationSettingsResponse:
        caller = require_caller(context)
        subject = request.subject.strip()
        window = self._page_tokens.window(
            request, caller.tenant_id, caller.subject, "translationSettings", subject
        )
        found = await self._settings.list_translation(
            caller.tenant_id, subject, window.after, window.limit
        )
        page, token = window.cut(found, lambda s: [s.created_at.isoformat(), s.id])
        return replies_pb2.ListTranslationSettingsResponse(
            translation_settings=[translation_setting_to_pb(s) for s in page],
            next_page_token=token,
        )

    async def DeleteTranslationSetting(
        self, request: replies_pb2.DeleteTranslationSettingRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        setting_id = resource_id(request.name, "translationSettings")
        await self._settings.delete_translation(caller.tenant_id, setting_id)
        return Empty()
