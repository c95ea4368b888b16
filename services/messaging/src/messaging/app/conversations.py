"""Use cases of the conversations area: the inbox, status, priority, assignment, notes,
labels; and the projections of customers and members that feed them.

Reads and writes for a caller go through the caller's data scope: a conversation out of
scope is NOT_FOUND, as if it did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import AlreadyExists, InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.conversation_ports import ConversationFilter, ConversationUnitOfWork
from messaging.domain.conversation import (
    MAX_LABELS_PER_CONVERSATION,
    Conversation,
    ConversationLabel,
    Priority,
    label_display_name,
    note_text,
)
from messaging.domain.conversation_assignment import AssignStrategy, pick_member
from messaging.domain.conversation_projections import (
    CustomerSnapshot,
    MemberProfile,
    newest_per_customer,
)
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.events import (
    ConversationAssigned,
    ConversationPriorityChanged,
    ConversationStatusChanged,
)
from messaging.domain.model import Direction, Message

CONVERSATION = "conversation"
MESSAGE = "message"
LABEL = "conversation label"


def conversation_name(conversation_id: str) -> str:
    return f"conversations/{conversation_id}"


@dataclass(frozen=True)
class ConversationService:
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork]
    clock: Callable[[], datetime] = utc_now

    # --- reads -----------------------------------------------------------------------

    async def get(
        self, tenant_id: str, visibility: Visibility, conversation_id: str
    ) -> Conversation:
        async with self.new_uow() as uow:
            return await _visible(uow, tenant_id, visibility, conversation_id)

    async def list_conversations(
        self,
        tenant_id: str,
        visibility: Visibility,
        where: ConversationFilter,
        after: Sequence[str],
        limit: int,
    ) -> list[Conversation]:
        async with self.new_uow() as uow:
            return await uow.conversations.inbox(tenant_id, visibility, where, after, limit)

    async def get_message(
        self, tenant_id: str, visibility: Visibility, conversation_id: str, message_id: str
    ) -> Message:
        async with self.new_uow() as uow:
            await _visible(uow, tenant_id, visibility, conversation_id)
            message = await uow.conversations.get_message(tenant_id, conversation_id, message_id)
        if message is None:
            raise NotFound(MESSAGE, f"{conversation_name(conversation_id)}/messages/{message_id}")
        return message

    async def list_messages(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        *,
        include_notes: bool,
        after: Sequence[str],
        limit: int,
    ) -> list[Message]:
        async with self.new_uow() as uow:
            await _visible(uow, tenant_id, visibility, conversation_id)
            return await uow.conversations.list_messages(
                tenant_id, conversation_id, include_notes=include_notes, after=after, limit=limit
            )

    async def label_names(self, tenant_id: str, label_ids: Sequence[str]) -> dict[str, str]:
        async with self.new_uow() as uow:
            return {
                label.id: label.display_name
                for label in await uow.conversation_labels.by_ids(tenant_id, label_ids)
            }

    # --- agents' changes ---------------------------------------------------------------

    async def set_status(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        status: ConversationStatus,
        actor: str,
        cause_event_id: str = "",
    ) -> Conversation:
        async with self.new_uow() as uow:
            conversation = await _visible(uow, tenant_id, visibility, conversation_id, lock=True)
            changed, change = conversation.set_status(status, self.clock(), actor)
            if change is None:
                return conversation
            saved = await uow.conversations.save(changed)
            await uow.record(ConversationStatusChanged(saved, change, cause_event_id))
            await uow.commit()
            return saved

    async def set_priority(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        priority: Priority,
        actor: str,
        cause_event_id: str = "",
    ) -> Conversation:
        async with self.new_uow() as uow:
            conversation = await _visible(uow, tenant_id, visibility, conversation_id, lock=True)
            changed, change = conversation.set_priority(priority, self.clock(), actor)
            if change is None:
                return conversation
            saved = await uow.conversations.save(changed)
            await uow.record(ConversationPriorityChanged(saved, change, cause_event_id))
            await uow.commit()
            return saved

    async def assign(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        *,
        assignee: str,
        assignee_group: str,
        strategy: AssignStrategy,
        actor: str,
        cause_event_id: str = "",
    ) -> Conversation:
        """To a member; to a group (a member of it picked by ``strategy``, respecting
        availability and capacity); to a group and a member; or to nobody (both empty)."""
        async with self.new_uow() as uow:
            conversation = await _visible(uow, tenant_id, visibility, conversation_id, lock=True)
            if assignee:
                profile = await uow.members.get(tenant_id, assignee)
                if profile is None or not profile.enabled:
                    raise NotFound("member", assignee)
                if assignee_group and assignee_group not in profile.groups:
                    raise InvalidArgument.field(
                        "assignee", f"{assignee} is not a member of {assignee_group}"
                    )
            elif assignee_group:
                candidates = await uow.members.candidates(tenant_id, assignee_group)
                if not candidates:
                    raise NotFound("group", assignee_group)
                assignee = pick_member(
                    strategy,
                    assignee_group,
                    candidates,
                    language=conversation.language,
                    last_member=await uow.members.last_assigned(tenant_id, assignee_group),
                )
                await uow.members.set_last_assigned(tenant_id, assignee_group, assignee)
            changed, change = conversation.assign(assignee, assignee_group, self.clock(), actor)
            if change is None:
                return conversation
            saved = await uow.conversations.save(changed)
            await uow.record(ConversationAssigned(saved, change, cause_event_id))
            await uow.commit()
            return saved

    async def create_note(
        self, tenant_id: str, visibility: Visibility, conversation_id: str, text: str, actor: str
    ) -> Message:
        """An internal note: stored as a message, never delivered; the status stays."""
        text = note_text(text)
        async with self.new_uow() as uow:
            conversation = await _visible(uow, tenant_id, visibility, conversation_id, lock=True)
            now = self.clock()
            note = Message(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                conversation_id=conversation.id,
                customer=conversation.customer,
                sender=conversation.sender,
                direction=Direction.OUTBOUND,
                text=text,
                language="und",
                external_id="",
                created_at=now,
                sent_by=actor,
                internal_note=True,
            )
            await uow.conversations.add_note(note)
            await uow.conversations.save(conversation.add_note(now))
            await uow.commit()
            return note

    # --- labels ------------------------------------------------------------------------

    async def create_label(self, tenant_id: str, display_name: str) -> ConversationLabel:
        label = ConversationLabel(
            str(uuid.uuid4()), tenant_id, label_display_name(display_name), self.clock()
        )
        async with self.new_uow() as uow:
            if not await uow.conversation_labels.add(label):
                raise AlreadyExists(
                    LABEL,
                    label.display_name,
                    f"the tenant has a conversation label named {label.display_name!r}",
                )
            await uow.commit()
        return label

    async def list_labels(
        self, tenant_id: str, after: Sequence[str], limit: int
    ) -> list[ConversationLabel]:
        async with self.new_uow() as uow:
            return await uow.conversation_labels.page(tenant_id, after, limit)

    async def delete_label(self, tenant_id: str, label_id: str) -> None:
        async with self.new_uow() as uow:
            if not await uow.conversation_labels.delete(tenant_id, label_id):
                raise NotFound(LABEL, f"conversationLabels/{label_id}")
            await uow.commit()

    async def set_labels(
        self, tenant_id: str, visibility: Visibility, conversation_id: str, label_ids: Sequence[str]
    ) -> Conversation:
        wanted = tuple(sorted(set(label_ids)))
        if len(wanted) > MAX_LABELS_PER_CONVERSATION:
            raise InvalidArgument.field("labels", f"at most {MAX_LABELS_PER_CONVERSATION}")
        async with self.new_uow() as uow:
            conversation = await _visible(uow, tenant_id, visibility, conversation_id, lock=True)
            known = {label.id for label in await uow.conversation_labels.by_ids(tenant_id, wanted)}
            for index, label_id in enumerate(label_ids):
                if label_id not in known:
                    raise InvalidArgument.field(
                        f"labels[{index}]", f"conversationLabels/{label_id} does not exist"
                    )
            if wanted == conversation.labels:
                return conversation
            await uow.conversations.set_labels(conversation, wanted)
            saved = await uow.conversations.save(
                replace(conversation, labels=wanted, updated_at=self.clock())
            )
            await uow.commit()
            return saved


async def _visible(
    uow: ConversationUnitOfWork,
    tenant_id: str,
    visibility: Visibility,
    conversation_id: str,
    *,
    lock: bool = False,
) -> Conversation:
    found = await uow.conversations.get(tenant_id, visibility, conversation_id, for_update=lock)
    if found is None:
        raise NotFound(CONVERSATION, conversation_name(conversation_id))
    return found


# --- projections (event consumers) ---------------------------------------------------------


async def apply_customer_snapshot(
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork],
    tenant_id: str,
    snapshot: CustomerSnapshot,
    at: datetime,
) -> bool:
    """Keeps the snapshot if its version is newer than the one held (True when kept)."""
    return bool(await apply_customer_snapshots(new_uow, tenant_id, [snapshot], at))


async def apply_customer_snapshots(
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork],
    tenant_id: str,
    snapshots: Sequence[CustomerSnapshot],
    at: datetime,
) -> list[CustomerSnapshot]:
    """Keeps, of each customer's snapshots, the newest if it is newer than the one held;
    the ones kept. One read and one write for all (a consumer's batch of events)."""
    newest = newest_per_customer(snapshots)
    if not newest:
        return []
    async with new_uow() as uow:
        held = await uow.customer_snapshots.get_many(tenant_id, [s.customer for s in newest])
        kept = [s for s in newest if s.replaces(held.get(s.customer))]
        if kept:
            await uow.customer_snapshots.put_many(tenant_id, kept, held, at)
        await uow.commit()
    return kept


async def apply_member(
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork],
    tenant_id: str,
    profile: MemberProfile,
    at: datetime,
) -> None:
    async with new_uow() as uow:
        await uow.members.put(tenant_id, profile, at)
        await uow.commit()


async def remove_member(
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork], tenant_id: str, member: str
) -> None:
    async with new_uow() as uow:
        await uow.members.remove(tenant_id, member)
        await uow.commit()
