"""Conversations, their messages, labels, and the customer and member projections, in SQL.

Every query is filtered by tenant; reads for a caller also by the caller's data scope
(``customer_scope``). The inbox is a keyset page over (priority, inbox_at, id), all
descending, which the index ``ix_conversations_inbox`` (tenant first) serves in order.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_common.domain.channel import Channel
from crosstalk_common.visibility import Visibility
from messaging.adapters.customer_copy_lock import copying_from
from messaging.adapters.customer_scope import visible_owner
from messaging.adapters.outbound_rows import outbound_fields
from messaging.adapters.tables import (
    assignment_cursors,
    conversation_label_links,
    conversation_labels,
    conversations,
    customer_snapshot_tags,
    customer_snapshots,
    member_groups,
    member_profiles,
    message_attachments,
    messages,
)
from messaging.app.conversation_ports import ConversationFilter
from messaging.domain.conversation import Conversation, ConversationLabel, Priority
from messaging.domain.conversation_assignment import Availability, Candidate
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile
from messaging.domain.conversation_state import ConversationState, ConversationStatus
from messaging.domain.model import (
    Attachment,
    Direction,
    Intent,
    Message,
    Sender,
    Understanding,
    one_per_intent,
)

C = conversations.c
M = messages.c
_CLOSED = ConversationStatus.CLOSED.value
_INBOX_ORDER = (C.priority, C.inbox_at, C.id)


def _insert_module(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _conversation(row: Any, labels: Sequence[str] = ()) -> Conversation:
    return Conversation(
        id=row.id,
        tenant_id=row.tenant_id,
        customer=row.customer,
        sender=Sender(Channel(row.channel), row.sender_external_id, row.store),
        channel_config=row.channel_config,
        state=ConversationState(
            status=ConversationStatus(row.status),
            follow_ups=row.follow_ups,
            last_inbound_at=as_utc(row.last_inbound_at) if row.last_inbound_at else None,
            last_agent_reply_at=as_utc(row.last_agent_reply_at)
            if row.last_agent_reply_at
            else None,
            opened_at=as_utc(row.opened_at),
        ),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        last_message_at=as_utc(row.last_message_at),
        priority=Priority(row.priority),
        assignee=row.assignee,
        assignee_group=row.assignee_group,
        language=row.language,
        subject=row.subject,
        message_count=row.message_count,
        labels=tuple(sorted(labels)),
        owner_member_id=row.owner_member_id,
        department_id=row.department_id,
        version=row.version,
    )


def message_from_row(row: Any, attachments: Sequence[Attachment] = ()) -> Message:
    """A messages row as the domain's Message (inbound, outbound or note)."""
    return Message(
        id=row.id,
        tenant_id=row.tenant_id,
        conversation_id=row.conversation_id,
        customer=row.customer,
        sender=Sender(Channel(row.channel), row.sender_external_id, row.store),
        direction=Direction(row.direction),
        text=row.text,
        language=row.language,
        external_id=row.external_id,
        created_at=as_utc(row.created_at),
        understanding=Understanding(
            language=row.language,
            translated_text=row.translated_text,
            translated_language=row.translated_language,
            sentiment_score=row.sentiment_score,
            sentiment_label=row.sentiment_label,
            intents=one_per_intent(
                Intent(
                    i["name"],
                    tuple(i["keywords"]),
                    float(i["confidence"]),
                    i.get("keyword_set", ""),
                )
                for i in row.intents
            ),
        ),
        sent_by=row.sent_by,
        internal_note=row.internal_note,
        attachments=tuple(attachments),
        **outbound_fields(row),
    )


def _join_or_insert(module: Any) -> Any:
    """Ingest's one statement for its conversation (``join_or_insert``): an insert whose
    owner and department come from the customer's snapshot, or, when the channel identity
    has a conversation, an update of its customer (and of its channel config and subject
    when given) that locks it; either way the row comes back."""
    snapshot = customer_snapshots.c
    of_the_customer = (
        snapshot.tenant_id == bindparam("b_tenant_id"),
        snapshot.customer == bindparam("b_customer"),
    )
    copied = ("owner_member_id", "department_id")
    values: dict[str, Any] = {
        c.name: bindparam(f"b_{c.name}") for c in conversations.columns if c.name not in copied
    }
    fresh: dict[str, Any] = {}
    for name in copied:
        held = select(snapshot[name]).where(*of_the_customer).scalar_subquery()
        values[name] = fresh[name] = func.coalesce(held, "")
    statement = module.insert(conversations).values(values)
    given = statement.excluded

    def unless_empty(name: str) -> Any:
        return case((given[name] != "", given[name]), else_=C[name])

    return in_the_loop(
        statement.on_conflict_do_update(
            index_elements=[C.tenant_id, C.channel, C.store, C.sender_external_id],
            set_={
                "customer": given.customer,
                "channel_config": unless_empty("channel_config"),
                "subject": unless_empty("subject"),
                # A conversation that moves to another customer (merged, re-identified)
                # takes that customer's owner and department.
                **{
                    name: case((C.customer != given.customer, fresh[name]), else_=C[name])
                    for name in copied
                },
            },
        ).returning(conversations)
    )


_JOIN_OR_INSERT = {"postgresql": _join_or_insert(postgresql), "sqlite": _join_or_insert(sqlite)}
# A conversation's state written back: every column but its id, its creation time and
# the owner and department it copies from its customer, which only ingest and the
# customer projection write (a save of a conversation read before the projection
# copied a newer owner would put the old one back).
_NOT_SAVED = ("id", "created_at", "owner_member_id", "department_id")
_SAVE = in_the_loop(
    update(conversations)
    .where(C.tenant_id == bindparam("b_tenant_id"), C.id == bindparam("b_id"))
    .values(
        {
            c.name: bindparam(f"b_{c.name}")
            for c in conversations.columns
            if c.name not in _NOT_SAVED
        }
    )
)
_LINKS = conversation_label_links.c
_LABELS_OF = in_the_loop(
    select(_LINKS.conversation_id, _LINKS.label_id).where(
        _LINKS.conversation_id.in_(bindparam("ids", expanding=True))
    )
)


class SqlConversationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = _insert_module(session).insert
        self._join_or_insert = _JOIN_OR_INSERT[session.get_bind().dialect.name]

    # --- one conversation ---------------------------------------------------------------

    async def join_or_open(
        self,
        tenant_id: str,
        customer: str,
        sender: Sender,
        channel_config: str,
        subject: str,
        at: datetime,
        owner: CustomerSnapshot | None,
    ) -> tuple[Conversation, bool]:
        """The identity's conversation, its row locked by an UPDATE (so concurrent messages
        of one identity count one after the other), or a new one (True)."""
        key = (
            C.tenant_id == tenant_id,
            C.channel == sender.channel.value,
            C.store == sender.store,
            C.sender_external_id == sender.external_id,
        )
        touched: dict[str, Any] = {"customer": customer}
        if channel_config:
            touched["channel_config"] = channel_config
        if subject:
            touched["subject"] = subject
        await copying_from(self._session, tenant_id, customer)
        for _ in range(3):
            row = (
                await self._session.execute(
                    update(conversations).where(*key).values(**touched).returning(conversations)
                )
            ).first()
            if row is not None:
                labels = await self._labels_of([row.id])
                return _conversation(row, labels.get(row.id, ())), False
            new = replace(
                Conversation.opened(
                    str(uuid.uuid4()), tenant_id, customer, sender, channel_config, subject, at
                ),
                owner_member_id=owner.owner_member_id if owner else "",
                department_id=owner.department_id if owner else "",
            )
            inserted = await self._session.scalar(
                self._insert(conversations)
                .values(**self._row(new), id=new.id, created_at=at, version=1)
                .on_conflict_do_nothing(
                    index_elements=[C.tenant_id, C.channel, C.store, C.sender_external_id]
                )
                .returning(C.id)
            )
            if inserted is not None:
                return new, True
        raise RuntimeError(f"the conversation of {sender} kept changing under 3 attempts")

    async def join_or_insert(self, opening: Conversation) -> tuple[Conversation, bool]:
        params = {f"b_{k}": v for k, v in self._row(opening).items()}
        params.update(b_id=opening.id, b_created_at=opening.created_at, b_version=opening.version)
        await copying_from(self._session, opening.tenant_id, opening.customer)
        row = (await self._session.execute(self._join_or_insert, params)).one()
        if row.id == opening.id:
            return replace(
                opening, owner_member_id=row.owner_member_id, department_id=row.department_id
            ), True
        labels = await self._labels_of([row.id])
        return _conversation(row, labels.get(row.id, ())), False

    def _row(self, conversation: Conversation) -> dict[str, Any]:
        state = conversation.state
        return {
            "tenant_id": conversation.tenant_id,
            "customer": conversation.customer,
            "channel": conversation.sender.channel.value,
            "store": conversation.sender.store,
            "sender_external_id": conversation.sender.external_id,
            "channel_config": conversation.channel_config,
            "status": state.status.value,
            "follow_ups": state.follow_ups,
            "last_inbound_at": state.last_inbound_at,
            "last_agent_reply_at": state.last_agent_reply_at,
            "opened_at": state.opened_at or conversation.created_at,
            "inbox_at": state.last_inbound_at or conversation.created_at,
            "last_message_at": conversation.last_message_at,
            "updated_at": conversation.updated_at,
            "priority": int(conversation.priority),
            "assignee": conversation.assignee,
            "assignee_group": conversation.assignee_group,
            "language": conversation.language,
            "subject": conversation.subject,
            "message_count": conversation.message_count,
            "owner_member_id": conversation.owner_member_id,
            "department_id": conversation.department_id,
        }

    async def save(self, conversation: Conversation) -> Conversation:
        params = {f"b_{k}": v for k, v in self._row(conversation).items() if k not in _NOT_SAVED}
        params.update(b_id=conversation.id, b_version=conversation.version + 1)
        await self._session.execute(_SAVE, params)
        return Conversation(**{**conversation.__dict__, "version": conversation.version + 1})

    async def get(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        *,
        for_update: bool = False,
    ) -> Conversation | None:
        query = select(conversations).where(
            C.tenant_id == tenant_id,
            C.id == conversation_id,
            _visible(visibility),
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        labels = await self._labels_of([row.id])
        return _conversation(row, labels.get(row.id, ()))

    # --- the inbox ----------------------------------------------------------------------

    async def inbox(
        self,
        tenant_id: str,
        visibility: Visibility,
        where: ConversationFilter,
        after: Sequence[str],
        limit: int,
    ) -> list[Conversation]:
        query = select(conversations).where(
            C.tenant_id == tenant_id, _visible(visibility), *_filters(tenant_id, where)
        )
        if after:
            last = [int(after[0]), datetime.fromisoformat(after[1]), after[2]]
            query = query.where(past(_INBOX_ORDER, last, descending=True))
        query = query.order_by(*(c.desc() for c in _INBOX_ORDER)).limit(limit)
        rows = (await self._session.execute(query)).all()
        labels = await self._labels_of([r.id for r in rows])
        return [_conversation(r, labels.get(r.id, ())) for r in rows]

    async def _labels_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        if not ids:
            return {}
        rows = await self._session.execute(_LABELS_OF, {"ids": list(ids)})
        found: dict[str, list[str]] = defaultdict(list)
        for conversation_id, label_id in rows:
            found[conversation_id].append(label_id)
        return found

    async def set_labels(self, conversation: Conversation, label_ids: Sequence[str]) -> None:
        links = conversation_label_links.c
        await self._session.execute(
            delete(conversation_label_links).where(links.conversation_id == conversation.id)
        )
        if label_ids:
            await self._session.execute(
                insert(conversation_label_links),
                [
                    {
                        "conversation_id": conversation.id,
                        "label_id": label_id,
                        "tenant_id": conversation.tenant_id,
                    }
                    for label_id in label_ids
                ],
            )

    # --- messages -----------------------------------------------------------------------

    async def get_message(
        self, tenant_id: str, conversation_id: str, message_id: str
    ) -> Message | None:
        row = (
            await self._session.execute(
                select(messages).where(
                    M.tenant_id == tenant_id,
                    M.conversation_id == conversation_id,
                    M.id == message_id,
                )
            )
        ).first()
        if row is None:
            return None
        attachments = await self._attachments_of([row.id])
        return message_from_row(row, attachments.get(row.id, ()))

    async def list_messages(
        self,
        tenant_id: str,
        conversation_id: str,
        *,
        include_notes: bool,
        after: Sequence[str],
        limit: int,
    ) -> list[Message]:
        query = select(messages).where(
            M.tenant_id == tenant_id, M.conversation_id == conversation_id
        )
        if not include_notes:
            query = query.where(M.internal_note.is_(False))
        order = (M.created_at, M.id)
        if after:
            query = query.where(past(order, [datetime.fromisoformat(after[0]), after[1]]))
        rows = (await self._session.execute(query.order_by(*order).limit(limit))).all()
        attachments = await self._attachments_of([r.id for r in rows])
        return [message_from_row(r, attachments.get(r.id, ())) for r in rows]

    async def _attachments_of(self, ids: Sequence[str]) -> dict[str, list[Attachment]]:
        if not ids:
            return {}
        a = message_attachments.c
        rows = await self._session.execute(
            select(message_attachments).where(a.message_id.in_(ids)).order_by(a.position)
        )
        found: dict[str, list[Attachment]] = defaultdict(list)
        for row in rows:
            found[row.message_id].append(
                Attachment(row.name, row.content_type, row.size_bytes, row.uri)
            )
        return found

    async def add_attachments(self, message: Message) -> None:
        if not message.attachments:
            return
        await self._session.execute(
            insert(message_attachments),
            [
                {
                    "message_id": message.id,
                    "position": index,
                    "tenant_id": message.tenant_id,
                    "name": a.name,
                    "content_type": a.content_type,
                    "size_bytes": a.size_bytes,
                    "uri": a.uri,
                }
                for index, a in enumerate(message.attachments)
            ],
        )

    async def add_note(self, message: Message) -> None:
        await self._session.execute(
            insert(messages).values(
                id=message.id,
                tenant_id=message.tenant_id,
                conversation_id=message.conversation_id,
                customer=message.customer,
                channel=message.sender.channel.value,
                store=message.sender.store,
                sender_external_id=message.sender.external_id,
                direction=message.direction.value,
                text=message.text,
                language=message.language,
                translated_text="",
                translated_language="",
                sentiment_score=None,
                sentiment_label="",
                intents=[],
                external_id="",
                created_at=message.created_at,
                internal_note=True,
                sent_by=message.sent_by,
            )
        )


def _visible(visibility: Visibility) -> ColumnElement[bool]:
    return visible_owner(visibility, owner=C.owner_member_id, department=C.department_id)


def _filters(tenant_id: str, where: ConversationFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.statuses:
        found.append(C.status.in_(sorted(s.value for s in where.statuses)))
    if where.priority is not None:
        found.append(C.priority == int(where.priority))
    if where.channel is not None:
        found.append(C.channel == where.channel.value)
    if where.store:
        found.append(C.store == where.store)
    if where.assignee:
        found.append(C.assignee == ("" if where.assignee == "-" else where.assignee))
    if where.assignee_group:
        found.append(C.assignee_group == where.assignee_group)
    if where.language:
        language = where.language.lower()
        found.append(
            or_(func.lower(C.language) == language, func.lower(C.language).like(f"{language}-%"))
        )
    if where.customer:
        found.append(C.customer == where.customer)
    if where.unread is not None:
        found.append(C.follow_ups > 0 if where.unread else C.follow_ups == 0)
    if where.last_inbound_after is not None:
        found.append(C.last_inbound_at >= where.last_inbound_after)
    if where.last_inbound_before is not None:
        found.append(C.last_inbound_at < where.last_inbound_before)
    s = customer_snapshots.c
    if where.customer_tier:
        found.append(
            exists(
                select(1).where(
                    s.tenant_id == tenant_id,
                    s.customer == C.customer,
                    s.tier == where.customer_tier,
                )
            )
        )
    t = customer_snapshot_tags.c
    for tag in where.customer_tags:
        found.append(
            exists(
                select(1).where(t.tenant_id == tenant_id, t.customer == C.customer, t.tag == tag)
            )
        )
    links = conversation_label_links.c
    for label_id in where.labels:
        found.append(
            exists(
                select(1).where(
                    links.tenant_id == tenant_id,
                    links.label_id == label_id,
                    links.conversation_id == C.id,
                )
            )
        )
    return found


class SqlConversationLabelsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = _insert_module(session).insert

    async def add(self, label: ConversationLabel) -> bool:
        inserted = await self._session.scalar(
            self._insert(conversation_labels)
            .values(
                id=label.id,
                tenant_id=label.tenant_id,
                display_name=label.display_name,
                name_key=label.name_key,
                created_at=label.created_at,
            )
            .on_conflict_do_nothing(
                index_elements=[conversation_labels.c.tenant_id, conversation_labels.c.name_key]
            )
            .returning(conversation_labels.c.id)
        )
        return inserted is not None

    async def page(
        self, tenant_id: str, after: Sequence[str], limit: int
    ) -> list[ConversationLabel]:
        label = conversation_labels.c
        order = (label.name_key, label.id)
        query = select(conversation_labels).where(label.tenant_id == tenant_id)
        if after:
            query = query.where(past(order, list(after)))
        rows = await self._session.execute(query.order_by(*order).limit(limit))
        return [_label(r) for r in rows]

    async def by_ids(self, tenant_id: str, ids: Sequence[str]) -> list[ConversationLabel]:
        if not ids:
            return []
        label = conversation_labels.c
        rows = await self._session.execute(
            select(conversation_labels).where(label.tenant_id == tenant_id, label.id.in_(ids))
        )
        return [_label(r) for r in rows]

    async def delete(self, tenant_id: str, label_id: str) -> bool:
        links = conversation_label_links.c
        await self._session.execute(
            delete(conversation_label_links).where(
                links.tenant_id == tenant_id, links.label_id == label_id
            )
        )
        label = conversation_labels.c
        gone = await self._session.execute(
            delete(conversation_labels).where(label.tenant_id == tenant_id, label.id == label_id)
        )
        return bool(gone.rowcount)  # type: ignore[attr-defined]


def _label(row: Any) -> ConversationLabel:
    return ConversationLabel(row.id, row.tenant_id, row.display_name, as_utc(row.created_at))


class SqlMembers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = _insert_module(session).insert

    async def put(self, tenant_id: str, profile: MemberProfile, at: datetime) -> None:
        values = {
            "display_name": profile.display_name[:200],
            "languages": list(profile.languages),
            "capacity": max(profile.capacity, 0),
            "availability": profile.availability.value,
            "enabled": profile.enabled,
            "updated_at": at,
        }
        p = member_profiles.c
        await self._session.execute(
            self._insert(member_profiles)
            .values(tenant_id=tenant_id, member=profile.member, **values)
            .on_conflict_do_update(index_elements=[p.tenant_id, p.member], set_=values)
        )
        g = member_groups.c
        await self._session.execute(
            delete(member_groups).where(g.tenant_id == tenant_id, g.member == profile.member)
        )
        if profile.groups:
            await self._session.execute(
                insert(member_groups),
                [
                    {"tenant_id": tenant_id, "group_name": group, "member": profile.member}
                    for group in sorted(set(profile.groups))
                ],
            )

    async def remove(self, tenant_id: str, member: str) -> None:
        g = member_groups.c
        await self._session.execute(
            delete(member_groups).where(g.tenant_id == tenant_id, g.member == member)
        )
        p = member_profiles.c
        await self._session.execute(
            update(member_profiles)
            .where(p.tenant_id == tenant_id, p.member == member)
            .values(enabled=False)
        )

    async def get(self, tenant_id: str, member: str) -> MemberProfile | None:
        p = member_profiles.c
        row = (
            await self._session.execute(
                select(member_profiles).where(p.tenant_id == tenant_id, p.member == member)
            )
        ).first()
        if row is None:
            return None
        g = member_groups.c
        groups = (
            await self._session.scalars(
                select(g.group_name).where(g.tenant_id == tenant_id, g.member == member)
            )
        ).all()
        return MemberProfile(
            member=row.member,
            display_name=row.display_name,
            groups=tuple(sorted(groups)),
            languages=tuple(row.languages),
            capacity=row.capacity,
            availability=Availability(row.availability),
            enabled=row.enabled,
        )

    async def candidates(self, tenant_id: str, group: str) -> list[Candidate]:
        p, g = member_profiles.c, member_groups.c
        busy = (
            select(C.assignee, func.count().label("open"))
            .where(C.tenant_id == tenant_id, C.assignee != "", C.status != _CLOSED)
            .group_by(C.assignee)
            .subquery()
        )
        rows = await self._session.execute(
            select(member_profiles, func.coalesce(busy.c.open, 0).label("open_conversations"))
            .join(member_groups, (g.tenant_id == p.tenant_id) & (g.member == p.member))
            .outerjoin(busy, busy.c.assignee == p.member)
            .where(p.tenant_id == tenant_id, g.group_name == group)
            .order_by(p.member)
        )
        return [
            Candidate(
                member=r.member,
                languages=tuple(r.languages),
                capacity=r.capacity,
                availability=Availability(r.availability),
                enabled=r.enabled,
                open_conversations=r.open_conversations,
            )
            for r in rows
        ]

    async def last_assigned(self, tenant_id: str, group: str) -> str:
        a = assignment_cursors.c
        found = await self._session.scalar(
            select(a.last_member).where(a.tenant_id == tenant_id, a.group_name == group)
        )
        return found or ""

    async def set_last_assigned(self, tenant_id: str, group: str, member: str) -> None:
        a = assignment_cursors.c
        await self._session.execute(
            self._insert(assignment_cursors)
            .values(tenant_id=tenant_id, group_name=group, last_member=member)
            .on_conflict_do_update(
                index_elements=[a.tenant_id, a.group_name], set_={"last_member": member}
            )
        )


__all__ = [
    "IntegrityError",
    "SqlConversationLabelsRepository",
    "SqlConversationsRepository",
    "SqlMembers",
    "message_from_row",
]
