"""Replies, drafts, proactive messages and settings: the use cases with in-memory fakes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from crosstalk_common.visibility import Visibility
from messaging.app.replies import Replies
from messaging.app.settings import InboundTextLimit, Settings
from messaging.app.understanding import TextUnderstanding
from messaging.domain.conversation_projections import CustomerSnapshot
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.events import (
    ConversationOpened,
    ConversationStatusChanged,
    DeliveryRequested,
)
from messaging.domain.model import DeliveryState, Sender
from messaging.domain.replies import (
    CustomerProfile,
    MessagingSettings,
    Outbound,
    TranslationMode,
    TranslationSetting,
    effective_translation,
)

from .fakes import FakeTranslation
from .reply_fakes import (
    MARIA,
    T0,
    Clock,
    FakeBackTranslation,
    FakeProfiles,
    FakeUnitOfWork,
    FakeWorkingLanguages,
    Store,
)

ALL = Visibility.everything()
TENANT = "t-1"
AGENT = "members/ana"


class World:
    def __init__(self, similarity: float = 0.9) -> None:
        self.store = Store()
        self.translation = FakeBackTranslation(similarity)
        self.profiles = FakeProfiles()
        self.clock = Clock()
        understanding = TextUnderstanding(FakeTranslation(), FakeWorkingLanguages("en"))
        self.replies = Replies(
            lambda: FakeUnitOfWork(self.store),
            self.translation,
            self.profiles,
            understanding,
            clock=self.clock,
        )
        self.settings = Settings(lambda: FakeUnitOfWork(self.store), clock=self.clock)

    def events_of(self, kind: type) -> list:
        return [e for e in self.store.events if isinstance(e, kind)]


def reply(text: str = "Your order ships today.", **kw: object) -> Outbound:
    return Outbound(text=text, sent_by=AGENT, **kw)  # type: ignore[arg-type]


async def test_a_reply_is_translated_into_the_conversations_language_and_queued() -> None:
    w = World(similarity=0.82)
    w.store.conversation(TENANT, "c1")

    sent = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert w.translation.calls == [("Your order ships today.", "en", "es")]
    assert sent.text == "Your order ships today."
    assert sent.language == "en"
    assert sent.understanding.translated_text == "[es] Your order ships today."
    assert sent.understanding.translated_language == "es"
    assert sent.translation_check is not None
    assert sent.translation_check.similarity == 0.82
    assert sent.translation_check.threshold == 0.6
    assert sent.delivery_state is DeliveryState.QUEUED
    assert sent.sent_by == AGENT
    assert sent.sender == MARIA
    assert w.store.messages[sent.id] == sent
    conversation = w.store.conversations["c1"]
    assert conversation.status is ConversationStatus.REPLIED
    assert conversation.follow_ups == 0
    (changed,) = w.events_of(ConversationStatusChanged)
    assert changed.change.to_status is ConversationStatus.REPLIED
    (delivery,) = w.events_of(DeliveryRequested)
    assert delivery.message == sent
    assert delivery.channel_config == "channelConfigs/mail"
    assert delivery.subject == "Pedido 4711"
    assert delivery.in_reply_to == "<inbound-1@example.es>"


async def test_below_the_threshold_a_reply_is_held_as_a_draft_until_confirmed() -> None:
    w = World(similarity=0.4)
    w.store.conversation(TENANT, "c1")

    draft = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert draft.delivery_state is DeliveryState.DRAFT
    assert w.store.events == []  # nothing sent, no status change
    assert w.store.conversations["c1"].status is ConversationStatus.UNREAD
    assert w.store.conversations["c1"].follow_ups == 2

    sent = await w.replies.confirm_draft(TENANT, ALL, "c1", draft.id, "members/bo")

    assert sent.delivery_state is DeliveryState.QUEUED
    assert sent.sent_by == "members/bo"
    assert sent.understanding.translated_text == draft.understanding.translated_text
    assert w.store.messages[draft.id].delivery_state is DeliveryState.QUEUED
    assert w.store.conversations["c1"].status is ConversationStatus.REPLIED
    assert len(w.events_of(DeliveryRequested)) == 1
    with pytest.raises(FailedPrecondition) as refused:
        await w.replies.confirm_draft(TENANT, ALL, "c1", draft.id, AGENT)
    assert refused.value.reason == "NOT_A_DRAFT"


async def test_a_draft_confirmed_with_a_new_text_is_translated_again_and_sent_anyway() -> None:
    w = World(similarity=0.4)
    w.store.conversation(TENANT, "c1")
    draft = await w.replies.send_reply(TENANT, ALL, "c1", reply())
    w.translation.similarity = 0.3

    sent = await w.replies.confirm_draft(TENANT, ALL, "c1", draft.id, AGENT, text="It ships today.")

    assert w.translation.calls[-1] == ("It ships today.", "en", "es")
    assert sent.text == "It ships today."
    assert sent.understanding.translated_text == "[es] It ships today."
    assert sent.translation_check is not None
    assert sent.translation_check.similarity == 0.3
    assert sent.delivery_state is DeliveryState.QUEUED


async def test_a_draft_confirmed_with_the_agents_own_translation_is_sent_as_is() -> None:
    w = World(similarity=0.4)
    w.store.conversation(TENANT, "c1")
    draft = await w.replies.send_reply(TENANT, ALL, "c1", reply())
    calls = len(w.translation.calls)

    sent = await w.replies.confirm_draft(
        TENANT, ALL, "c1", draft.id, AGENT, translated_text="Su pedido sale hoy."
    )

    assert len(w.translation.calls) == calls
    assert sent.understanding.translated_text == "Su pedido sale hoy."
    assert sent.translation_check is None
    (delivery,) = w.events_of(DeliveryRequested)
    assert delivery.message.understanding.translated_text == "Su pedido sale hoy."


async def test_a_discarded_draft_is_gone_and_a_sent_message_cannot_be_discarded() -> None:
    w = World(similarity=0.4)
    w.store.conversation(TENANT, "c1")
    draft = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    await w.replies.discard_draft(TENANT, ALL, "c1", draft.id)

    assert draft.id not in w.store.messages
    with pytest.raises(NotFound):
        await w.replies.discard_draft(TENANT, ALL, "c1", draft.id)
    w.translation.similarity = 0.9
    sent = await w.replies.send_reply(TENANT, ALL, "c1", reply())
    with pytest.raises(FailedPrecondition):
        await w.replies.discard_draft(TENANT, ALL, "c1", sent.id)
    assert sent.id in w.store.messages


async def test_skip_translation_sends_the_text_as_written() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")

    sent = await w.replies.send_reply(TENANT, ALL, "c1", reply(skip_translation=True))

    assert w.translation.calls == []
    assert sent.understanding.translated_text == ""
    assert sent.translation_check is None
    assert sent.delivery_state is DeliveryState.QUEUED
    (delivery,) = w.events_of(DeliveryRequested)
    assert delivery.message.text == "Your order ships today."


async def test_a_reply_in_the_conversations_own_language_is_not_translated() -> None:
    w = World()
    w.store.conversation(TENANT, "c1", language="en-GB")

    sent = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert w.translation.calls == []
    assert sent.translation_check is None


async def test_a_repeated_request_id_returns_the_first_message_and_sends_nothing_more() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")
    request_id = str(uuid.uuid4())

    first = await w.replies.send_reply(TENANT, ALL, "c1", reply(request_id=request_id))
    again = await w.replies.send_reply(TENANT, ALL, "c1", reply(request_id=request_id))

    assert again == first
    assert len(w.store.messages) == 1
    assert len(w.events_of(DeliveryRequested)) == 1
    assert len(w.translation.calls) == 1


async def test_a_request_id_stored_concurrently_wins_and_nothing_else_is_written() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")
    request_id = str(uuid.uuid4())
    winner = await w.replies.send_reply(TENANT, ALL, "c1", reply(request_id=str(uuid.uuid4())))
    w.store.messages.clear()
    w.store.events.clear()
    w.store.racing = type(winner)(**{**winner.__dict__, "request_id": request_id})

    got = await w.replies.send_reply(TENANT, ALL, "c1", reply(request_id=request_id))

    assert got.id == winner.id
    assert list(w.store.messages) == [winner.id]
    assert w.store.events == []


async def test_translation_down_is_unavailable_and_writes_nothing() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")
    w.translation.down = True

    with pytest.raises(Unavailable) as failed:
        await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert failed.value.reason == "TRANSLATION_UNAVAILABLE"
    assert w.store.messages == {}
    assert w.store.events == []


async def test_bad_input_names_every_field_and_writes_nothing() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")

    with pytest.raises(InvalidArgument) as bad:
        await w.replies.send_reply(
            TENANT,
            ALL,
            "c1",
            reply(" ", language="not a language", request_id="abc", template="templates/x"),
        )

    assert {v.field for v in bad.value.violations} == {
        "text",
        "language",
        "request_id",
        "template",
    }
    with pytest.raises(InvalidArgument) as long:
        await w.replies.send_reply(TENANT, ALL, "c1", reply("x" * 10_001))
    assert [v.field for v in long.value.violations] == ["text"]
    assert w.store.messages == {}


async def test_a_template_the_tenant_does_not_have_is_refused_and_one_it_has_is_recorded() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")
    w.store.templates.add(("other-tenant", "t-theirs"))
    w.store.templates.add((TENANT, "t-mine"))

    for template in ("replyTemplates/t-theirs", "replyTemplates/t-gone"):
        with pytest.raises(InvalidArgument) as bad:
            await w.replies.send_reply(TENANT, ALL, "c1", reply(template=template))
        assert [v.field for v in bad.value.violations] == ["template"]
    assert w.store.messages == {}
    sent = await w.replies.send_reply(TENANT, ALL, "c1", reply(template="replyTemplates/t-mine"))
    assert sent.template == "replyTemplates/t-mine"


async def test_another_tenants_conversation_is_not_found() -> None:
    w = World()
    w.store.conversation("t-2", "c1")

    with pytest.raises(NotFound):
        await w.replies.send_reply(TENANT, ALL, "c1", reply())


async def test_rules_are_not_held_below_the_threshold() -> None:
    w = World(similarity=0.1)
    w.store.conversation(TENANT, "c1")

    sent = await w.replies.send_reply(
        TENANT, ALL, "c1", Outbound("Thanks!", "rules/r1", hold_below_threshold=False)
    )

    assert sent.delivery_state is DeliveryState.QUEUED
    assert sent.translation_check is not None
    assert sent.translation_check.similarity == 0.1
    assert len(w.events_of(DeliveryRequested)) == 1


# --- translation settings ---------------------------------------------------------------


def setting(subject: str, mode: TranslationMode | None, language: str = "", age: int = 0):
    at = T0 - timedelta(days=age)
    return TranslationSetting(f"s-{subject}", TENANT, subject, mode, language, at, at)


def test_a_customers_own_setting_wins_over_its_tags_and_the_tenant() -> None:
    own = setting("customers/maria", TranslationMode.AUTO)
    off_tag = setting("tags/vip", TranslationMode.OFF, "fr")

    effective = effective_translation(False, own, [off_tag])

    assert effective.translate is True
    assert effective.target_language == "fr"  # the customer's setting decides no language


def test_among_tags_the_oldest_setting_that_decides_a_field_wins() -> None:
    young = setting("tags/new", TranslationMode.OFF, "de", age=1)
    old = setting("tags/old", TranslationMode.AUTO, age=5)

    effective = effective_translation(True, None, [young, old])

    assert effective.translate is True
    assert effective.target_language == "de"
    assert effective_translation(False, None, []).translate is False


async def test_replies_apply_customer_and_tag_settings() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")
    w.store.snapshots[(TENANT, "customers/maria")] = CustomerSnapshot(
        "customers/maria", 1, tags=("tags/fr-market",)
    )
    await w.settings.set_translation(TENANT, "tags/fr-market", None, "fr")

    to_french = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert to_french.understanding.translated_language == "fr"
    await w.settings.set_translation(TENANT, "customers/maria", TranslationMode.OFF, "")
    as_written = await w.replies.send_reply(TENANT, ALL, "c1", reply())
    assert as_written.translation_check is None
    assert w.translation.calls == [("Your order ships today.", "en", "fr")]


async def test_the_tenants_auto_translate_off_sends_replies_as_written() -> None:
    w = World()
    w.store.conversation(TENANT, "c1")
    await w.settings.update(
        TENANT, MessagingSettings(TENANT, auto_translate=False), ["auto_translate"], ""
    )

    sent = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert sent.translation_check is None
    assert w.translation.calls == []


async def test_a_translation_setting_needs_a_subject_and_something_to_decide() -> None:
    w = World()
    with pytest.raises(InvalidArgument) as bad:
        await w.settings.set_translation(TENANT, "members/x", None, "nope nope")
    assert {v.field for v in bad.value.violations} == {"subject", "target_language"}
    with pytest.raises(InvalidArgument) as empty:
        await w.settings.set_translation(TENANT, "tags/vip", None, "")
    assert [v.field for v in empty.value.violations] == ["mode"]


# --- messaging settings -----------------------------------------------------------------


async def test_settings_default_then_change_by_path_with_etags() -> None:
    w = World()
    defaults = await w.settings.get(TENANT)
    assert (defaults.reply_similarity_threshold, defaults.max_inbound_text_bytes) == (0.6, 65536)
    assert (defaults.send_csat_on_close, defaults.auto_translate) == (False, True)

    wanted = MessagingSettings(TENANT, reply_similarity_threshold=1.0, send_csat_on_close=True)
    changed = await w.settings.update(TENANT, wanted, ["reply_similarity_threshold"], "")

    assert changed.reply_similarity_threshold == 1.0
    assert changed.send_csat_on_close is False  # not in the paths
    assert changed.etag != defaults.etag
    with pytest.raises(Aborted):
        await w.settings.update(TENANT, wanted, ["send_csat_on_close"], defaults.etag)
    with pytest.raises(InvalidArgument) as bad:
        await w.settings.update(
            TENANT,
            MessagingSettings(TENANT, reply_similarity_threshold=1.5, max_inbound_text_bytes=10),
            ["reply_similarity_threshold", "max_inbound_text_bytes"],
            changed.etag,
        )
    assert {v.field for v in bad.value.violations} == {
        "reply_similarity_threshold",
        "max_inbound_text_bytes",
    }


async def test_the_threshold_setting_decides_what_is_held() -> None:
    w = World(similarity=0.95)
    w.store.conversation(TENANT, "c1")
    wanted = MessagingSettings(TENANT, reply_similarity_threshold=1.0)
    await w.settings.update(TENANT, wanted, ["reply_similarity_threshold"], "")

    held = await w.replies.send_reply(TENANT, ALL, "c1", reply())

    assert held.delivery_state is DeliveryState.DRAFT
    assert held.translation_check is not None
    assert held.translation_check.threshold == 1.0


async def test_inbound_text_over_the_tenants_limit_is_refused_naming_text() -> None:
    w = World()
    now = [0.0]
    limit = InboundTextLimit(lambda: FakeUnitOfWork(w.store), clock=lambda: now[0])
    await w.settings.update(
        TENANT,
        MessagingSettings(TENANT, max_inbound_text_bytes=2048),
        ["max_inbound_text_bytes"],
        "",
    )

    await limit.check(TENANT, "é" * 1024)  # 2,048 bytes
    with pytest.raises(InvalidArgument) as bad:
        await limit.check(TENANT, "é" * 1025)
    assert [v.field for v in bad.value.violations] == ["text"]
    await limit.check("other-tenant", "x" * 60_000)  # the default 64 KiB
    with pytest.raises(InvalidArgument):
        await limit.check("other-tenant", "x" * 65_537)


# --- proactive messages -----------------------------------------------------------------


def maria(**kw: object) -> CustomerProfile:
    return CustomerProfile(  # type: ignore[arg-type]
        **{"name": "customers/maria", "language": "es", "identities": (MARIA,), **kw}
    )


async def test_a_proactive_message_opens_a_conversation_on_the_preferred_identity() -> None:
    w = World()
    w.profiles.profiles["customers/maria"] = maria()

    sent = await w.replies.send_proactive(
        TENANT, ALL, "customers/maria", reply("Happy new year!"), subject="Greetings"
    )

    assert sent.sender == MARIA
    assert sent.understanding.translated_language == "es"
    conversation = w.store.conversations[sent.conversation_id]
    assert conversation.status is ConversationStatus.REPLIED
    assert [type(e) for e in w.store.events] == [
        ConversationOpened,
        ConversationStatusChanged,
        DeliveryRequested,
    ]
    assert w.events_of(DeliveryRequested)[0].subject == "Greetings"


async def test_a_proactive_message_reuses_the_identitys_conversation() -> None:
    w = World()
    w.profiles.profiles["customers/maria"] = maria()
    w.store.conversation(TENANT, "c1")

    sent = await w.replies.send_proactive(TENANT, ALL, "customers/maria", reply())

    assert sent.conversation_id == "c1"
    assert w.events_of(ConversationOpened) == []


async def test_a_blacklisted_customer_gets_no_proactive_message() -> None:
    w = World()
    w.profiles.profiles["customers/maria"] = maria(blacklisted=True)

    with pytest.raises(FailedPrecondition) as refused:
        await w.replies.send_proactive(TENANT, ALL, "customers/maria", reply())

    assert refused.value.reason == "CUSTOMER_BLACKLISTED"
    assert w.store.messages == {}
    assert w.store.conversations == {}


async def test_a_proactive_message_goes_only_to_the_customers_own_identities() -> None:
    w = World()
    w.profiles.profiles["customers/maria"] = maria()

    with pytest.raises(InvalidArgument) as bad:
        await w.replies.send_proactive(
            TENANT,
            ALL,
            "customers/maria",
            reply(),
            identity=Sender(Channel.EMAIL, "someone@else.com"),
        )
    assert [v.field for v in bad.value.violations] == ["identity"]
    with pytest.raises(FailedPrecondition) as none:
        await w.replies.send_proactive(
            TENANT, ALL, "customers/maria", reply(), channel=Channel.WHATSAPP
        )
    assert none.value.reason == "NO_CHANNEL_IDENTITY"
    assert w.store.messages == {}
