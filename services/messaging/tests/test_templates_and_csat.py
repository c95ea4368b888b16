"""Reply templates and CSAT surveys: the use cases over the SQL repositories (SQLite, or
PostgreSQL with CROSSTALK_TEST_DB=postgres), with fakes of customers and translation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Boolean, DateTime, Integer, String, func, insert, select
from sqlalchemy.types import JSON, BigInteger

from crosstalk.events.v1 import envelope_pb2, messaging_events_pb2
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.adapters.csat_consumer import on_status_changed
from messaging.adapters.tables import (
    conversations,
    csat_surveys,
    customer_snapshots,
    reply_template_versions,
)
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.csat import CsatService, SurveyDraft
from messaging.app.csat_invitations import CsatOnClose
from messaging.app.ports import ServiceUnavailable
from messaging.app.template_ports import CustomerFacts, TemplateFilter
from messaging.app.templates import RenderRequest, TemplateRenderer, TemplateService, TemplateUser
from messaging.domain.csat import (
    Answer,
    CsatSurvey,
    Question,
    QuestionKind,
    QuestionText,
    SurveyResponse,
    SurveyState,
    sign_token,
)
from messaging.domain.csat_invitation import INVITATIONS, invitation, survey_link
from messaging.domain.templates import (
    TemplateBody,
    TemplateContent,
    TemplateVariable,
    TemplateVisibility,
)

from .conftest import Sessions, outbox_events

NewUow = Callable[[], MessagingUnitOfWork]
KEY = b"test-csat-key-0123456789abcdef012345"
ALL = Visibility.everything()


class FakeCustomers:
    def __init__(self) -> None:
        self.known: dict[str, CustomerFacts] = {}
        self.asked: list[tuple[str, str, bool]] = []

    async def facts(self, tenant_id: str, customer: str, *, with_order: bool) -> CustomerFacts:
        self.asked.append((tenant_id, customer, with_order))
        if customer not in self.known:
            raise NotFound("crosstalk.io/Customer", customer)
        facts = self.known[customer]
        fields = {k: v for k, v in facts.fields.items() if with_order or not k.startswith("order.")}
        return CustomerFacts(facts.language, fields)


class FakeTranslation:
    """Spanish for the one sentence the tests translate; {{placeholders}} kept, as the
    translation service's protection keeps them."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []
        self.down = False

    async def translate(self, text: str, source_language: str, target_language: str) -> str:
        self.asked.append((text, source_language, target_language))
        if self.down:
            raise ServiceUnavailable("translation is down")
        return (
            text.replace("Hello", "Hola")
            .replace("your order", "su pedido")
            .replace("has shipped", "ha sido enviado")
        )

    async def analyse(self, text: str) -> Any:
        raise NotImplementedError


def member(tenant: str, member_id: str = "m-1", *, shared: bool = False) -> TemplateUser:
    return TemplateUser(tenant, member_id, can_manage_shared=shared, visibility=ALL)


def shipped(**overrides: Any) -> TemplateContent:
    base = TemplateContent(
        display_name="Order shipped",
        category="shipping",
        bodies=(
            TemplateBody("en", "Hello {{name}}, your order {{order_number}} has shipped."),
            TemplateBody("de", "Hallo {{name}}, Ihre Bestellung {{order_number}} ist unterwegs."),
        ),
        default_language="en",
        variables=(
            TemplateVariable("name", source_field="customer.display_name", default_value="there"),
            TemplateVariable("order_number", source_field="order.external_id"),
        ),
        visibility=TemplateVisibility.PRIVATE,
    )
    return replace(base, **overrides)


async def fill_row(sessions: Sessions, table: Any, **values: Any) -> None:
    """Inserts a row with ``values`` and a plain value for every other required column
    (the tests need a conversation or a snapshot, not every column of one)."""
    now = datetime.now(UTC)
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if column.default is not None:
            continue
        if isinstance(column.type, DateTime):
            row[column.name] = now
        elif isinstance(column.type, Integer | BigInteger):
            row[column.name] = 1
        elif isinstance(column.type, Boolean):
            row[column.name] = False
        elif isinstance(column.type, JSON):
            row[column.name] = []
        elif isinstance(column.type, String):
            row[column.name] = "x"
        else:
            row[column.name] = ""
    async with sessions() as session:
        await session.execute(insert(table).values(**row))
        await session.commit()


async def a_conversation(
    sessions: Sessions, tenant: str, customer: str = "customers/cu-1", **values: Any
) -> str:
    conversation_id = str(uuid.uuid4())
    await fill_row(
        sessions,
        conversations,
        id=conversation_id,
        tenant_id=tenant,
        customer=customer,
        channel="email",
        store="",
        sender_external_id=f"{conversation_id}@example.es",
        **({"status": "unread"} | values),
    )
    return conversation_id


# --- templates ------------------------------------------------------------------------


async def test_every_change_is_a_version_and_a_rollback_restores_one(
    new_uow: NewUow, tenant: str
) -> None:
    service = TemplateService(new_uow)
    ana = member(tenant)
    created = await service.create(shipped(), ana)
    assert (created.version, created.etag, created.owner_member_id) == (1, 'W/"1"', "m-1")

    renamed = await service.update(created.id, {"display_name": "Shipped!"}, created.etag, ana)
    assert renamed.version == 2
    with pytest.raises(Aborted):
        await service.update(created.id, {"category": "x"}, created.etag, ana)  # stale etag
    english_only = (TemplateBody("en", "Hello {{name}}."),)
    third = await service.update(created.id, {"bodies": english_only}, "", ana)
    assert (third.version, third.content.languages) == (3, ("en",))

    restored = await service.rollback(created.id, 1, third.etag, ana)
    assert restored.version == 4
    assert restored.content == created.content

    versions = await service.versions(created.id, ana, after=[], limit=10)
    assert [v.version for v in versions] == [4, 3, 2, 1]
    assert [v.restored_from for v in versions] == [1, 0, 0, 0]
    assert versions[2].content.display_name == "Shipped!"
    assert {v.author for v in versions} == {"members/m-1"}
    page = await service.versions(created.id, ana, after=["3"], limit=10)
    assert [v.version for v in page] == [2, 1]

    with pytest.raises(InvalidArgument) as caught:
        await service.rollback(created.id, 4, "", ana)
    assert caught.value.violations[0].field == "version"
    with pytest.raises(InvalidArgument):
        await service.rollback(created.id, 0, "", ana)


async def test_a_bad_update_changes_nothing(new_uow: NewUow, tenant: str) -> None:
    service = TemplateService(new_uow)
    ana = member(tenant)
    created = await service.create(shipped(), ana)
    with pytest.raises(InvalidArgument) as caught:
        await service.update(
            created.id, {"bodies": (TemplateBody("en", "Hi {{coupon}}"),)}, created.etag, ana
        )
    assert caught.value.violations[0].field == "reply_template.bodies[0].text"
    assert await service.get(created.id, ana) == created
    assert len(await service.versions(created.id, ana, after=[], limit=10)) == 1


async def test_private_templates_are_their_owners_and_shared_ones_need_the_permission(
    new_uow: NewUow, tenant: str
) -> None:
    service = TemplateService(new_uow)
    ana, bo, lead = member(tenant, "ana"), member(tenant, "bo"), member(tenant, "lead", shared=True)
    private = await service.create(shipped(display_name="Ana's"), ana)
    with pytest.raises(NotFound):
        await service.get(private.id, bo)
    with pytest.raises(NotFound):
        await service.update(private.id, {"category": "x"}, "", bo)

    with pytest.raises(PermissionDenied):
        await service.create(shipped(visibility=TemplateVisibility.SHARED), ana)
    with pytest.raises(PermissionDenied):  # sharing one's own needs it too
        await service.update(private.id, {"visibility": TemplateVisibility.SHARED}, "", ana)
    shared = await service.create(shipped(visibility=TemplateVisibility.SHARED), lead)
    assert (await service.get(shared.id, bo)).id == shared.id
    with pytest.raises(PermissionDenied):
        await service.update(shared.id, {"category": "x"}, "", bo)
    with pytest.raises(PermissionDenied):
        await service.delete(shared.id, "", ana)

    seen_by_bo = await service.page(bo, TemplateFilter(), after=[], limit=10)
    assert [t.id for t in seen_by_bo] == [shared.id]
    seen_by_ana = await service.page(ana, TemplateFilter(), after=[], limit=10)
    assert {t.id for t in seen_by_ana} == {private.id, shared.id}
    rule = TemplateUser(tenant, "")  # a rule acting without a member
    assert [t.id for t in await service.page(rule, TemplateFilter(), after=[], limit=10)] == [
        shared.id
    ]


async def test_lists_filter_by_category_language_and_query_within_the_tenant(
    new_uow: NewUow, tenant: str
) -> None:
    service = TemplateService(new_uow)
    ana = member(tenant)
    a = await service.create(shipped(display_name="A shipped"), ana)
    b = await service.create(
        shipped(
            display_name="B refund",
            category="returns",
            bodies=(TemplateBody("es", "Su REEMBOLSO 100%_ok"),),
            default_language="es",
            variables=(),
        ),
        ana,
    )
    c = await service.create(shipped(display_name="C shipped"), ana)
    await service.create(shipped(), member("other-tenant"))

    async def ids(**filters: str) -> list[str]:
        found = await service.page(ana, TemplateFilter(**filters), after=[], limit=10)
        return [t.id for t in found]

    assert await ids() == [a.id, b.id, c.id]
    assert await ids(category="returns") == [b.id]
    assert await ids(language="DE") == [a.id, c.id]
    assert await ids(language="es") == [b.id]
    assert await ids(query="reembolso") == [b.id]  # a body, any case
    assert await ids(query="c SHIPPED") == [c.id]  # the display name
    assert await ids(query="100%_") == [b.id]  # LIKE characters are literal
    assert await ids(query="0%_x") == []
    first = await service.page(ana, TemplateFilter(), after=[], limit=2)
    rest = await service.page(
        ana, TemplateFilter(), after=[first[-1].content.display_name, first[-1].id], limit=2
    )
    assert [t.id for t in rest] == [c.id]
    with pytest.raises(InvalidArgument):
        await ids(language="not a tag")


async def test_deleting_a_template_deletes_its_versions(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    service = TemplateService(new_uow)
    ana = member(tenant)
    created = await service.create(shipped(), ana)
    await service.update(created.id, {"category": "x"}, "", ana)
    with pytest.raises(Aborted):
        await service.delete(created.id, created.etag, ana)
    await service.delete(created.id, "", ana)
    with pytest.raises(NotFound):
        await service.get(created.id, ana)
    async with sessions() as session:
        left = await session.scalar(
            select(func.count()).where(reply_template_versions.c.template_id == created.id)
        )
    assert left == 0


# --- rendering ------------------------------------------------------------------------


@pytest.fixture
def customers() -> FakeCustomers:
    fake = FakeCustomers()
    fake.known["customers/ana"] = CustomerFacts(
        "es", {"customer.display_name": "Ana Ruiz", "order.external_id": "ES-2024-00042"}
    )
    fake.known["customers/hans"] = CustomerFacts("de-AT", {"customer.display_name": "Hans"})
    return fake


@pytest.fixture
def translation() -> FakeTranslation:
    return FakeTranslation()


async def test_a_missing_language_is_machine_translated_and_values_filled_after(
    new_uow: NewUow, tenant: str, customers: FakeCustomers, translation: FakeTranslation
) -> None:
    ana = member(tenant)
    template = await TemplateService(new_uow).create(shipped(), ana)
    renderer = TemplateRenderer(new_uow, customers, translation)

    rendered = await renderer.render(
        ana,
        RenderRequest(template.id, customer="customers/ana", translate_if_missing=True),
    )
    assert rendered.text == "Hola Ana Ruiz, su pedido ES-2024-00042 ha sido enviado."
    assert (rendered.language, rendered.machine_translated) == ("es", True)
    assert (rendered.template_id, rendered.template_version) == (template.id, 1)
    assert rendered.missing_variables == ()
    # The engine saw the placeholders, never the values.
    assert translation.asked == [
        ("Hello {{name}}, your order {{order_number}} has shipped.", "en", "es")
    ]
    assert customers.asked == [(tenant, "customers/ana", True)]

    with pytest.raises(FailedPrecondition):
        await renderer.render(ana, RenderRequest(template.id, customer="customers/ana"))

    translation.down = True
    with pytest.raises(Exception) as caught:
        await renderer.render(
            ana, RenderRequest(template.id, customer="customers/ana", translate_if_missing=True)
        )
    assert type(caught.value).__name__ == "Unavailable"


async def test_a_body_in_the_language_is_used_as_written_and_missing_values_reported(
    new_uow: NewUow, tenant: str, customers: FakeCustomers, translation: FakeTranslation
) -> None:
    ana = member(tenant)
    template = await TemplateService(new_uow).create(shipped(), ana)
    renderer = TemplateRenderer(new_uow, customers, translation)

    rendered = await renderer.render(ana, RenderRequest(template.id, customer="customers/hans"))
    assert rendered.text == "Hallo Hans, Ihre Bestellung {{order_number}} ist unterwegs."
    assert (rendered.language, rendered.machine_translated) == ("de", False)
    assert rendered.missing_variables == ("order_number",)
    assert translation.asked == []

    given = await renderer.render(
        ana, RenderRequest(template.id, language="en", variables={"order_number": "B-7"})
    )
    assert given.text == "Hello there, your order B-7 has shipped."  # the default value
    with pytest.raises(InvalidArgument) as caught:
        await renderer.render(ana, RenderRequest(template.id, variables={"coupon": "X"}))
    assert caught.value.violations[0].field == 'variables["coupon"]'
    with pytest.raises(InvalidArgument):
        await renderer.render(ana, RenderRequest(template.id, language="english!"))


async def test_a_past_version_renders_as_it_was(
    new_uow: NewUow, tenant: str, customers: FakeCustomers, translation: FakeTranslation
) -> None:
    ana = member(tenant)
    service = TemplateService(new_uow)
    template = await service.create(shipped(), ana)
    await service.update(
        template.id,
        {"bodies": (TemplateBody("en", "v2 {{name}}"),), "default_language": "en"},
        "",
        ana,
    )
    renderer = TemplateRenderer(new_uow, customers, translation)
    now = await renderer.render(ana, RenderRequest(template.id, language="en"))
    assert (now.text, now.template_version) == ("v2 there", 2)
    then = await renderer.render(ana, RenderRequest(template.id, language="de", version=1))
    assert then.template_version == 1
    assert then.text.startswith("Hallo there")
    # The template is there; a version it never had is a bad argument, naming the field.
    with pytest.raises(InvalidArgument) as caught:
        await renderer.render(ana, RenderRequest(template.id, version=7))
    assert [v.field for v in caught.value.violations] == ["version"]
    assert "current version 2" in caught.value.violations[0].description


async def test_a_conversation_gives_the_customer_and_the_language(
    new_uow: NewUow,
    sessions: Sessions,
    tenant: str,
    customers: FakeCustomers,
    translation: FakeTranslation,
) -> None:
    ana = member(tenant)
    template = await TemplateService(new_uow).create(shipped(), ana)
    renderer = TemplateRenderer(new_uow, customers, translation)
    conversation_id = await a_conversation(sessions, tenant, "customers/hans", language="de")

    rendered = await renderer.render(
        ana, RenderRequest(template.id, conversation_id=conversation_id)
    )
    assert rendered.text.startswith("Hallo Hans")
    with pytest.raises(NotFound):
        await renderer.render(member("other-tenant"), RenderRequest(template.id))
    other = await a_conversation(sessions, "other-tenant", "customers/hans")
    with pytest.raises(NotFound):
        await renderer.render(ana, RenderRequest(template.id, conversation_id=other))


async def test_without_customers_the_snapshot_fills_what_it_knows(
    new_uow: NewUow, sessions: Sessions, tenant: str, translation: FakeTranslation
) -> None:
    """A rule renders with no caller to ask customers for: messaging's own snapshot of the
    customer gives the name and language; the order stays missing."""

    class NoCustomers:
        async def facts(self, tenant_id: str, customer: str, *, with_order: bool) -> Any:
            raise ServiceUnavailable("no caller to ask customers for")

    rule = TemplateUser(tenant, "")
    template = await TemplateService(new_uow).create(
        shipped(visibility=TemplateVisibility.SHARED), member(tenant, shared=True)
    )
    renderer = TemplateRenderer(new_uow, NoCustomers(), translation)
    await fill_row(
        sessions,
        customer_snapshots,
        tenant_id=tenant,
        customer="customers/known",
        display_name="Hans",
        language="de",
        tag_labels=[],
    )
    rendered = await renderer.render(rule, RenderRequest(template.id, customer="customers/known"))
    assert rendered.text == "Hallo Hans, Ihre Bestellung {{order_number}} ist unterwegs."
    assert rendered.missing_variables == ("order_number",)
    with pytest.raises(Exception) as caught:
        await renderer.render(rule, RenderRequest(template.id, customer="customers/unknown"))
    assert type(caught.value).__name__ == "Unavailable"


# --- CSAT -----------------------------------------------------------------------------

SPEED = Question(
    "speed",
    QuestionKind.SCORE,
    (QuestionText("en", "How fast did we answer?"), QuestionText("es", "¿Qué tan rápido?")),
    required=True,
)


async def test_a_survey_is_answered_once_with_its_token(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    csat = CsatService(new_uow, KEY)
    conversation_id = await a_conversation(
        sessions, tenant, "customers/ana", assignee="members/m-9", language="es"
    )
    created = await csat.create(tenant, ALL, SurveyDraft(conversation_id, (SPEED,)))
    survey = created.survey
    assert (survey.customer, survey.assignee, survey.language) == (
        "customers/ana",
        "members/m-9",
        "es",
    )
    assert survey.state is SurveyState.SENT

    form = await csat.form(survey.id, created.token)  # the page behind the link
    assert (form.id, form.state) == (survey.id, SurveyState.SENT)
    with pytest.raises(Unauthenticated):
        await csat.form(survey.id, created.token[:-3] + "abc")
    with pytest.raises(Unauthenticated):
        await csat.submit(survey.id, created.token[:-3] + "abc", SurveyResponse(5))
    with pytest.raises(InvalidArgument):  # the required question
        await csat.submit(survey.id, created.token, SurveyResponse(5))
    assert (await csat.get(tenant, ALL, survey.id)).state is SurveyState.SENT  # nothing stored

    answered = await csat.submit(
        survey.id, created.token, SurveyResponse(4, "Rápido", (Answer("speed", 5),))
    )
    assert (answered.state, answered.score, answered.answers) == (
        SurveyState.ANSWERED,
        4,
        (Answer("speed", score=5),),
    )
    with pytest.raises(FailedPrecondition) as caught:
        await csat.submit(survey.id, created.token, SurveyResponse(1, "", (Answer("speed", 1),)))
    assert caught.value.reason == "CSAT_ALREADY_ANSWERED"
    assert (await csat.form(survey.id, created.token)).state is SurveyState.ANSWERED
    stored = await csat.get(tenant, ALL, survey.id)
    assert (stored.score, stored.comment) == (4, "Rápido")

    events = [e for t, e in await outbox_events(sessions, tenant) if t == "csat.submitted"]
    assert events == [
        messaging_events_pb2.CsatSubmitted(
            csat_survey=f"csatSurveys/{survey.id}",
            conversation=f"conversations/{conversation_id}",
            customer="customers/ana",
            assignee="members/m-9",
            score=4,
            comment="Rápido",
        )
    ]


async def test_an_expired_or_foreign_token_stores_nothing(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    csat = CsatService(new_uow, KEY)
    conversation_id = await a_conversation(sessions, tenant)
    created = await csat.create(tenant, ALL, SurveyDraft(conversation_id))
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with sessions() as session:
        await session.execute(
            csat_surveys.update()
            .where(csat_surveys.c.id == created.survey.id)
            .values(expires_at=past)
        )
        await session.commit()
    expired_token = sign_token(KEY, tenant, created.survey.id, past)
    with pytest.raises(FailedPrecondition) as caught:
        await csat.submit(created.survey.id, expired_token, SurveyResponse(5))
    assert caught.value.reason == "CSAT_SURVEY_EXPIRED"
    # The first token's expiry is still ahead, but the survey's is not.
    with pytest.raises(FailedPrecondition):
        await csat.submit(created.survey.id, created.token, SurveyResponse(5))
    assert (await csat.get(tenant, ALL, created.survey.id)).state is SurveyState.EXPIRED
    assert (await csat.form(created.survey.id, expired_token)).state is SurveyState.EXPIRED

    other_tenant = sign_token(KEY, "other-tenant", created.survey.id, past + timedelta(days=1))
    with pytest.raises(Unauthenticated):
        await csat.submit(created.survey.id, other_tenant, SurveyResponse(5))
    with pytest.raises(Unauthenticated):
        await CsatService(new_uow, b"another key " * 3).submit(
            created.survey.id, created.token, SurveyResponse(5)
        )
    assert [t for t, _ in await outbox_events(sessions, tenant) if t == "csat.submitted"] == []


async def test_surveys_are_read_within_the_tenant_and_the_data_scope(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    csat = CsatService(new_uow, KEY)
    await fill_row(
        sessions,
        customer_snapshots,
        tenant_id=tenant,
        customer="customers/mine",
        owner_member_id="m-1",
        tag_labels=[],
    )
    mine_conversation = await a_conversation(sessions, tenant, "customers/mine")
    theirs_conversation = await a_conversation(sessions, tenant, "customers/theirs")
    mine = (await csat.create(tenant, ALL, SurveyDraft(mine_conversation))).survey
    theirs = (await csat.create(tenant, ALL, SurveyDraft(theirs_conversation))).survey
    own = Visibility(DataScope.OWN, "m-1")

    assert (await csat.get(tenant, own, mine.id)).id == mine.id
    with pytest.raises(NotFound):
        await csat.get(tenant, own, theirs.id)
    with pytest.raises(NotFound):
        await csat.get("other-tenant", ALL, mine.id)
    with pytest.raises(NotFound):  # a conversation out of scope cannot be surveyed either
        await csat.create(tenant, own, SurveyDraft(theirs_conversation))

    async def listed(visibility: Visibility, **filters: Any) -> list[str]:
        found = await csat.page(
            tenant,
            visibility,
            conversation_id=filters.get("conversation_id", ""),
            assignee="",
            state=filters.get("state"),
            after=[],
            limit=10,
        )
        return [s.id for s in found]

    assert await listed(ALL) == [theirs.id, mine.id]  # newest first
    assert await listed(own) == [mine.id]
    assert await listed(ALL, conversation_id=mine_conversation) == [mine.id]
    assert await listed(ALL, state=SurveyState.ANSWERED) == []
    assert await listed(ALL, state=SurveyState.SENT) == [theirs.id, mine.id]
    first = await csat.page(
        tenant, ALL, conversation_id="", assignee="", state=None, after=[], limit=1
    )
    rest = await csat.page(
        tenant,
        ALL,
        conversation_id="",
        assignee="",
        state=None,
        after=[first[0].sent_at.isoformat(), first[0].id],
        limit=5,
    )
    assert [s.id for s in rest] == [mine.id]


async def test_a_repeated_request_id_answers_the_first_survey(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    csat = CsatService(new_uow, KEY)
    conversation_id = await a_conversation(sessions, tenant)
    request_id = str(uuid.uuid4())
    first = await csat.create(tenant, ALL, SurveyDraft(conversation_id, request_id=request_id))
    again = await csat.create(tenant, ALL, SurveyDraft(conversation_id, request_id=request_id))
    assert (again.survey.id, again.token) == (first.survey.id, first.token)
    with pytest.raises(InvalidArgument) as caught:
        await csat.create(
            tenant,
            ALL,
            SurveyDraft(
                conversation_id,
                (Question("q", None, ()),),
                language="klingon!",
                expires_at=datetime.now(UTC) - timedelta(days=1),
            ),
        )
    assert {v.field for v in caught.value.violations} == {
        "csat_survey.questions[0].kind",
        "csat_survey.questions[0].texts",
        "csat_survey.language",
        "csat_survey.expire_time",
    }


LINK_BASE = "https://help.example.com/csat/"


def test_the_invitation_is_in_the_customers_language_where_messaging_has_it() -> None:
    link = survey_link(LINK_BASE, "s-1", "v1.abc.def")
    assert link == "https://help.example.com/csat/s-1?token=v1.abc.def"
    assert invitation("es-MX", link) == (INVITATIONS["es"].format(link=link), "es")
    assert invitation("zh-Hans-CN", link)[1] == "zh"
    assert invitation("pt-BR", link)[1] == "pt"
    for unknown in ("sw", "", "und", "not a tag!"):
        assert invitation(unknown, link) == (INVITATIONS["en"].format(link=link), "en")
    for text in INVITATIONS.values():
        assert text.count("{link}") == 1


async def test_a_closed_conversation_gets_a_survey_when_the_setting_says_so(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    conversation_id = await a_conversation(
        sessions, tenant, assignee="members/m-2", language="es", status="closed"
    )
    handle = on_status_changed(lambda uow: CsatOnClose(uow, CsatService(uow, KEY), LINK_BASE))

    def status_changed(to: int, conversation: str = conversation_id) -> Event:
        payload = messaging_events_pb2.ConversationStatusChanged(
            conversation=f"conversations/{conversation}", to_status=to
        )
        return Event(envelope_pb2.EventEnvelope(tenant_id=tenant), payload)

    async def surveys() -> list[CsatSurvey]:
        return await CsatService(new_uow, KEY).page(
            tenant, ALL, conversation_id="", assignee="", state=None, after=[], limit=10
        )

    closed = resources_pb2.CONVERSATION_STATUS_CLOSED
    await handle(new_uow, status_changed(closed))
    assert await surveys() == []  # send_csat_on_close is off by default
    async with new_uow() as uow:
        settings = await uow.settings.get(tenant)
        await uow.settings.save(
            replace(settings, send_csat_on_close=True, updated_at=datetime.now(UTC))
        )
        await uow.commit()
    await handle(new_uow, status_changed(resources_pb2.CONVERSATION_STATUS_REPLIED))
    await handle(new_uow, status_changed(closed, "no-such-conversation"))
    assert await surveys() == []
    assert await link_requests(sessions, tenant) == []
    await handle(new_uow, status_changed(closed))
    sent = await surveys()
    assert [(s.conversation_id, s.assignee) for s in sent] == [(conversation_id, "members/m-2")]
    assert sent[0].expires_at - sent[0].sent_at <= timedelta(days=7)
    # The link goes out once, in the conversation's language, through the delivery path.
    (requested,) = await link_requests(sessions, tenant)
    assert requested.conversation == f"conversations/{conversation_id}"
    assert requested.language == "es"
    assert requested.recipient.external_id == f"{conversation_id}@example.es"
    prefix = f"{LINK_BASE}{sent[0].id}?token="
    assert prefix in requested.text
    assert requested.text.startswith(INVITATIONS["es"].split("{link}")[0])
    token = requested.text.split(prefix, 1)[1].split()[0]
    async with new_uow() as uow:
        conversation = await uow.conversations.get(tenant, ALL, conversation_id)
        message = await uow.conversations.get_message(
            tenant, conversation_id, requested.message.rsplit("/", 1)[1]
        )
    assert conversation is not None
    assert conversation.status.value == "closed"
    assert message is not None
    assert message.sent_by == "system"
    assert message.delivery_state is not None
    assert message.delivery_state.value == "queued"
    # The token in the link answers the survey, once.
    answered = await CsatService(new_uow, KEY).submit(sent[0].id, token, SurveyResponse(5))
    assert answered.state is SurveyState.ANSWERED
    # Closed again (reopened meanwhile): a new survey and link; redelivered: nothing more.
    await handle(new_uow, status_changed(closed))
    assert len(await surveys()) == 2
    assert len(await link_requests(sessions, tenant)) == 2
    # Closed again while one waits for its answer: no third survey nor link.
    await handle(new_uow, status_changed(closed))
    assert len(await surveys()) == 2
    assert len(await link_requests(sessions, tenant)) == 2


async def link_requests(
    sessions: Sessions, tenant: str
) -> list[messaging_events_pb2.MessageDeliveryRequested]:
    return [
        e  # type: ignore[misc]
        for t, e in await outbox_events(sessions, tenant)
        if t == "message.delivery_requested"
    ]


async def test_a_blacklisted_customer_gets_no_link(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    conversation_id = await a_conversation(sessions, tenant, customer="customers/cu-black")
    await fill_row(
        sessions,
        customer_snapshots,
        tenant_id=tenant,
        customer="customers/cu-black",
        version=1,
        blacklisted=True,
    )
    async with new_uow() as uow:
        settings = await uow.settings.get(tenant)
        await uow.settings.save(
            replace(settings, send_csat_on_close=True, updated_at=datetime.now(UTC))
        )
        await uow.commit()
    done = await CsatOnClose(new_uow, CsatService(new_uow, KEY), LINK_BASE).on_conversation_closed(
        tenant, conversation_id
    )
    assert done is not None
    assert done[1] is None
    assert await link_requests(sessions, tenant) == []
