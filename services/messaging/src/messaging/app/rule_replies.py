"""A rule's reply goes out as an agent's would: the replies area's SendReply use case."""

from __future__ import annotations

from dataclasses import dataclass

from crosstalk_common.visibility import Visibility
from messaging.app.replies import Replies
from messaging.domain.replies import Outbound


@dataclass(frozen=True)
class RepliesAsRule:
    """The ReplySender port of rule actions over ``Replies.send_reply``: the rendered text
    is already in the customer's language, so it is sent as written, and a low
    similarity never holds it (nobody is there to confirm a draft)."""

    replies: Replies

    async def send_as_rule(
        self,
        tenant_id: str,
        conversation_id: str,
        *,
        text: str,
        language: str,
        template: str,
        sent_by: str,
        template_version: int = 0,
        request_id: str,
        cause_event_id: str,
    ) -> str:
        message = await self.replies.send_reply(
            tenant_id,
            Visibility.everything(),
            conversation_id,
            Outbound(
                text=text,
                sent_by=sent_by,
                language=language,
                skip_translation=True,
                template=template,
                template_version=template_version,
                request_id=request_id,
                cause_event_id=cause_event_id,
                hold_below_threshold=False,
            ),
        )
        return f"conversations/{message.conversation_id}/messages/{message.id}"
