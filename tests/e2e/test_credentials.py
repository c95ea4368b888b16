"""Credentials through the gateway (issue 12): concurrent sign-ins cannot beat the
lockout (item 3), weak passwords are refused (item 7), and identity's signing
keys are stored sealed (item 11)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from crosstalk_common.db.engine import sync_url
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
AT_ONCE = 12
THRESHOLD = 5  # identity's default lockout threshold


def _violations(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    return {
        v["field"]: v["description"]
        for d in body.get("details", [])
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    }


def test_parallel_wrong_logins_check_at_most_the_threshold(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        session = sign_up(http, "Parallel Guess Co")

    def guess(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as own:
            return own.post(
                "/v1/auth:login", json={"email": session.email, "password": "not the password"}
            )

    with ThreadPoolExecutor(AT_ONCE) as pool:
        responses = list(pool.map(guess, range(AT_ONCE)))
    codes = [r.status_code for r in responses]
    # each 401 is a password that was checked; the others were refused unchecked
    assert codes.count(401) <= THRESHOLD, codes
    assert codes.count(401) + codes.count(429) == AT_ONCE, codes
    for refused in (r for r in responses if r.status_code == 429):  # by identity, not Envoy
        assert any(d.get("reason") == "LOGIN_LOCKED" for d in refused.json()["details"])
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        locked = http.post("/v1/auth:login", json={"email": session.email, "password": PASSWORD})
    assert locked.status_code == 429, locked.text
    assert any(d.get("reason") == "LOGIN_LOCKED" for d in locked.json()["details"])


def test_weak_passwords_are_refused_naming_the_field(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        email = f"admin-{uuid.uuid4().hex[:10]}@acme.test"
        for weak, why in (
            ("1234567890aa", "most common"),
            (" " * 12, "only spaces"),
            ("aaaaaaaaaaaa", "most common"),
            (email, "email"),
        ):
            response = http.post(
                "/v1/tenants:signUp",
                json={
                    "companyName": "Weak Password Co",
                    "workingLanguage": "en",
                    "adminEmail": email,
                    "adminDisplayName": "Wei",
                    "adminPassword": weak,
                },
            )
            assert why in _violations(response)["admin_password"], (weak, response.text)

        admin = sign_up(http, "Strong Password Co")
        member = ok(
            http.post(
                "/v1/members",
                headers=admin.headers,
                json={
                    "member": {"email": f"m-{uuid.uuid4().hex[:8]}@acme.test", "displayName": "M"}
                },
            )
        )
        response = http.post(
            f"/v1/{member['name']}:setPassword",
            headers=admin.headers,
            json={"password": "password1234"},
        )
        assert "most common" in _violations(response)["password"]
        ok(
            http.post(
                f"/v1/{member['name']}:setPassword",
                headers=admin.headers,
                json={"password": "a kettle on the moon"},
            )
        )


def test_signing_keys_are_stored_sealed(stack: Stack) -> None:
    engine = create_engine(sync_url(stack.config.database_url("identity")))
    with engine.connect() as conn:
        stored = [
            row.private_key for row in conn.execute(text("SELECT private_key FROM signing_keys"))
        ]
    engine.dispose()
    assert stored
    for value in stored:
        assert value.startswith("ctk1.dev-identity.")  # sealed with the stack's KEK
        assert "PRIVATE KEY" not in value
