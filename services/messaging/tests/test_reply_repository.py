"""Outbound messages, messaging settings and translation settings in SQL, and the outbox
rows replies write (SQLite or PostgreSQL, by CROSSTALK_TEST_DB)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.domain.channel import Channel
from messaging.adapters.channel_mapping import message_sent_pb
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.domain.events import DeliveryRequested, MessageSent
from messaging.domain.model import (
    DeliveryState,
    Direction,
    Message,
    Sender,
    TranslationCheck,
    Understanding,
)
from messaging.domain.replies import MessagingSettings, TranslationMode, TranslationSetting

from .conftest import Sessions, outbox_events

NewUow = Callable[[], MessagingUnitOfWork]
AT = datetime(2026, 12, 7, 9, 0, 0, 123000, tzinfo=UTC)
MARIA = Sender(Channel.EMAIL, "maria@example.es")


async def _conversation(new_uow: NewUow, tenant: str, sender: Sender = MARIA) -> str:
    async with new_uow() as uow:
        conversation, _ = await uow.conversations.join_or_open(
            tenant, "customers/maria", sender, "", "Pedido 4711", AT, None
        )
        await uow.commit()
    return conversation.id


def _reply(tenant: str, conversation_id: str, **kw: object) -> Message:
    fields: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "conversation_id": conversation_id,
        "customer": "customers/maria",
        "sender": MARIA,
        "direction": Direction.OUTBOUND,
        "text": "Your order ships today.",
        "language": "en",
        "external_id": "",
        "created_at": AT,
        "understanding": Understanding(
            language="en",
            translated_text="Su pedido se envía hoy.",
            translated_language="es",
        ),
        "sent_by": "members/ana",
        "template": "replyTemplates/t1",
        "template_version": 4,
        "delivery_state": DeliveryState.QUEUED,
        "translation_check": TranslationCheck("Your order is sent today.", 0.81, 0.6, "apertium"),
        "request_id": str(uuid.uuid4()),
        "cause_event_id": "evt-1",
    }
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


async def test_an_outbound_message_reads_back_as_written(new_uow: NewUow, tenant: str) -> None:
    conversation_id = await _conversation(new_uow, tenant)
    written = _reply(tenant, conversation_id)
    async with new_uow() as uow:
        assert await uow.replies.add_outbound(written)
        await uow.commit()

    async with new_uow() as uow:
        by_request = await uow.replies.find_by_request_id(tenant, written.request_id)
        by_id = await uow.replies.get_outbound(tenant, conversation_id, written.id)
        elsewhere = await uow.replies.find_by_request_id("other-tenant", written.request_id)

    assert by_request == written
    assert by_id == written
    assert elsewhere is None


async def test_a_request_id_is_stored_once_per_tenant(new_uow: NewUow, tenant: str) -> None:
    conversation_id = await _conversation(new_uow, tenant)
    first = _reply(tenant, conversation_id)
    async with new_uow() as uow:
        assert await uow.replies.add_outbound(first)
        assert not await uow.replies.add_outbound(
            _reply(tenant, conversation_id, request_id=first.request_id)
        )
        assert await uow.replies.add_outbound(_reply(tenant, conversation_id, request_id=""))
        assert await uow.replies.add_outbound(_reply(tenant, conversation_id, request_id=""))
        await uow.commit()


async def test_two_transactions_racing_with_one_request_id_store_one_message(
    new_uow: NewUow, tenant: str
) -> None:
    conversation_id = await _conversation(new_uow, tenant)
    request_id = str(uuid.uuid4())

    async def attempt() -> bool:
        async with new_uow() as uow:
            stored = await uow.replies.add_outbound(
                _reply(tenant, conversation_id, request_id=request_id)
            )
            await uow.commit()
            return stored

    outcomes = await asyncio.gather(attempt(), attempt())

    assert sorted(outcomes) == [False, True]


async def test_only_a_draft_is_queued_or_deleted(new_uow: NewUow, tenant: str) -> None:
    conversation_id = await _conversation(new_uow, tenant)
    draft = _reply(tenant, conversation_id, delivery_state=DeliveryState.DRAFT)
    sent = _reply(tenant, conversation_id)
    async with new_uow() as uow:
        await uow.replies.add_outbound(draft)
        await uow.replies.add_outbound(sent)
        await uow.commit()

    confirmed = replace(
        draft,
        text="It ships today.",
        understanding=replace(draft.understanding, translated_text="Sale hoy."),
        translation_check=None,
        delivery_state=DeliveryState.QUEUED,
        sent_by="members/bo",
        created_at=AT + timedelta(minutes=1),
    )
    async with new_uow() as uow:
        assert await uow.replies.queue_draft(confirmed)
        assert not await uow.replies.queue_draft(confirmed)  # not a draft any more
        assert not await uow.replies.delete_draft(tenant, conversation_id, sent.id)
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.replies.get_outbound(tenant, conversation_id, draft.id) == confirmed

    other = _reply(tenant, conversation_id, delivery_state=DeliveryState.DRAFT, request_id="")
    async with new_uow() as uow:
        await uow.replies.add_outbound(other)
        await uow.commit()
    async with new_uow() as uow:
        assert not await uow.replies.delete_draft("other-tenant", conversation_id, other.id)
        assert await uow.replies.delete_draft(tenant, conversation_id, other.id)
        await uow.commit()
    async with new_uow() as uow:
        assert await uow.replies.get_outbound(tenant, conversation_id, other.id) is None


async def test_the_latest_conversation_of_a_customer_and_its_last_inbound_id(
    new_uow: NewUow, tenant: str
) -> None:
    first = await _conversation(new_uow, tenant)
    async with new_uow() as uow:
        assert await uow.replies.latest_conversation_id(tenant, "customers/maria", None) == first
        assert (
            await uow.replies.latest_conversation_id(tenant, "customers/maria", Channel.WHATSAPP)
            is None
        )
        assert await uow.replies.latest_conversation_id("other", "customers/maria", None) is None
        assert await uow.replies.last_inbound_external_id(tenant, first) == ""


async def test_settings_are_the_defaults_until_saved(new_uow: NewUow, tenant: str) -> None:
    async with new_uow() as uow:
        assert await uow.settings.get(tenant) == MessagingSettings(tenant)

    changed = MessagingSettings(tenant, 0.8, 4096, True, False, AT)
    async with new_uow() as uow:
        await uow.settings.save(changed)
        await uow.commit()
    again = replace(changed, reply_similarity_threshold=1.0, updated_at=AT + timedelta(seconds=1))
    async with new_uow() as uow:
        assert await uow.settings.get(tenant, for_update=True) == changed
        await uow.settings.save(again)
        await uow.commit()

    async with new_uow() as uow:
        assert await uow.settings.get(tenant) == again
        assert await uow.settings.get("other-tenant") == MessagingSettings("other-tenant")


def _setting(tenant: str, subject: str, mode: TranslationMode | None, language: str, at: datetime):
    return TranslationSetting(str(uuid.uuid4()), tenant, subject, mode, language, at, at)


async def test_translation_settings_one_per_subject(new_uow: NewUow, tenant: str) -> None:
    async with new_uow() as uow:
        assert not await uow.translation_settings.has_tag_settings(tenant)
        first = await uow.translation_settings.put(
            _setting(tenant, "customers/maria", TranslationMode.OFF, "", AT)
        )
        tag = await uow.translation_settings.put(
            _setting(tenant, "tags/vip", None, "fr", AT + timedelta(seconds=1))
        )
        await uow.commit()
    later = AT + timedelta(minutes=5)
    async with new_uow() as uow:
        replaced = await uow.translation_settings.put(
            _setting(tenant, "customers/maria", TranslationMode.AUTO, "de", later)
        )
        await uow.commit()

    assert (replaced.id, replaced.created_at) == (first.id, first.created_at)
    assert (replaced.mode, replaced.target_language, replaced.updated_at) == (
        TranslationMode.AUTO,
        "de",
        later,
    )
    async with new_uow() as uow:
        assert await uow.translation_settings.has_tag_settings(tenant)
        found = await uow.translation_settings.of_subjects(
            tenant, ["tags/vip", "customers/maria", "tags/none"]
        )
        assert found == [replaced, tag]
        assert await uow.translation_settings.of_subjects("other-tenant", ["tags/vip"]) == []
        page = await uow.translation_settings.page(tenant, "", [], 1)
        assert page == [replaced]
        rest = await uow.translation_settings.page(
            tenant, "", [page[0].created_at.isoformat(), page[0].id], 10
        )
        assert rest == [tag]
        assert await uow.translation_settings.page(tenant, "tags/vip", [], 10) == [tag]
        assert not await uow.translation_settings.delete("other-tenant", tag.id)
        assert await uow.translation_settings.delete(tenant, tag.id)
        await uow.commit()
    async with new_uow() as uow:
        assert not await uow.translation_settings.has_tag_settings(tenant)


async def test_a_delivery_request_carries_what_the_customer_receives(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    conversation_id = await _conversation(new_uow, tenant)
    message = _reply(tenant, conversation_id)
    async with new_uow() as uow:
        await uow.replies.add_outbound(message)
        await uow.record(
            DeliveryRequested(message, "channelConfigs/mail", "Pedido 4711", "<in-1@example.es>")
        )
        await uow.commit()

    events = [
        e for t, e in await outbox_events(sessions, tenant) if t == "message.delivery_requested"
    ]
    assert events == [
        messaging_events_pb2.MessageDeliveryRequested(
            message=f"conversations/{conversation_id}/messages/{message.id}",
            conversation=f"conversations/{conversation_id}",
            customer="customers/maria",
            channel_config="channelConfigs/mail",
            recipient=events[0].recipient,
            text="Su pedido se envía hoy.",
            language="es",
            subject="Pedido 4711",
            in_reply_to="<in-1@example.es>",
        )
    ]
    assert events[0].recipient.external_id == "maria@example.es"


async def test_message_sent_carries_the_stored_translation_check(
    new_uow: NewUow, tenant: str
) -> None:
    conversation_id = await _conversation(new_uow, tenant)
    message = _reply(tenant, conversation_id)
    async with new_uow() as uow:
        await uow.replies.add_outbound(message)
        await uow.commit()

    async with new_uow() as uow:
        stored = await uow.deliveries.sent_message(tenant, message.id)

    assert stored is not None
    assert stored.translation_check == message.translation_check
    assert (stored.sent_by, stored.template, stored.cause_event_id) == (
        "members/ana",
        "replyTemplates/t1",
        "evt-1",
    )
    event = message_sent_pb(
        MessageSent(
            tenant,
            message.id,
            conversation_id,
            message.customer,
            MARIA,
            stored.text,
            stored.language,
            stored.translated_text,
            stored.translated_language,
            stored.sent_by,
            stored.template,
            stored.cause_event_id,
            stored.translation_check,
        )
    )
    assert event.translation_check.similarity == 0.81
    assert event.translation_check.back_translated_text == "Your order is sent today."
    assert event.translated_text == "Su pedido se envía hoy."
