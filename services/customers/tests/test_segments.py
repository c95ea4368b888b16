"""Saved segments through the servicer, against a real database: CRUD, private
and shared segments across members, counts in the reader's data scope, etags."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import resources_pb2, segments_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox, segments
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.bootstrap import compose_servicer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-seg"


def member(name: str, scope: DataScope = DataScope.OWN) -> auth.Caller:
    return auth.Caller(
        tenant_id=TENANT,
        subject=f"members/{name}",
        permissions=frozenset(),
        data_scope=scope,
        department_id="",
        visible_departments=frozenset(),
        token="",
    )


ADMIN = member("admin", DataScope.ALL)
ANNA = member("anna")
BEN = member("ben")


@contextmanager
def acting(caller: auth.Caller) -> Iterator[None]:
    token = auth._current.set(caller)
    try:
        yield
    finally:
        auth._current.reset(token)


def leaf(field: str, op: condition_pb2.Operator.ValueType, *values: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(field=field, operator=op, values=list(values))
    )


GERMANS = leaf("country", condition_pb2.OPERATOR_EQUALS, "DE")
PRIVATE = segments_pb2.SEGMENT_VISIBILITY_PRIVATE
SHARED = segments_pb2.SEGMENT_VISIBILITY_SHARED


class World:
    def __init__(self, servicer: CustomersServicer, sessions: async_sessionmaker[AsyncSession]):
        self.rpc = servicer
        self.sessions = sessions

    async def customer(self, owner: str, country: str) -> str:
        with acting(ADMIN):
            created = await self.rpc.CreateCustomer(
                pb.CreateCustomerRequest(
                    customer=resources_pb2.Customer(
                        display_name=f"{owner}-{country}",
                        country=country,
                        owner=f"members/{owner}",
                    )
                ),
                None,
            )
        return created.name

    async def create(
        self,
        caller: auth.Caller,
        name: str,
        visibility: segments_pb2.SegmentVisibility.ValueType = PRIVATE,
        condition: condition_pb2.Condition = GERMANS,
    ) -> segments_pb2.Segment:
        with acting(caller):
            return await self.rpc.CreateSegment(
                pb.CreateSegmentRequest(
                    segment=segments_pb2.Segment(
                        display_name=name, condition=condition, visibility=visibility
                    )
                ),
                None,
            )

    async def get(self, caller: auth.Caller, name: str) -> segments_pb2.Segment:
        with acting(caller):
            return await self.rpc.GetSegment(pb.GetSegmentRequest(name=name), None)

    async def listed(self, caller: auth.Caller, **request: object) -> list[str]:
        with acting(caller):
            found = await self.rpc.ListSegments(pb.ListSegmentsRequest(**request), None)  # type: ignore[arg-type]
        return [s.display_name for s in found.segments]

    async def update(
        self, caller: auth.Caller, segment: segments_pb2.Segment, *paths: str
    ) -> segments_pb2.Segment:
        with acting(caller):
            return await self.rpc.UpdateSegment(
                pb.UpdateSegmentRequest(
                    segment=segment, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
                ),
                None,
            )

    async def delete(self, caller: auth.Caller, name: str, etag: str = "") -> None:
        with acting(caller):
            await self.rpc.DeleteSegment(pb.DeleteSegmentRequest(name=name, etag=etag), None)

    async def stored_count(self, name: str) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(segments.c.customer_count).where(
                    segments.c.id == name.removeprefix("segments/")
                )
            )
        return int(count or 0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "segments")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))
    servicer = compose_servicer(
        lambda: CustomersUnitOfWork(sessions, outbox), PageTokenCodec(b"test-secret")
    )
    return World(servicer, sessions)


async def test_create_get_update_delete_with_etags(world: World) -> None:
    await world.customer("anna", "DE")
    await world.customer("anna", "FR")
    created = await world.create(ANNA, " Germans ")
    assert created.name.startswith("segments/")
    assert (created.display_name, created.owner, created.visibility) == (
        "Germans",
        "members/anna",
        PRIVATE,
    )
    assert created.condition == GERMANS
    assert created.customer_count == 1
    assert created.HasField("count_time")
    assert created.etag == 'W/"1"'

    got = await world.get(ANNA, created.name)
    assert (got.display_name, got.customer_count) == ("Germans", 1)

    renamed = await world.update(
        ANNA,
        segments_pb2.Segment(name=created.name, display_name="DE", etag=created.etag),
        "display_name",
    )
    assert (renamed.display_name, renamed.etag) == ("DE", 'W/"2"')
    assert renamed.condition == GERMANS  # untouched: not in the mask

    with pytest.raises(Aborted):
        await world.update(
            ANNA,
            segments_pb2.Segment(name=created.name, description="x", etag=created.etag),
            "description",
        )
    with pytest.raises(InvalidArgument) as bad_mask:
        await world.update(ANNA, segments_pb2.Segment(name=created.name), "owner")
    assert [v.field for v in bad_mask.value.violations] == ["update_mask"]

    french = await world.update(
        ANNA,
        segments_pb2.Segment(
            name=created.name,
            condition=leaf("country", condition_pb2.OPERATOR_IN, "FR", "DE"),
        ),
        "condition",
    )
    assert french.customer_count == 2

    with pytest.raises(Aborted):
        await world.delete(ANNA, created.name, etag=created.etag)
    await world.delete(ANNA, created.name, etag=french.etag)
    with pytest.raises(NotFound):
        await world.get(ANNA, created.name)
    with pytest.raises(NotFound):
        await world.delete(ANNA, created.name)


async def test_bad_input_names_the_field(world: World) -> None:
    bad_condition = condition_pb2.Condition(
        group=condition_pb2.ConditionGroup(
            operator=condition_pb2.LOGICAL_OPERATOR_AND,
            conditions=[GERMANS, leaf("shoe_size", condition_pb2.OPERATOR_EQUALS, "42")],
        )
    )
    with pytest.raises(InvalidArgument) as bad:
        await world.create(ANNA, "Shoes", condition=bad_condition)
    assert [v.field for v in bad.value.violations] == [
        "segment.condition.group.conditions[1].leaf.field"
    ]
    with pytest.raises(InvalidArgument) as no_condition:
        await world.create(ANNA, "Everyone", condition=condition_pb2.Condition())
    assert [v.field for v in no_condition.value.violations] == ["segment.condition"]
    with pytest.raises(InvalidArgument) as no_name:
        await world.create(ANNA, "  ")
    assert [v.field for v in no_name.value.violations] == ["segment.display_name"]
    with pytest.raises(InvalidArgument) as long_name:
        await world.create(ANNA, "x" * 101)
    assert [v.field for v in long_name.value.violations] == ["segment.display_name"]
    with pytest.raises(InvalidArgument) as bad_visibility:
        await world.create(ANNA, "Odd", visibility=segments_pb2.SegmentVisibility.ValueType(7))
    assert [v.field for v in bad_visibility.value.violations] == ["segment.visibility"]
    with pytest.raises(InvalidArgument) as bad_name:
        await world.get(ANNA, "customers/1")
    assert [v.field for v in bad_name.value.violations] == ["name"]

    # Display names are unique per owner; another owner may use the same one.
    await world.create(ANNA, "VIP")
    with pytest.raises(AlreadyExists):
        await world.create(ANNA, "VIP", visibility=SHARED)
    await world.create(BEN, "VIP")
    async with world.sessions() as session:
        assert (await session.scalar(select(outbox.c.id).limit(1))) is None  # no events


async def test_private_and_shared_across_members(world: World) -> None:
    private = await world.create(ANNA, "Anna's own")
    shared = await world.create(ANNA, "Team", visibility=SHARED)
    bens = await world.create(BEN, "Ben's own")
    # The default visibility is private.
    unspecified = await world.create(
        BEN, "Ben's default", visibility=segments_pb2.SEGMENT_VISIBILITY_UNSPECIFIED
    )
    assert unspecified.visibility == PRIVATE

    for outsider in (BEN, ADMIN):
        with pytest.raises(NotFound):
            await world.get(outsider, private.name)
        with pytest.raises(NotFound):
            await world.delete(outsider, private.name)
    assert (await world.get(BEN, shared.name)).display_name == "Team"

    assert await world.listed(ANNA) == ["Anna's own", "Team"]
    assert await world.listed(BEN) == ["Ben's default", "Ben's own", "Team"]
    assert await world.listed(BEN, visibility=SHARED) == ["Team"]
    assert await world.listed(BEN, visibility=PRIVATE) == ["Ben's default", "Ben's own"]
    assert await world.listed(ADMIN) == ["Team"]

    # Only the owner, or a member who sees all customers, changes a shared segment.
    with pytest.raises(PermissionDenied):
        await world.update(BEN, segments_pb2.Segment(name=shared.name, description="mine"))
    with pytest.raises(PermissionDenied):
        await world.delete(BEN, shared.name)
    changed = await world.update(
        ADMIN, segments_pb2.Segment(name=shared.name, description="checked by admin")
    )
    assert (changed.description, changed.owner) == ("checked by admin", "members/anna")
    # Made private by its owner, the segment disappears for the others.
    await world.update(ANNA, segments_pb2.Segment(name=shared.name, visibility=PRIVATE))
    with pytest.raises(NotFound):
        await world.get(BEN, shared.name)
    assert await world.listed(BEN) == ["Ben's default", "Ben's own"]
    await world.delete(BEN, bens.name)
    assert await world.listed(BEN) == ["Ben's default"]


async def test_counts_are_in_the_readers_scope(world: World) -> None:
    await world.customer("anna", "DE")
    await world.customer("anna", "DE")
    await world.customer("ben", "DE")
    await world.customer("ben", "FR")
    shared = await world.create(ANNA, "Germans", visibility=SHARED)
    assert shared.customer_count == 2
    assert (await world.get(BEN, shared.name)).customer_count == 1
    assert (await world.get(ADMIN, shared.name)).customer_count == 3
    # The stored count stays the owner's.
    assert await world.stored_count(shared.name) == 2
    await world.customer("anna", "DE")
    with acting(BEN):
        listed = await world.rpc.ListSegments(pb.ListSegmentsRequest(), None)
    assert [s.customer_count for s in listed.segments] == [1]
    assert await world.stored_count(shared.name) == 2
    assert (await world.get(ANNA, shared.name)).customer_count == 3
    assert await world.stored_count(shared.name) == 3


async def test_list_pages_by_display_name(world: World) -> None:
    for name in ("d", "b", "a", "c", "e"):
        await world.create(ANNA, name)
    seen: list[str] = []
    token = ""
    with acting(ANNA):
        for _ in range(3):
            page = await world.rpc.ListSegments(
                pb.ListSegmentsRequest(page_size=2, page_token=token), None
            )
            seen += [s.display_name for s in page.segments]
            token = page.next_page_token
        assert token == ""
        first = await world.rpc.ListSegments(pb.ListSegmentsRequest(page_size=2), None)
        with pytest.raises(InvalidArgument):
            await world.rpc.ListSegments(
                pb.ListSegmentsRequest(
                    page_size=2, page_token=first.next_page_token, visibility=SHARED
                ),
                None,
            )
    assert seen == ["a", "b", "c", "d", "e"]
