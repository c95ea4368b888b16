"""Proto <-> domain for replies, drafts, proactive messages and settings (mapping.py calls
it for the outbound fields of Message and for message.delivery_requested)."""

from __future__ import annotations

from typing import Any

from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.messaging.v1 import replies_pb2, resources_pb2
from crosstalk_common.api.channels import channel_to_pb
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.errors import InvalidArgument
from messaging.domain.events import DeliveryRequested
from messaging.domain.model import DeliveryState, Message, Sender, TranslationCheck
from messaging.domain.replies import MessagingSettings, TranslationMode, TranslationSetting

SETTINGS_NAME = "messagingSettings"

_DELIVERY_STATES = {
    DeliveryState.DRAFT: resources_pb2.DELIVERY_STATE_DRAFT,
    DeliveryState.QUEUED: resources_pb2.DELIVERY_STATE_QUEUED,
    DeliveryState.SENT: resources_pb2.DELIVERY_STATE_SENT,
    DeliveryState.DELIVERED: resources_pb2.DELIVERY_STATE_DELIVERED,
    DeliveryState.FAILED: resources_pb2.DELIVERY_STATE_FAILED,
}
_MODES = {
    TranslationMode.AUTO: replies_pb2.TRANSLATION_MODE_AUTO,
    TranslationMode.OFF: replies_pb2.TRANSLATION_MODE_OFF,
}


def _message_name(message: Message) -> str:
    return f"conversations/{message.conversation_id}/messages/{message.id}"


def _identity_pb(sender: Sender) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_to_pb(sender.channel), external_id=sender.external_id, store=sender.store
    )


def translation_check_pb(check: TranslationCheck | None) -> resources_pb2.TranslationCheck | None:
    if check is None:
        return None
    return resources_pb2.TranslationCheck(
        back_translated_text=check.back_translated_text,
        similarity=check.similarity,
        threshold=check.threshold,
        engine=check.engine,
    )


def outbound_message_fields(message: Message) -> dict[str, Any]:
    """Message's outbound fields (template, delivery, translation check)."""
    return {
        "template": message.template,
        "template_version": message.template_version,
        "delivery_state": _DELIVERY_STATES[message.delivery_state]
        if message.delivery_state
        else resources_pb2.DELIVERY_STATE_UNSPECIFIED,
        "delivery_error": message.delivery_error,
        "translation_check": translation_check_pb(message.translation_check),
    }


def delivery_requested_pb(
    event: DeliveryRequested,
) -> messaging_events_pb2.MessageDeliveryRequested:
    """What the channel adapter needs: the customer's text (translated when it was)."""
    message = event.message
    translated = message.understanding.translated_text
    return messaging_events_pb2.MessageDeliveryRequested(
        message=_message_name(message),
        conversation=f"conversations/{message.conversation_id}",
        customer=message.customer,
        channel_config=event.channel_config,
        recipient=_identity_pb(message.sender),
        text=translated or message.text,
        language=message.understanding.translated_language if translated else message.language,
        subject=event.subject,
        in_reply_to=event.in_reply_to,
    )


# --- settings ---------------------------------------------------------------------------


def settings_to_pb(settings: MessagingSettings) -> replies_pb2.MessagingSettings:
    return replies_pb2.MessagingSettings(
        name=SETTINGS_NAME,
        reply_similarity_threshold=settings.reply_similarity_threshold,
        max_inbound_text_bytes=settings.max_inbound_text_bytes,
        send_csat_on_close=settings.send_csat_on_close,
        auto_translate=settings.auto_translate,
        update_time=to_timestamp(settings.updated_at) if settings.updated_at else None,
        etag=settings.etag,
    )


def settings_from_pb(tenant_id: str, wanted: replies_pb2.MessagingSettings) -> MessagingSettings:
    if wanted.name and wanted.name != SETTINGS_NAME:
        raise InvalidArgument.field("messaging_settings.name", f"must be {SETTINGS_NAME!r}")
    return MessagingSettings(
        tenant_id=tenant_id,
        reply_similarity_threshold=wanted.reply_similarity_threshold,
        max_inbound_text_bytes=wanted.max_inbound_text_bytes,
        send_csat_on_close=wanted.send_csat_on_close,
        auto_translate=wanted.auto_translate,
    )


def translation_setting_to_pb(setting: TranslationSetting) -> replies_pb2.TranslationSetting:
    return replies_pb2.TranslationSetting(
        name=f"translationSettings/{setting.id}",
        subject=setting.subject,
        mode=_MODES[setting.mode] if setting.mode else replies_pb2.TRANSLATION_MODE_UNSPECIFIED,
        target_language=setting.target_language,
        create_time=to_timestamp(setting.created_at),
        update_time=to_timestamp(setting.updated_at),
    )


def translation_mode_from_pb(mode: int) -> TranslationMode | None:
    for domain, proto in _MODES.items():
        if proto == mode:
            return domain
    if mode == replies_pb2.TRANSLATION_MODE_UNSPECIFIED:
        return None
    raise InvalidArgument.field("mode", f"unknown mode {mode}")
