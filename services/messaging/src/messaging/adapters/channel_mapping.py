"""Channel configs and inbound receipts: proto <-> domain (the channel area's part of
mapping.py, kept apart while several areas grow at once)."""

from __future__ import annotations

from crosstalk.common.v1 import channel_pb2 as common_channel_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.messaging.v1 import channels_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk_common.api.channels import channel_from_pb, channel_to_pb
from crosstalk_common.api.field_mask import populated_fields, resolve_update_paths
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.adapters.reply_mapping import translation_check_pb
from messaging.app.channels import InboundReceipt, SecretChanges, channel_config_name
from messaging.domain.channels import (
    EDITABLE_FIELDS,
    SECRET_FIELDS,
    ChannelConfig,
    ChannelSecrets,
    SmtpSecurity,
)
from messaging.domain.events import MessageDeliveryFailed, MessageSent

_SECURITY_FROM_PB = {
    channels_pb2.SMTP_SECURITY_UNSPECIFIED: SmtpSecurity.STARTTLS,
    channels_pb2.SMTP_SECURITY_NONE: SmtpSecurity.NONE,
    channels_pb2.SMTP_SECURITY_STARTTLS: SmtpSecurity.STARTTLS,
    channels_pb2.SMTP_SECURITY_TLS: SmtpSecurity.TLS,
}


def channel_config_to_pb(config: ChannelConfig) -> channels_pb2.ChannelConfig:
    """Never carries a secret: ``secrets_set`` names the ones set."""
    message = channels_pb2.ChannelConfig(
        name=channel_config_name(config.id),
        display_name=config.display_name,
        channel=channel_to_pb(config.channel),
        store=config.store,
        address=config.address,
        credentials_ref=config.credentials_ref,
        enabled=config.enabled,
        default_language=config.default_language,
        last_error=config.last_error,
        etag=config.etag,
        secrets_set=sorted(config.secrets_set),
    )
    if config.last_sync_at is not None:
        message.last_sync_time.CopyFrom(to_timestamp(config.last_sync_at))
    if config.created_at is not None:
        message.create_time.CopyFrom(to_timestamp(config.created_at))
    if config.updated_at is not None:
        message.update_time.CopyFrom(to_timestamp(config.updated_at))
    return message


def _secret_value(secrets: channels_pb2.ChannelSecrets, name: str) -> object:
    if name == "smtp_security":
        return _SECURITY_FROM_PB.get(secrets.smtp_security, SmtpSecurity.STARTTLS)
    value = getattr(secrets, name)
    return value.strip() if name in ("outbound_url", "smtp_host", "from_address") else value


def secrets_from_pb(secrets: channels_pb2.ChannelSecrets) -> ChannelSecrets:
    if secrets.smtp_security not in _SECURITY_FROM_PB:
        raise InvalidArgument.field(
            "channel_config.secrets.smtp_security", "is not a known SmtpSecurity"
        )
    return ChannelSecrets(
        **{name: _secret_value(secrets, name) for name in SECRET_FIELDS}  # type: ignore[arg-type]
    )


def new_channel_config_from_pb(
    tenant_id: str, config: channels_pb2.ChannelConfig
) -> tuple[ChannelConfig, ChannelSecrets]:
    channel = channel_from_pb(config.channel, field="channel_config.channel")
    draft = ChannelConfig(
        id="",
        tenant_id=tenant_id,
        channel=channel,
        display_name=config.display_name,
        store=config.store,
        address=config.address,
        credentials_ref=config.credentials_ref,
        # A new account is enabled unless the request says otherwise with a mask-less
        # false: proto3 cannot tell "false" from "unset", so Create always enables.
        enabled=True,
        default_language=config.default_language,
    )
    return draft, secrets_from_pb(config.secrets)


def channel_config_changes_from_pb(
    request: pb.UpdateChannelConfigRequest,
) -> tuple[dict[str, object], SecretChanges]:
    """The plain fields an update writes, and the secrets it writes.

    Mask paths: the editable fields, "secrets" (every secret replaced: unset ones are
    cleared) or "secrets.<field>". Without a mask: the populated fields and the
    populated secrets (an empty secret is kept, not cleared).
    """
    body = request.channel_config
    mask = [p.strip() for p in request.update_mask.paths]
    secret_paths = [p for p in mask if p == "secrets" or p.startswith("secrets.")]
    plain_mask = [p for p in mask if p not in secret_paths]
    bad = [
        p
        for p in secret_paths
        if p != "secrets" and p.removeprefix("secrets.") not in SECRET_FIELDS
    ]
    if bad:
        raise InvalidArgument(
            [FieldViolation("update_mask", f"{p!r} is not a field of ChannelSecrets") for p in bad]
        )
    paths = (
        resolve_update_paths(
            plain_mask, populated=populated_fields(body), updatable=EDITABLE_FIELDS
        )
        if plain_mask or not mask
        else []
    )
    changes: dict[str, object] = {path: getattr(body, path) for path in paths}
    opened = secrets_from_pb(body.secrets)
    if "secrets" in secret_paths:
        values = {name: getattr(opened, name) for name in SECRET_FIELDS}
        return changes, SecretChanges(values, replace_all=True)
    if secret_paths:
        names = [p.removeprefix("secrets.") for p in secret_paths]
    elif not mask:
        names = [d.name for d, _ in body.secrets.ListFields()] if body.HasField("secrets") else []
    else:
        names = []
    return changes, SecretChanges({name: getattr(opened, name) for name in names})


def inbound_receipt_to_pb(receipt: InboundReceipt) -> pb.InboundReceipt:
    conversation = f"conversations/{receipt.conversation_id}"
    return pb.InboundReceipt(
        message=f"{conversation}/messages/{receipt.message_id}",
        conversation=conversation,
        duplicate=receipt.duplicate,
    )


# --- events -------------------------------------------------------------------------------


def message_sent_pb(event: MessageSent) -> messaging_events_pb2.MessageSent:
    conversation = f"conversations/{event.conversation_id}"
    return messaging_events_pb2.MessageSent(
        message=f"{conversation}/messages/{event.message_id}",
        conversation=conversation,
        customer=event.customer,
        recipient=common_channel_pb2.ChannelIdentity(
            channel=channel_to_pb(event.recipient.channel),
            external_id=event.recipient.external_id,
            store=event.recipient.store,
        ),
        text=event.text,
        language=event.language,
        translated_text=event.translated_text,
        translated_language=event.translated_language,
        sent_by=event.sent_by,
        template=event.template,
        cause_event_id=event.cause_event_id,
        translation_check=translation_check_pb(event.translation_check),
    )


def delivery_failed_pb(event: MessageDeliveryFailed) -> messaging_events_pb2.MessageDeliveryFailed:
    conversation = f"conversations/{event.conversation_id}"
    return messaging_events_pb2.MessageDeliveryFailed(
        message=f"{conversation}/messages/{event.message_id}",
        conversation=conversation,
        customer=event.customer,
        reason=event.reason,
        attempts=event.attempts,
    )
