"""Outbound delivery: message.delivery_requested queues a delivery; the worker hands it
to the channel's adapter, retries with backoff, and settles the message's delivery
state (QUEUED -> SENT, or FAILED with a reason), announcing message.sent or
message.delivery_failed.

Each delivery is one row keyed by the message: a redelivered event queues nothing
new, and a delivery is settled once (the row's state moves from queued only once),
so its event is emitted once. The send itself happens outside any transaction
(never holding a database lock while a mail server answers); a worker that dies
between the send and the settle leaves the lease to expire and the message is sent
again with the same idempotency key / Message-ID, which receivers drop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from crosstalk_common.clock import utc_now
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.channel_ports import ChannelsUnitOfWork, StoredChannelConfig
from messaging.app.channels import ChannelConfigService
from messaging.app.conversations import ConversationService
from messaging.app.ports import ChannelAdapter
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.delivery import (
    ChannelAccount,
    DeliveryJob,
    OutboundMessage,
    RetryPolicy,
    SendFailed,
    SendResult,
)
from messaging.domain.events import MessageDeliveryFailed, MessageSent

log = logging.getLogger(__name__)


async def queue_delivery(new_uow: UnitOfWorkFactory[ChannelsUnitOfWork], job: DeliveryJob) -> bool:
    """Queue a delivery (message.delivery_requested); False when it was queued before."""
    async with new_uow() as uow:
        queued = await uow.deliveries.queue(job, utc_now())
        await uow.commit()
    return queued


def reply_subject(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        return ""
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


@dataclass
class DeliveryWorker:
    new_uow: UnitOfWorkFactory[ChannelsUnitOfWork]
    configs: ChannelConfigService
    # The adapter of each channel with its own (e-mail); every other channel is sent
    # through ``fallback``, the API/webhook adapter, until a marketplace adapter exists.
    adapters: Mapping[Channel, ChannelAdapter]
    fallback: ChannelAdapter
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    lease: timedelta = timedelta(minutes=2)
    batch: int = 20
    poll_seconds: float = 1.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def nudge(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_due()
            except Exception:
                log.exception("delivery worker: a round failed; trying again")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(
                waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()

    async def run_due(self) -> int:
        """Send the deliveries that are due; how many were handled."""
        now = utc_now()
        async with self.new_uow() as uow:
            jobs = await uow.deliveries.claim_due(now, now + self.lease, self.batch)
            await uow.commit()
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def _account(self, job: DeliveryJob) -> ChannelAccount:
        outbound = job.outbound
        async with self.new_uow() as uow:
            stored: StoredChannelConfig | None
            if job.channel_config_id:
                stored = await uow.channel_configs.get(outbound.tenant_id, job.channel_config_id)
            else:
                stored = await uow.channel_configs.for_channel(
                    outbound.tenant_id, outbound.recipient.channel, outbound.recipient.store
                )
        if stored is None or not stored.config.enabled:
            which = (
                f"channelConfigs/{job.channel_config_id}"
                if job.channel_config_id
                else f"a {outbound.recipient.channel.value} channel config"
            )
            raise SendFailed(f"no enabled {which} to send through", permanent=True)
        try:
            secrets = self.configs.open_secrets(stored)
        except ValueError as exc:  # SecretError: the KEK that sealed it is gone
            raise SendFailed(
                f"the channel's secrets cannot be opened: {exc}", permanent=True
            ) from None
        return ChannelAccount(stored.config, secrets)

    async def _threaded(self, outbound: OutboundMessage) -> OutboundMessage:
        """An e-mail answers the conversation's last mail (In-Reply-To, References, Re:)."""
        if outbound.recipient.channel is not Channel.EMAIL:
            return outbound
        async with self.new_uow() as uow:
            thread = await uow.deliveries.thread(outbound.tenant_id, outbound.conversation_id)
        references = outbound.references or thread.references
        in_reply_to = outbound.in_reply_to or thread.in_reply_to
        if in_reply_to and in_reply_to not in references:
            references = (*references, in_reply_to)
        return replace(
            outbound,
            in_reply_to=in_reply_to,
            references=references,
            # An answer to a mail is "Re: <subject>"; a first mail keeps its own subject.
            subject=reply_subject(outbound.subject or thread.subject)
            if in_reply_to
            else outbound.subject,
        )

    async def _deliver(self, job: DeliveryJob) -> None:
        attempts = job.attempts + 1
        outbound = job.outbound
        config_id = job.channel_config_id
        try:
            account = await self._account(job)
            config_id = account.config.id
            outbound = await self._threaded(outbound)
            adapter = self.adapters.get(account.config.channel, self.fallback)
            result = await adapter.send(account, outbound)
        except SendFailed as failed:
            await self._failed(job, outbound, config_id, attempts, failed)
        except Exception as exc:  # an adapter's own bug or an unexpected network error
            log.warning("delivery of %s: %r", outbound.message_id, exc, exc_info=True)
            await self._failed(job, outbound, config_id, attempts, SendFailed(repr(exc)))
        else:
            await self._sent(job, outbound, config_id, attempts, result)

    async def _sent(
        self,
        job: DeliveryJob,
        outbound: OutboundMessage,
        config_id: str,
        attempts: int,
        result: SendResult,
    ) -> None:
        now = utc_now()
        async with self.new_uow() as uow:
            settled = await uow.deliveries.finish(
                outbound.tenant_id,
                outbound.message_id,
                attempts=attempts,
                sent=True,
                reason="",
                external_id=result.external_id,
                at=now,
            )
            if not settled:
                return  # another worker settled it (its lease had run out): nothing twice
            stored = await uow.deliveries.sent_message(outbound.tenant_id, outbound.message_id)
            if outbound.recipient.channel is Channel.EMAIL and result.external_id:
                await uow.deliveries.record_email(
                    outbound.tenant_id,
                    outbound.message_id,
                    outbound.conversation_id,
                    None,
                    rfc_message_id=result.external_id,
                    subject=outbound.subject,
                    at=now,
                )
            if config_id:
                await uow.channel_configs.record_outcome(
                    outbound.tenant_id, config_id, error="", at=now
                )
            await uow.record(
                MessageSent(
                    tenant_id=outbound.tenant_id,
                    message_id=outbound.message_id,
                    conversation_id=outbound.conversation_id,
                    customer=outbound.customer,
                    recipient=outbound.recipient,
                    text=stored.text if stored else outbound.text,
                    language=stored.language if stored else outbound.language,
                    translated_text=stored.translated_text if stored else "",
                    translated_language=stored.translated_language if stored else "",
                    sent_by=stored.sent_by if stored else "",
                    template=stored.template if stored else "",
                    cause_event_id=(stored.cause_event_id if stored else "") or job.cause_event_id,
                    translation_check=stored.translation_check if stored else None,
                )
            )
            await uow.commit()

    async def _failed(
        self,
        job: DeliveryJob,
        outbound: OutboundMessage,
        config_id: str,
        attempts: int,
        failed: SendFailed,
    ) -> None:
        now = utc_now()
        retry_at = self.policy.next_attempt(attempts, failed, now)
        log.info(
            "delivery of %s failed (attempt %d, %s): %s",
            outbound.message_id,
            attempts,
            "retrying" if retry_at else "giving up",
            failed.reason,
        )
        async with self.new_uow() as uow:
            if config_id:
                await uow.channel_configs.record_outcome(
                    outbound.tenant_id, config_id, error=failed.reason, at=now
                )
            if retry_at is not None:
                await uow.deliveries.retry_later(
                    outbound.tenant_id, outbound.message_id, attempts, retry_at, failed.reason
                )
            else:
                settled = await uow.deliveries.finish(
                    outbound.tenant_id,
                    outbound.message_id,
                    attempts=attempts,
                    sent=False,
                    reason=failed.reason,
                    external_id="",
                    at=now,
                )
                if settled:
                    await uow.record(
                        MessageDeliveryFailed(
                            tenant_id=outbound.tenant_id,
                            message_id=outbound.message_id,
                            conversation_id=outbound.conversation_id,
                            customer=outbound.customer,
                            reason=failed.reason,
                            attempts=attempts,
                        )
                    )
            await uow.commit()


DELIVERY_ACTOR = "system"


async def flag_failed_delivery(
    conversations: ConversationService, tenant_id: str, conversation_id: str, cause_event_id: str
) -> None:
    """message.delivery_failed: the conversation needs attention (EXCEPTION, announced as
    any status change), so an agent sees the customer did not get the answer."""
    try:
        await conversations.set_status(
            tenant_id,
            Visibility.everything(),
            conversation_id,
            ConversationStatus.EXCEPTION,
            DELIVERY_ACTOR,
            cause_event_id,
        )
    except NotFound:
        log.info("delivery failed in conversation %s, which is gone", conversation_id)
