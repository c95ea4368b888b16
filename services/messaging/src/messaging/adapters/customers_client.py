"""The customers service over gRPC, as messaging's CustomerDirectory."""

from __future__ import annotations

from crosstalk.customers.v1 import customers_service_pb2, customers_service_pb2_grpc
from crosstalk_common.grpc.auth import require_caller
from crosstalk_common.grpc.channels import open_channel
from crosstalk_common.grpc.client import call
from messaging.adapters.mapping import sender_to_pb
from messaging.domain.model import Sender

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

    async def close(self) -> None:
        await self._channel.close()
