"""The customers service over gRPC, as messaging's CustomerDirectory."""

from __future__ import annotations

from crosstalk.customers.v1 import customers_service_pb2, customers_service_pb2_grpc
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from crosstalk_common.grpc.channels import open_channel
from crosstalk_common.grpc.client import call
from messaging.adapters.mapping import sender_from_pb, sender_to_pb
from messaging.domain.model import Sender
from messaging.domain.replies import CustomerProfile

RESOLVE_DEADLINE_SECONDS = 2.0


class GrpcCustomerDirectory:
    """Asks customers on behalf of the caller of the current RPC (its token travels along)."""

    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = customers_service_pb2_grpc.CustomersServiceStub(self._channel)

    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        request = customers_service_pb2.ResolveIdentityRequest(
            identity=sender_to_pb(sender), display_name=display_name
        )
        response = await call(
            self._stub.ResolveIdentity,
            request,
            caller=require_caller(),  # customers verifies the same token again
            timeout=RESOLVE_DEADLINE_SECONDS,
        )
        return str(response.customer.name)

    async def profile(self, tenant_id: str, customer: str) -> CustomerProfile:
        """GetCustomer for the caller (customers applies the caller's data scope: a customer
        out of it is NOT_FOUND, passed on with its code)."""
        found = await call(
            self._stub.GetCustomer,
            customers_service_pb2.GetCustomerRequest(name=customer),
            caller=require_caller(),
            timeout=RESOLVE_DEADLINE_SECONDS,
        )
        identities = []
        for identity in found.identities:
            try:
                identities.append(sender_from_pb(identity, field="identity"))
            except InvalidArgument:
                continue  # a channel this service does not know: not a place to write to
        return CustomerProfile(
            name=str(found.name),
            language=str(found.language),
            tags=tuple(found.tags),
            blacklisted=bool(found.blacklisted),
            identities=tuple(identities),
        )

    async def close(self) -> None:
        await self._channel.close()
