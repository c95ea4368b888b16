"""Member notifications: stored for the member's in-app list, and e-mailed.

``Notifications.notify`` stores one notification per recipient in the caller's unit of
work (a rule action's, an escalation's), marking the e-mail copy PENDING when the member
has an address and SMTP is configured. Nothing is sent inside that transaction: the
``NotificationEmails`` worker claims pending e-mails (a lease, so replicas do not send one
twice), sends them, and records SENT, or FAILED after its last attempt (backoff between).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.notification_ports import Mailer, MailFailed, NotificationsUnitOfWork
from messaging.domain.notifications import (
    MAX_RECIPIENTS,
    MAX_TEXT,
    MAX_TITLE,
    EmailState,
    MemberContact,
    Notification,
    clip,
)

log = logging.getLogger(__name__)

NOTIFICATION = "crosstalk.io/Notification"


def notification_name(notification_id: str) -> str:
    return f"notifications/{notification_id}"


@dataclass(frozen=True)
class NotifyRequest:
    recipients: Sequence[str]  # member ids
    title: str
    text: str
    source: str  # "rules/{rule}" or "system"
    conversation_id: str = ""
    customer: str = ""


@dataclass(frozen=True)
class Notifications:
    new_uow: UnitOfWorkFactory[NotificationsUnitOfWork]
    # SMTP configured: members with an address get an e-mail copy.
    email_enabled: bool = False
    clock: Callable[[], datetime] = utc_now

    async def notify(self, tenant_id: str, request: NotifyRequest) -> list[Notification]:
        """One notification per distinct recipient; disabled or unknown-to-identity members
        still get the in-app entry (they may be enabled again), but no e-mail."""
        recipients = list(dict.fromkeys(r for r in request.recipients if r))
        if not recipients:
            raise InvalidArgument.field("members", "names no one to notify")
        if len(recipients) > MAX_RECIPIENTS:
            raise InvalidArgument.field("members", f"at most {MAX_RECIPIENTS} members")
        title = clip(request.title, MAX_TITLE) or "Notification"
        text = clip(request.text, MAX_TEXT)
        now = self.clock()
        made = []
        async with self.new_uow() as uow:
            for member in recipients:
                contact = await uow.member_contacts.get(tenant_id, member)
                email = (
                    contact.email
                    if self.email_enabled and contact is not None and contact.enabled
                    else ""
                )
                made.append(
                    Notification(
                        id=str(uuid.uuid4()),
                        tenant_id=tenant_id,
                        recipient=member,
                        title=title,
                        text=text,
                        source=request.source,
                        conversation_id=request.conversation_id,
                        customer=request.customer,
                        created_at=now,
                        email_state=EmailState.PENDING if email else EmailState.NONE,
                        email_to=email,
                    )
                )
            await uow.notifications.add(made)
            await uow.commit()
        return made

    async def page(
        self,
        tenant_id: str,
        member_id: str,
        *,
        unread_only: bool,
        after: Sequence[str],
        limit: int,
    ) -> tuple[list[Notification], int]:
        """The member's notifications, newest first, and how many are unread."""
        async with self.new_uow() as uow:
            page = await uow.notifications.page(
                tenant_id, member_id, unread_only=unread_only, after=after, limit=limit
            )
            return page, await uow.notifications.unread_count(tenant_id, member_id)

    async def mark_read(self, tenant_id: str, member_id: str, notification_id: str) -> Notification:
        """Another member's notification is NOT_FOUND; marking twice keeps the first time."""
        async with self.new_uow() as uow:
            found = await uow.notifications.get(tenant_id, member_id, notification_id)
            if found is None:
                raise NotFound(NOTIFICATION, notification_name(notification_id))
            if not found.unread:
                return found
            marked = await uow.notifications.mark_read(found, self.clock())
            await uow.commit()
        return marked


# --- the member contacts notifications use (identity's member events) -------------------


async def keep_member_contact(
    new_uow: UnitOfWorkFactory[NotificationsUnitOfWork],
    tenant_id: str,
    contact: MemberContact,
    at: datetime,
) -> None:
    async with new_uow() as uow:
        await uow.member_contacts.save(tenant_id, contact, at)
        await uow.commit()


async def disable_member_contact(
    new_uow: UnitOfWorkFactory[NotificationsUnitOfWork],
    tenant_id: str,
    member_id: str,
    at: datetime,
) -> None:
    """A disabled member gets no e-mail (and leads no escalation) until enabled again."""
    async with new_uow() as uow:
        known = await uow.member_contacts.get(tenant_id, member_id)
        if known is None or not known.enabled:
            return
        await uow.member_contacts.save(tenant_id, replace(known, enabled=False), at)
        await uow.commit()


async def forget_member_contact(
    new_uow: UnitOfWorkFactory[NotificationsUnitOfWork], tenant_id: str, member_id: str
) -> None:
    async with new_uow() as uow:
        await uow.member_contacts.delete(tenant_id, member_id)
        await uow.commit()


def _subject(notification: Notification) -> str:
    return f"[Crosstalk] {notification.title}"


def _body(notification: Notification) -> str:
    lines = [notification.title, ""]
    if notification.text:
        lines += [notification.text, ""]
    if notification.conversation_id:
        lines.append(f"Conversation: conversations/{notification.conversation_id}")
    if notification.customer:
        lines.append(f"Customer: {notification.customer}")
    lines.append(f"From: {notification.source}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NotificationEmails:
    """Sends the pending e-mail copies of notifications."""

    new_uow: UnitOfWorkFactory[NotificationsUnitOfWork]
    mailer: Mailer
    clock: Callable[[], datetime] = utc_now
    batch: int = 20
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    first_retry: timedelta = timedelta(seconds=30)
    poll_seconds: float = 1.0

    async def send_pending(self) -> int:
        """Sends what is due now; how many e-mails were attempted."""
        now = self.clock()
        async with self.new_uow() as uow:
            claimed = await uow.notifications.claim_emails(now, now + self.lease, self.batch)
            await uow.commit()
        for notification in claimed:
            attempts = notification.email_attempts + 1
            try:
                await self.mailer.send(
                    notification.email_to, _subject(notification), _body(notification)
                )
            except MailFailed as exc:
                last = attempts >= self.max_attempts
                log.warning(
                    "notification %s: e-mail attempt %d failed%s: %s",
                    notification.id,
                    attempts,
                    " for good" if last else "",
                    exc,
                )
                retry_at = None if last else self.clock() + self.first_retry * 2 ** (attempts - 1)
                await self._done(
                    notification, sent=False, attempts=attempts, error=str(exc), retry_at=retry_at
                )
            else:
                await self._done(
                    notification, sent=True, attempts=attempts, error="", retry_at=None
                )
        return len(claimed)

    async def _done(
        self,
        notification: Notification,
        *,
        sent: bool,
        attempts: int,
        error: str,
        retry_at: datetime | None,
    ) -> None:
        async with self.new_uow() as uow:
            await uow.notifications.email_done(
                notification.id, sent=sent, attempts=attempts, error=error[:2000], retry_at=retry_at
            )
            await uow.commit()

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: send what is due, then wait ``poll_seconds``."""
        while not stop.is_set():
            try:
                sent = await self.send_pending()
            except Exception:
                log.exception("notification e-mails: a pass failed; trying again")
                sent = 0
            if sent < self.batch:
                await sleep_unless_stopped(stop, self.poll_seconds)
