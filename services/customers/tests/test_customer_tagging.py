"""The one use case that puts tags on a customer and takes them off
(TagService.change_customer_tags): people name tags by id
(AddTags, RemoveTags), rules by label; against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import read_event
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.tables import outbox, tags, timeline
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.profiles import CustomerProfiles
from customers.app.tags import TagIds, TagLabels, TagService
from customers.domain.model import AUTOMATION_GROUP, Customer, Tag, TagGroup

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-tagging"
EVERYONE = Visibility.everything()
BEN_ONLY = Visibility(DataScope.OWN, "ben")
RULE = "rules/r1"


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.profiles = CustomerProfiles(lambda: CustomersUnitOfWork(sessions, outbox))
        self.tags = TagService(lambda: CustomersUnitOfWork(sessions, outbox))

    async def customer(self, owner: str = "anna") -> str:
        created = await self.profiles.create(
            Customer(id="", tenant_id=TENANT, display_name="Li", owner_member_id=owner)
        )
        return created.id

    async def tag(self, label: str, group_id: str = "") -> str:
        made = await self.tags.create_tag(
            Tag(id="", tenant_id=TENANT, display_name=label, group_id=group_id)
        )
        return made.id

    async def exclusive_group(self, *labels: str) -> list[str]:
        group = await self.tags.create_group(
            TagGroup(id="", tenant_id=TENANT, display_name="Intent", exclusive=True)
        )
        return [await self.tag(label, group.id) for label in labels]

    async def tag_count(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(tags)) or 0)

    async def events(self, event_type: str) -> list[customer_events_pb2.CustomerTagged]:
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(outbox.c.payload)
                    .where(outbox.c.subject.endswith("." + event_type))
                    .order_by(outbox.c.id)
                )
            ).all()
        return [read_event(row).payload for row in rows]  # type: ignore[misc]

    async def actors(self, event_type: str) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(timeline.c.actor).where(timeline.c.type == event_type)
            )
            return list(rows.all())


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "tagging")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


async def test_a_rule_tags_by_label_creating_missing_tags_and_acting_as_the_rule(
    world: World,
) -> None:
    vip = await world.tag("vip")
    customer_id = await world.customer()
    tagged = await world.tags.change_customer_tags(
        TENANT,
        EVERYONE,
        customer_id,
        TagLabels([" refund ", "vip", "refund"]),
        actor=RULE,
        cause_event_id="event-1",
    )
    tag_list, _ = await world.tags.page_tags(TENANT, group_id="", after=[], limit=10)
    refund = next(t for t in tag_list if t.display_name == "refund")
    assert tagged.tags == {vip, refund.id}
    assert (await world.tags.get_group(TENANT, refund.group_id)).display_name == AUTOMATION_GROUP
    [event] = await world.events("customer.tagged")
    assert (event.customer, sorted(event.tags), event.cause_event_id) == (
        f"customers/{customer_id}",
        sorted([f"tags/{vip}", f"tags/{refund.id}"]),
        "event-1",
    )
    assert await world.actors("customer.tagged") == [RULE]


async def test_people_name_tags_by_id_and_every_id_must_be_a_tag(world: World) -> None:
    vip = await world.tag("vip")
    customer_id = await world.customer()
    before = await world.tag_count()
    for wrong, field in ((TagIds([]), "tags"), (TagIds([vip, "vip"]), "tags[1]")):
        with pytest.raises(InvalidArgument) as refused:
            await world.tags.change_customer_tags(TENANT, EVERYONE, customer_id, wrong, actor="x")
        assert [v.field for v in refused.value.violations] == [field]
    assert await world.tag_count() == before  # an id is never taken for a label
    tagged = await world.tags.change_customer_tags(
        TENANT, EVERYONE, customer_id, TagIds([vip]), actor="members/ben"
    )
    assert tagged.tags == {vip}
    assert await world.actors("customer.tagged") == ["members/ben"]


async def test_two_tags_of_an_exclusive_group_refused_by_id_the_last_kept_by_label(
    world: World,
) -> None:
    high, low = await world.exclusive_group("high", "low")
    customer_id = await world.customer()
    with pytest.raises(InvalidArgument):
        await world.tags.change_customer_tags(
            TENANT, EVERYONE, customer_id, TagIds([high, low]), actor="x"
        )
    tagged = await world.tags.change_customer_tags(
        TENANT, EVERYONE, customer_id, TagLabels(["low", "high"]), actor=RULE
    )
    assert tagged.tags == {low}  # labels are taken in sorted order: "low" is the last


async def test_removing_by_label_passes_over_unknown_labels_by_id_refuses_them(
    world: World,
) -> None:
    vip = await world.tag("vip")
    customer_id = await world.customer()
    await world.tags.change_customer_tags(TENANT, EVERYONE, customer_id, TagIds([vip]), actor="x")
    before = await world.tag_count()
    with pytest.raises(InvalidArgument):
        await world.tags.change_customer_tags(
            TENANT, EVERYONE, customer_id, TagIds([vip, "gone"]), actor="x", remove=True
        )
    untagged = await world.tags.change_customer_tags(
        TENANT, EVERYONE, customer_id, TagLabels(["vip", "never-made"]), actor=RULE, remove=True
    )
    assert untagged.tags == frozenset()
    assert await world.tag_count() == before  # removing creates no tag
    [event] = await world.events("customer.untagged")
    assert list(event.tags) == [f"tags/{vip}"]


async def test_a_customer_out_of_reach_is_not_found_and_nothing_is_written(
    world: World,
) -> None:
    customer_id = await world.customer(owner="anna")
    before = await world.tag_count()
    for scope, name in ((EVERYONE, "no-such-customer"), (BEN_ONLY, customer_id)):
        with pytest.raises(NotFound):
            await world.tags.change_customer_tags(
                TENANT, scope, name, TagLabels(["new-label"]), actor=RULE
            )
    assert await world.tag_count() == before
    assert await world.events("customer.tagged") == []
