"""Bad tokens: 401 at the gateway, UNAUTHENTICATED at a service called directly."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from crosstalk.customers.v1 import customers_service_pb2 as cpb
from crosstalk.customers.v1 import customers_service_pb2_grpc as cgrpc
from crosstalk_common.db.engine import sync_url
from crosstalk_common.secrets import Kek, Keyring
from crosstalk_devstack.stack import Stack
from identity.adapters.signing_keys import seal_context
from tests.e2e.rest import Session, ok, sign_up

pytestmark = pytest.mark.e2e


def _identity_signing_key(stack: Stack) -> tuple[str, Ed25519PrivateKey]:
    """The key identity signs with now, read from its database (tests only)."""
    engine = create_engine(sync_url(stack.config.database_url("identity")))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT kid, private_key FROM signing_keys"
                " WHERE retired_at IS NULL AND activate_at <= :now ORDER BY activate_at DESC"
            ),
            {"now": datetime.now(UTC)},
        ).first()
    engine.dispose()
    assert row is not None, "identity has no signing key"
    # Sealed with the stack's KEK (ADR 0015): the database alone does not give it away.
    keyring = Keyring(Kek.parse(stack.service_env("identity")["IDENTITY_KEK"]))
    raw = keyring.open(row.private_key, context=seal_context(row.kid))
    return str(row.kid), Ed25519PrivateKey.from_private_bytes(raw)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forged(session: Session, other: Session, stack: Stack) -> dict[str, str]:
    kid, key = _identity_signing_key(stack)
    header, payload, signature = session.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    now = int(time.time())
    return {
        "expired": jwt.encode(
            claims | {"iat": now - 7200, "exp": now - 3600}, key, "EdDSA", headers={"kid": kid}
        ),
        "tampered (another tenant)": ".".join(
            [header, _b64(claims | {"tid": other.tenant_id}), signature]
        ),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.",
        "wrong key": jwt.encode(
            claims, Ed25519PrivateKey.generate(), "EdDSA", headers={"kid": kid}
        ),
        "wrong audience": jwt.encode(
            claims | {"aud": "another-api"}, key, "EdDSA", headers={"kid": kid}
        ),
        "not a jwt": "let-me-in",
    }


def test_bad_tokens_are_refused_at_the_gateway_and_by_the_service(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        session, other = sign_up(http, "Token Co"), sign_up(http, "Other Co")
        assert ok(http.get("/v1/customers", headers=session.headers)) is not None
        assert http.get("/v1/customers").status_code == 401
        forged = _forged(session, other, stack)
        for kind, token in forged.items():
            response = http.get("/v1/customers", headers={"authorization": f"Bearer {token}"})
            assert response.status_code == 401, f"{kind}: {response.status_code}"

    with grpc.insecure_channel(stack.config.address("customers")) as channel:
        stub = cgrpc.CustomersServiceStub(channel)
        stub.ListCustomers(cpb.ListCustomersRequest(), metadata=session.metadata, timeout=5)
        for kind, token in {**forged, "no token": ""}.items():
            metadata = [("authorization", f"Bearer {token}")] if token else []
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListCustomers(cpb.ListCustomersRequest(), metadata=metadata, timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, kind


def test_client_sent_identity_headers_are_ignored(stack: Stack) -> None:
    """A client naming another tenant in a header still acts for its own."""
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        mine, theirs = sign_up(http, "Honest Co"), sign_up(http, "Victim Co")
        victim_customer = ok(
            http.post("/v1/customers", headers=theirs.headers, json={"displayName": "Victim"})
        )
        spoofed = mine.headers | {
            "x-crosstalk-tenant-id": theirs.tenant_id,
            "x-crosstalk-member-id": "members/anyone",
        }
        assert http.get(f"/v1/{victim_customer['name']}", headers=spoofed).status_code == 404
        assert ok(http.get("/v1/customers", headers=spoofed)).get("customers", []) == []
