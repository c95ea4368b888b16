"""Service tokens (ADR 0026): identity issues messaging a token for one tenant with
messaging's fixed grants. It works between services, for that tenant only; the gateway
refuses it, and refuses to issue one to anybody outside."""

from __future__ import annotations

import grpc
import httpx
import pytest

from crosstalk.customers.v1 import customers_service_pb2 as cpb
from crosstalk.customers.v1 import customers_service_pb2_grpc as cgrpc
from crosstalk.customers.v1 import resources_pb2 as cres
from crosstalk.identity.v1 import identity_service_pb2 as ipb
from crosstalk.identity.v1 import identity_service_pb2_grpc as igrpc
from crosstalk.translation.v1 import translation_service_pb2 as tpb
from crosstalk.translation.v1 import translation_service_pb2_grpc as tgrpc
from crosstalk_common.auth.service_credentials import service_secret_from_env
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import ok, sign_up

pytestmark = pytest.mark.e2e

# The stack runs in dev, where identity and messaging share the dev-only secret.
SECRET = service_secret_from_env("messaging")


def _issue(stack: Stack, tenant_id: str, secret: str = SECRET) -> str:
    with grpc.insecure_channel(stack.config.address("identity")) as channel:
        issued = igrpc.IdentityServiceStub(channel).IssueServiceToken(
            ipb.IssueServiceTokenRequest(
                service="messaging", tenant=f"tenants/{tenant_id}", secret=secret
            ),
            timeout=5,
        )
    return str(issued.access_token)


def test_a_service_token_acts_for_its_tenant_between_services_only(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        mine = sign_up(http, "Service Token Co")
        other = sign_up(http, "Other Token Co")
        theirs = ok(
            http.post("/v1/customers", headers=other.headers, json={"displayName": "Theirs"})
        )
        own = ok(http.post("/v1/customers", headers=mine.headers, json={"displayName": "Ours"}))
        token = _issue(stack, mine.tenant_id)
        auth = (("authorization", f"Bearer {token}"),)

        # Between services: translation and customers take it, for its tenant.
        with grpc.insecure_channel(stack.config.address("translation")) as channel:
            detected = tgrpc.TranslationServiceStub(channel).DetectLanguage(
                tpb.DetectLanguageRequest(text="¿Dónde está mi pedido?"), metadata=auth, timeout=5
            )
        assert detected.language == "es"
        with grpc.insecure_channel(stack.config.address("customers")) as channel:
            customers = cgrpc.CustomersServiceStub(channel)
            found = customers.GetCustomer(
                cpb.GetCustomerRequest(name=own["name"]), metadata=auth, timeout=5
            )
            assert found.display_name == "Ours"
            with pytest.raises(grpc.RpcError) as foreign:
                customers.GetCustomer(
                    cpb.GetCustomerRequest(name=theirs["name"]), metadata=auth, timeout=5
                )
            assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as write:
                customers.CreateCustomer(
                    cpb.CreateCustomerRequest(customer=cres.Customer(display_name="No")),
                    metadata=auth,
                    timeout=5,
                )
            assert write.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # Through the gateway it is no token at all (another issuer): 401.
        bearer = {"authorization": f"Bearer {token}"}
        assert http.get(f"/v1/{own['name']}", headers=bearer).status_code == 401
        assert (
            http.post("/v1/text:detectLanguage", headers=bearer, json={"text": "hola"}).status_code
            == 401
        )

        # Nobody outside gets one, not even a signed-in admin holding the secret.
        body = {"service": "messaging", "tenant": f"tenants/{mine.tenant_id}", "secret": SECRET}
        assert http.post("/v1/serviceTokens:issue", json=body).status_code == 401
        outside = http.post("/v1/serviceTokens:issue", headers=mine.headers, json=body)
        assert outside.status_code == 403, outside.text
        assert "SERVICE_TOKEN_FROM_OUTSIDE" in outside.text

    # A wrong secret is refused inside too.
    with pytest.raises(grpc.RpcError) as wrong:
        _issue(stack, mine.tenant_id, secret=SECRET + "!")
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
