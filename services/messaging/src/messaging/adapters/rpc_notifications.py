"""MessagingService RPCs: the calling member's notifications."""

from __future__ import annotations

from typing import Any

from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import notifications_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.api.timestamps import timestamp_or_none, to_timestamp
from crosstalk_common.errors import FailedPrecondition, PreconditionViolation
from crosstalk_common.grpc.auth import Caller, require_caller
from messaging.app.notifications import Notifications, notification_name
from messaging.domain.notifications import Notification

Context = Any


def notification_to_pb(notification: Notification) -> notifications_pb2.Notification:
    return notifications_pb2.Notification(
        name=notification_name(notification.id),
        recipient=f"members/{notification.recipient}",
        title=notification.title,
        text=notification.text,
        source=notification.source,
        conversation=(
            f"conversations/{notification.conversation_id}" if notification.conversation_id else ""
        ),
        customer=notification.customer,
        create_time=to_timestamp(notification.created_at),
        read_time=timestamp_or_none(notification.read_at),
        email_state=notification.email_state.value,
    )


def _member(caller: Caller) -> str:
    """Notifications belong to members; an API key or a service has none."""
    if not caller.member_id:
        raise FailedPrecondition(
            [PreconditionViolation("PRINCIPAL", caller.subject, "only a member has notifications")]
        )
    return caller.member_id


class NotificationRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""

    _notifications: Notifications
    _page_tokens: PageTokenCodec

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        caller = require_caller(context)
        member = _member(caller)
        window = self._page_tokens.window(
            request, caller.tenant_id, member, "notifications", request.unread_only
        )
        fetched, unread = await self._notifications.page(
            caller.tenant_id,
            member,
            unread_only=request.unread_only,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(fetched, lambda n: [n.created_at.isoformat(), n.id])
        return pb.ListNotificationsResponse(
            notifications=[notification_to_pb(n) for n in page],
            next_page_token=token,
            unread_count=unread,
        )

    async def MarkNotificationRead(
        self, request: pb.MarkNotificationReadRequest, context: Context
    ) -> notifications_pb2.Notification:
        caller = require_caller(context)
        notification_id = resource_id(request.name, "notifications", field="name")
        marked = await self._notifications.mark_read(
            caller.tenant_id, _member(caller), notification_id
        )
        return notification_to_pb(marked)
