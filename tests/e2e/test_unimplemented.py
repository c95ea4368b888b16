"""RPCs whose issue has not landed answer UNIMPLEMENTED (HTTP 501), never a fake answer."""

from __future__ import annotations

import grpc
import httpx
import pytest

from crosstalk.customers.v1 import customers_service_pb2 as cpb
from crosstalk.customers.v1 import customers_service_pb2_grpc as cgrpc
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import sign_up

pytestmark = pytest.mark.e2e


def test_unbuilt_rpc_is_unimplemented_directly_and_through_envoy(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Not Yet Co")
        response = http.post(
            "/v1/customers:merge", headers=tenant.headers, json={"customer": "customers/a"}
        )
    assert response.status_code == 501, response.text
    assert response.json()["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]

    with grpc.insecure_channel(stack.config.address("customers")) as channel:
        stub = cgrpc.CustomersServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.MergeCustomers(cpb.MergeCustomersRequest(), metadata=tenant.metadata, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "MergeCustomers" in (caught.value.details() or "")
