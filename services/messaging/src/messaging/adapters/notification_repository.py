"""Member notifications, member contacts and the rule action ledger in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from messaging.adapters.tables import member_contacts, notifications, rule_action_applications
from messaging.domain.notifications import EmailState, MemberContact, Notification
from messaging.domain.rule_actions import RuleActionKey, RuleActionOutcome, RuleActionResult


class SqlNotificationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, made: Sequence[Notification]) -> None:
        if not made:
            return
        await self._session.execute(
            insert(notifications),
            [
                {
                    "id": n.id,
                    "tenant_id": n.tenant_id,
                    "recipient": n.recipient,
                    "title": n.title,
                    "text": n.text,
                    "source": n.source,
                    "conversation_id": n.conversation_id,
                    "customer": n.customer,
                    "created_at": n.created_at,
                    "read_at": n.read_at,
                    "email_state": n.email_state.value,
                    "email_to": n.email_to,
                    "email_attempts": n.email_attempts,
                    "email_error": n.email_error,
                    "email_due_at": n.created_at if n.email_state is EmailState.PENDING else None,
                }
                for n in made
            ],
        )

    async def get(
        self, tenant_id: str, member_id: str, notification_id: str
    ) -> Notification | None:
        row = (
            await self._session.execute(
                select(notifications).where(
                    notifications.c.tenant_id == tenant_id,
                    notifications.c.recipient == member_id,
                    notifications.c.id == notification_id,
                )
            )
        ).first()
        return None if row is None else _notification_of(row)

    async def page(
        self,
        tenant_id: str,
        member_id: str,
        *,
        unread_only: bool,
        after: Sequence[str],
        limit: int,
    ) -> list[Notification]:
        c = notifications.c
        query = select(notifications).where(c.tenant_id == tenant_id, c.recipient == member_id)
        if unread_only:
            query = query.where(c.read_at.is_(None))
        if after:
            query = query.where(
                past(
                    [c.created_at, c.id],
                    [datetime.fromisoformat(after[0]), after[1]],
                    descending=True,
                )
            )
        rows = await self._session.execute(
            query.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        )
        return [_notification_of(r) for r in rows]

    async def unread_count(self, tenant_id: str, member_id: str) -> int:
        c = notifications.c
        count = await self._session.scalar(
            select(func.count()).where(
                c.tenant_id == tenant_id, c.recipient == member_id, c.read_at.is_(None)
            )
        )
        return int(count or 0)

    async def mark_read(self, notification: Notification, at: datetime) -> Notification:
        c = notifications.c
        await self._session.execute(
            update(notifications)
            .where(c.id == notification.id, c.read_at.is_(None))
            .values(read_at=at)
        )
        return Notification(**{**notification.__dict__, "read_at": at})

    async def claim_emails(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[Notification]:
        c = notifications.c
        due = and_(
            c.email_state == EmailState.PENDING.value,
            or_(c.email_due_at.is_(None), c.email_due_at <= now),
        )
        rows = (
            await self._session.execute(
                select(notifications).where(due).order_by(c.email_due_at).limit(limit)
            )
        ).all()
        claimed = []
        for row in rows:
            # A conditional update: another replica that claimed it first moved its due time.
            taken = await self._session.execute(
                update(notifications).where(c.id == row.id, due).values(email_due_at=lease_until)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(_notification_of(row))
        return claimed

    async def email_done(
        self,
        notification_id: str,
        *,
        sent: bool,
        attempts: int,
        error: str,
        retry_at: datetime | None,
    ) -> None:
        if sent:
            state, due = EmailState.SENT, None
        elif retry_at is None:
            state, due = EmailState.FAILED, None
        else:
            state, due = EmailState.PENDING, retry_at
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(
                email_state=state.value,
                email_attempts=attempts,
                email_error=error,
                email_due_at=due,
            )
        )


def _notification_of(row: Row[Any]) -> Notification:
    return Notification(
        id=row.id,
        tenant_id=row.tenant_id,
        recipient=row.recipient,
        title=row.title,
        text=row.text,
        source=row.source,
        conversation_id=row.conversation_id,
        customer=row.customer,
        created_at=as_utc(row.created_at),
        read_at=None if row.read_at is None else as_utc(row.read_at),
        email_state=EmailState(row.email_state),
        email_to=row.email_to,
        email_attempts=row.email_attempts,
        email_error=row.email_error,
    )


def _upserts(module: Any) -> Any:
    statement = module.insert(member_contacts)
    return statement.on_conflict_do_update(
        index_elements=[member_contacts.c.tenant_id, member_contacts.c.member],
        set_={
            "email": statement.excluded.email,
            "display_name": statement.excluded.display_name,
            "enabled": statement.excluded.enabled,
            "led_groups": statement.excluded.led_groups,
            "updated_at": statement.excluded.updated_at,
        },
    )


_UPSERT_CONTACT = {"postgresql": _upserts(postgresql), "sqlite": _upserts(sqlite)}


class SqlMemberContacts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        postgres = session.get_bind().dialect.name == "postgresql"
        self._upsert = _UPSERT_CONTACT["postgresql" if postgres else "sqlite"]

    async def get(self, tenant_id: str, member_id: str) -> MemberContact | None:
        row = (
            await self._session.execute(
                select(member_contacts).where(
                    member_contacts.c.tenant_id == tenant_id,
                    member_contacts.c.member == member_id,
                )
            )
        ).first()
        if row is None:
            return None
        return MemberContact(
            member=row.member,
            email=row.email,
            display_name=row.display_name,
            enabled=bool(row.enabled),
            led_groups=frozenset(row.led_groups or ()),
        )

    async def save(self, tenant_id: str, contact: MemberContact, at: datetime) -> None:
        await self._session.execute(
            self._upsert.values(
                tenant_id=tenant_id,
                member=contact.member,
                email=contact.email,
                display_name=contact.display_name,
                enabled=contact.enabled,
                led_groups=sorted(contact.led_groups),
                updated_at=at,
            )
        )

    async def delete(self, tenant_id: str, member_id: str) -> None:
        await self._session.execute(
            delete(member_contacts).where(
                member_contacts.c.tenant_id == tenant_id, member_contacts.c.member == member_id
            )
        )

    async def lead_of(self, tenant_id: str, group_id: str) -> str | None:
        # led_groups is a short JSON list: read the tenant's enabled leads and pick in Python
        # (portable across SQLite and PostgreSQL JSON).
        rows = await self._session.execute(
            select(member_contacts.c.member, member_contacts.c.led_groups)
            .where(member_contacts.c.tenant_id == tenant_id, member_contacts.c.enabled.is_(True))
            .order_by(member_contacts.c.member)
        )
        for member, led in rows:
            if group_id in (led or ()):
                return str(member)
        return None


class SqlRuleActionLedger:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: RuleActionKey) -> RuleActionResult | None:
        c = rule_action_applications.c
        row = (
            await self._session.execute(
                select(c.outcome, c.reason, c.result).where(
                    c.tenant_id == key.tenant_id,
                    c.run == key.run,
                    c.action_index == key.action_index,
                )
            )
        ).first()
        if row is None:
            return None
        return RuleActionResult(RuleActionOutcome(row.outcome), row.reason, row.result)

    async def add(
        self,
        key: RuleActionKey,
        *,
        rule: str,
        action_type: str,
        result: RuleActionResult,
        at: datetime,
    ) -> None:
        await self._session.execute(
            insert(rule_action_applications).values(
                tenant_id=key.tenant_id,
                run=key.run,
                action_index=key.action_index,
                action_type=action_type,
                rule=rule,
                outcome=result.outcome.value,
                reason=result.reason[:2000],
                result=result.result[:200],
                applied_at=at,
            )
        )
