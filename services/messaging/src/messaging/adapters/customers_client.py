"""The customers service over gRPC, as messaging's CustomerDirectory."""

from __future__ import annotations

from crosstalk.common.v1 import channel_pb2
from crosstalk.customers.v1 import customers_service_pb2, customers_service_pb2_grpc
from crosstalk_common.grpc.auth import Caller
from crosstalk_common.grpc.client import call, open_channel
from messaging.domain.model import Sender

RESOLVE_DEADLINE_SECONDS = 2.0


class GrpcCustomerDirectory:
    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = customers_service_pb2_grpc.CustomersServiceStub(self._channel)

    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        request = customers_service_pb2.ResolveIdentityRequest(
            identity=channel_pb2.ChannelIdentity(
                channel=channel_pb2.Channel.Value(f"CHANNEL_{sender.channel.upper()}"),
                external_id=sender.external_id,
                store=sender.store,
            ),
            display_name=display_name,
        )
        response = await call(
            self._stub.ResolveIdentity,
            request,
            caller=Caller(tenant_id=tenant_id),
            timeout=RESOLVE_DEADLINE_SECONDS,
        )
        return str(response.customer.name)

    async def close(self) -> None:
        await self._channel.close()
