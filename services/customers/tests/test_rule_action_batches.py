"""Rule actions applied a fetched batch at once (on_rule_actions) leave what the
same actions leave applied one event at a time (on_rule_action): the same tags,
versions, timeline and events (payloads with their snapshots, causation and
trace), whatever mix of tag, untag and score actions, customers gone, bad
labels and exclusive groups the batch holds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import envelope_pb2, rule_events_pb2
from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.bus.causation import Causation, caused_by
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import in_unit_of_work, scoped_batch_in_unit_of_work
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.consumers import on_rule_action, on_rule_actions
from customers.adapters.tables import customers, outbox, tags, timeline
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.tags import TagService
from customers.domain.model import Customer, Tag, TagGroup, TagGroupKind

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-rule-batches"
X, Y, GONE = "c-x", "c-y", "c-gone"


def tag(customer: str, *labels: str, run: str) -> Message:
    return rule_events_pb2.RuleActionTagRequested(
        rule="rules/r1", run=run, customer=f"customers/{customer}", tag_labels=list(labels)
    )


def untag(customer: str, *labels: str, run: str) -> Message:
    return rule_events_pb2.RuleActionUntagRequested(
        rule="rules/r2", run=run, customer=f"customers/{customer}", tag_labels=list(labels)
    )


def event(payload: Message, run: str) -> Event:
    _, envelope = new_envelope(
        TENANT,
        payload,
        occurred_at=utc_now(),
        trace_context={},
        causation=Causation(f"rules/r/runs/{run}", 1),
    )
    return Event(envelope=envelope, payload=payload)


async def _world(tmp_path: Path, name: str) -> async_sessionmaker[AsyncSession]:
    url = service_database_urls(("customers",), tmp_path / name, f"batches_{name}")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))
    async with CustomersUnitOfWork(sessions, outbox) as uow:
        for cid in (X, Y):
            now = utc_now()
            await uow.customers.add(
                Customer(id=cid, tenant_id=TENANT, display_name=cid, created_at=now, updated_at=now)
            )
        await uow.commit()
    return sessions


async def _exclusive_group(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An exclusive group "Plan" whose tags are named by rules: gold, silver."""
    service = TagService(lambda: CustomersUnitOfWork(sessions, outbox))
    group = await service.create_group(
        TagGroup(
            id="", tenant_id=TENANT, display_name="Plan", kind=TagGroupKind.CUSTOM, exclusive=True
        )
    )
    for label in ("gold", "silver"):
        await service.create_tag(
            Tag(id="", tenant_id=TENANT, display_name=label, group_id=group.id)
        )


async def _one_at_a_time(sessions: async_sessionmaker[AsyncSession], events: list[Event]) -> None:
    handler = in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_action)
    async with sessions() as session, session.begin():
        for e in events:
            with caused_by(e.causation):
                await handler(session, e)


async def _as_a_batch(sessions: async_sessionmaker[AsyncSession], events: list[Event]) -> None:
    handler = scoped_batch_in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_actions)
    entered: list[str] = []

    def within(e: Event) -> AbstractContextManager[None]:
        entered.append(e.event_id)
        return caused_by(e.causation)

    async with sessions() as session, session.begin():
        await handler(session, events, within)
    assert set(entered) == {e.event_id for e in events}  # every event's scope was entered


async def _left(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """What the actions left, with each world's random tag ids named by label."""
    async with sessions() as session:
        labels = {r.id: r.display_name for r in await session.execute(select(tags))}
        versions = dict((await session.execute(select(customers.c.id, customers.c.version))).all())
        entries = (
            await session.execute(
                select(timeline.c.customer_id, timeline.c.type, timeline.c.summary)
                .where(timeline.c.type != "customer.created")
                .order_by(timeline.c.event_id)
            )
        ).all()
        staged = (
            await session.execute(
                select(outbox.c.payload, outbox.c.subject)
                .where(~outbox.c.subject.endswith("customer.created"))
                .order_by(outbox.c.id)
            )
        ).all()
    events = []
    for payload, subject in staged:
        envelope = envelope_pb2.EventEnvelope.FromString(payload)
        message = catalogue()[envelope.type].payload()
        envelope.payload.Unpack(message)
        text = json.dumps(MessageToDict(message), sort_keys=True)
        for tag_id, label in labels.items():
            text = text.replace(tag_id, f"<{label}>")
        fields = json.loads(text)
        fields["tags"] = sorted(fields.get("tags", []))  # ordered by the world's tag ids
        text = json.dumps(fields, sort_keys=True)
        events.append((subject, text, envelope.causing_run, envelope.causation_depth))
    return {"versions": versions, "timeline": [tuple(e) for e in entries], "events": events}


BATCH: Sequence[tuple[str, Message]] = (
    ("1", tag(X, "refund", "vip", run="1")),
    ("2", tag(Y, "refund", run="2")),
    ("3", tag(X, "refund", "loyal", run="3")),  # X again: has refund already
    ("4", tag(GONE, "refund", run="4")),  # no such customer: SKIPPED
    ("5", tag(Y, " ", run="5")),  # a blank label: FAILED
    ("6", untag(X, "vip", run="6")),
    ("7", tag(X, "vip", "new-label", run="7")),
    (
        "8",
        rule_events_pb2.RuleActionScoreRequested(
            rule="rules/r3", customer=f"customers/{Y}", delta=3
        ),
    ),
    ("9", tag(Y, "after-sales", run="9")),
    ("10", tag("", "refund", run="10")),  # names no customer: FAILED
)


async def test_a_batch_of_rule_actions_leaves_what_they_leave_one_at_a_time(
    tmp_path: Path,
) -> None:
    events = [event(payload, run) for run, payload in BATCH]
    alone = await _world(tmp_path, "alone")
    together = await _world(tmp_path, "together")
    await _one_at_a_time(alone, events)
    await _as_a_batch(together, events)
    expected = await _left(alone)
    assert [s.rsplit(".", 1)[-1] for s, *_ in expected["events"]].count("tagged") == 5
    assert await _left(together) == expected


@pytest.mark.parametrize("has", ["gold", ""])
async def test_a_batch_touching_an_exclusive_group_leaves_what_one_at_a_time_leaves(
    tmp_path: Path, has: str
) -> None:
    # Adding silver displaces the gold a customer has (customer.untagged as well).
    events = [
        event(tag(Y, "refund", run="a"), "a"),
        event(tag(X, "silver", "refund", run="b"), "b"),
    ]
    before = [event(tag(X, has, run="0"), "0")] if has else []
    worlds = []
    for name in ("alone", "together"):
        sessions = await _world(tmp_path, name)
        await _exclusive_group(sessions)
        await _one_at_a_time(sessions, before)
        worlds.append(sessions)
    await _one_at_a_time(worlds[0], events)
    await _as_a_batch(worlds[1], events)
    expected = await _left(worlds[0])
    assert any(s.endswith("customer.untagged") for s, *_ in expected["events"]) == bool(has)
    assert await _left(worlds[1]) == expected
