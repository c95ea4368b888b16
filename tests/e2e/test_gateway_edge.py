"""What the gateway itself does at the edge (issue 12): the client address it trusts,
what it logs, per-client rate limits, and the JSON google.rpc.Status of every answer
it gives itself (bad JSON, unknown fields, oversized requests)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml

from crosstalk.identity.v1 import identity_service_pb2 as ipb
from crosstalk.identity.v1 import identity_service_pb2_grpc as igrpc
from crosstalk_devstack.stack import REPO_ROOT, Stack
from crosstalk_gateway.generate import write_envoy_config
from crosstalk_gateway.process import envoy_running, free_port
from tests.e2e.rest import PASSWORD, Session, eventually, login, ok, sign_up

pytestmark = pytest.mark.e2e

SPOOFED = "203.0.113.77"


def _from(address: str, base_url: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.0/8 works)."""
    return httpx.Client(
        base_url=base_url, timeout=15, transport=httpx.HTTPTransport(local_address=address)
    )


def _status(response: httpx.Response, http_status: int, code: int) -> str:
    """The JSON google.rpc.Status body of an error answer; returns its message."""
    assert response.status_code == http_status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    return str(body["message"])


def _field_violations(response: httpx.Response) -> list[str]:
    return [
        violation["field"]
        for detail in response.json()["details"]
        if detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
        for violation in detail["fieldViolations"]
    ]


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Session:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        return sign_up(http, "Edge Testers", working_language="en")


# -- item 4: the client address ---------------------------------------------------------


def test_a_spoofed_forwarded_for_is_not_the_client_address(stack: Stack, tenant: Session) -> None:
    with _from("127.0.0.9", stack.config.gateway_url) as http:
        response = http.post(
            "/v1/auth:login",
            json={"email": tenant.email, "password": PASSWORD},
            headers={"x-forwarded-for": SPOOFED, "x-crosstalk-client-ip": SPOOFED},
        )
    session = str(ok(response)["session"])  # "members/{member}/sessions/{session}"
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        member = session.split("/sessions/")[0]
        listed = ok(http.get(f"/v1/{member}/sessions", headers=tenant.headers))["sessions"]
        stored = {s["name"]: s["ipAddress"] for s in listed}
        assert stored[session] == "127.0.0.9"
        events = ok(http.get("/v1/auditEvents", headers=tenant.headers)).get("auditEvents", [])
        assert SPOOFED not in json.dumps(events)


# -- item 5: no passwords in the access log ---------------------------------------------


def _gateway_log(stack: Stack) -> Path:
    return stack.config.var_dir / "logs" / "gateway.log"


def _access_line(stack: Stack, marker: str) -> dict[str, object]:
    def find() -> dict[str, object] | None:
        for line in _gateway_log(stack).read_text(errors="replace").splitlines():
            if marker in line and line.startswith("{"):
                entry: dict[str, object] = json.loads(line)
                return entry
        return None

    return eventually(find, what=f"an access log line with {marker}")


def test_passwords_stay_out_of_the_access_log(stack: Stack, tenant: Session) -> None:
    password = f"pw-{uuid.uuid4().hex}-Aa1!"
    email = f"logged-{uuid.uuid4().hex[:8]}@acme.test"
    marker = f"edge-test-{uuid.uuid4().hex}"
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        created = http.post(
            "/v1/members",
            headers={**tenant.headers, "user-agent": marker},
            json={
                "member": {"email": email, "displayName": "Logged", "role": "roles/normal"},
                "initialPassword": password,
            },
        )
        ok(created)
        login(http, email, password)  # the password travelled in the body
        secret = f"qs-{uuid.uuid4().hex}"
        query_marker = f"edge-query-{uuid.uuid4().hex}"
        refused = http.get(
            "/v1/jwks",
            params={"password": secret, "access_token": secret, "client_secret": secret},
            headers={"user-agent": query_marker},
        )
        assert refused.status_code == 400, refused.text
    entry = _access_line(stack, marker)
    assert entry["path"] == "/v1/members"
    query_entry = _access_line(stack, query_marker)
    assert query_entry["path"] == "/v1/jwks"
    log = _gateway_log(stack).read_text(errors="replace")
    assert password not in log
    assert secret not in log


# -- items 14, 13, 15, 12: Envoy's own answers are JSON google.rpc.Status ---------------


def test_malformed_json_gets_a_json_status(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        response = http.post(
            "/v1/auth:login",
            content=b'{"email": ',
            headers={"content-type": "application/json"},
        )
        _status(response, 400, 3)
        _status(http.get("/v1/customers"), 401, 16)  # no token: jwt_authn's answer
        _status(http.get("/v1/jwks", params={"bogus": "1"}), 400, 3)


def test_grpc_callers_keep_grpc_errors(stack: Stack) -> None:
    host = f"127.0.0.1:{stack.config.gateway_port}"
    with grpc.insecure_channel(host) as channel:
        stub = igrpc.IdentityServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetTenant(ipb.GetTenantRequest(name="tenants/x"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not caught.value.details().startswith("{")


def test_unknown_json_fields_are_refused(stack: Stack, tenant: Session) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        response = http.post(
            "/v1/customers", headers=tenant.headers, json={"displayName": "x", "bogusField": 1}
        )
        message = _status(response, 400, 3)
        assert "bogusField" in message
        assert _field_violations(response) == ["bogusField"]
        nested = http.post(
            "/v1/customers",
            headers=tenant.headers,
            json={"displayName": "x", "identities": [{"channel": "CHANNEL_EMAIL", "nope": 1}]},
        )
        assert "nope" in _status(nested, 400, 3)
        assert _field_violations(nested) == ["identities.nope"]
        listed = ok(http.get("/v1/customers", headers=tenant.headers)).get("customers", [])
        assert not [c for c in listed if c["displayName"] == "x"]


def test_oversized_requests_are_413_and_431_never_429(stack: Stack, tenant: Session) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=60) as http:
        body = json.dumps({"displayName": "x" * 20_000_000})
        big = http.post(
            "/v1/customers",
            content=body,
            headers={**tenant.headers, "content-type": "application/json"},
        )
        message = _status(big, 413, 3)
        long_url = http.get(
            "/v1/customers", params={"pageToken": "a" * 9000}, headers=tenant.headers
        )
        message += _status(long_url, 431, 3)
        # Just under the limit the call reaches the service (whose 400 is about the
        # token), however often it is tried: never a header-size RESOURCE_EXHAUSTED.
        for _ in range(10):
            near = http.get(
                "/v1/customers", params={"pageToken": "a" * 6300}, headers=tenant.headers
            )
            _status(near, 400, 3)
    for internal in ("metadata", "x-envoy", "authorization", "max"):
        assert internal not in message.lower()


def test_invalid_utf8_in_a_resource_name_is_invalid_argument(stack: Stack, tenant: Session) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        response = http.get("/v1/customers/%ff%fe", headers=tenant.headers)
    _status(response, 400, 3)


# -- item 9: probes use the listener ----------------------------------------------------


def test_readiness_is_answered_on_the_listener(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        assert http.get("/ready").status_code == 200


# -- item 8: per-client rate limits (a second gateway with gateway.yaml's own limits) ----


@pytest.fixture(scope="module")
def limited_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another Envoy in front of the same services, with the shipped limits, plus a
    small per-client bucket for everything else so the general limit shows too."""
    directory = tmp_path_factory.mktemp("limited-gateway")
    listen, admin = free_port(), free_port()
    shipped = stack.gateway_settings().rate_limit  # the e2e stack's override...
    assert not shipped.per_client_methods  # ...drops the method limits; gateway.yaml has them
    settings = stack.gateway_settings(
        listen_port=listen,
        admin_port=admin,
        rate_limit={"per_client": {"max_tokens": 8, "tokens_per_fill": 1, "fill_interval": "1h"}}
        | _shipped_method_limits(),
    )
    config = write_envoy_config(
        REPO_ROOT / "build" / "api_descriptor.binpb", settings, directory / "envoy.yaml"
    )
    with envoy_running(config, admin, directory / "envoy.log"):
        yield f"http://127.0.0.1:{listen}"


def _shipped_method_limits() -> dict[str, object]:
    raw = yaml.safe_load((REPO_ROOT / "gateway" / "gateway.yaml").read_text())
    return {"per_client_methods": raw["rate_limit"]["per_client_methods"]}


def _bad_sign_up(http: httpx.Client) -> httpx.Response:
    """Refused by identity (no company), but only after the limiter let it through."""
    return http.post("/v1/tenants:signUp", json={"adminEmail": "nobody@acme.test"})


def test_sign_up_is_limited_per_client(limited_gateway: str) -> None:
    with _from("127.0.0.2", limited_gateway) as first, _from("127.0.0.3", limited_gateway) as other:
        for _ in range(5):  # gateway.yaml: 5 sign-ups at once per client
            assert _bad_sign_up(first).status_code == 400
        limited = _bad_sign_up(first)
        _status(limited, 429, 8)
        assert int(limited.headers["retry-after"]) >= 1
        # Another client still has its own budget.
        assert _bad_sign_up(other).status_code == 400


def test_every_client_has_its_own_general_budget(limited_gateway: str) -> None:
    with _from("127.0.0.4", limited_gateway) as greedy, _from("127.0.0.5", limited_gateway) as fair:
        for _ in range(8):
            assert greedy.get("/v1/jwks").status_code == 200
        _status(greedy.get("/v1/jwks"), 429, 8)
        assert fair.get("/v1/jwks").status_code == 200
        # Spoofing another address does not buy a new budget.
        _status(greedy.get("/v1/jwks", headers={"x-forwarded-for": "198.51.100.7"}), 429, 8)
