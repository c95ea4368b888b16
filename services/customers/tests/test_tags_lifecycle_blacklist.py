"""Tag groups and tags, tagging customers (by people and by rules), lifecycle
stages, the blacklist and the timeline, against a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.consumers import on_rule_action
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.blacklist import Blacklist
from customers.app.lifecycle import LifecycleStages
from customers.app.profiles import CustomerProfiles
from customers.app.search import CustomerSearch
from customers.app.tags import TagIds, TagService
from customers.app.timeline import Timeline
from customers.domain.model import (
    AUTOMATION_GROUP,
    Customer,
    LifecycleStage,
    Tag,
    TagGroup,
    TagGroupKind,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-tags"
OTHER = "tenant-other"
ADMIN = Visibility(DataScope.ALL)
ANNA = Visibility(DataScope.OWN, "anna")
ACTOR = "members/admin"


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.blacklists = Blacklist(lambda: CustomersUnitOfWork(sessions, outbox))
        self.profiles = CustomerProfiles(lambda: CustomersUnitOfWork(sessions, outbox))
        self.search = CustomerSearch(lambda: CustomersUnitOfWork(sessions, outbox))
        self.stages = LifecycleStages(lambda: CustomersUnitOfWork(sessions, outbox))
        self.timelines = Timeline(lambda: CustomersUnitOfWork(sessions, outbox))
        self.tags = TagService(lambda: CustomersUnitOfWork(sessions, outbox))

    async def customer(self, name: str = "Anna", owner: str = "ben", tenant: str = TENANT) -> str:
        created = await self.profiles.create(
            Customer(id="", tenant_id=tenant, display_name=name, owner_member_id=owner)
        )
        return created.id

    async def events(self, event_type: str) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.subject.endswith("." + event_type))
            )
        return int(count or 0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "tags")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


def test_tag_groups_and_tags_crud(world: World) -> None:
    async def scenario() -> None:
        group = await world.tags.create_group(
            TagGroup(id="", tenant_id=TENANT, display_name=" Intent ", kind=TagGroupKind.INTENT)
        )
        assert group.display_name == "Intent"
        with pytest.raises(AlreadyExists):
            await world.tags.create_group(TagGroup(id="", tenant_id=TENANT, display_name="Intent"))
        # another tenant may use the same name, and cannot see ours
        await world.tags.create_group(TagGroup(id="", tenant_id=OTHER, display_name="Intent"))
        with pytest.raises(NotFound):
            await world.tags.get_group(OTHER, group.id)
        with pytest.raises(InvalidArgument) as bad:
            await world.tags.create_tag(Tag(id="", tenant_id=TENANT, display_name="", color="red"))
        assert {v.field for v in bad.value.violations} == {"tag.display_name", "tag.color"}
        with pytest.raises(InvalidArgument):
            await world.tags.create_tag(
                Tag(id="", tenant_id=OTHER, display_name="x", group_id=group.id)
            )
        high = await world.tags.create_tag(
            Tag(id="", tenant_id=TENANT, display_name="high", group_id=group.id, color="#ff0000")
        )
        with pytest.raises(AlreadyExists):
            await world.tags.create_tag(Tag(id="", tenant_id=TENANT, display_name="high"))
        renamed = await world.tags.update_tag(TENANT, high.id, {"display_name": "hot"}, high.etag)
        assert renamed.display_name == "hot"
        assert renamed.version == 2
        page, _ = await world.tags.page_tags(TENANT, group_id=group.id, after=[], limit=10)
        assert [t.display_name for t in page] == ["hot"]
        with pytest.raises(FailedPrecondition):
            await world.tags.delete_group(TENANT, group.id, "")
        await world.tags.delete_tag(TENANT, high.id, "", actor=ACTOR)
        await world.tags.delete_group(TENANT, group.id, "")
        with pytest.raises(NotFound):
            await world.tags.get_group(TENANT, group.id)

    asyncio.run(scenario())


def test_exclusive_group_keeps_one_tag(world: World) -> None:
    async def scenario() -> None:
        intent = await world.tags.create_group(
            TagGroup(
                id="",
                tenant_id=TENANT,
                display_name="Intent",
                kind=TagGroupKind.INTENT,
                exclusive=True,
            )
        )
        high, watching, low = [
            await world.tags.create_tag(
                Tag(id="", tenant_id=TENANT, display_name=n, group_id=intent.id)
            )
            for n in ("high", "watching", "low")
        ]
        vip = await world.tags.create_tag(Tag(id="", tenant_id=TENANT, display_name="vip"))
        anna = await world.customer()
        tagged = await world.tags.change_customer_tags(
            TENANT, ADMIN, anna, TagIds([high.id, vip.id]), actor=ACTOR
        )
        assert tagged.tags == {high.id, vip.id}
        tagged = await world.tags.change_customer_tags(
            TENANT, ADMIN, anna, TagIds([low.id]), actor=ACTOR
        )
        assert tagged.tags == {low.id, vip.id}
        assert await world.events("customer.untagged") == 1
        with pytest.raises(InvalidArgument) as bad:
            await world.tags.change_customer_tags(
                TENANT, ADMIN, anna, TagIds([high.id, watching.id]), actor=ACTOR
            )
        assert [v.field for v in bad.value.violations] == ["tags[1]"]
        with pytest.raises(InvalidArgument) as missing:
            await world.tags.change_customer_tags(
                TENANT, ADMIN, anna, TagIds(["nope"]), actor=ACTOR
            )
        assert [v.field for v in missing.value.violations] == ["tags[0]"]
        untagged = await world.tags.change_customer_tags(
            TENANT, ADMIN, anna, TagIds([vip.id]), actor=ACTOR, remove=True
        )
        assert untagged.tags == {low.id}
        # out of the caller's scope: not found, nothing changes
        with pytest.raises(NotFound):
            await world.tags.change_customer_tags(TENANT, ANNA, anna, TagIds([vip.id]), actor=ACTOR)
        # deleting a tag takes it off the customers
        await world.tags.delete_tag(TENANT, low.id, "", actor=ACTOR)
        assert (await world.profiles.get(TENANT, ADMIN, anna)).tags == frozenset()

    asyncio.run(scenario())


def test_rule_tags_resolve_to_tags_by_display_name(world: World) -> None:
    async def scenario() -> None:
        existing = await world.tags.create_tag(
            Tag(id="", tenant_id=TENANT, display_name="after-sales")
        )
        anna = await world.customer()
        handler = in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_action)
        for n in range(2):  # a second rule run with the same tags changes nothing
            payload = rule_events_pb2.RuleActionTagRequested(
                rule="rules/r1", customer=f"customers/{anna}", tag_labels=["after-sales", "refund"]
            )
            _, envelope = new_envelope(
                TENANT, payload, occurred_at=utc_now(), trace_context={}, event_id=f"e{n}"
            )
            event = Event(envelope, payload)
            async with world.sessions() as session, session.begin():
                await handler(session, event)
            assert await world.events("customer.tagged") == 1, n
        customer = await world.profiles.get(TENANT, ADMIN, anna)
        page, _ = await world.tags.page_tags(TENANT, group_id="", after=[], limit=10)
        by_name = {t.display_name: t for t in page}
        assert customer.tags == {existing.id, by_name["refund"].id}
        group = await world.tags.get_group(TENANT, by_name["refund"].group_id)
        assert group.display_name == AUTOMATION_GROUP
        assert group.kind is TagGroupKind.CUSTOM

    asyncio.run(scenario())


def test_lifecycle_blacklist_and_timeline(world: World) -> None:
    async def scenario() -> None:
        anna = await world.customer()
        await world.stages.set_lifecycle_stage(
            TENANT, ADMIN, anna, LifecycleStage.INTENT, "asked for prices", actor=ACTOR
        )
        moved = await world.stages.set_lifecycle_stage(
            TENANT, ADMIN, anna, LifecycleStage.POTENTIAL, "", actor=ACTOR
        )
        assert moved.lifecycle_stage is LifecycleStage.POTENTIAL
        history = await world.stages.lifecycle_history(TENANT, ADMIN, anna, after=[], limit=10)
        assert [(h.from_stage, h.to_stage) for h in history] == [
            (LifecycleStage.INTENT, LifecycleStage.POTENTIAL),
            (None, LifecycleStage.INTENT),
        ]
        assert await world.events("customer.stage_changed") == 2
        with pytest.raises(NotFound):
            await world.stages.lifecycle_history(TENANT, ANNA, anna, after=[], limit=10)

        with pytest.raises(InvalidArgument) as bad:
            await world.blacklists.blacklist(TENANT, ADMIN, anna, "  ", actor=ACTOR)
        assert [v.field for v in bad.value.violations] == ["reason"]
        assert not (await world.profiles.get(TENANT, ADMIN, anna)).blacklisted
        await world.blacklists.blacklist(TENANT, ADMIN, anna, "abusive", actor=ACTOR)
        read = await world.profiles.get(TENANT, ADMIN, anna)
        assert read.blacklisted
        assert read.blacklist_reason == "abusive"
        assert read.blacklist_time is not None
        listed = await world.search.page(TENANT, ADMIN, condition=None, after=[], limit=5)
        assert listed[0].blacklisted
        assert await world.events("customer.blacklisted") == 1
        with pytest.raises(NotFound):
            await world.blacklists.blacklist(TENANT, ANNA, anna, "x", actor=ACTOR)
        cleared = await world.blacklists.unblacklist(TENANT, ADMIN, anna, actor=ACTOR)
        assert not cleared.blacklisted
        assert cleared.blacklist_time is None

        timeline = await world.timelines.timeline(
            TENANT, ADMIN, anna, types=[], start=None, end=None, after=[], limit=3
        )
        everything = await world.timelines.timeline(
            TENANT, ADMIN, anna, types=[], start=None, end=None, after=[], limit=50
        )
        assert [e.type for e in everything] == [
            "customer.updated",
            "customer.blacklisted",
            "customer.stage_changed",
            "customer.stage_changed",
            "customer.created",
        ]
        last = timeline[-1]
        rest = await world.timelines.timeline(
            TENANT,
            ADMIN,
            anna,
            types=[],
            start=None,
            end=None,
            after=[last.occurred_at.isoformat(), last.event_id],
            limit=50,
        )
        assert [e.event_id for e in timeline + rest] == [e.event_id for e in everything]
        only = await world.timelines.timeline(
            TENANT, ADMIN, anna, types=["customer.created"], start=None, end=None, after=[], limit=5
        )
        assert [e.summary for e in only] == ["Created Anna"]
        with pytest.raises(NotFound):
            await world.timelines.timeline(
                OTHER, ADMIN, anna, types=[], start=None, end=None, after=[], limit=5
            )

    asyncio.run(scenario())


def test_rule_tags_of_an_exclusive_group_keep_the_last(world: World) -> None:
    async def scenario() -> None:
        intent = await world.tags.create_group(
            TagGroup(id="", tenant_id=TENANT, display_name="Intent", exclusive=True)
        )
        for n in ("high", "low"):
            await world.tags.create_tag(
                Tag(id="", tenant_id=TENANT, display_name=n, group_id=intent.id)
            )
        anna = await world.customer()
        payload = rule_events_pb2.RuleActionTagRequested(
            rule="rules/r1", customer=f"customers/{anna}", tag_labels=["high", "low"]
        )
        _, envelope = new_envelope(
            TENANT, payload, occurred_at=utc_now(), trace_context={}, event_id="e1"
        )
        async with world.sessions() as session, session.begin():
            await in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_action)(
                session, Event(envelope, payload)
            )
        customer = await world.profiles.get(TENANT, ADMIN, anna)
        page, _ = await world.tags.page_tags(TENANT, group_id=intent.id, after=[], limit=10)
        assert customer.tags == {t.id for t in page if t.display_name == "low"}

    asyncio.run(scenario())
