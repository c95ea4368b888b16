"""RPCs whose issue has not landed answer UNIMPLEMENTED (HTTP 501), never a fake answer."""

from __future__ import annotations

import grpc
import httpx
import pytest

from crosstalk.messaging.v1 import messaging_service_pb2 as mpb
from crosstalk.messaging.v1 import messaging_service_pb2_grpc as mgrpc
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import sign_up

pytestmark = pytest.mark.e2e


def test_unbuilt_rpc_is_unimplemented_directly_and_through_envoy(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Not Yet Co")
        response = http.get("/v1/conversations/c-1", headers=tenant.headers)
    assert response.status_code == 501, response.text
    assert response.json()["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]

    with grpc.insecure_channel(stack.config.address("messaging")) as channel:
        stub = mgrpc.MessagingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetConversation(
                mpb.GetConversationRequest(name="conversations/c-1"),
                metadata=tenant.metadata,
                timeout=5,
            )
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "GetConversation" in (caught.value.details() or "")
