"""Channel configs (CRUD, secrets sealed at rest) and inbound deliveries (signed
webhooks, raw e-mail), which end in the ingest use case."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import quote

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.domain.channel import Channel
from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    Unauthenticated,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.channel_ports import (
    ChannelsUnitOfWork,
    InboundIdentity,
    SecretBox,
    StoredChannelConfig,
    StoredReceipt,
)
from messaging.app.use_cases import MessagingService
from messaging.domain.channels import (
    ChannelConfig,
    ChannelSecrets,
    SignatureRejected,
    parse_webhook_body,
    secret_matches,
    verify_signature,
)
from messaging.domain.inbound_email import InboundEmail, parse_email
from messaging.domain.ingest_rules import channel_config_problem
from messaging.domain.model import Attachment, Inbound, Message, Sender

log = logging.getLogger(__name__)

CHANNEL_CONFIG = "crosstalk.io/ChannelConfig"


def channel_config_name(config_id: str) -> str:
    return f"channelConfigs/{config_id}"


def secrets_context(tenant_id: str, config_id: str) -> str:
    """What a config's sealed secrets are bound to: copied into another row, they do not open."""
    return f"messaging/channel_configs/{tenant_id}/{config_id}"


@dataclass(frozen=True)
class SecretChanges:
    """Secrets an update writes: ``values`` replace those fields; with ``replace_all``
    every other field is cleared too (mask path "secrets")."""

    values: dict[str, object]
    replace_all: bool = False


@dataclass(frozen=True)
class ChannelConfigService:
    new_uow: UnitOfWorkFactory[ChannelsUnitOfWork]
    box: SecretBox
    # Where secrets may point (webhook URL, SMTP host): public addresses, plus exceptions.
    egress: EgressPolicy = PUBLIC_ONLY

    def _seal(self, config: ChannelConfig, secrets: ChannelSecrets) -> str:
        if not secrets.names_set():
            return ""
        return self.box.seal(
            secrets.to_json(), context=secrets_context(config.tenant_id, config.id)
        )

    def open_secrets(self, stored: StoredChannelConfig) -> ChannelSecrets:
        if not stored.sealed_secrets:
            return ChannelSecrets()
        config = stored.config
        return ChannelSecrets.from_json(
            self.box.open(
                stored.sealed_secrets, context=secrets_context(config.tenant_id, config.id)
            )
        )

    async def create(self, draft: ChannelConfig, secrets: ChannelSecrets) -> ChannelConfig:
        problems = list(secrets.problems("channel_config.secrets", self.egress))
        try:
            valid = draft.validated()
        except InvalidArgument as bad:  # every bad field at once
            problems = [*bad.violations, *problems]
        if problems:
            raise InvalidArgument(problems)
        now = utc_now()
        config = replace(
            valid,
            id=str(uuid.uuid4()),
            secrets_set=secrets.names_set(),
            created_at=now,
            updated_at=now,
            version=1,
        )
        async with self.new_uow() as uow:
            await uow.channel_configs.add(StoredChannelConfig(config, self._seal(config, secrets)))
            await uow.commit()
        return config

    async def get(self, tenant_id: str, config_id: str) -> ChannelConfig:
        async with self.new_uow() as uow:
            found = await uow.channel_configs.get(tenant_id, config_id)
        if found is None:
            raise NotFound(CHANNEL_CONFIG, channel_config_name(config_id))
        return found.config

    async def check_inbound_reference(self, tenant_id: str, inbound: Inbound) -> None:
        """An ingested message's ``channel_config``, when it names one, is the tenant's
        own and of the sender's channel: the conversation is bound to it and every
        reply is sent through it, so a name that is not (a typo, a deleted config,
        another tenant's) would leave each reply failed."""
        name = inbound.channel_config
        if not name or channel_config_problem(name):
            return  # none, or malformed: the message's own validation names it
        async with self.new_uow() as uow:
            found = await uow.channel_configs.get(tenant_id, name.removeprefix("channelConfigs/"))
        if found is None:
            raise InvalidArgument([FieldViolation("channel_config", "no such channel config")])
        if found.config.channel is not inbound.sender.channel:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "channel_config",
                        f"is a channel config of {found.config.channel.name}, the sender's "
                        f"channel is {inbound.sender.channel.name}",
                    )
                ]
            )

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[ChannelConfig]:
        async with self.new_uow() as uow:
            return await uow.channel_configs.page(tenant_id, after=after, limit=limit)

    async def update(
        self,
        tenant_id: str,
        config_id: str,
        changes: dict[str, object],
        secret_changes: SecretChanges,
        etag: str,
    ) -> ChannelConfig:
        name = channel_config_name(config_id)
        async with self.new_uow() as uow:
            current = await uow.channel_configs.get(tenant_id, config_id)
            if current is None:
                raise NotFound(CHANNEL_CONFIG, name)
            check_etag(etag, current.config.etag, name)
            sealed = current.sealed_secrets
            secrets_set = current.config.secrets_set
            if secret_changes.values or secret_changes.replace_all:
                secrets = self.open_secrets(current).with_changes(
                    secret_changes.values, replace_all=secret_changes.replace_all
                )
                if problems := secrets.problems("channel_config.secrets", self.egress):
                    raise InvalidArgument(problems)
                sealed = self._seal(current.config, secrets)
                secrets_set = secrets.names_set()
            updated = replace(
                current.config,
                **changes,  # type: ignore[arg-type]
                secrets_set=secrets_set,
                updated_at=utc_now(),
                version=current.config.version + 1,
            ).validated()
            saved = await uow.channel_configs.save(
                StoredChannelConfig(updated, sealed), expected_version=current.config.version
            )
            if not saved:
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, config_id: str, etag: str) -> None:
        name = channel_config_name(config_id)
        async with self.new_uow() as uow:
            current = await uow.channel_configs.get(tenant_id, config_id)
            if current is None:
                raise NotFound(CHANNEL_CONFIG, name)
            check_etag(etag, current.config.etag, name)
            await uow.channel_configs.delete(
                tenant_id, config_id, expected_version=current.config.version
            )
            await uow.commit()


@dataclass(frozen=True)
class InboundReceipt:
    message_id: str
    conversation_id: str
    duplicate: bool = False


@dataclass(frozen=True)
class WebhookHeaders:
    timestamp: str
    signature: str
    idempotency_key: str


MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class InboundChannels:
    """Public inbound routes: the channel's secret authenticates the delivery; the message
    is then ingested as the channel's API key (``InboundIdentity``)."""

    new_uow: UnitOfWorkFactory[ChannelsUnitOfWork]
    configs: ChannelConfigService
    messaging: MessagingService
    identity: InboundIdentity

    async def _account(self, config_id: str, wanted: str) -> tuple[ChannelConfig, ChannelSecrets]:
        """The enabled config and its secrets; any problem is the same UNAUTHENTICATED
        (a stranger learns nothing about which configs exist)."""
        async with self.new_uow() as uow:
            stored = await uow.channel_configs.get_for_inbound(config_id)
        refused = Unauthenticated(f"this {wanted} delivery is not signed by a known channel")
        if stored is None or not stored.config.enabled:
            raise refused
        is_email = stored.config.channel is Channel.EMAIL
        if is_email != (wanted == "e-mail"):
            raise refused
        return stored.config, self.configs.open_secrets(stored)

    def _ingest_key(self, config: ChannelConfig, secrets: ChannelSecrets) -> str:
        if not secrets.ingest_api_key:
            name = channel_config_name(config.id)
            raise FailedPrecondition(
                [
                    PreconditionViolation(
                        "CHANNEL_SECRETS", name, "secrets.ingest_api_key is not set"
                    )
                ],
                f"{name} has no secrets.ingest_api_key to ingest with",
            )
        return secrets.ingest_api_key

    async def receive_webhook(
        self, config_id: str, headers: WebhookHeaders, body: bytes, now: datetime | None = None
    ) -> InboundReceipt:
        now = now or utc_now()
        config, secrets = await self._account(config_id, "webhook")
        try:
            verify_signature(
                secrets.signing_secret, headers.timestamp, headers.signature, body, now
            )
        except SignatureRejected as exc:
            log.info("webhook for %s refused: %s", channel_config_name(config_id), exc)
            raise Unauthenticated(f"webhook refused: {exc}") from None
        key = headers.idempotency_key.strip()
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidArgument.field(
                "idempotency-key", f"at most {MAX_IDEMPOTENCY_KEY} characters"
            )
        delivery = parse_webhook_body(body)
        api_key = self._ingest_key(config, secrets)
        signature = headers.signature.strip().lower()
        # One row per signed delivery, also holding its idempotency key: a signature
        # seen before is a replay (refused, whatever the key); a key seen before is the
        # sender's retry (signed anew) and answers the message it became.
        async with self.new_uow() as uow:
            claimed = await uow.inbound_deliveries.claim(
                config_id, config.tenant_id, signature, key, now
            )
            await uow.commit()
        if not claimed:
            async with self.new_uow() as uow:
                replayed = await uow.inbound_deliveries.seen(config_id, signature)
                prior = (
                    await uow.inbound_deliveries.by_idempotency_key(config_id, key)
                    if key and not replayed
                    else None
                )
            if replayed:
                raise AlreadyExists(
                    "crosstalk.io/WebhookDelivery",
                    signature,
                    "this delivery was received before (a replay); sign a retry anew, with "
                    "the same idempotency-key",
                    reason="WEBHOOK_REPLAYED",
                )
            if prior is not None:
                return InboundReceipt(prior.message_id, prior.conversation_id, duplicate=True)
            raise Aborted(
                "a delivery with this idempotency-key is being stored; retry shortly",
                reason="WEBHOOK_IN_FLIGHT",
            )
        inbound = Inbound(
            sender=Sender(config.channel, delivery.sender_external_id, config.store),
            text=delivery.text,
            external_id=delivery.message_id.strip(),
            sender_display_name=delivery.sender_display_name,
            channel_config=channel_config_name(config.id),
        )
        try:
            async with self.identity.acting_as(config.tenant_id, api_key):
                message, duplicate = await self._ingest(config.tenant_id, inbound)
        except BaseException:
            async with self.new_uow() as uow:
                await uow.inbound_deliveries.release(config_id, signature)
                await uow.commit()
            raise
        receipt = StoredReceipt(message.id, message.conversation_id)
        async with self.new_uow() as uow:
            await uow.inbound_deliveries.settle(config_id, signature, receipt)
            await uow.commit()
        return InboundReceipt(message.id, message.conversation_id, duplicate)

    async def _ingest(self, tenant_id: str, inbound: Inbound) -> tuple[Message, bool]:
        """The stored message, and whether it was stored before (same channel message id)."""
        spelled = inbound.normalized()
        if spelled.external_id:
            async with self.new_uow() as uow:
                known = await uow.messages.find_by_external_id(
                    tenant_id, spelled.sender, spelled.external_id
                )
            if known is not None:
                return known, True
        return await self.messaging.ingest(tenant_id, inbound), False

    async def receive_email(self, config_id: str, secret: str, raw: bytes) -> InboundReceipt:
        config, secrets = await self._account(config_id, "e-mail")
        if not secret_matches(secrets.inbound_secret, secret):
            log.info("e-mail for %s refused: bad inbound secret", channel_config_name(config_id))
            raise Unauthenticated("this e-mail delivery is not signed by a known channel")
        mail = parse_email(raw)
        api_key = self._ingest_key(config, secrets)
        inbound = inbound_from_email(config, mail, raw)
        async with self.identity.acting_as(config.tenant_id, api_key):
            message, duplicate = await self._ingest(config.tenant_id, inbound)
        if not duplicate:
            async with self.new_uow() as uow:
                await uow.deliveries.record_email(
                    config.tenant_id,
                    message.id,
                    message.conversation_id,
                    mail,
                    rfc_message_id=mail.message_id,
                    subject=mail.subject,
                    at=utc_now(),
                )
                await uow.commit()
        return InboundReceipt(message.id, message.conversation_id, duplicate)


def inbound_from_email(config: ChannelConfig, mail: InboundEmail, raw: bytes) -> Inbound:
    """The mail as the ingest use case takes it. Its channel id is the Message-ID; a mail
    without one is known by its bytes' SHA-256, so a gateway's retry is stored once."""
    return Inbound(
        sender=Sender(Channel.EMAIL, mail.from_address, config.store),
        text=mail.text,
        external_id=mail.message_id or f"sha256:{hashlib.sha256(raw).hexdigest()}",
        sender_display_name=mail.from_name,
        channel_config=channel_config_name(config.id),
        subject=mail.subject,
        attachments=tuple(
            # Kept by reference to the part of the original mail (RFC 2392 "mid:"
            # URL): messaging stores no file content.
            Attachment(a.name, a.content_type, a.size_bytes, email_part_uri(mail, index))
            for index, a in enumerate(mail.attachments, start=1)
        ),
    )


def email_part_uri(mail: InboundEmail, position: int) -> str:
    """``mid:<message-id>/<n>``: the n-th attachment of the mail as its gateway received it."""
    message_id = mail.message_id.strip("<>") or "unknown"
    return f"mid:{quote(message_id, safe='@.-_~!$&*+=')}/{position}"


@dataclass(frozen=True)
class WebhookDeliveryPruner:
    """Forgets signed webhook deliveries older than ``retention`` (hourly): their
    signatures are long outside the 5-minute window, so a replay of one is refused by
    its timestamp; only their idempotency keys stop answering."""

    new_uow: UnitOfWorkFactory[ChannelsUnitOfWork]
    retention: timedelta
    every_seconds: float = 3600.0

    async def prune_once(self) -> int:
        async with self.new_uow() as uow:
            pruned = await uow.inbound_deliveries.prune(utc_now() - self.retention)
            await uow.commit()
        return pruned

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                pruned = await self.prune_once()
                if pruned:
                    log.info("forgot %d webhook deliveries", pruned)
            except Exception:
                log.exception("pruning webhook deliveries failed; trying again later")
            await sleep_unless_stopped(stop, self.every_seconds)
