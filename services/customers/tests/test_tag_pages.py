"""Tag groups and tags page by display name, then id: walking the pages two at a
time serves every row once, in the order of one full read (the database's
collation decides that order; the names mix cases on purpose)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls
from customers.domain.model import Tag, TagGroup, TagGroupKind
from services.customers.tests.test_tags_lifecycle_blacklist import MIGRATIONS, TENANT, World


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "tag_pages")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


def test_tag_groups_and_tags_walk_page_by_page_in_name_order(world: World) -> None:
    async def scenario() -> None:
        names = ["Mango", "apple", "Kiwi", "banana", "Fig", "cherry", "Date"]
        groups = [
            await world.tags.create_group(
                TagGroup(id="", tenant_id=TENANT, display_name=n, kind=TagGroupKind.CUSTOM)
            )
            for n in names
        ]
        for n in names:
            await world.tags.create_tag(
                Tag(id="", tenant_id=TENANT, display_name=f"{n} tag", group_id=groups[0].id)
            )

        every_group = await world.tags.page_groups(TENANT, kind=None, after=[], limit=100)
        assert len(every_group) >= len(names)
        walked: list[str] = []
        after: list[str] = []
        while True:
            page = await world.tags.page_groups(TENANT, kind=None, after=after, limit=2)
            walked += [g.id for g in page]
            if len(page) < 2:
                break
            after = [page[-1].display_name, page[-1].id]
        assert walked == [g.id for g in every_group]

        every_tag, _ = await world.tags.page_tags(
            TENANT, group_id=groups[0].id, after=[], limit=100
        )
        assert len(every_tag) == len(names)
        seen: list[str] = []
        after = []
        while True:
            tags, _ = await world.tags.page_tags(
                TENANT, group_id=groups[0].id, after=after, limit=2
            )
            seen += [t.id for t in tags]
            if len(tags) < 2:
                break
            after = [tags[-1].display_name, tags[-1].id]
        assert seen == [t.id for t in every_tag]

    asyncio.run(scenario())
