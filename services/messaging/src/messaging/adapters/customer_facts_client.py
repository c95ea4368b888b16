"""The customers service over gRPC, as template rendering's CustomerFactsPort.

Asks on behalf of the caller of the current RPC (its token travels along, so
customers applies the caller's tenant and data scope): GetCustomer, and
ListOrders with one order (newest first) when an order field is needed. A
customers error is passed on with its code (NOT_FOUND for a customer outside
the caller's scope).
"""

from __future__ import annotations

from decimal import Decimal

from crosstalk.customers.v1 import customers_service_pb2, customers_service_pb2_grpc, scoring_pb2
from crosstalk.customers.v1 import resources_pb2 as customer_pb2
from crosstalk_common.errors import Unauthenticated, Unavailable
from crosstalk_common.grpc.auth import require_caller
from crosstalk_common.grpc.channels import open_channel
from crosstalk_common.grpc.client import call
from messaging.app.ports import ServiceUnavailable
from messaging.app.template_ports import CustomerFacts

DEADLINE_SECONDS = 2.0


def customer_fields(customer: customer_pb2.Customer) -> dict[str, str]:
    fields = {
        "customer.display_name": customer.display_name,
        "customer.email": customer.emails[0] if customer.emails else "",
        "customer.phone": customer.phones[0] if customer.phones else "",
        "customer.country": customer.country,
        "customer.language": customer.language,
    }
    return {k: v for k, v in fields.items() if v}


def order_fields(order: scoring_pb2.Order) -> dict[str, str]:
    fields = {
        "order.external_id": order.external_id,
        "order.store": order.store,
        "order.item_count": str(order.item_count) if order.item_count else "",
        "order.order_time": order.order_time.ToDatetime().date().isoformat()
        if order.HasField("order_time")
        else "",
    }
    if order.HasField("amount") and order.amount.currency_code:
        value = Decimal(order.amount.units) + Decimal(order.amount.nanos) / Decimal(10**9)
        fields["order.amount"] = f"{value.quantize(Decimal('0.01'))} {order.amount.currency_code}"
    return {k: v for k, v in fields.items() if v}


class GrpcCustomerFacts:
    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = customers_service_pb2_grpc.CustomersServiceStub(self._channel)

    async def facts(self, tenant_id: str, customer: str, *, with_order: bool) -> CustomerFacts:
        try:
            caller = require_caller()  # customers verifies the same token again
        except Unauthenticated as exc:  # a consumer (a rule's action) has no caller
            raise ServiceUnavailable("no caller to ask customers for") from exc
        try:
            found = await call(
                self._stub.GetCustomer,
                customers_service_pb2.GetCustomerRequest(name=customer),
                caller=caller,
                timeout=DEADLINE_SECONDS,
            )
            fields = customer_fields(found)
            if with_order:
                orders = await call(
                    self._stub.ListOrders,
                    customers_service_pb2.ListOrdersRequest(parent=customer, page_size=1),
                    caller=caller,
                    timeout=DEADLINE_SECONDS,
                )
                if orders.orders:
                    fields |= order_fields(orders.orders[0])
        except Unavailable as exc:  # down or too slow: the caller may fall back
            raise ServiceUnavailable(exc.message) from exc
        return CustomerFacts(language=found.language, fields=fields)

    async def close(self) -> None:
        await self._channel.close()
