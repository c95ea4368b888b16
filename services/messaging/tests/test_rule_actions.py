"""Rule actions messaging applies, delivered as rule.action.* events through the real
consumer path (``in_unit_of_work`` + ``consumers.on_rule_action``, one transaction per
event as EventConsumer runs it) on a migrated database (SQLite, or PostgreSQL with
CROSSTALK_TEST_DB=postgres), with fakes only for the peers (customers, translation)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message as ProtoMessage
from sqlalchemy import func, select

from crosstalk.common.v1 import assignment_pb2, priority_pb2
from crosstalk.events.v1 import identity_events_pb2, rule_events_pb2
from crosstalk.messaging.v1 import cases_pb2, resources_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.domain.channel import Channel
from crosstalk_common.grpc.auth import Caller, acting_as, require_caller
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.adapters.consumers import (
    ActingFor,
    on_member_contact,
    on_rule_action,
    on_rule_disabled,
)
from messaging.adapters.tables import messages, notifications, outbox, rule_action_applications
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.cases import Cases
from messaging.app.conversations import ConversationService, apply_customer_snapshot, apply_member
from messaging.app.notifications import Notifications
from messaging.app.replies import Replies
from messaging.app.rule_actions import RuleActions
from messaging.app.rule_replies import RepliesAsRule
from messaging.app.template_ports import CustomerFacts
from messaging.app.templates import TemplateRenderer, TemplateService, TemplateUser
from messaging.app.understanding import TextUnderstanding
from messaging.domain.conversation import Conversation, Priority
from messaging.domain.conversation_assignment import AssignStrategy
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.model import Sender
from messaging.domain.templates import (
    TemplateBody,
    TemplateContent,
    TemplateVariable,
    TemplateVisibility,
)

from .conftest import Sessions, outbox_events
from .fakes import FakeTranslation, FakeWorkingLanguages
from .reply_fakes import FakeBackTranslation, FakeProfiles

NewUow = Callable[[], MessagingUnitOfWork]
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ALL = Visibility.everything()
RULE = "rules/r-1"
OUTCOME = rule_events_pb2.RuleActionOutcome


class FakeCustomerFacts:
    def __init__(self) -> None:
        self.known: dict[str, CustomerFacts] = {}

    async def facts(self, tenant_id: str, customer: str, *, with_order: bool) -> CustomerFacts:
        return self.known.get(customer, CustomerFacts("", {}))


class World:
    def __init__(
        self,
        sessions: Sessions,
        new_uow: NewUow,
        tenant: str,
        acting_for: ActingFor | None = None,
    ) -> None:
        self.sessions = sessions
        self.new_uow = new_uow
        self.tenant = tenant
        self.facts = FakeCustomerFacts()
        self.translation = FakeTranslation(translations={})

        def actions_of(uow: UnitOfWorkFactory[MessagingUnitOfWork]) -> RuleActions:
            understanding = TextUnderstanding(self.translation, FakeWorkingLanguages("en"))
            return RuleActions(
                uow,
                ConversationService(uow),
                Cases(uow),
                Notifications(uow, email_enabled=True),
                TemplateRenderer(uow, self.facts, self.translation),
                RepliesAsRule(Replies(uow, FakeBackTranslation(), FakeProfiles(), understanding)),
            )

        self.handler = in_unit_of_work(
            MessagingUnitOfWork, outbox, on_rule_action(actions_of, acting_for)
        )
        self.contacts = in_unit_of_work(MessagingUnitOfWork, outbox, on_member_contact)
        self.run = f"{RULE}/runs/{uuid.uuid4()}"

    async def deliver(self, payload: ProtoMessage, *, event_id: str = "") -> str:
        """What the consumer does with one event: the handler in one transaction."""
        _, envelope = new_envelope(
            self.tenant,
            payload,
            occurred_at=datetime.now(UTC),
            trace_context={},
            event_id=event_id or str(uuid.uuid4()),
        )
        event = Event(envelope, payload)
        async with self.sessions() as session, session.begin():
            await self.handler(session, event)
        return event.event_id

    async def member(
        self, member_id: str, *, groups: tuple[str, ...] = (), leads: tuple[str, ...] = ()
    ) -> None:
        await apply_member(
            self.new_uow,
            self.tenant,
            MemberProfile(member=f"members/{member_id}", display_name=member_id, groups=groups),
            T0,
        )
        payload = identity_events_pb2.MemberCreated(
            member=f"members/{member_id}",
            email=f"{member_id}@team.example",
            display_name=member_id,
            groups=list(groups),
            enabled=True,
            led_groups=list(leads),
        )
        _, envelope = new_envelope(
            self.tenant, payload, occurred_at=T0, trace_context={}, event_id=str(uuid.uuid4())
        )
        async with self.sessions() as session, session.begin():
            await self.contacts(session, Event(envelope, payload))

    async def conversation(self, customer: str = "") -> Conversation:
        customer = customer or f"customers/{uuid.uuid4()}"
        sender = Sender(Channel.EMAIL, f"{uuid.uuid4().hex[:8]}@buyer.example", "")
        async with self.new_uow() as uow:
            conversation, _ = await uow.conversations.join_or_open(
                self.tenant, customer, sender, "", "", T0, None
            )
            conversation, _ = conversation.record_inbound(T0, "es")
            saved = await uow.conversations.save(conversation)
            await uow.commit()
        return saved

    async def get(self, conversation_id: str) -> Conversation:
        return await ConversationService(self.new_uow).get(self.tenant, ALL, conversation_id)

    async def completed(self) -> list[rule_events_pb2.RuleActionCompleted]:
        return [
            e
            for k, e in await outbox_events(self.sessions, self.tenant)
            if k == "rule.action.completed" and isinstance(e, rule_events_pb2.RuleActionCompleted)
        ]

    async def count(self, query: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(query) or 0)


@pytest.fixture
def world(sessions: Sessions, new_uow: NewUow, tenant: str) -> World:
    return World(sessions, new_uow, tenant)


def name(conversation: Conversation) -> str:
    return f"conversations/{conversation.id}"


async def test_status_and_priority_apply_once_and_report_success(world: World) -> None:
    conversation = await world.conversation()
    status = rule_events_pb2.RuleActionStatusRequested(
        rule=RULE,
        run=world.run,
        action_index=0,
        customer=conversation.customer,
        conversation=name(conversation),
        status=resources_pb2.CONVERSATION_STATUS_IN_PROGRESS,
    )
    priority = rule_events_pb2.RuleActionPriorityRequested(
        rule=RULE,
        run=world.run,
        action_index=1,
        conversation=name(conversation),
        priority=priority_pb2.PRIORITY_URGENT,
    )
    await world.deliver(status)
    await world.deliver(priority)
    stored = await world.get(conversation.id)
    assert stored.status is ConversationStatus.IN_PROGRESS
    assert stored.priority is Priority.URGENT
    done = await world.completed()
    assert [(c.action_index, c.action_type, c.outcome) for c in done] == [
        (0, "rule.action.status", OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED),
        (1, "rule.action.priority", OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED),
    ]
    assert (done[0].rule, done[0].run, done[0].result) == (RULE, world.run, name(conversation))
    kinds = [k for k, _ in await outbox_events(world.sessions, world.tenant)]
    assert kinds.count("conversation.status_changed") == 1

    # The same action published again (a new event id): nothing changes, nothing is announced.
    await world.deliver(status)
    await world.deliver(priority)
    assert len(await world.completed()) == 2
    assert [k for k, _ in await outbox_events(world.sessions, world.tenant)] == kinds


async def test_a_note_is_stored_as_an_internal_note_by_the_rule(world: World) -> None:
    conversation = await world.conversation()
    await world.deliver(
        rule_events_pb2.RuleActionNoteRequested(
            rule=RULE,
            run=world.run,
            action_index=3,
            conversation=name(conversation),
            text="VIP: answer within the hour",
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED
    message_id = done.result.rpartition("/")[2]
    async with world.sessions() as session:
        row = (await session.execute(select(messages).where(messages.c.id == message_id))).one()
    assert (row.text, row.internal_note, row.sent_by) == ("VIP: answer within the hour", True, RULE)


async def test_failures_and_skips_are_reported_with_a_reason(world: World) -> None:
    conversation = await world.conversation()
    await world.deliver(  # UNREAD cannot be set by hand
        rule_events_pb2.RuleActionStatusRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            status=resources_pb2.CONVERSATION_STATUS_UNREAD,
        )
    )
    await world.deliver(  # a conversation that is not there
        rule_events_pb2.RuleActionPriorityRequested(
            rule=RULE,
            run=world.run,
            action_index=1,
            conversation=f"conversations/{uuid.uuid4()}",
            priority=priority_pb2.PRIORITY_HIGH,
        )
    )
    await world.deliver(  # no conversation in the trigger
        rule_events_pb2.RuleActionNoteRequested(rule=RULE, run=world.run, action_index=2, text="x")
    )
    await world.deliver(  # a member nobody knows
        rule_events_pb2.RuleActionAssignRequested(
            rule=RULE,
            run=world.run,
            action_index=3,
            conversation=name(conversation),
            assignee="members/ghost",
        )
    )
    outcomes = [(c.action_index, c.outcome, c.reason) for c in await world.completed()]
    assert [o[:2] for o in outcomes] == [
        (0, OUTCOME.RULE_ACTION_OUTCOME_FAILED),
        (1, OUTCOME.RULE_ACTION_OUTCOME_SKIPPED),
        (2, OUTCOME.RULE_ACTION_OUTCOME_SKIPPED),
        (3, OUTCOME.RULE_ACTION_OUTCOME_SKIPPED),
    ]
    assert all(reason for _, _, reason in outcomes)
    assert "no conversation" in outcomes[2][2]
    assert (await world.get(conversation.id)).status is ConversationStatus.UNREAD
    assert (
        await world.count(
            select(func.count())
            .select_from(rule_action_applications)
            .where(rule_action_applications.c.tenant_id == world.tenant)
        )
        == 4
    )


async def test_assign_to_a_group_picks_a_member_by_strategy(world: World) -> None:
    await world.member("ana", groups=("groups/desk",))
    conversation = await world.conversation()
    await world.deliver(
        rule_events_pb2.RuleActionAssignRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            assignee_group="groups/desk",
            strategy=assignment_pb2.ASSIGN_STRATEGY_LEAST_BUSY,
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    stored = await world.get(conversation.id)
    assert (stored.assignee, stored.assignee_group) == ("members/ana", "groups/desk")


async def test_escalate_raises_priority_hands_to_the_group_lead_and_notifies(
    world: World,
) -> None:
    await world.member("ana", groups=("groups/desk",))
    await world.member("lead", groups=("groups/desk",), leads=("groups/desk",))
    conversation = await world.conversation()
    await world.deliver(
        rule_events_pb2.RuleActionEscalateRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            reason="angry VIP",
            assignee_group="groups/desk",
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    stored = await world.get(conversation.id)
    assert stored.priority is Priority.HIGH
    assert stored.assignee == "members/lead"
    assert stored.status is ConversationStatus.EXCEPTION
    async with world.sessions() as session:
        rows = (
            await session.execute(
                select(notifications).where(notifications.c.tenant_id == world.tenant)
            )
        ).all()
    assert [(r.recipient, r.title, r.email_state, r.email_to) for r in rows] == [
        ("lead", "Escalated to you: angry VIP", "pending", "lead@team.example")
    ]


async def test_a_case_is_opened_once_per_action(world: World) -> None:
    conversation = await world.conversation()
    action = rule_events_pb2.RuleActionCaseRequested(
        rule=RULE,
        run=world.run,
        action_index=0,
        customer=conversation.customer,
        conversation=name(conversation),
        case_type=cases_pb2.CASE_TYPE_REFUND,
        reason="damaged",
        order_external_id="A-1001",
        priority=priority_pb2.PRIORITY_HIGH,
    )
    await world.deliver(action)
    await world.deliver(action)
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    case = await Cases(world.new_uow).get(world.tenant, ALL, done.result.removeprefix("cases/"))
    assert (case.customer, case.order_external_id, case.created_by) == (
        conversation.customer,
        "A-1001",
        RULE,
    )
    opened = [e for k, e in await outbox_events(world.sessions, world.tenant) if k == "case.opened"]
    assert len(opened) == 1
    assert opened[0].cause_event_id  # type: ignore[attr-defined]

    missing_order = rule_events_pb2.RuleActionCaseRequested(
        rule=RULE, run=world.run, action_index=1, customer=conversation.customer,
        case_type=cases_pb2.CASE_TYPE_RETURN,
    )  # fmt: skip
    await world.deliver(missing_order)
    failed = (await world.completed())[-1]
    assert failed.outcome == OUTCOME.RULE_ACTION_OUTCOME_FAILED
    assert "order_external_id" in failed.reason


async def test_notify_reaches_named_members_and_the_assignee(world: World) -> None:
    await world.member("ana", groups=("groups/desk",))
    await world.member("bo")
    conversation = await world.conversation()
    await ConversationService(world.new_uow).assign(
        world.tenant,
        ALL,
        conversation.id,
        assignee="members/ana",
        assignee_group="",
        strategy=AssignStrategy.ROUND_ROBIN,
        actor="members/x",
    )
    await world.deliver(
        rule_events_pb2.RuleActionNotifyRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            members=["members/bo"],
            notify_assignee=True,
            title="Refund over 500 EUR",
            text="Please check",
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    assert done.result.startswith("notifications/")
    listed = {}
    for member in ("ana", "bo"):
        page, unread = await Notifications(world.new_uow).page(
            world.tenant, member, unread_only=False, after=[], limit=10
        )
        listed[member] = ([(n.title, n.source, n.conversation_id) for n in page], unread)
    assert listed == {
        "ana": ([("Refund over 500 EUR", RULE, conversation.id)], 1),
        "bo": ([("Refund over 500 EUR", RULE, conversation.id)], 1),
    }
    await world.deliver(
        rule_events_pb2.RuleActionNotifyRequested(rule=RULE, run=world.run, action_index=1)
    )
    assert (await world.completed())[-1].outcome == OUTCOME.RULE_ACTION_OUTCOME_SKIPPED


async def test_reply_with_a_template_renders_in_the_customers_language_and_sends(
    world: World,
) -> None:
    template = await TemplateService(world.new_uow).create(
        TemplateContent(
            display_name="Shipped",
            category="shipping",
            bodies=(
                TemplateBody("en", "Hello {{name}}, order {{order}} has shipped."),
                TemplateBody("es", "Hola {{name}}, el pedido {{order}} ha sido enviado."),
            ),
            default_language="en",
            variables=(
                TemplateVariable(
                    "name", source_field="customer.display_name", default_value="there"
                ),
                TemplateVariable("order"),
            ),
            visibility=TemplateVisibility.SHARED,
        ),
        TemplateUser(world.tenant, "m-1", can_manage_shared=True, visibility=ALL),
    )
    conversation = await world.conversation()
    world.facts.known[conversation.customer] = CustomerFacts("es", {"customer.display_name": "Ana"})
    action = rule_events_pb2.RuleActionReplyRequested(
        rule=RULE,
        run=world.run,
        action_index=0,
        customer=conversation.customer,
        conversation=name(conversation),
        template=f"replyTemplates/{template.id}",
        translate_to_customer_language=True,
        variables={"order": "ES-2024-00042"},
    )
    await world.deliver(action)
    await world.deliver(action)
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    message_id = done.result.rpartition("/")[2]
    async with world.sessions() as session:
        row = (await session.execute(select(messages).where(messages.c.id == message_id))).one()
    assert row.text == "Hola Ana, el pedido ES-2024-00042 ha sido enviado."
    assert (row.sent_by, row.language, row.direction) == (RULE, "es", "outbound")
    assert row.template == f"replyTemplates/{template.id}"
    outbound = (
        select(func.count())
        .select_from(messages)
        .where(messages.c.conversation_id == conversation.id, messages.c.direction == "outbound")
    )
    assert await world.count(outbound) == 1


async def test_a_rule_disabled_by_rules_is_told_to_its_owners(world: World) -> None:
    await world.member("owner")
    handler = in_unit_of_work(MessagingUnitOfWork, outbox, on_rule_disabled(email_enabled=True))
    payload = rule_events_pb2.RuleDisabled(
        rule=RULE,
        rule_version=4,
        display_name="Refund autoreply",
        reason="ACTION_FAILURES",
        consecutive_failures=5,
        last_error="template has no body in de",
        owners=["members/owner"],
        run=world.run,
    )
    _, envelope = new_envelope(
        world.tenant, payload, occurred_at=T0, trace_context={}, event_id=str(uuid.uuid4())
    )
    async with world.sessions() as session, session.begin():
        await handler(session, Event(envelope, payload))
    page, unread = await Notifications(world.new_uow).page(
        world.tenant, "owner", unread_only=True, after=[], limit=5
    )
    assert unread == 1
    (told,) = page
    assert (told.title, told.source, told.email_to) == (
        "Rule disabled: Refund autoreply",
        RULE,
        "owner@team.example",
    )
    assert "5 failed actions in a row" in told.text
    assert "template has no body in de" in told.text


async def english_only_template(world: World) -> str:
    template = await TemplateService(world.new_uow).create(
        TemplateContent(
            display_name="Thanks",
            category="general",
            bodies=(TemplateBody("en", "Thank you for your message."),),
            default_language="en",
            visibility=TemplateVisibility.SHARED,
        ),
        TemplateUser(world.tenant, "m-1", can_manage_shared=True, visibility=ALL),
    )
    return template.id


async def test_a_peer_that_is_down_is_retried_not_reported(world: World) -> None:
    template_id = await english_only_template(world)
    conversation = await world.conversation()
    world.facts.known[conversation.customer] = CustomerFacts("es", {})
    action = rule_events_pb2.RuleActionReplyRequested(
        rule=RULE,
        run=world.run,
        action_index=0,
        customer=conversation.customer,
        conversation=name(conversation),
        template=f"replyTemplates/{template_id}",
        translate_to_customer_language=True,
    )
    world.translation.translation_down = True
    with pytest.raises(Exception) as caught:
        await world.deliver(action)
    assert type(caught.value).__name__ == "Unavailable"
    assert await world.completed() == []  # rolled back: nothing recorded, nothing announced
    world.translation.translation_down = False
    await world.deliver(action)  # the consumer's retry
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    async with world.sessions() as session:
        text = await session.scalar(
            select(messages.c.text).where(messages.c.id == done.result.rpartition("/")[2])
        )
    assert text == "[es] Thank you for your message."


class ServiceCallers:
    """``acting_for`` as ServiceIdentity gives it, without identity: the block is served as
    services/messaging of the tenant asked for (the grants identity gives messaging)."""

    def __init__(self) -> None:
        self.tenants: list[str] = []

    @asynccontextmanager
    async def acting_for(self, tenant_id: str) -> AsyncIterator[None]:
        self.tenants.append(tenant_id)
        caller = Caller(
            tenant_id=tenant_id,
            subject="services/messaging",
            permissions=frozenset({"customers.read", "translation.use"}),
            data_scope=DataScope.ALL,
            department_id="",
            visible_departments=frozenset(),
            token="service-token",
        )
        with acting_as(caller):
            yield


class CallerRecordingTranslation(FakeTranslation):
    """Translation as the gRPC client asks it: for the caller being served (none: refused)."""

    def __init__(self) -> None:
        super().__init__(translations={})
        self.callers: list[Caller] = []

    async def translate(self, text: str, source_language: str, target_language: str) -> str:
        self.callers.append(require_caller())  # Unauthenticated without one, as over gRPC
        return await super().translate(text, source_language, target_language)


def translated_reply(
    world: World, conversation: Conversation, template_id: str, *, index: int
) -> rule_events_pb2.RuleActionReplyRequested:
    """A reply with a template the customer's language (es) has no body in."""
    return rule_events_pb2.RuleActionReplyRequested(
        rule=RULE,
        run=world.run,
        action_index=index,
        customer=conversation.customer,
        conversation=name(conversation),
        template=f"replyTemplates/{template_id}",
        translate_to_customer_language=True,
    )


async def test_a_reply_is_translated_as_messaging_for_the_events_tenant_only(
    sessions: Sessions, new_uow: NewUow, tenant: str
) -> None:
    services = ServiceCallers()
    world = World(sessions, new_uow, tenant, services.acting_for)
    translation = CallerRecordingTranslation()
    world.translation = translation
    template_id = await english_only_template(world)
    conversation = await world.conversation()
    world.facts.known[conversation.customer] = CustomerFacts("es", {})
    await world.deliver(
        rule_events_pb2.RuleActionNoteRequested(
            rule=RULE, run=world.run, action_index=0, conversation=name(conversation), text="n"
        )
    )
    assert services.tenants == []  # a note asks no peer: no token
    await world.deliver(translated_reply(world, conversation, template_id, index=1))
    done = await world.completed()
    assert [d.outcome for d in done] == [OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED] * 2, done
    assert services.tenants == [tenant]
    (caller,) = translation.callers
    assert (caller.tenant_id, caller.subject) == (tenant, "services/messaging")
    async with world.sessions() as session:
        text = await session.scalar(
            select(messages.c.text).where(messages.c.id == done[1].result.rpartition("/")[2])
        )
    assert text == "[es] Thank you for your message."


async def test_without_a_service_identity_a_translated_reply_has_no_caller(world: World) -> None:
    """What the xfail of the cross-border scenario showed: no caller, nothing recorded, the
    event retried (the consumer's transaction rolls back)."""
    world.translation = CallerRecordingTranslation()
    template_id = await english_only_template(world)
    conversation = await world.conversation()
    world.facts.known[conversation.customer] = CustomerFacts("es", {})
    with pytest.raises(Exception) as caught:
        await world.deliver(translated_reply(world, conversation, template_id, index=0))
    assert type(caught.value).__name__ == "Unavailable"  # the renderer's answer to it
    assert await world.completed() == []


async def test_a_template_without_the_language_fails_unless_translation_is_asked(
    world: World,
) -> None:
    template_id = await english_only_template(world)
    conversation = await world.conversation()
    world.facts.known[conversation.customer] = CustomerFacts("es", {})
    await world.deliver(
        rule_events_pb2.RuleActionReplyRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            template=f"replyTemplates/{template_id}",
            translate_to_customer_language=False,
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_FAILED
    assert done.reason


async def test_without_replies_wired_a_reply_is_failed_saying_so(world: World) -> None:
    template_id = await english_only_template(world)
    conversation = await world.conversation()

    def without_replies(uow: UnitOfWorkFactory[MessagingUnitOfWork]) -> RuleActions:
        return RuleActions(
            uow,
            ConversationService(uow),
            Cases(uow),
            Notifications(uow),
            TemplateRenderer(uow, world.facts, world.translation),
            replies=None,
        )

    world.handler = in_unit_of_work(MessagingUnitOfWork, outbox, on_rule_action(without_replies))
    await world.deliver(
        rule_events_pb2.RuleActionReplyRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            template=f"replyTemplates/{template_id}",
            translate_to_customer_language=True,
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_FAILED
    assert "not wired" in done.reason


async def test_no_automated_reply_to_a_blacklisted_customer(world: World) -> None:
    template_id = await english_only_template(world)
    conversation = await world.conversation()
    await apply_customer_snapshot(
        world.new_uow,
        world.tenant,
        CustomerSnapshot(customer=conversation.customer, version=3, blacklisted=True),
        T0,
    )
    await world.deliver(
        rule_events_pb2.RuleActionReplyRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            template=f"replyTemplates/{template_id}",
            translate_to_customer_language=True,
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SKIPPED
    assert "blacklisted" in done.reason
    outbound = (
        select(func.count())
        .select_from(messages)
        .where(messages.c.conversation_id == conversation.id, messages.c.direction == "outbound")
    )
    assert await world.count(outbound) == 0


async def test_escalate_without_a_group_goes_to_the_lead_of_the_team_that_has_it(
    world: World,
) -> None:
    await world.member("ana", groups=("groups/desk",))
    await world.member("lead", groups=("groups/desk",), leads=("groups/desk",))
    conversation = await world.conversation()
    await ConversationService(world.new_uow).assign(
        world.tenant,
        ALL,
        conversation.id,
        assignee="members/ana",
        assignee_group="groups/desk",
        strategy=AssignStrategy.ROUND_ROBIN,
        actor="members/x",
    )
    await world.deliver(
        rule_events_pb2.RuleActionEscalateRequested(
            rule=RULE,
            run=world.run,
            action_index=0,
            conversation=name(conversation),
            priority=priority_pb2.PRIORITY_URGENT,
        )
    )
    (done,) = await world.completed()
    assert done.outcome == OUTCOME.RULE_ACTION_OUTCOME_SUCCEEDED, done.reason
    stored = await world.get(conversation.id)
    assert (stored.assignee, stored.priority, stored.status) == (
        "members/lead",
        Priority.URGENT,
        ConversationStatus.EXCEPTION,
    )
