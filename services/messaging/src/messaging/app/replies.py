"""Agent replies, drafts and proactive messages (core_loop §6, issue 15 deliverable 2).

A reply is written in the working language. Unless it is sent as written
(``skip_translation``, or translation switched off for the customer, one of their tags or
the tenant), translation translates it into the conversation's language (or the target
language a setting names) and back (BackTranslate: glossary and do-not-translate terms
apply); the similarity is stored on the message. Below the tenant's threshold it is
stored as a DRAFT: nothing is sent and the conversation does not change until the agent
confirms it. Otherwise the message (QUEUED), the conversation's new state (REPLIED,
follow-ups reset) and message.delivery_requested commit together; the channel adapter
delivers it and reports message.sent or message.delivery_failed.

Nothing is held open across a call to another service: settings and the conversation are
read in one unit of work, translation is asked, and the writes happen in a second one
that reads the conversation's state again. A ``request_id`` seen before returns the stored
message (also when two calls race: the unique index decides, the loser writes nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    Unavailable,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.ports import ServiceUnavailable
from messaging.app.reply_ports import (
    BackTranslationPort,
    CustomerProfiles,
    ReplyUnitOfWork,
)
from messaging.app.understanding import TextUnderstanding
from messaging.domain.conversation import Conversation
from messaging.domain.conversation_projections import CustomerSnapshot
from messaging.domain.events import ConversationOpened, ConversationStatusChanged, DeliveryRequested
from messaging.domain.model import (
    DeliveryState,
    Direction,
    Message,
    Sender,
    TranslationCheck,
    Understanding,
)
from messaging.domain.replies import (
    UNDETERMINED,
    CustomerProfile,
    MessagingSettings,
    Outbound,
    chosen_identity,
    effective_translation,
    held_as_draft,
    known_language,
    needs_translation,
    refuse_blacklisted,
    text_problem,
)

MESSAGE_TYPE = "crosstalk.io/Message"
CONVERSATION_TYPE = "crosstalk.io/Conversation"


def _message_name(conversation_id: str, message_id: str) -> str:
    return f"conversations/{conversation_id}/messages/{message_id}"


@dataclass(frozen=True)
class _Translated:
    """What is sent: the text in the customer's language (or as written) and its check."""

    source_language: str
    translated_text: str = ""
    translated_language: str = ""
    check: TranslationCheck | None = None

    @property
    def held(self) -> bool:
        return self.check is not None and held_as_draft(self.check.similarity, self.check.threshold)


@dataclass(frozen=True)
class Replies:
    new_uow: UnitOfWorkFactory[ReplyUnitOfWork]
    translation: BackTranslationPort
    profiles: CustomerProfiles
    understanding: TextUnderstanding
    clock: Callable[[], datetime] = utc_now

    # --- SendReply ----------------------------------------------------------------------

    async def send_reply(
        self, tenant_id: str, visibility: Visibility, conversation_id: str, outbound: Outbound
    ) -> Message:
        """Reply on a conversation the caller may see (NOT_FOUND otherwise)."""
        if problems := outbound.problems():
            raise InvalidArgument(problems)
        if stored := await self._already_sent(tenant_id, outbound.request_id):
            return stored
        async with self.new_uow() as uow:
            conversation = await self._conversation(uow, tenant_id, visibility, conversation_id)
            await _check_template(uow, tenant_id, outbound.template)
            settings = await uow.settings.get(tenant_id)
            snapshot = await uow.customer_snapshots.get(tenant_id, conversation.customer)
        translated = await self._translate(
            tenant_id,
            conversation.customer,
            conversation.language,
            _profile(snapshot),
            settings,
            outbound,
        )
        async with self.new_uow() as uow:
            conversation = await self._conversation(
                uow, tenant_id, visibility, conversation_id, for_update=True
            )
            message = self._outbound_message(tenant_id, conversation, outbound, translated)
            if not await uow.replies.add_outbound(message):
                return await self._stored(uow, tenant_id, outbound.request_id)
            if message.delivery_state is DeliveryState.QUEUED:
                await self._answered(uow, conversation, message)
            await uow.commit()
        return message

    # --- SendProactiveMessage -----------------------------------------------------------

    async def send_proactive(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer: str,
        outbound: Outbound,
        *,
        identity: Sender | None = None,
        channel: Channel | None = None,
        subject: str = "",
    ) -> Message:
        """Write to a customer first, on the conversation of ``identity`` (else their
        preferred one: that of their latest conversation, else their first identity),
        opened if they have none there. A blacklisted customer is FAILED_PRECONDITION."""
        if problems := outbound.problems():
            raise InvalidArgument(problems)
        if stored := await self._already_sent(tenant_id, outbound.request_id):
            return stored
        profile = await self.profiles.profile(tenant_id, customer)
        refuse_blacklisted(profile)
        async with self.new_uow() as uow:
            await _check_template(uow, tenant_id, outbound.template)
            recent_id = await uow.replies.latest_conversation_id(tenant_id, profile.name, channel)
            recent = (
                await uow.conversations.get(tenant_id, visibility, recent_id) if recent_id else None
            )
            settings = await uow.settings.get(tenant_id)
        recipient = chosen_identity(profile, identity, channel, recent.sender if recent else None)
        same = recent is not None and recent.sender == recipient
        language = recent.language if same and recent else ""
        if not known_language(language):
            language = profile.language
        translated = await self._translate(
            tenant_id, profile.name, language, profile, settings, outbound
        )
        now = self.clock()
        async with self.new_uow() as uow:
            snapshot = await uow.customer_snapshots.get(tenant_id, profile.name)
            conversation, opened = await uow.conversations.join_or_open(
                tenant_id, profile.name, recipient, "", subject, now, snapshot
            )
            if subject and not conversation.subject:
                conversation = replace(conversation, subject=subject)
            message = self._outbound_message(tenant_id, conversation, outbound, translated)
            if not await uow.replies.add_outbound(message):
                return await self._stored(uow, tenant_id, outbound.request_id)
            if opened:
                await uow.record(ConversationOpened(message))
            if message.delivery_state is DeliveryState.QUEUED:
                await self._answered(uow, conversation, message, subject=subject)
            elif opened:
                await uow.conversations.save(conversation)
            await uow.commit()
        return message

    # --- drafts -------------------------------------------------------------------------

    async def confirm_draft(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        message_id: str,
        confirmed_by: str,
        *,
        text: str = "",
        translated_text: str = "",
    ) -> Message:
        """Send a draft: as it is, with a new text (translated again, sent whatever its
        similarity), or with the agent's own translation (sent as is, unchecked)."""
        problems = [
            p
            for p in (
                text_problem(text, "text", required=False),
                text_problem(translated_text, "translated_text", required=False),
            )
            if p is not None
        ]
        if problems:
            raise InvalidArgument(problems)
        async with self.new_uow() as uow:
            await self._conversation(uow, tenant_id, visibility, conversation_id)
            draft = await self._draft(uow, tenant_id, conversation_id, message_id)
            settings = await uow.settings.get(tenant_id)
        understood = draft.understanding
        check = draft.translation_check
        if translated_text:
            understood = replace(understood, translated_text=translated_text)
            check = None
        elif text:
            redone = await self._back_translate(
                draft.language if draft.language != UNDETERMINED else "",
                understood.translated_language,
                text,
                settings,
            )
            understood = replace(understood, translated_text=redone.translated_text)
            check = redone.check
        sent = replace(
            draft,
            text=text or draft.text,
            understanding=understood,
            translation_check=check,
            delivery_state=DeliveryState.QUEUED,
            sent_by=confirmed_by,
            created_at=self.clock(),
        )
        async with self.new_uow() as uow:
            conversation = await self._conversation(
                uow, tenant_id, visibility, conversation_id, for_update=True
            )
            if not await uow.replies.queue_draft(sent):
                raise _not_a_draft(_message_name(conversation_id, message_id))
            await self._answered(uow, conversation, sent)
            await uow.commit()
        return sent

    async def discard_draft(
        self, tenant_id: str, visibility: Visibility, conversation_id: str, message_id: str
    ) -> None:
        async with self.new_uow() as uow:
            await self._conversation(uow, tenant_id, visibility, conversation_id)
            if not await uow.replies.delete_draft(tenant_id, conversation_id, message_id):
                await self._draft(uow, tenant_id, conversation_id, message_id)  # says why
                raise _not_a_draft(_message_name(conversation_id, message_id))
            await uow.commit()

    # --- helpers ------------------------------------------------------------------------

    async def _conversation(
        self,
        uow: ReplyUnitOfWork,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        *,
        for_update: bool = False,
    ) -> Conversation:
        found = await uow.conversations.get(
            tenant_id, visibility, conversation_id, for_update=for_update
        )
        if found is None:
            raise NotFound(CONVERSATION_TYPE, f"conversations/{conversation_id}")
        return found

    async def _already_sent(self, tenant_id: str, request_id: str) -> Message | None:
        if not request_id:
            return None
        async with self.new_uow() as uow:
            return await uow.replies.find_by_request_id(tenant_id, request_id)

    async def _stored(self, uow: ReplyUnitOfWork, tenant_id: str, request_id: str) -> Message:
        """The message another call stored with the same request id (it won the race)."""
        stored = await uow.replies.find_by_request_id(tenant_id, request_id)
        if stored is None:
            raise RuntimeError(f"request id {request_id} taken but no message holds it")
        return stored

    async def _draft(
        self, uow: ReplyUnitOfWork, tenant_id: str, conversation_id: str, message_id: str
    ) -> Message:
        message = await uow.replies.get_outbound(tenant_id, conversation_id, message_id)
        if message is None:
            raise NotFound(MESSAGE_TYPE, _message_name(conversation_id, message_id))
        if message.delivery_state is not DeliveryState.DRAFT:
            raise _not_a_draft(_message_name(conversation_id, message_id))
        return message

    async def _translate(
        self,
        tenant_id: str,
        customer: str,
        conversation_language: str,
        profile: CustomerProfile | None,
        settings: MessagingSettings,
        outbound: Outbound,
    ) -> _Translated:
        """Whether and into what the text is translated (settings: the customer's, their
        tags', the tenant's), and the translation with its check."""
        source = outbound.language or await self.understanding.working_language(tenant_id)
        if outbound.skip_translation:
            return _Translated(source)
        async with self.new_uow() as uow:
            own = await uow.translation_settings.of_subjects(tenant_id, [customer])
            any_tags = await uow.translation_settings.has_tag_settings(tenant_id)
        customer_setting = own[0] if own else None
        decided = (
            customer_setting is not None
            and customer_setting.mode is not None
            and bool(customer_setting.target_language)
        )
        tag_settings = []
        if any_tags and not decided:
            if profile is None:
                profile = await self.profiles.profile(tenant_id, customer)
            if profile.tags:
                async with self.new_uow() as uow:
                    tag_settings = await uow.translation_settings.of_subjects(
                        tenant_id, list(profile.tags)
                    )
        effective = effective_translation(settings.auto_translate, customer_setting, tag_settings)
        target = effective.target_language or (
            conversation_language if known_language(conversation_language) else ""
        )
        if not target and profile is not None:
            target = profile.language
        if not effective.translate or not needs_translation(source, target):
            return _Translated(source)
        return await self._back_translate(source, target, outbound.text, settings)

    async def _back_translate(
        self, source: str, target: str, text: str, settings: MessagingSettings
    ) -> _Translated:
        try:
            back = await self.translation.back_translate(text, source, target)
        except ServiceUnavailable as exc:
            raise Unavailable(
                f"the reply could not be translated into {target} ({exc}); try again, or send"
                " it as written with skip_translation",
                reason="TRANSLATION_UNAVAILABLE",
                retry_after=5,
            ) from exc
        check = TranslationCheck(
            back.back_translated_text,
            back.similarity,
            settings.reply_similarity_threshold,
            back.engine,
        )
        return _Translated(source, back.translated_text, target, check)

    def _outbound_message(
        self,
        tenant_id: str,
        conversation: Conversation,
        outbound: Outbound,
        translated: _Translated,
    ) -> Message:
        held = translated.held and outbound.hold_below_threshold
        language = translated.source_language or UNDETERMINED
        return Message(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            conversation_id=conversation.id,
            customer=conversation.customer,
            sender=conversation.sender,
            direction=Direction.OUTBOUND,
            text=outbound.text,
            language=language,
            external_id="",
            created_at=self.clock(),
            understanding=Understanding(
                language=language,
                translated_text=translated.translated_text,
                translated_language=translated.translated_language,
            ),
            sent_by=outbound.sent_by,
            template=outbound.template,
            template_version=outbound.template_version,
            delivery_state=DeliveryState.DRAFT if held else DeliveryState.QUEUED,
            translation_check=translated.check,
            request_id=outbound.request_id,
            cause_event_id=outbound.cause_event_id,
        )

    async def _answered(
        self,
        uow: ReplyUnitOfWork,
        conversation: Conversation,
        message: Message,
        *,
        subject: str = "",
    ) -> None:
        """In the caller's transaction: the conversation is answered (REPLIED, follow-ups
        reset, announced when the status moved) and the message's delivery requested."""
        answered, change = conversation.record_agent_reply(message.created_at, message.sent_by)
        saved = await uow.conversations.save(answered)
        if change is not None:
            await uow.record(ConversationStatusChanged(saved, change, message.cause_event_id))
        in_reply_to = await uow.replies.last_inbound_external_id(message.tenant_id, conversation.id)
        await uow.record(
            DeliveryRequested(
                message,
                channel_config=conversation.channel_config,
                subject=subject or conversation.subject,
                in_reply_to=in_reply_to,
            )
        )


def _profile(snapshot: CustomerSnapshot | None) -> CustomerProfile | None:
    """What messaging's customer projection knows, as a profile (None: ask customers)."""
    if snapshot is None:
        return None
    return CustomerProfile(
        name=snapshot.customer,
        language=snapshot.language,
        tags=snapshot.tags,
        blacklisted=snapshot.blacklisted,
    )


def _not_a_draft(name: str) -> FailedPrecondition:
    return FailedPrecondition(
        [PreconditionViolation("DELIVERY_STATE", name, f"{name} is not a draft (anymore)")],
        reason="NOT_A_DRAFT",
    )


async def _check_template(uow: ReplyUnitOfWork, tenant_id: str, template: str) -> None:
    """The template a message says it was written from is one of the tenant's: the
    name is recorded on the message and its message.sent event, so a deleted one, a
    typo or another tenant's is refused rather than stored."""
    template_id = template.removeprefix("replyTemplates/")
    if template and await uow.templates.get(tenant_id, template_id) is None:
        raise InvalidArgument.field("template", f"{template} does not exist in this tenant")
