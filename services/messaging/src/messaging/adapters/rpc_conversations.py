"""MessagingService RPCs: conversations, messages, status, priority, assignment, notes, labels."""

from __future__ import annotations

from typing import Any

from google.protobuf.empty_pb2 import Empty

from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_ids_of
from crosstalk_common.clock import as_utc
from crosstalk_common.grpc.auth import Caller, require_caller
from messaging.adapters.conversation_mapping import (
    assignment_from_pb,
    conversation_id,
    conversation_to_pb,
    filter_from_pb,
    label_id,
    label_to_pb,
    priority_from_pb,
    status_from_pb,
)
from messaging.adapters.mapping import message_to_pb
from messaging.app.conversations import ConversationService
from messaging.domain.conversation import Conversation, ConversationLabel
from messaging.domain.model import Message

Context = Any


def _actor(caller: Caller) -> str:
    return caller.subject or "system"


def _request_parts(request: Any) -> bytes:
    """What defines a List request's result set: the request without its paging fields."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_token")
    copy.ClearField("page_size")
    serialized: bytes = copy.SerializeToString(deterministic=True)
    return serialized


def _inbox_keys(conversation: Conversation) -> list[str]:
    inbox_at = conversation.state.last_inbound_at or conversation.created_at
    return [str(int(conversation.priority)), as_utc(inbox_at).isoformat(), conversation.id]


def _message_keys(message: Message) -> list[str]:
    return [as_utc(message.created_at).isoformat(), message.id]


def _label_keys(label: ConversationLabel) -> list[str]:
    return [label.name_key, label.id]


class ConversationRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _conversations: ConversationService
    _page_tokens: PageTokenCodec

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> resources_pb2.Conversation:
        caller = require_caller(context)
        found = await self._conversations.get(
            caller.tenant_id, caller.visibility, conversation_id(request.name)
        )
        return conversation_to_pb(found)

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        caller = require_caller(context)
        where = filter_from_pb(request)
        window = self._page_tokens.window(request, "conversations", _request_parts(request))
        found = await self._conversations.list_conversations(
            caller.tenant_id, caller.visibility, where, window.after, window.limit
        )
        page, token = window.cut(found, _inbox_keys)
        return pb.ListConversationsResponse(
            conversations=[conversation_to_pb(c) for c in page], next_page_token=token
        )

    async def GetMessage(
        self, request: pb.GetMessageRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        conversation, message = resource_ids_of(
            request.name, "conversations/{conversation}/messages/{message}", field="name"
        )
        return message_to_pb(
            await self._conversations.get_message(
                caller.tenant_id, caller.visibility, conversation, message
            )
        )

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        caller = require_caller(context)
        parent = conversation_id(request.parent, field="parent")
        window = self._page_tokens.window(request, "messages", _request_parts(request))
        found = await self._conversations.list_messages(
            caller.tenant_id,
            caller.visibility,
            parent,
            include_notes=request.include_notes,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(found, _message_keys)
        return pb.ListMessagesResponse(
            messages=[message_to_pb(m) for m in page], next_page_token=token
        )

    async def SetConversationStatus(
        self, request: pb.SetConversationStatusRequest, context: Context
    ) -> resources_pb2.Conversation:
        caller = require_caller(context)
        conversation = conversation_id(request.name)
        status = status_from_pb(request.status)
        changed = await self._conversations.set_status(
            caller.tenant_id, caller.visibility, conversation, status, _actor(caller)
        )
        return conversation_to_pb(changed)

    async def SetConversationPriority(
        self, request: pb.SetConversationPriorityRequest, context: Context
    ) -> resources_pb2.Conversation:
        caller = require_caller(context)
        conversation = conversation_id(request.name)
        priority = priority_from_pb(request.priority)
        changed = await self._conversations.set_priority(
            caller.tenant_id, caller.visibility, conversation, priority, _actor(caller)
        )
        return conversation_to_pb(changed)

    async def AssignConversation(
        self, request: pb.AssignConversationRequest, context: Context
    ) -> resources_pb2.Conversation:
        caller = require_caller(context)
        conversation = conversation_id(request.name)
        assignee, group, strategy = assignment_from_pb(request)
        changed = await self._conversations.assign(
            caller.tenant_id,
            caller.visibility,
            conversation,
            assignee=assignee,
            assignee_group=group,
            strategy=strategy,
            actor=_actor(caller),
        )
        return conversation_to_pb(changed)

    async def CreateNote(
        self, request: pb.CreateNoteRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        conversation = conversation_id(request.conversation, field="conversation")
        note = await self._conversations.create_note(
            caller.tenant_id, caller.visibility, conversation, request.text, _actor(caller)
        )
        return message_to_pb(note)

    async def SetConversationLabels(
        self, request: pb.SetConversationLabelsRequest, context: Context
    ) -> resources_pb2.Conversation:
        caller = require_caller(context)
        conversation = conversation_id(request.name)
        labels = [label_id(name, field=f"labels[{i}]") for i, name in enumerate(request.labels)]
        changed = await self._conversations.set_labels(
            caller.tenant_id, caller.visibility, conversation, labels
        )
        return conversation_to_pb(changed)

    async def CreateConversationLabel(
        self, request: pb.CreateConversationLabelRequest, context: Context
    ) -> resources_pb2.ConversationLabel:
        caller = require_caller(context)
        label = await self._conversations.create_label(
            caller.tenant_id, request.conversation_label.display_name
        )
        return label_to_pb(label)

    async def ListConversationLabels(
        self, request: pb.ListConversationLabelsRequest, context: Context
    ) -> pb.ListConversationLabelsResponse:
        caller = require_caller(context)
        window = self._page_tokens.window(request, "conversationLabels")
        found = await self._conversations.list_labels(caller.tenant_id, window.after, window.limit)
        page, token = window.cut(found, _label_keys)
        return pb.ListConversationLabelsResponse(
            conversation_labels=[label_to_pb(label) for label in page], next_page_token=token
        )

    async def DeleteConversationLabel(
        self, request: pb.DeleteConversationLabelRequest, context: Context
    ) -> Empty:
        caller = require_caller(context)
        await self._conversations.delete_label(caller.tenant_id, label_id(request.name))
        return Empty()
