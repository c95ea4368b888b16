"""What member notifications need from outside."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from messaging.domain.notifications import MemberContact, Notification


class MailFailed(Exception):
    """The mail server refused or could not be reached; ``str()`` says why."""


class Mailer(Protocol):
    """Sends one plain-text e-mail (SMTP in production)."""

    async def send(self, to: str, subject: str, body: str) -> None:
        """Raises MailFailed."""
        ...


class NotificationsRepository(Protocol):
    async def add(self, notifications: Sequence[Notification]) -> None: ...

    async def get(
        self, tenant_id: str, member_id: str, notification_id: str
    ) -> Notification | None:
        """The member's own notification; None for anyone else's."""
        ...

    async def page(
        self,
        tenant_id: str,
        member_id: str,
        *,
        unread_only: bool,
        after: Sequence[str],
        limit: int,
    ) -> list[Notification]:
        """Newest first, keyed by (created_at, id)."""
        ...

    async def unread_count(self, tenant_id: str, member_id: str) -> int: ...

    async def mark_read(self, notification: Notification, at: datetime) -> Notification: ...

    async def claim_emails(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[Notification]:
        """Pending e-mails (any tenant) nobody else holds, leased to the caller until
        ``lease_until``."""
        ...

    async def email_done(
        self,
        notification_id: str,
        *,
        sent: bool,
        attempts: int,
        error: str,
        retry_at: datetime | None,
    ) -> None:
        """Record an attempt: sent, failed for good (retry_at None), or to retry at retry_at."""
        ...


class MemberContacts(Protocol):
    async def get(self, tenant_id: str, member_id: str) -> MemberContact | None: ...

    async def save(self, tenant_id: str, contact: MemberContact, at: datetime) -> None: ...

    async def delete(self, tenant_id: str, member_id: str) -> None: ...

    async def lead_of(self, tenant_id: str, group_id: str) -> str | None:
        """An enabled member who leads the group (the first by id), None when none does."""
        ...


class NotificationsUnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def notifications(self) -> NotificationsRepository: ...

    @property
    def member_contacts(self) -> MemberContacts: ...
