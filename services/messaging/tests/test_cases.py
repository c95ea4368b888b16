"""After-sales cases through their use cases on a migrated database (SQLite or PostgreSQL):
open, idempotency, transitions and their events, updates with etags, lists, data scope."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.errors import Aborted, InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.adapters.tables import conversations, customer_snapshots
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.case_ports import CaseFilter
from messaging.app.cases import CaseChanges, Cases, NewCase
from messaging.domain.cases import CaseSla, CaseState, CaseTransitionRefused, CaseType, Money
from messaging.domain.conversation_projections import MemberProfile

from .conftest import Sessions, outbox_events

ALL = Visibility(DataScope.ALL)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cases(new_uow: Callable[[], MessagingUnitOfWork], clock: Clock) -> Cases:
    return Cases(new_uow, CaseSla.parse("refund=24h"), clock)


async def members(
    new_uow: Callable[[], MessagingUnitOfWork], tenant: str, *ids: str, enabled: bool = True
) -> None:
    """Members of the tenant as messaging knows them (its member projection)."""
    async with new_uow() as uow:
        for member_id in ids:
            profile = MemberProfile(f"members/{member_id}", member_id, enabled=enabled)
            await uow.members.put(tenant, profile, T0)
        await uow.commit()


async def a_conversation(
    sessions: Sessions, tenant: str, *, owner: str = "", department: str = ""
) -> tuple[str, str]:
    """A conversation of a new customer (with its snapshot); (conversation id, customer)."""
    conversation_id = str(uuid.uuid4())
    customer = f"customers/{uuid.uuid4()}"
    async with sessions() as session, session.begin():
        await session.execute(
            insert(conversations).values(
                id=conversation_id,
                tenant_id=tenant,
                customer=customer,
                channel="email",
                store="",
                status="unread",
                sender_external_id=f"{conversation_id}@example.com",
                last_message_at=T0,
                created_at=T0,
                opened_at=T0,
                inbox_at=T0,
                updated_at=T0,
            )
        )
        await session.execute(
            insert(customer_snapshots).values(
                tenant_id=tenant,
                customer=customer,
                version=1,
                owner_member_id=owner,
                department_id=department,
                tag_labels=[],
                updated_at=T0,
            )
        )
    return conversation_id, customer


async def test_a_case_opens_from_its_conversation_with_an_sla_and_an_event(
    cases: Cases, sessions: Sessions, tenant: str
) -> None:
    conversation, customer = await a_conversation(sessions, tenant)
    case = await cases.open(
        tenant,
        ALL,
        NewCase(
            CaseType.REFUND,
            conversation_id=conversation,
            order_external_id=" A-1001 ",
            amount=Money("EUR", 19, 990_000_000),
            reason="damaged",
        ),
        actor="members/m1",
    )
    assert (case.state, case.customer, case.order_external_id) == (
        CaseState.OPEN,
        customer,
        "A-1001",
    )
    assert case.sla_due_at == T0 + timedelta(hours=24)
    stored = await cases.get(tenant, ALL, case.id)
    assert stored == case
    ((kind, event),) = await outbox_events(sessions, tenant)
    assert kind == "case.opened"
    assert isinstance(event, messaging_events_pb2.CaseOpened)
    assert event.case == f"cases/{case.id}"
    assert (event.customer, event.conversation) == (customer, f"conversations/{conversation}")
    assert (event.order_external_id, event.actor, event.amount.units) == (
        "A-1001",
        "members/m1",
        19,
    )
    assert event.sla_due_time.ToDatetime(UTC) == T0 + timedelta(hours=24)


async def test_a_repeated_request_id_returns_the_first_case(
    cases: Cases, sessions: Sessions, tenant: str
) -> None:
    conversation, _ = await a_conversation(sessions, tenant)
    draft = NewCase(CaseType.COMPLAINT, conversation_id=conversation, reason="rude courier")
    first = await cases.open(tenant, ALL, draft, actor="members/m1", request_id="r-1")
    again = await cases.open(tenant, ALL, draft, actor="members/m1", request_id="r-1")
    assert again.id == first.id
    page = await cases.page(tenant, ALL, CaseFilter(), after=[], limit=10)
    assert [c.id for c in page] == [first.id]
    assert [k for k, _ in await outbox_events(sessions, tenant)] == ["case.opened"]


async def test_bad_cases_are_refused_naming_the_fields_and_nothing_is_stored(
    cases: Cases, sessions: Sessions, tenant: str
) -> None:
    conversation, _ = await a_conversation(sessions, tenant)
    with pytest.raises(InvalidArgument) as bad:
        await cases.open(
            tenant,
            ALL,
            NewCase(CaseType.RETURN, conversation_id=conversation, reason="x" * 501),
            actor="members/m1",
        )
    assert {v.field for v in bad.value.violations} == {"case.order_external_id", "case.reason"}
    with pytest.raises(InvalidArgument) as bad:
        await cases.open(tenant, ALL, NewCase(CaseType.COMPLAINT), actor="members/m1")
    assert bad.value.violations[0].field == "case.conversation"
    with pytest.raises(InvalidArgument) as bad:
        await cases.open(
            tenant,
            ALL,
            NewCase(CaseType.COMPLAINT, conversation_id=str(uuid.uuid4())),
            actor="members/m1",
        )
    assert bad.value.violations[0].field == "case.conversation"
    with pytest.raises(InvalidArgument) as bad:
        await cases.open(
            tenant,
            ALL,
            NewCase(CaseType.COMPLAINT, conversation_id=conversation, customer="customers/other"),
            actor="members/m1",
        )
    assert bad.value.violations[0].field == "case.customer"
    assert await cases.page(tenant, ALL, CaseFilter(), after=[], limit=10) == []
    assert await outbox_events(sessions, tenant) == []


async def test_transitions_follow_the_machine_record_actor_and_note_and_announce(
    cases: Cases, sessions: Sessions, tenant: str, clock: Clock
) -> None:
    conversation, _ = await a_conversation(sessions, tenant)
    case = await cases.open(
        tenant,
        ALL,
        NewCase(CaseType.REFUND, conversation_id=conversation, order_external_id="A-1"),
        actor="members/m1",
    )
    clock.now = T0 + timedelta(hours=2)
    case = await cases.transition(
        tenant,
        ALL,
        case.id,
        CaseState.IN_REVIEW,
        note="looking",
        etag=case.etag,
        actor="members/m2",
    )
    with pytest.raises(CaseTransitionRefused) as refused:
        await cases.transition(
            tenant, ALL, case.id, CaseState.CLOSED, note="", etag="", actor="members/m2"
        )
    assert "APPROVED, REJECTED, CANCELLED" in refused.value.message
    with pytest.raises(Aborted):
        await cases.transition(
            tenant, ALL, case.id, CaseState.APPROVED, note="", etag='W/"1"', actor="members/m2"
        )
    for to in (CaseState.APPROVED, CaseState.REFUNDED):
        case = await cases.transition(tenant, ALL, case.id, to, note="", etag="", actor="system")
    clock.now = T0 + timedelta(hours=30)
    case = await cases.transition(
        tenant, ALL, case.id, CaseState.CLOSED, note="done", etag="", actor="members/m2"
    )
    stored = await cases.get(tenant, ALL, case.id)
    assert stored.state is CaseState.CLOSED
    assert stored.closed_at == T0 + timedelta(hours=30)
    assert [(t.from_state, t.to_state, t.actor, t.note) for t in stored.transitions] == [
        (CaseState.OPEN, CaseState.IN_REVIEW, "members/m2", "looking"),
        (CaseState.IN_REVIEW, CaseState.APPROVED, "system", ""),
        (CaseState.APPROVED, CaseState.REFUNDED, "system", ""),
        (CaseState.REFUNDED, CaseState.CLOSED, "members/m2", "done"),
    ]
    events = [e for k, e in await outbox_events(sessions, tenant) if k == "case.transitioned"]
    assert len(events) == 4
    first, last = events[0], events[-1]
    assert isinstance(first, messaging_events_pb2.CaseTransitioned)
    assert isinstance(last, messaging_events_pb2.CaseTransitioned)
    assert not first.HasField("time_to_resolve")
    assert not first.sla_breached
    assert last.time_to_resolve.ToTimedelta() == timedelta(hours=30)
    assert last.sla_breached  # the refund SLA is 24 h
    assert (last.note, last.actor) == ("done", "members/m2")


async def test_update_changes_details_with_etags_but_never_the_state(
    cases: Cases, sessions: Sessions, new_uow: Callable[[], MessagingUnitOfWork], tenant: str
) -> None:
    conversation, _ = await a_conversation(sessions, tenant)
    case = await cases.open(
        tenant,
        ALL,
        NewCase(CaseType.EXCHANGE, conversation_id=conversation, order_external_id="A-2"),
        actor="members/m1",
    )
    await members(new_uow, tenant, "m9")
    await members(new_uow, tenant, "gone", enabled=False)
    for nobody in ("m404", "gone"):  # no such member, a disabled one: nothing changes
        with pytest.raises(InvalidArgument) as refused:
            await cases.update(tenant, ALL, case.id, CaseChanges({"assignee": nobody}), case.etag)
        assert [v.field for v in refused.value.violations] == ["case.assignee"]
    updated = await cases.update(
        tenant,
        ALL,
        case.id,
        CaseChanges({"reason": "wrong size", "assignee": "m9"}),
        case.etag,
    )
    assert (updated.reason, updated.assignee, updated.version) == ("wrong size", "m9", 2)
    with pytest.raises(Aborted):
        await cases.update(tenant, ALL, case.id, CaseChanges({"reason": "x"}), case.etag)
    with pytest.raises(InvalidArgument):
        await cases.update(tenant, ALL, case.id, CaseChanges({"order_external_id": ""}), "")
    with pytest.raises(ValueError):
        CaseChanges({"state": CaseState.CLOSED})
    assert (await cases.get(tenant, ALL, case.id)).reason == "wrong size"


async def test_lists_filter_and_page_newest_first(
    cases: Cases,
    sessions: Sessions,
    new_uow: Callable[[], MessagingUnitOfWork],
    tenant: str,
    clock: Clock,
) -> None:
    await members(new_uow, tenant, "m1")
    conversation, customer = await a_conversation(sessions, tenant)
    other_conversation, _ = await a_conversation(sessions, tenant)
    opened = []
    for i, (case_type, where) in enumerate(
        [
            (CaseType.RETURN, conversation),
            (CaseType.COMPLAINT, other_conversation),
            (CaseType.RETURN, other_conversation),
        ]
    ):
        clock.now = T0 + timedelta(minutes=i)
        opened.append(
            await cases.open(
                tenant,
                ALL,
                NewCase(case_type, conversation_id=where, order_external_id="A", assignee="m1"),
                actor="members/m1",
            )
        )
    await cases.transition(
        tenant, ALL, opened[2].id, CaseState.CANCELLED, note="", etag="", actor="system"
    )

    async def ids(filters: CaseFilter) -> list[str]:
        return [c.id for c in await cases.page(tenant, ALL, filters, after=[], limit=10)]

    assert await ids(CaseFilter()) == [opened[2].id, opened[1].id, opened[0].id]
    assert await ids(CaseFilter(type=CaseType.RETURN)) == [opened[2].id, opened[0].id]
    assert await ids(CaseFilter(states=frozenset({CaseState.OPEN}))) == [opened[1].id, opened[0].id]
    assert await ids(CaseFilter(customer=customer)) == [opened[0].id]
    assert await ids(CaseFilter(assignee="m1")) == [c.id for c in reversed(opened)]
    assert await ids(CaseFilter(assignee="m2")) == []
    first = await cases.page(tenant, ALL, CaseFilter(), after=[], limit=2)
    after = [first[1].created_at.isoformat(), first[1].id]
    rest = await cases.page(tenant, ALL, CaseFilter(), after=after, limit=2)
    assert [c.id for c in rest] == [opened[0].id]


async def test_cases_follow_their_customers_data_scope_and_tenant(
    cases: Cases, sessions: Sessions, tenant: str
) -> None:
    mine, _ = await a_conversation(sessions, tenant, owner="m1", department="d1")
    theirs, _ = await a_conversation(sessions, tenant, owner="m2", department="d2")
    own = Visibility(DataScope.OWN, member_id="m1")
    department = Visibility(DataScope.DEPARTMENT, departments=frozenset({"d2"}))
    draft = NewCase(CaseType.COMPLAINT, conversation_id=mine)
    case = await cases.open(tenant, own, draft, actor="members/m1")
    with pytest.raises(NotFound):
        await cases.open(
            tenant, own, NewCase(CaseType.COMPLAINT, conversation_id=theirs), actor="members/m1"
        )
    other = await cases.open(
        tenant, ALL, NewCase(CaseType.COMPLAINT, conversation_id=theirs), actor="members/m9"
    )
    assert (await cases.get(tenant, own, case.id)).id == case.id
    with pytest.raises(NotFound):
        await cases.get(tenant, own, other.id)
    with pytest.raises(NotFound):
        await cases.transition(
            tenant, own, other.id, CaseState.IN_REVIEW, note="", etag="", actor="members/m1"
        )
    with pytest.raises(NotFound):
        await cases.delete(tenant, own, other.id, "")
    assert [c.id for c in await cases.page(tenant, own, CaseFilter(), after=[], limit=9)] == [
        case.id
    ]
    assert [
        c.id for c in await cases.page(tenant, department, CaseFilter(), after=[], limit=9)
    ] == [other.id]
    with pytest.raises(NotFound):
        await cases.get("another-tenant", ALL, case.id)
    assert await cases.page("another-tenant", ALL, CaseFilter(), after=[], limit=9) == []


async def test_delete_removes_the_case_and_its_transitions(
    cases: Cases, sessions: Sessions, tenant: str
) -> None:
    conversation, _ = await a_conversation(sessions, tenant)
    case = await cases.open(
        tenant, ALL, NewCase(CaseType.COMPLAINT, conversation_id=conversation), actor="members/m1"
    )
    case = await cases.transition(
        tenant, ALL, case.id, CaseState.IN_REVIEW, note="", etag="", actor="system"
    )
    with pytest.raises(Aborted):
        await cases.delete(tenant, ALL, case.id, 'W/"1"')
    await cases.delete(tenant, ALL, case.id, case.etag)
    with pytest.raises(NotFound):
        await cases.get(tenant, ALL, case.id)
