"""Every metric from a scripted sequence of events, through the real consumer,
mapping, folding and SQL, checked against figures worked out by hand.

The script (times UTC; Shanghai is UTC+8):

- 14:30 customers c1 (Anna, sales, VIP, DE, tag a) and c2 (Ben, support, ES) created, both POTENTIAL
- 15:30 conversation 1 (c1, e-mail, Spanish) opens; message m1 in
- 15:31 rule r1 replies                          -> first response 60 s (rule), reply 60 s
- 15:40 m2 in
- 16:10 Anna replies (00:10 on the 5th in Shanghai) -> reply 1,800 s; transferred to a human
- 16:30 conversation 1 closed                    -> resolution 3,600 s; answered, not automated
- 17:30 conversation 2 (c2, WhatsApp) opens; m3 in (01:30 on the 5th in Shanghai)
- 17:32 rule r1 replies                          -> first response 120 s (rule)
- 18:30 conversation 2 closed                    -> answered by rules only: automated
- CSAT 4 on conversation 1 (Anna), 5 on conversation 2
- orders: c1 EUR 100 (first), c1 EUR 50 (second), c2 EUR 30 (first)
- c1 moves POTENTIAL -> DEAL 25 h after creation; c1's tier becomes Gold (snapshot v2)
- case 1 (c1, REFUND, EUR 20): OPEN > IN_REVIEW > APPROVED > REFUNDED > CLOSED over 2 h
- rule r1 fired for c1; its actions: 2 succeeded, 1 failed
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2, money_pb2
from crosstalk.events.v1 import customer_events_pb2 as ce
from crosstalk.events.v1 import messaging_events_pb2 as me
from crosstalk.events.v1 import rule_events_pb2 as re_
from crosstalk.messaging.v1 import cases_pb2, resources_pb2
from crosstalk_common.bus.consumer import EventConsumer
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import batch_in_unit_of_work
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.deliveries import Delivery
from reporting.adapters.consumers import on_events, subscriptions
from reporting.adapters.mapping import observed_events
from reporting.adapters.tables import inbox, outbox
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.folding import rebuild
from reporting.app.metrics import ReportingService, RowsQuery
from reporting.domain import histogram
from reporting.domain.catalogue import Dimension
from reporting.domain.observed import ObservedEvent
from reporting.domain.querying import Granularity, MetricQuery

T0 = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
START = datetime(2026, 3, 3, tzinfo=UTC)
END = datetime(2026, 3, 8, tzinfo=UTC)
EVERYTHING = Visibility(DataScope.ALL)
NewUow = Callable[[], ReportingUnitOfWork]


def _eur(units: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="EUR", units=units)


def _snapshot(
    version: int,
    owner: str,
    department: str,
    tier: str,
    country: str,
    tags: Sequence[str],
    stage: int,
) -> ce.CustomerSnapshot:
    return ce.CustomerSnapshot(
        version=version,
        owner=f"members/{owner}",
        department=f"departments/{department}",
        tier=tier,
        country=country,
        tags=list(tags),
        lifecycle_stage=stage,
    )


POTENTIAL = lifecycle_stage_pb2.LIFECYCLE_STAGE_POTENTIAL
DEAL = lifecycle_stage_pb2.LIFECYCLE_STAGE_DEAL


def script(tenant: str) -> list[Event]:
    def ev(payload: Message, at: datetime) -> Event:
        _, envelope = new_envelope(tenant, payload, occurred_at=at, trace_context={})
        return Event(envelope, payload)

    m = timedelta(minutes=1)
    c1_v1 = _snapshot(1, "anna", "sales", "VIP", "DE", ["tags/a"], POTENTIAL)
    c2_v1 = _snapshot(1, "ben", "support", "", "ES", [], POTENTIAL)
    email = channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL, external_id="x@y.es")
    whatsapp = channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_WHATSAPP)
    cs = resources_pb2

    def status(conv: str, customer: str, frm: int, to: int, at: datetime) -> Event:
        return ev(
            me.ConversationStatusChanged(
                conversation=conv, customer=customer, from_status=frm, to_status=to
            ),
            at,
        )

    def transition(frm: int, to: int, at: datetime) -> Event:
        return ev(
            me.CaseTransitioned(
                case="cases/1",
                customer="customers/1",
                case_type=cases_pb2.CASE_TYPE_REFUND,
                from_state=frm,
                to_state=to,
            ),
            at,
        )

    def completed(outcome: int, index: int) -> Event:
        return ev(
            re_.RuleActionCompleted(
                rule="rules/r1", run="rules/r1/runs/1", action_index=index, outcome=outcome
            ),
            T0 + m,
        )

    return [
        ev(ce.CustomerCreated(customer="customers/1", snapshot=c1_v1), T0 - 60 * m),
        ev(ce.CustomerCreated(customer="customers/2", snapshot=c2_v1), T0 - 60 * m),
        ev(
            me.ConversationCreated(
                conversation="conversations/1",
                customer="customers/1",
                identity=email,
                channel=channel_pb2.CHANNEL_EMAIL,
                language="es",
            ),
            T0,
        ),
        ev(
            me.MessageReceived(
                message="conversations/1/messages/1",
                conversation="conversations/1",
                customer="customers/1",
                sender=email,
                language="es",
            ),
            T0,
        ),
        ev(re_.RuleFired(rule="rules/r1", run="rules/r1/runs/1", customer="customers/1"), T0),
        completed(re_.RULE_ACTION_OUTCOME_SUCCEEDED, 0),
        completed(re_.RULE_ACTION_OUTCOME_SUCCEEDED, 1),
        completed(re_.RULE_ACTION_OUTCOME_FAILED, 2),
        ev(
            me.MessageSent(
                message="conversations/1/messages/2",
                conversation="conversations/1",
                customer="customers/1",
                sent_by="rules/r1",
                language="es",
            ),
            T0 + m,
        ),
        ev(
            me.MessageReceived(
                message="conversations/1/messages/3",
                conversation="conversations/1",
                customer="customers/1",
                sender=email,
                language="es",
            ),
            T0 + 10 * m,
        ),
        ev(
            me.MessageSent(
                message="conversations/1/messages/4",
                conversation="conversations/1",
                customer="customers/1",
                sent_by="members/anna",
                language="es",
            ),
            T0 + 40 * m,
        ),
        status(
            "conversations/1",
            "customers/1",
            cs.CONVERSATION_STATUS_REPLIED,
            cs.CONVERSATION_STATUS_CLOSED,
            T0 + 60 * m,
        ),
        ev(
            me.ConversationCreated(
                conversation="conversations/2",
                customer="customers/2",
                identity=whatsapp,
                channel=channel_pb2.CHANNEL_WHATSAPP,
                language="es",
            ),
            T0 + 120 * m,
        ),
        ev(
            me.MessageReceived(
                message="conversations/2/messages/1",
                conversation="conversations/2",
                customer="customers/2",
                sender=whatsapp,
                language="es",
            ),
            T0 + 120 * m,
        ),
        ev(
            me.MessageSent(
                message="conversations/2/messages/2",
                conversation="conversations/2",
                customer="customers/2",
                sent_by="rules/r1",
                language="es",
            ),
            T0 + 122 * m,
        ),
        status(
            "conversations/2",
            "customers/2",
            cs.CONVERSATION_STATUS_REPLIED,
            cs.CONVERSATION_STATUS_CLOSED,
            T0 + 180 * m,
        ),
        ev(
            me.CsatSubmitted(
                csat_survey="csatSurveys/1",
                conversation="conversations/1",
                customer="customers/1",
                assignee="members/anna",
                score=4,
            ),
            T0 + 200 * m,
        ),
        ev(
            me.CsatSubmitted(
                csat_survey="csatSurveys/2",
                conversation="conversations/2",
                customer="customers/2",
                score=5,
            ),
            T0 + 200 * m,
        ),
        ev(
            ce.OrderRecorded(
                order="customers/1/orders/1",
                customer="customers/1",
                amount=_eur(100),
                order_count=1,
                store="amazon-de",
            ),
            T0,
        ),
        ev(
            ce.OrderRecorded(
                order="customers/1/orders/2",
                customer="customers/1",
                amount=_eur(50),
                order_count=2,
                store="amazon-de",
            ),
            T0 + m,
        ),
        ev(
            ce.OrderRecorded(
                order="customers/2/orders/1",
                customer="customers/2",
                amount=_eur(30),
                order_count=1,
                store="amazon-es",
            ),
            T0 + m,
        ),
        ev(
            ce.CustomerStageChanged(
                customer="customers/1",
                from_stage=POTENTIAL,
                to_stage=DEAL,
                snapshot=_snapshot(2, "anna", "sales", "Gold", "DE", ["tags/a"], DEAL),
            ),
            T0 + 24 * 60 * m,
        ),
        ev(
            me.CaseOpened(
                case="cases/1",
                customer="customers/1",
                case_type=cases_pb2.CASE_TYPE_REFUND,
                amount=_eur(20),
            ),
            T0,
        ),
        transition(cases_pb2.CASE_STATE_OPEN, cases_pb2.CASE_STATE_IN_REVIEW, T0 + 30 * m),
        transition(cases_pb2.CASE_STATE_IN_REVIEW, cases_pb2.CASE_STATE_APPROVED, T0 + 60 * m),
        transition(cases_pb2.CASE_STATE_APPROVED, cases_pb2.CASE_STATE_REFUNDED, T0 + 90 * m),
        transition(cases_pb2.CASE_STATE_REFUNDED, cases_pb2.CASE_STATE_CLOSED, T0 + 120 * m),
        ev(
            re_.RuleStatisticsReported(
                counts=[
                    re_.RuleHourCounts(
                        rule="rules/r1",
                        hour=Timestamp(seconds=int(T0.replace(minute=0).timestamp())),
                        evaluated=10,
                        matched=4,
                        suppressed={"cooldown": 1, "rollout": 2},
                    ),
                    re_.RuleHourCounts(
                        rule="rules/r2",
                        hour=Timestamp(seconds=int(T0.replace(minute=0).timestamp())),
                        evaluated=10,
                    ),
                ]
            ),
            T0 + 5 * m,
        ),
    ]


def consumer(sessions: async_sessionmaker[AsyncSession], producer: str) -> EventConsumer:
    subscription = next(s for s in subscriptions() if s.producer == producer)
    return EventConsumer(
        None,  # type: ignore[arg-type]  # process() never touches JetStream
        sessions,
        inbox,
        subscription,
        None,
        batch_handler=batch_in_unit_of_work(ReportingUnitOfWork, outbox, on_events),
    )


async def consume(sessions: async_sessionmaker[AsyncSession], events: Sequence[Event]) -> None:
    """Each producer's events in order, in batches of 4, as JetStream would hand them out."""
    for producer in ("customers", "messaging", "rules"):
        mine = [Delivery.of(e.envelope) for e in events if e.envelope.producer == producer]
        for i in range(0, len(mine), 4):
            await consumer(sessions, producer).process(mine[i : i + 4])  # type: ignore[arg-type]
            assert all(d.acked == 1 for d in mine[i : i + 4])


def q(metric: str, **kwargs: object) -> MetricQuery:
    return MetricQuery(metric, START, END, **kwargs)  # type: ignore[arg-type]


async def figures(service: ReportingService, tenant: str) -> dict[str, object]:
    """The numbers the test checks, as one comparable value (for the rebuild)."""
    out: dict[str, object] = {}
    for metric, kwargs in [
        ("messages_received", {"time_zone": "Asia/Shanghai"}),
        ("messages_received", {}),
        ("messages_sent", {"group_bys": (Dimension.OUTCOME,)}),
        ("first_response_time", {}),
        ("reply_time", {}),
        ("resolution_time", {"group_bys": (Dimension.CHANNEL,)}),
        ("automation_rate", {}),
        ("transfer_to_human_rate", {}),
        ("unread_backlog", {"time_zone": "Asia/Shanghai"}),
        ("csat", {"group_bys": (Dimension.OUTCOME,)}),
        ("order_value", {"group_bys": (Dimension.CURRENCY,)}),
        ("clv", {"group_bys": (Dimension.CURRENCY,)}),
        ("repeat_purchase_rate", {}),
        ("stage_entries", {"group_bys": (Dimension.STAGE,)}),
        ("time_in_stage", {"group_bys": (Dimension.STAGE,)}),
        ("refunded_amount", {}),
        ("case_resolution_time", {}),
        ("cases_by_state", {"group_bys": (Dimension.OUTCOME,)}),
        ("customers_by_tier", {"group_bys": (Dimension.TIER,)}),
        ("rule_hits", {"group_bys": (Dimension.RULE,)}),
        ("rule_success_rate", {"group_bys": (Dimension.RULE,)}),
        ("rule_hit_rate", {"group_bys": (Dimension.RULE,)}),
        ("messages_received", {"group_bys": (Dimension.TAG,)}),
    ]:
        answer = await service.query(tenant, EVERYTHING, q(metric, **kwargs))
        key = f"{metric}{sorted(kwargs.items())}"
        out[key] = (
            [(p.start.isoformat(), p.groups, round(p.value, 6)) for p in answer.current.points],
            round(answer.current.summary.value, 6),
            round(answer.current.summary.p50, 6),
        )
    return out


@pytest.fixture
async def loaded(sessions: async_sessionmaker[AsyncSession], tenant: str) -> list[Event]:
    events = script(tenant)
    await consume(sessions, events)
    return events


async def test_every_metric_matches_the_figures_worked_out_by_hand(
    loaded: list[Event], new_uow: NewUow, tenant: str
) -> None:
    service = ReportingService(new_uow)

    async def answer(metric: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return await service.query(tenant, EVERYTHING, q(metric, **kwargs))

    def by_group(result) -> dict[tuple[str, ...], float]:  # type: ignore[no-untyped-def]
        totals: dict[tuple[str, ...], float] = {}
        for p in result.current.points:
            totals[p.groups] = totals.get(p.groups, 0.0) + p.value
        return totals

    shanghai = await answer("messages_received", time_zone="Asia/Shanghai")
    assert [(p.start.day, p.value) for p in shanghai.current.points] == [(4, 2.0), (5, 1.0)]
    utc = await answer("messages_received")
    assert [(p.start.day, p.value) for p in utc.current.points] == [(4, 3.0)]
    assert by_group(await answer("messages_sent", group_bys=(Dimension.OUTCOME,))) == {
        ("agent",): 1.0,
        ("rule",): 2.0,
    }
    first = (await answer("first_response_time")).current.summary
    assert (first.count, first.value) == (2, 90.0)
    lower, upper = histogram.bounds(histogram.bucket_of(60.0))
    assert lower <= first.p50 <= upper
    reply = (await answer("reply_time")).current.summary
    assert (reply.count, reply.total) == (3, 60.0 + 1800.0 + 120.0)
    lower, upper = histogram.bounds(histogram.bucket_of(120.0))  # the median of 60, 120, 1800
    assert lower <= reply.p50 <= upper
    resolution = await answer("resolution_time", group_bys=(Dimension.CHANNEL,))
    assert {p.groups: p.value for p in resolution.current.points} == {
        ("EMAIL",): 3600.0,
        ("WHATSAPP",): 3600.0,
    }
    assert (await answer("automation_rate")).current.summary.value == 0.5
    assert (await answer("transfer_to_human_rate")).current.summary.value == 0.5
    backlog = await answer("unread_backlog", time_zone="Asia/Shanghai")
    # 24:00 on the 4th in Shanghai is 16:00 UTC: conversation 1 still waits.
    assert [(p.start.day, p.value) for p in backlog.current.points][:2] == [(4, 1.0), (5, 0.0)]
    csat = await answer("csat", group_bys=(Dimension.OUTCOME,))
    assert csat.current.summary.value == 4.5
    assert {p.groups: p.count for p in csat.current.points} == {("4",): 1, ("5",): 1}
    assert by_group(await answer("order_value", group_bys=(Dimension.CURRENCY,))) == {
        ("EUR",): 180.0
    }
    assert (await answer("clv")).current.summary.value == 90.0
    assert (await answer("repeat_purchase_rate")).current.summary.value == 0.5
    assert by_group(await answer("stage_entries", group_bys=(Dimension.STAGE,))) == {
        ("POTENTIAL",): 2.0,
        ("DEAL",): 1.0,
    }
    in_stage = await answer("time_in_stage", group_bys=(Dimension.STAGE,))
    assert [(p.groups, p.value) for p in in_stage.current.points] == [(("POTENTIAL",), 25 * 3600.0)]
    assert (await answer("refunded_amount")).current.summary.value == 20.0
    assert (await answer("case_resolution_time")).current.summary.value == 7200.0
    states = await answer("cases_by_state", group_bys=(Dimension.OUTCOME,))
    last_day = max(p.start for p in states.current.points)
    assert {p.groups: p.value for p in states.current.points if p.start == last_day} == {
        ("CLOSED",): 1.0
    }
    tiers = await answer("customers_by_tier", group_bys=(Dimension.TIER,))
    final = max(p.start for p in tiers.current.points)
    assert {p.groups: p.value for p in tiers.current.points if p.start == final} == {
        ("Gold",): 1.0
    }  # VIP went to 0 on an earlier day and drops out
    assert by_group(await answer("rule_hits", group_bys=(Dimension.RULE,))) == {("rules/r1",): 1.0}
    success = await answer("rule_success_rate", group_bys=(Dimension.RULE,))
    assert success.current.summary.value == pytest.approx(2 / 3)
    assert by_group(await answer("messages_received", group_bys=(Dimension.TAG,))) == {
        ("tags/a",): 2.0
    }
    hit_rate = await answer("rule_hit_rate", group_bys=(Dimension.RULE,))
    assert {p.groups: p.value for p in hit_rate.current.points} == {
        ("rules/r1",): 0.4,
        ("rules/r2",): 0.0,
    }
    assert hit_rate.current.summary.value == 0.2
    suppressed = await answer("rule_suppressions", group_bys=(Dimension.OUTCOME,))
    assert by_group(suppressed) == {("cooldown",): 1.0, ("rollout",): 2.0}
    # Split by a dimension some records do not name (rules' replies have no
    # agent), those records are the group "" and still count in the total.
    sent = await answer("messages_sent", group_bys=(Dimension.AGENT,))
    assert by_group(sent) == {("members/anna",): 1.0, ("",): 2.0}
    assert sent.current.summary.value == 3.0
    first_by_agent = await answer("first_response_time", group_bys=(Dimension.AGENT,))
    assert {p.groups for p in first_by_agent.current.points} == {("",)}
    assert (first_by_agent.current.summary.count, first_by_agent.current.summary.value) == (2, 90.0)
    assert first_by_agent.current.summary.p50 == first.p50  # the histogram's rest as well


async def test_a_department_admin_sees_only_their_departments_numbers(
    loaded: list[Event], new_uow: NewUow, tenant: str
) -> None:
    service = ReportingService(new_uow)
    sales = Visibility(DataScope.DEPARTMENT, departments=frozenset({"sales"}))
    support = Visibility(DataScope.DEPARTMENT, departments=frozenset({"support"}))
    ben = Visibility(DataScope.OWN, member_id="ben")
    mine = await service.query(tenant, sales, q("messages_received"))
    assert mine.current.summary.value == 2.0
    assert (await service.query(tenant, support, q("messages_received"))).current.summary.value == 1
    assert (await service.query(tenant, ben, q("order_value"))).current.summary.value == 30.0
    assert (
        await service.query("other-" + tenant, EVERYTHING, q("messages_received"))
    ).current.points == []
    rows = await service.rows(tenant, sales, RowsQuery("messages_received", START, END), None, 10)
    assert {r.customer for r in rows} == {"customers/1"}


async def test_drill_down_lists_the_rows_behind_a_point_newest_first(
    loaded: list[Event], new_uow: NewUow, tenant: str
) -> None:
    service = ReportingService(new_uow)
    query = RowsQuery("messages_sent", START, END, ((Dimension.OUTCOME, ("rule",)),))
    first_page = await service.rows(tenant, EVERYTHING, query, None, 1)
    assert [r.subject for r in first_page] == ["conversations/2/messages/2"]
    last = first_page[-1]
    rest = await service.rows(tenant, EVERYTHING, query, (last.at, last.event_id, last.seq), 10)
    assert [r.subject for r in rest] == ["conversations/1/messages/2"]
    tagged = RowsQuery("messages_received", START, END, ((Dimension.TAG, ("tags/a",)),))
    assert len(await service.rows(tenant, EVERYTHING, tagged, None, 10)) == 2


async def test_comparing_with_the_previous_period_lines_its_points_up(
    loaded: list[Event], new_uow: NewUow, tenant: str
) -> None:
    service = ReportingService(new_uow)
    later = MetricQuery(
        "messages_received",
        START + timedelta(days=1),
        END + timedelta(days=1),
        compare_previous=True,
    )
    answer = await service.query(tenant, EVERYTHING, later)
    assert answer.current.summary.value == 3.0
    assert answer.previous is not None
    assert answer.previous.summary.value == 0.0
    by_day = MetricQuery(
        "messages_received",
        datetime(2026, 3, 5, tzinfo=UTC),
        datetime(2026, 3, 6, tzinfo=UTC),
        Granularity.DAY,
        compare_previous=True,
    )
    answer = await service.query(tenant, EVERYTHING, by_day)
    assert answer.current.summary.value == 0.0
    assert answer.previous is not None
    assert [(p.start.day, p.value) for p in answer.previous.points] == [(5, 3.0)]


async def test_replaying_the_stream_changes_nothing_and_a_rebuild_gives_the_same_numbers(
    loaded: list[Event], sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    service = ReportingService(new_uow)
    before = await figures(service, tenant)
    await consume(sessions, loaded)  # every event redelivered
    assert await figures(service, tenant) == before

    async def stream() -> AsyncIterator[Sequence[ObservedEvent]]:
        ordered = sorted(loaded, key=lambda e: (e.envelope.producer, e.envelope.event_id))
        for producer in ("customers", "messaging", "rules"):
            mine = [
                o for e in ordered if e.envelope.producer == producer for o in observed_events(e)
            ]
            for i in range(0, len(mine), 7):
                yield mine[i : i + 7]

    assert await rebuild(new_uow, stream()) == len(loaded) + 1  # the report names two rules
    assert await figures(service, tenant) == before


async def test_messagings_own_csat_invitation_is_sent_but_answers_no_one(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    """A conversation closed unanswered, then messaging's CSAT invitation (sent by
    "system"): a message out, yet no first response, no reply time, no agent."""

    def ev(payload: Message, at: datetime) -> Event:
        _, envelope = new_envelope(tenant, payload, occurred_at=at, trace_context={})
        return Event(envelope, payload)

    conv, customer = "conversations/9", "customers/9"
    await consume(
        sessions,
        [
            ev(me.ConversationCreated(conversation=conv, customer=customer, language="de"), T0),
            ev(me.MessageReceived(message=f"{conv}/messages/1", conversation=conv), T0),
            ev(
                me.ConversationStatusChanged(
                    conversation=conv,
                    customer=customer,
                    from_status=resources_pb2.CONVERSATION_STATUS_UNREAD,
                    to_status=resources_pb2.CONVERSATION_STATUS_CLOSED,
                ),
                T0 + timedelta(minutes=5),
            ),
            ev(
                me.MessageSent(message=f"{conv}/messages/2", conversation=conv, sent_by="system"),
                T0 + timedelta(minutes=5),
            ),
        ],
    )
    service = ReportingService(new_uow)
    sent = await service.query(
        tenant, EVERYTHING, q("messages_sent", group_bys=(Dimension.OUTCOME,))
    )
    assert [(p.groups, p.value) for p in sent.current.points] == [(("system",), 1.0)]
    for metric in ("first_response_time", "reply_time"):
        assert (await service.query(tenant, EVERYTHING, q(metric))).current.summary.count == 0
    agents = await service.query(
        tenant, EVERYTHING, q("messages_sent", group_bys=(Dimension.AGENT,))
    )
    assert all(p.groups != ("system",) for p in agents.current.points)
