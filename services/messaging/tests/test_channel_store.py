"""Channels on a migrated database (SQLite or PostgreSQL): configs with sealed secrets,
signed webhooks and raw e-mail ingested, and the delivery worker sending through a
real SMTP server (aiosmtpd) and a real HTTP endpoint."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from crosstalk.events.v1 import envelope_pb2
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import utc_now
from crosstalk_common.domain.channel import Channel
from crosstalk_common.egress import EgressPolicy
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from crosstalk_common.secrets import Kek, Keyring
from messaging.adapters.channel_adapters.smtp import SmtpChannel
from messaging.adapters.channel_adapters.webhook import WebhookChannel
from messaging.adapters.channel_settings import KeyringSecretBox
from messaging.adapters.delivery_consumer import delivery_job_from_event, on_delivery_failed
from messaging.adapters.tables import (
    channel_configs,
    conversations,
    email_headers,
    message_attachments,
    messages,
    outbound_deliveries,
)
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.channels import (
    ChannelConfigService,
    InboundChannels,
    SecretChanges,
    WebhookDeliveryPruner,
    WebhookHeaders,
)
from messaging.app.delivery import DeliveryWorker, queue_delivery
from messaging.app.understanding import TextUnderstanding
from messaging.app.use_cases import MessagingService
from messaging.domain.channels import ChannelConfig, ChannelSecrets, SmtpSecurity, signature
from messaging.domain.delivery import DeliveryJob, OutboundMessage, RetryPolicy
from messaging.domain.model import Sender, Understanding

from .conftest import Sessions, outbox_events
from .fakes import FakeCustomers, FakeTranslation, FakeWorkingLanguages

NewUow = Callable[[], MessagingUnitOfWork]
SIGNING = "whsec-test-0123456789"
INBOUND = "mailgw-test-0123456789"
API_KEY = "ctk_test_api_key"
# The tests' SMTP server and webhook receivers listen on loopback.
LOOPBACK = EgressPolicy.parse("127.0.0.0/8")


class FakeIdentity:
    """Acts as the key when it is the one the test expects (identity's part is e2e)."""

    def __init__(self) -> None:
        self.acted: list[tuple[str, str]] = []

    @asynccontextmanager
    async def acting_as(self, tenant_id: str, api_key: str) -> AsyncIterator[None]:
        if api_key != API_KEY:
            raise Unauthenticated("refused")
        self.acted.append((tenant_id, api_key))
        yield


@pytest.fixture
def box() -> KeyringSecretBox:
    return KeyringSecretBox(Keyring(Kek.generate("test-kek")))


@pytest.fixture
def configs(new_uow: NewUow, box: KeyringSecretBox) -> ChannelConfigService:
    return ChannelConfigService(new_uow, box, LOOPBACK)


@pytest.fixture
def inbound(new_uow: NewUow, configs: ChannelConfigService) -> InboundChannels:
    understanding = TextUnderstanding(
        FakeTranslation(Understanding(language="es")), FakeWorkingLanguages()
    )
    service = MessagingService(new_uow, FakeCustomers(), understanding)
    return InboundChannels(new_uow, configs, service, FakeIdentity())


async def _count(sessions: Sessions, table: Any, tenant: str) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(table).where(table.c.tenant_id == tenant)
            )
            or 0
        )


# --- configs ------------------------------------------------------------------------------


async def test_secrets_are_sealed_at_rest_and_never_read_back(
    configs: ChannelConfigService, sessions: Sessions, tenant: str
) -> None:
    created = await configs.create(
        ChannelConfig("", tenant, Channel.EMAIL, display_name="Support"),
        ChannelSecrets(
            smtp_host="smtp.shop.test", smtp_password="pw-very-secret-1", from_address="s@shop.test"
        ),
    )
    assert created.secrets_set == {"smtp_host", "smtp_password", "from_address"}
    async with sessions() as session:
        sealed = await session.scalar(
            select(channel_configs.c.sealed_secrets).where(channel_configs.c.id == created.id)
        )
    assert sealed.startswith("ctk1.test-kek.")
    assert "pw-very-secret-1" not in sealed
    assert "smtp.shop.test" not in sealed
    got = await configs.get(tenant, created.id)
    assert got == created
    assert not hasattr(got, "secrets")


async def test_an_update_changes_only_the_secrets_it_names(
    configs: ChannelConfigService, new_uow: NewUow, tenant: str
) -> None:
    created = await configs.create(
        ChannelConfig("", tenant, Channel.WEB_CHAT, display_name="Widget"),
        ChannelSecrets(signing_secret=SIGNING, outbound_url="https://a.test/hook"),
    )
    updated = await configs.update(
        tenant,
        created.id,
        {"display_name": "Widget 2"},
        SecretChanges({"outbound_url": "https://b.test/hook"}),
        created.etag,
    )
    assert (updated.display_name, updated.version) == ("Widget 2", 2)
    async with new_uow() as uow:
        stored = await uow.channel_configs.get(tenant, created.id)
    assert stored is not None
    assert configs.open_secrets(stored) == ChannelSecrets(
        signing_secret=SIGNING, outbound_url="https://b.test/hook"
    )
    replaced = await configs.update(
        tenant,
        created.id,
        {},
        SecretChanges({"outbound_url": "https://c.test/hook"}, replace_all=True),
        "",
    )
    assert replaced.secrets_set == {"outbound_url"}
    with pytest.raises(Aborted):
        await configs.update(
            tenant, created.id, {"enabled": False}, SecretChanges({}), created.etag
        )
    with pytest.raises(InvalidArgument) as bad:
        await configs.update(tenant, created.id, {}, SecretChanges({"signing_secret": "short"}), "")
    assert [v.field for v in bad.value.violations] == ["channel_config.secrets.signing_secret"]


async def test_configs_belong_to_their_tenant_and_page_in_creation_order(
    configs: ChannelConfigService, tenant: str
) -> None:
    made = [
        await configs.create(
            ChannelConfig("", tenant, Channel.EMAIL, display_name=f"Box {i}"), ChannelSecrets()
        )
        for i in range(3)
    ]
    other = f"{tenant}-other"
    with pytest.raises(NotFound):
        await configs.get(other, made[0].id)
    with pytest.raises(NotFound):
        await configs.delete(other, made[0].id, "")
    first = await configs.page(tenant, after=[], limit=2)
    assert [c.id for c in first] == [made[0].id, made[1].id]
    assert made[1].created_at is not None
    rest = await configs.page(tenant, after=[made[1].created_at.isoformat(), made[1].id], limit=2)
    assert [c.id for c in rest] == [made[2].id]
    await configs.delete(tenant, made[0].id, made[0].etag)
    with pytest.raises(NotFound):
        await configs.get(tenant, made[0].id)


# --- inbound webhook ----------------------------------------------------------------------


async def _webhook_config(configs: ChannelConfigService, tenant: str, **secrets: Any) -> str:
    config = await configs.create(
        ChannelConfig("", tenant, Channel.WEB_CHAT, display_name="Shop widget", store="eu"),
        ChannelSecrets(**({"signing_secret": SIGNING, "ingest_api_key": API_KEY} | secrets)),
    )
    return config.id


def _signed(body: bytes, *, key: str = "", secret: str = SIGNING, ts: int = 0) -> WebhookHeaders:
    stamp = str(ts or int(utc_now().timestamp()))
    return WebhookHeaders(stamp, signature(secret, stamp, body), key)


BODY = json.dumps(
    {"sender": {"external_id": "visitor-7", "display_name": "Ana"}, "text": "¿Tienen talla M?"}
).encode()


async def test_a_signed_webhook_is_stored_and_a_bad_one_stores_nothing(
    configs: ChannelConfigService, inbound: InboundChannels, sessions: Sessions, tenant: str
) -> None:
    config_id = await _webhook_config(configs, tenant)
    for headers in (
        _signed(BODY, secret="whsec-wrong-0123456789"),
        _signed(BODY, ts=int(utc_now().timestamp()) - 301),
        WebhookHeaders("", "", ""),
    ):
        with pytest.raises(Unauthenticated):
            await inbound.receive_webhook(config_id, headers, BODY)
    with pytest.raises(Unauthenticated):  # a config that does not exist: the same answer
        await inbound.receive_webhook(str(uuid.uuid4()), _signed(BODY), BODY)
    assert await _count(sessions, messages, tenant) == 0

    receipt = await inbound.receive_webhook(config_id, _signed(BODY), BODY)
    assert not receipt.duplicate
    async with sessions() as session:
        row = (
            await session.execute(select(messages).where(messages.c.id == receipt.message_id))
        ).one()
    assert (row.text, row.channel, row.store, row.sender_external_id) == (
        "¿Tienen talla M?",
        "web_chat",
        "eu",
        "visitor-7",
    )


async def test_a_replayed_webhook_is_refused_and_an_idempotency_key_makes_retries_safe(
    configs: ChannelConfigService, inbound: InboundChannels, sessions: Sessions, tenant: str
) -> None:
    config_id = await _webhook_config(configs, tenant)
    headers = _signed(BODY, key="order-4711-msg-1")
    first = await inbound.receive_webhook(config_id, headers, BODY)
    with pytest.raises(AlreadyExists):  # the same signed delivery again: a replay
        await inbound.receive_webhook(config_id, headers, BODY)
    with pytest.raises(AlreadyExists):  # ... with or without its key
        await inbound.receive_webhook(
            config_id, WebhookHeaders(headers.timestamp, headers.signature, ""), BODY
        )
    # The sender's retry: signed anew, same key -> the stored message, nothing new.
    retry = await inbound.receive_webhook(
        config_id, _signed(BODY, key="order-4711-msg-1", ts=int(utc_now().timestamp()) + 1), BODY
    )
    assert (retry.message_id, retry.duplicate) == (first.message_id, True)
    assert await _count(sessions, messages, tenant) == 1


async def test_a_failed_ingest_releases_the_signature_so_the_same_delivery_can_retry(
    configs: ChannelConfigService, inbound: InboundChannels, sessions: Sessions, tenant: str
) -> None:
    config_id = await _webhook_config(configs, tenant, ingest_api_key="a-revoked-key")
    headers = _signed(BODY)
    with pytest.raises(Unauthenticated):
        await inbound.receive_webhook(config_id, headers, BODY)
    await configs.update(tenant, config_id, {}, SecretChanges({"ingest_api_key": API_KEY}), "")
    receipt = await inbound.receive_webhook(config_id, headers, BODY)
    assert not receipt.duplicate
    assert await _count(sessions, messages, tenant) == 1


# --- inbound e-mail -----------------------------------------------------------------------


def _spanish_mail(message_id: str = "<es-1@mail.example.es>") -> bytes:
    mail = EmailMessage()
    mail["From"] = "Ana García <ana@example.es>"
    mail["To"] = "support@shop.test"
    mail["Subject"] = "Pedido 4711-ÄB"
    mail["Message-ID"] = message_id
    mail.set_content("¿Dónde está mi pedido 4711-ÄB?\n\nOn Mon, Shop wrote:\n> Gracias")
    mail.add_attachment(
        b"\x89PNG" + bytes(60), maintype="image", subtype="png", filename="caja.png"
    )
    return bytes(mail)


async def _email_config(configs: ChannelConfigService, tenant: str, **secrets: Any) -> str:
    config = await configs.create(
        ChannelConfig(
            "", tenant, Channel.EMAIL, display_name="Soporte", address="support@shop.test"
        ),
        ChannelSecrets(**({"inbound_secret": INBOUND, "ingest_api_key": API_KEY} | secrets)),
    )
    return config.id


async def test_an_email_is_stored_once_with_its_attachment_and_thread_headers(
    configs: ChannelConfigService, inbound: InboundChannels, sessions: Sessions, tenant: str
) -> None:
    config_id = await _email_config(configs, tenant)
    with pytest.raises(Unauthenticated):
        await inbound.receive_email(config_id, "wrong-secret-0123456", _spanish_mail())
    with pytest.raises(InvalidArgument):
        await inbound.receive_email(config_id, INBOUND, b"From: nobody\r\n\r\n")
    assert await _count(sessions, messages, tenant) == 0

    receipt = await inbound.receive_email(config_id, INBOUND, _spanish_mail())
    again = await inbound.receive_email(config_id, INBOUND, _spanish_mail())
    assert (again.message_id, again.duplicate) == (receipt.message_id, True)
    async with sessions() as session:
        row = (
            await session.execute(select(messages).where(messages.c.id == receipt.message_id))
        ).one()
        attachments = (
            await session.execute(
                select(message_attachments).where(
                    message_attachments.c.message_id == receipt.message_id
                )
            )
        ).all()
        headers = (
            await session.execute(
                select(email_headers).where(email_headers.c.message_id == receipt.message_id)
            )
        ).one()
    assert (row.text, row.sender_external_id, row.external_id) == (
        "¿Dónde está mi pedido 4711-ÄB?",
        "ana@example.es",
        "<es-1@mail.example.es>",
    )
    assert [(a.name, a.content_type, a.size_bytes) for a in attachments] == [
        ("caja.png", "image/png", 64)
    ]
    assert attachments[0].uri == "mid:es-1@mail.example.es/1"
    assert (headers.rfc_message_id, headers.subject) == ("<es-1@mail.example.es>", "Pedido 4711-ÄB")
    async with sessions() as session:
        subject = await session.scalar(
            select(conversations.c.subject).where(conversations.c.id == receipt.conversation_id)
        )
    assert subject == "Pedido 4711-ÄB"
    assert await _count(sessions, messages, tenant) == 1


async def test_a_mail_without_message_id_is_stored_once_by_its_bytes(
    configs: ChannelConfigService, inbound: InboundChannels, sessions: Sessions, tenant: str
) -> None:
    config_id = await _email_config(configs, tenant)
    raw = b"From: bob@example.com\r\nSubject: hi\r\n\r\nWhere is my parcel?\r\n"
    first = await inbound.receive_email(config_id, INBOUND, raw)
    again = await inbound.receive_email(config_id, INBOUND, raw)
    assert (again.message_id, again.duplicate) == (first.message_id, True)
    other = await inbound.receive_email(config_id, INBOUND, raw.replace(b"parcel", b"order"))
    assert not other.duplicate
    assert await _count(sessions, messages, tenant) == 2


async def test_a_webhook_channel_does_not_take_mail_nor_a_mail_channel_webhooks(
    configs: ChannelConfigService, inbound: InboundChannels, tenant: str
) -> None:
    mail_id = await _email_config(configs, tenant, signing_secret=SIGNING)
    with pytest.raises(Unauthenticated):
        await inbound.receive_webhook(mail_id, _signed(BODY), BODY)
    hook_id = await _webhook_config(configs, tenant, inbound_secret=INBOUND)
    with pytest.raises(Unauthenticated):
        await inbound.receive_email(hook_id, INBOUND, _spanish_mail())


# --- outbound delivery --------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler keeping what it receives; refuses recipients it is told to."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: str = ""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port (the controller connects to its own port)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


async def _outbound(
    sessions: Sessions, tenant: str, conversation_id: str, text: str, recipient: Sender
) -> OutboundMessage:
    message_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": message_id,
        "tenant_id": tenant,
        "conversation_id": conversation_id,
        "customer": "customers/c-1",
        "channel": recipient.channel.value,
        "store": recipient.store,
        "sender_external_id": recipient.external_id,
        "direction": "outbound",
        "text": "Your order 4711-ÄB ships today.",
        "language": "en",
        "translated_text": text,
        "translated_language": "es",
        "external_id": "",
        "created_at": utc_now(),
        "sent_by": "members/m-1",
    }
    if "delivery_state" in messages.c:
        values["delivery_state"] = "queued"
    async with sessions() as session, session.begin():
        await session.execute(messages.insert().values(**values))
    return OutboundMessage(
        tenant_id=tenant,
        message_id=message_id,
        conversation_id=conversation_id,
        customer="customers/c-1",
        recipient=recipient,
        text=text,
        language="es",
    )


def _worker(
    new_uow: NewUow, configs: ChannelConfigService, policy: RetryPolicy | None = None
) -> DeliveryWorker:
    return DeliveryWorker(
        new_uow,
        configs,
        {Channel.EMAIL: SmtpChannel(5.0, LOOPBACK)},
        WebhookChannel(5.0, egress=LOOPBACK),
        policy or RetryPolicy(max_attempts=3, first_delay=timedelta(0)),
    )


async def test_a_reply_is_mailed_once_threaded_and_announced(
    configs: ChannelConfigService,
    inbound: InboundChannels,
    new_uow: NewUow,
    sessions: Sessions,
    tenant: str,
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    config_id = await _email_config(
        configs,
        tenant,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=SmtpSecurity.NONE,
        from_address="support@shop.test",
    )
    received = await inbound.receive_email(config_id, INBOUND, _spanish_mail())
    out = await _outbound(
        sessions,
        tenant,
        received.conversation_id,
        "Su pedido 4711-ÄB sale hoy.",
        Sender(Channel.EMAIL, "ana@example.es"),
    )
    # The replies area passes the conversation's subject on: it still becomes "Re: ...".
    out = replace(out, subject="Pedido 4711-ÄB")
    job = DeliveryJob(out, "", 0, cause_event_id="ev-1")
    assert await queue_delivery(new_uow, job)
    assert not await queue_delivery(new_uow, job)  # a redelivered request queues nothing
    worker = _worker(new_uow, configs)
    assert await worker.run_due() == 1
    assert await worker.run_due() == 0

    assert len(mailbox.received) == 1
    mail_from, rcpt, raw = mailbox.received[0]
    assert (mail_from, rcpt) == ("support@shop.test", ["ana@example.es"])
    assert b"4711-" in raw  # the order number's ASCII stays byte for byte on the wire
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail.get_content().strip() == "Su pedido 4711-ÄB sale hoy."
    assert mail["In-Reply-To"] == "<es-1@mail.example.es>"
    assert mail["Content-Language"] == "es"
    assert mail["Subject"] == "Re: Pedido 4711-ÄB"
    assert mail["Message-ID"] == f"<{out.message_id}@shop.test>"

    async with sessions() as session:
        row = (await session.execute(select(messages).where(messages.c.id == out.message_id))).one()
        delivery = (
            await session.execute(
                select(outbound_deliveries).where(
                    outbound_deliveries.c.message_id == out.message_id
                )
            )
        ).one()
    assert (delivery.state, delivery.attempts) == ("sent", 1)
    assert row.external_id == f"<{out.message_id}@shop.test>"
    if "delivery_state" in messages.c:
        assert row.delivery_state == "sent"
    sent = [e for t, e in await outbox_events(sessions, tenant) if t == "message.sent"]
    assert len(sent) == 1
    assert (sent[0].text, sent[0].translated_text, sent[0].sent_by) == (
        "Your order 4711-ÄB ships today.",
        "Su pedido 4711-ÄB sale hoy.",
        "members/m-1",
    )
    assert sent[0].message == f"conversations/{received.conversation_id}/messages/{out.message_id}"


async def test_a_refused_recipient_fails_at_once_and_an_unreachable_server_after_the_retries(
    configs: ChannelConfigService,
    inbound: InboundChannels,
    new_uow: NewUow,
    sessions: Sessions,
    tenant: str,
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server
    mailbox.refuse = "550 5.1.1 no such user"
    config_id = await _email_config(
        configs,
        tenant,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=SmtpSecurity.NONE,
        from_address="support@shop.test",
    )
    to = Sender(Channel.EMAIL, "nobody@example.es")
    conversation = (
        await inbound.receive_email(config_id, INBOUND, _spanish_mail())
    ).conversation_id
    refused = await _outbound(sessions, tenant, conversation, "Hola", to)
    await queue_delivery(new_uow, DeliveryJob(refused, config_id, 0))
    worker = _worker(new_uow, configs)
    assert await worker.run_due() == 1
    # Nothing is listening on the port any more: a transient failure each time.
    await configs.update(tenant, config_id, {}, SecretChanges({"smtp_port": 1}), "")
    unreachable = await _outbound(sessions, tenant, conversation, "Hola", to)
    await queue_delivery(new_uow, DeliveryJob(unreachable, config_id, 0))
    rounds = 0
    while await worker.run_due():
        rounds += 1
        assert rounds <= 3
    assert rounds == 3
    async with sessions() as session:
        rows = {
            r.message_id: r
            for r in (
                await session.execute(
                    select(outbound_deliveries).where(outbound_deliveries.c.tenant_id == tenant)
                )
            ).all()
        }
    assert (rows[refused.message_id].state, rows[refused.message_id].attempts) == ("failed", 1)
    assert "550" in rows[refused.message_id].last_error
    assert (rows[unreachable.message_id].state, rows[unreachable.message_id].attempts) == (
        "failed",
        3,
    )
    failed = {
        e.message.rsplit("/", 1)[1]: e
        for t, e in await outbox_events(sessions, tenant)
        if t == "message.delivery_failed"
    }
    assert set(failed) == {refused.message_id, unreachable.message_id}
    assert failed[unreachable.message_id].attempts == 3
    config = await configs.get(tenant, config_id)
    assert config.last_error

    # message.delivery_failed puts the conversation in EXCEPTION (consumer
    # messaging-delivery-failures), once however often the event comes.
    event = Event(
        envelope_pb2.EventEnvelope(
            event_id="ev-failed-1", type="message.delivery_failed", tenant_id=tenant
        ),
        failed[refused.message_id],
    )
    for _ in range(2):
        await on_delivery_failed(new_uow, event)
    async with sessions() as session:
        status = await session.scalar(
            select(conversations.c.status).where(conversations.c.id == conversation)
        )
    assert status == "exception"
    changes = [
        e for t, e in await outbox_events(sessions, tenant) if t == "conversation.status_changed"
    ]
    assert len(changes) == 1


async def test_a_webhook_channel_posts_signed_json_and_retries_server_errors(
    configs: ChannelConfigService,
    inbound: InboundChannels,
    new_uow: NewUow,
    sessions: Sessions,
    tenant: str,
) -> None:
    seen: list[tuple[dict[str, str], bytes]] = []
    answers = [
        b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\n"
        b'\r\n{"message_id":"x-9"}',
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
    ]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        headers = {k.lower(): v for k, v in headers.items()}
        body = await reader.readexactly(int(headers["content-length"]))
        seen.append((headers, body))
        writer.write(answers[min(len(seen) - 1, 2)])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config_id = await _webhook_config(
            configs, tenant, outbound_url=f"http://127.0.0.1:{port}/crosstalk"
        )
        conversation = (
            await inbound.receive_webhook(config_id, _signed(BODY), BODY)
        ).conversation_id
        out = await _outbound(
            sessions,
            tenant,
            conversation,
            "Sí, talla M",
            Sender(Channel.WEB_CHAT, "visitor-7", "eu"),
        )
        event_job = DeliveryJob(out, "", 0)
        await queue_delivery(new_uow, event_job)
        worker = _worker(new_uow, configs)
        assert await worker.run_due() == 1  # 503: again later
        assert await worker.run_due() == 1  # 200
        refused = await _outbound(
            sessions, tenant, conversation, "Hola", Sender(Channel.WEB_CHAT, "visitor-7", "eu")
        )
        await queue_delivery(new_uow, DeliveryJob(refused, "", 0))
        assert await worker.run_due() == 1  # 400: failed for good, not retried
        assert await worker.run_due() == 0
    finally:
        server.close()
        await server.wait_closed()
    assert len(seen) == 3
    headers, body = seen[1]
    assert headers["x-crosstalk-signature"] == signature(
        SIGNING, headers["x-crosstalk-timestamp"], body
    )
    assert headers["idempotency-key"] == out.message_id == seen[0][0]["idempotency-key"]
    payload = json.loads(body)
    assert (payload["text"], payload["recipient"]["external_id"]) == ("Sí, talla M", "visitor-7")
    async with sessions() as session:
        row = (
            await session.execute(
                select(outbound_deliveries).where(
                    outbound_deliveries.c.message_id == out.message_id
                )
            )
        ).one()
    assert (row.state, row.attempts, row.external_id) == ("sent", 2, "x-9")
    async with sessions() as session:
        failed = (
            await session.execute(
                select(outbound_deliveries).where(
                    outbound_deliveries.c.message_id == refused.message_id
                )
            )
        ).one()
    assert (failed.state, failed.attempts) == ("failed", 1)
    assert "400" in failed.last_error


async def test_a_delivery_request_event_becomes_a_job() -> None:
    from crosstalk.common.v1 import channel_pb2
    from crosstalk.events.v1 import envelope_pb2, messaging_events_pb2
    from crosstalk_common.bus.envelope import Event

    payload = messaging_events_pb2.MessageDeliveryRequested(
        message="conversations/c-1/messages/m-1",
        conversation="conversations/c-1",
        customer="customers/u-1",
        channel_config="channelConfigs/cfg-1",
        recipient=channel_pb2.ChannelIdentity(
            channel=channel_pb2.CHANNEL_EMAIL, external_id="a@b.es"
        ),
        text="Hola",
        language="es",
        subject="Re: Pedido",
        in_reply_to="<x@y>",
    )
    event = Event(
        envelope_pb2.EventEnvelope(
            event_id="ev-9", type="message.delivery_requested", tenant_id="t-1"
        ),
        payload,
    )
    job = delivery_job_from_event(event)
    assert job is not None
    assert (job.outbound.message_id, job.outbound.conversation_id, job.channel_config_id) == (
        "m-1",
        "c-1",
        "cfg-1",
    )
    assert (job.outbound.subject, job.outbound.in_reply_to, job.cause_event_id) == (
        "Re: Pedido",
        "<x@y>",
        "ev-9",
    )
    payload.message = "messages/m-1"
    assert delivery_job_from_event(event) is None


async def test_old_webhook_deliveries_are_forgotten(
    configs: ChannelConfigService, inbound: InboundChannels, new_uow: NewUow, tenant: str
) -> None:
    config_id = await _webhook_config(configs, tenant)
    await inbound.receive_webhook(config_id, _signed(BODY, key="k-old"), BODY)
    keep = WebhookDeliveryPruner(new_uow, timedelta(hours=1))
    await keep.prune_once()
    async with new_uow() as uow:
        assert await uow.inbound_deliveries.by_idempotency_key(config_id, "k-old") is not None
    await WebhookDeliveryPruner(new_uow, timedelta(seconds=-1)).prune_once()
    async with new_uow() as uow:
        assert await uow.inbound_deliveries.by_idempotency_key(config_id, "k-old") is None
