"""Custom field definitions and customers' values checked against them, on a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.customers.v1 import resources_pb2
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import AlreadyExists, InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.mapping import customer_to_pb, draft_from_pb
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.custom_fields import CustomFieldService
from customers.app.profiles import CustomerProfiles
from customers.domain.model import Customer, CustomFieldDefinition, CustomFieldType

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-fields"
OTHER = "tenant-other"
ADMIN = Visibility(DataScope.ALL)


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.profiles = CustomerProfiles(lambda: CustomersUnitOfWork(sessions, outbox))
        self.fields = CustomFieldService(lambda: CustomersUnitOfWork(sessions, outbox))

    async def define(
        self, key: str, kind: CustomFieldType, *options: str, required: bool = False
    ) -> CustomFieldDefinition:
        return await self.fields.create(
            CustomFieldDefinition(
                id="",
                tenant_id=TENANT,
                key=key,
                display_name=key.title(),
                type=kind,
                options=options,
                required=required,
            )
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "fields")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


def test_definitions_crud(world: World) -> None:
    async def scenario() -> None:
        size = await world.define("size", CustomFieldType.SINGLE_SELECT, "S", "M", "L")
        assert size.options == ("S", "M", "L")
        with pytest.raises(AlreadyExists):
            await world.define("size", CustomFieldType.TEXT)
        with pytest.raises(InvalidArgument) as bad:
            await world.fields.create(
                CustomFieldDefinition(
                    id="", tenant_id=TENANT, key="Bad Key", display_name="", type=None
                )
            )
        assert {v.field for v in bad.value.violations} == {
            "custom_field_definition.key",
            "custom_field_definition.display_name",
            "custom_field_definition.type",
        }
        with pytest.raises(InvalidArgument) as bad:
            await world.define("colour", CustomFieldType.MULTI_SELECT)
        assert [v.field for v in bad.value.violations] == ["custom_field_definition.options"]
        with pytest.raises(InvalidArgument) as bad:
            await world.define("note", CustomFieldType.TEXT, "x")
        assert [v.field for v in bad.value.violations] == ["custom_field_definition.options"]
        with pytest.raises(NotFound):
            await world.fields.get(OTHER, size.id)

        updated = await world.fields.update(
            TENANT, size.id, {"options": ("S", "M", "L", "XL"), "sort_order": 3}, size.etag
        )
        assert (updated.options, updated.sort_order, updated.version) == (
            ("S", "M", "L", "XL"),
            3,
            2,
        )
        await world.define("vip", CustomFieldType.BOOLEAN)
        page = await world.fields.page(TENANT, after=[], limit=1)
        assert [d.key for d in page] == ["vip"]
        rest = await world.fields.page(TENANT, after=[str(page[0].sort_order), "vip"], limit=9)
        assert [d.key for d in rest] == ["size"]
        await world.fields.delete(TENANT, size.id, "")
        with pytest.raises(NotFound):
            await world.fields.get(TENANT, size.id)

    asyncio.run(scenario())


def test_customer_values_checked_against_definitions(world: World) -> None:
    async def scenario() -> None:
        await world.define("size", CustomFieldType.SINGLE_SELECT, "S", "M")
        await world.define("colours", CustomFieldType.MULTI_SELECT, "red", "blue")
        await world.define("spend", CustomFieldType.NUMBER)
        await world.define("birthday", CustomFieldType.DATE)
        vip = await world.define("vip", CustomFieldType.BOOLEAN)
        await world.define("note", CustomFieldType.TEXT)
        good: dict[str, object] = {
            "size": "M",
            "colours": ["red", "blue"],
            "spend": 12.5,
            "birthday": "1990-02-28",
            "vip": True,
            "note": "hi",
        }
        created = await world.profiles.create(
            Customer(id="", tenant_id=TENANT, display_name="Anna", custom_fields=good)
        )
        assert (await world.profiles.get(TENANT, ADMIN, created.id)).custom_fields == good

        bad_values: list[tuple[str, object]] = [
            ("size", "XL"),
            ("colours", ["red", "green"]),
            ("colours", "red"),
            ("spend", "12"),
            ("spend", True),
            ("birthday", "1990-02-30"),
            ("birthday", "28.02.1990"),
            ("vip", "yes"),
            ("note", 3),
            ("unknown", "x"),
        ]
        for key, value in bad_values:
            with pytest.raises(InvalidArgument) as bad:
                await world.profiles.update(
                    TENANT, ADMIN, created.id, {"custom_fields": good | {key: value}}, ""
                )
            assert [v.field for v in bad.value.violations] == [f"customer.custom_fields[{key}]"]
        assert (await world.profiles.get(TENANT, ADMIN, created.id)).version == 1

        # another tenant has no such fields
        with pytest.raises(InvalidArgument):
            await world.profiles.create(
                Customer(id="", tenant_id=OTHER, display_name="Bo", custom_fields={"size": "M"})
            )

        # a required field must have a value; null drops a value
        await world.define("tier_code", CustomFieldType.TEXT, required=True)
        with pytest.raises(InvalidArgument) as bad:
            await world.profiles.create(Customer(id="", tenant_id=TENANT, display_name="Cy"))
        assert [v.field for v in bad.value.violations] == ["customer.custom_fields[tier_code]"]
        updated = await world.profiles.update(
            TENANT,
            ADMIN,
            created.id,
            {"custom_fields": {"tier_code": "A", "note": None}},
            "",
        )
        assert updated.custom_fields == {"tier_code": "A"}

        # deleting a definition removes its values
        await world.profiles.update(
            TENANT, ADMIN, created.id, {"custom_fields": {"tier_code": "A", "vip": False}}, ""
        )
        await world.fields.delete(TENANT, vip.id, "")
        assert (await world.profiles.get(TENANT, ADMIN, created.id)).custom_fields == {
            "tier_code": "A"
        }

    asyncio.run(scenario())


def test_custom_fields_round_trip_through_protos(world: World) -> None:
    async def scenario() -> None:
        await world.define("spend", CustomFieldType.NUMBER)
        await world.define("colours", CustomFieldType.MULTI_SELECT, "red", "blue")
        message = resources_pb2.Customer(display_name="Anna")
        message.custom_fields["spend"].number_value = 3
        message.custom_fields["colours"].list_value.values.add().string_value = "red"
        created = await world.profiles.create(draft_from_pb(TENANT, message))
        back = customer_to_pb(await world.profiles.get(TENANT, ADMIN, created.id))
        assert back.custom_fields["spend"].number_value == 3
        assert [v.string_value for v in back.custom_fields["colours"].list_value.values] == ["red"]

    asyncio.run(scenario())
