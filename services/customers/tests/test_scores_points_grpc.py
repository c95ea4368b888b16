"""The new RPCs through the servicer: protos in and out (no network)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2

from crosstalk.common.v1 import money_pb2
from crosstalk.common.v1.lifecycle_stage_pb2 import LIFECYCLE_STAGE_DEAL, LIFECYCLE_STAGE_INTENT
from crosstalk.customers.v1 import custom_fields_pb2, resources_pb2, scoring_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import FailedPrecondition, InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.bootstrap import compose_servicer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
CALLER = auth.Caller(
    tenant_id="tenant-grpc",
    subject="members/admin",
    permissions=frozenset(),
    data_scope=DataScope.ALL,
    department_id="",
    visible_departments=frozenset(),
    token="",
)


@pytest.fixture
def servicer(tmp_path: Path) -> CustomersServicer:
    url = service_database_urls(("customers",), tmp_path, "grpc")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))
    return compose_servicer(
        lambda: CustomersUnitOfWork(sessions, outbox), PageTokenCodec(b"test-secret")
    )


def test_score_points_and_orders_rpcs(servicer: CustomersServicer) -> None:
    async def scenario() -> None:
        token = auth._current.set(CALLER)
        try:
            created = await servicer.CreateCustomer(
                pb.CreateCustomerRequest(customer=resources_pb2.Customer(display_name="Anna")),
                None,
            )
            name = created.name
            scored = await servicer.AdjustScore(
                pb.AdjustScoreRequest(name=name, delta=4, reason="nice"), None
            )
            assert scored.score == 4
            await servicer.AdjustScore(
                pb.AdjustScoreRequest(name=name, delta=-1, reason="late"), None
            )
            first = await servicer.ListScoreHistory(
                pb.ListScoreHistoryRequest(parent=name, page_size=1), None
            )
            assert [c.delta for c in first.score_changes] == [-1]
            second = await servicer.ListScoreHistory(
                pb.ListScoreHistoryRequest(
                    parent=name, page_size=1, page_token=first.next_page_token
                ),
                None,
            )
            assert [(c.delta, c.score, c.source) for c in second.score_changes] == [
                (4, 4, "members/admin")
            ]
            with pytest.raises(InvalidArgument):
                await servicer.AdjustScore(pb.AdjustScoreRequest(name=name, reason="x"), None)

            for stage in (LIFECYCLE_STAGE_INTENT, LIFECYCLE_STAGE_DEAL):
                await servicer.SetLifecycleStage(
                    pb.SetLifecycleStageRequest(name=name, stage=stage, reason="moved"), None
                )
            newest = await servicer.ListLifecycleHistory(
                pb.ListLifecycleHistoryRequest(parent=name, page_size=1), None
            )
            assert [c.to_stage for c in newest.lifecycle_stage_changes] == [LIFECYCLE_STAGE_DEAL]
            older = await servicer.ListLifecycleHistory(
                pb.ListLifecycleHistoryRequest(
                    parent=name, page_size=1, page_token=newest.next_page_token
                ),
                None,
            )
            assert [c.to_stage for c in older.lifecycle_stage_changes] == [LIFECYCLE_STAGE_INTENT]
            with pytest.raises(InvalidArgument):
                await servicer.ListLifecycleHistory(
                    pb.ListLifecycleHistoryRequest(parent="nobody/x"), None
                )

            entry = await servicer.EarnPoints(
                pb.EarnPointsRequest(name=name, points=50, reason="welcome"), None
            )
            assert entry.kind == scoring_pb2.POINTS_ENTRY_KIND_EARN
            assert entry.name.startswith(name + "/pointsEntries/")
            spent = await servicer.SpendPoints(
                pb.SpendPointsRequest(name=name, points=20, reason="coupon"), None
            )
            assert (spent.points, spent.balance) == (-20, 30)
            with pytest.raises(FailedPrecondition):
                await servicer.SpendPoints(
                    pb.SpendPointsRequest(name=name, points=31, reason="x"), None
                )
            # An entry's order is one of this customer's orders, by name; nothing else is written.
            for bad_order in ("orders/1", "customers/other/orders/1", f"{name}/orders/"):
                with pytest.raises(InvalidArgument) as bad:
                    await servicer.EarnPoints(
                        pb.EarnPointsRequest(name=name, points=1, reason="r", order=bad_order), None
                    )
                assert [v.field for v in bad.value.violations] == ["order"]
                with pytest.raises(InvalidArgument) as bad:
                    await servicer.SpendPoints(
                        pb.SpendPointsRequest(name=name, points=1, reason="r", order=bad_order),
                        None,
                    )
                assert [v.field for v in bad.value.violations] == ["order"]
            ledger = await servicer.ListPointsLedger(pb.ListPointsLedgerRequest(parent=name), None)
            assert [e.points for e in ledger.points_entries] == [-20, 50]
            for_order = await servicer.EarnPoints(
                pb.EarnPointsRequest(
                    name=name, points=5, reason="order", order=f" {name}/orders/o1 "
                ),
                None,
            )
            assert for_order.order == f"{name}/orders/o1"
            spent_on = await servicer.SpendPoints(
                pb.SpendPointsRequest(
                    name=name, points=5, reason="order", order=f"{name}/orders/o1"
                ),
                None,
            )
            assert spent_on.order == f"{name}/orders/o1"

            order = scoring_pb2.Order(
                external_id="A-1",
                store="amazon-de",
                amount=money_pb2.Money(currency_code="EUR", units=12, nanos=340_000_000),
                item_count=1,
            )
            order.order_time.FromDatetime(utc_now() - timedelta(minutes=1))
            recorded = await servicer.RecordOrder(
                pb.RecordOrderRequest(parent=name, order=order), None
            )
            assert recorded.name.startswith(name + "/orders/")
            with pytest.raises(InvalidArgument) as bad:
                await servicer.RecordOrder(
                    pb.RecordOrderRequest(
                        parent=name, order=scoring_pb2.Order(external_id="A-2", store="x")
                    ),
                    None,
                )
            assert {v.field for v in bad.value.violations} == {"order.amount", "order.order_time"}
            listed = await servicer.ListOrders(pb.ListOrdersRequest(parent="customers/-"), None)
            assert [o.external_id for o in listed.orders] == ["A-1"]

            customer = await servicer.GetCustomer(pb.GetCustomerRequest(name=name), None)
            assert (customer.score, customer.points_balance, customer.order_count) == (3, 30, 1)
            assert (customer.order_value.units, customer.order_value.nanos) == (12, 340_000_000)
        finally:
            auth._current.reset(token)

    asyncio.run(scenario())


def test_custom_field_rpcs(servicer: CustomersServicer) -> None:
    async def scenario() -> None:
        token = auth._current.set(CALLER)
        try:
            created = await servicer.CreateCustomFieldDefinition(
                pb.CreateCustomFieldDefinitionRequest(
                    custom_field_definition=custom_fields_pb2.CustomFieldDefinition(
                        key="size",
                        display_name="Size",
                        type=custom_fields_pb2.CUSTOM_FIELD_TYPE_SINGLE_SELECT,
                        options=["S", "M"],
                    )
                ),
                None,
            )
            assert created.name.startswith("customFieldDefinitions/")
            updated = await servicer.UpdateCustomFieldDefinition(
                pb.UpdateCustomFieldDefinitionRequest(
                    custom_field_definition=custom_fields_pb2.CustomFieldDefinition(
                        name=created.name, options=["S", "M", "L"], etag=created.etag
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["options"]),
                ),
                None,
            )
            assert list(updated.options) == ["S", "M", "L"]
            assert updated.type == custom_fields_pb2.CUSTOM_FIELD_TYPE_SINGLE_SELECT
            listed = await servicer.ListCustomFieldDefinitions(
                pb.ListCustomFieldDefinitionsRequest(), None
            )
            assert [d.key for d in listed.custom_field_definitions] == ["size"]

            customer = resources_pb2.Customer(display_name="Anna")
            customer.custom_fields["size"].string_value = "L"
            made = await servicer.CreateCustomer(pb.CreateCustomerRequest(customer=customer), None)
            assert made.custom_fields["size"].string_value == "L"
            change = resources_pb2.Customer(name=made.name)
            change.custom_fields["size"].string_value = "XXL"
            with pytest.raises(InvalidArgument) as bad:
                await servicer.UpdateCustomer(
                    pb.UpdateCustomerRequest(
                        customer=change,
                        update_mask=field_mask_pb2.FieldMask(paths=["custom_fields"]),
                    ),
                    None,
                )
            assert [v.field for v in bad.value.violations] == ["customer.custom_fields[size]"]

            await servicer.DeleteCustomFieldDefinition(
                pb.DeleteCustomFieldDefinitionRequest(name=created.name), None
            )
            with pytest.raises(NotFound):
                await servicer.GetCustomFieldDefinition(
                    pb.GetCustomFieldDefinitionRequest(name=created.name), None
                )
        finally:
            auth._current.reset(token)

    asyncio.run(scenario())
