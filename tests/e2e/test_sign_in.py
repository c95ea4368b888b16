"""Signing in through the gateway: refresh rotation, reuse detection, lockout."""

from __future__ import annotations

import uuid

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, login, ok, sign_up

pytestmark = pytest.mark.e2e


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_session(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        session = sign_up(http, "Rotation Co")
        first = session.refresh_token
        renewed = ok(http.post("/v1/auth:refresh", json={"refreshToken": first}))
        assert renewed["refreshToken"] != first
        fresh = {"authorization": f"Bearer {renewed['accessToken']}"}
        assert http.get("/v1/customers", headers=fresh).status_code == 200
        # presenting the spent token again looks like theft: the whole session ends
        reused = http.post("/v1/auth:refresh", json={"refreshToken": first})
        assert reused.status_code == 401
        after = http.post("/v1/auth:refresh", json={"refreshToken": renewed["refreshToken"]})
        assert after.status_code == 401, "the session should have been revoked"


def test_repeated_failures_lock_the_email_without_revealing_it_exists(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        session = sign_up(http, "Lockout Co")
        unknown = f"nobody-{uuid.uuid4().hex[:8]}@acme.test"
        for email in (session.email, unknown):
            codes = [
                http.post(
                    "/v1/auth:login", json={"email": email, "password": "not the password"}
                ).status_code
                for _ in range(5)
            ]
            assert codes == [401] * 5, (email, codes)
            locked = http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
            assert locked.status_code == 429, (email, locked.text)
            details = locked.json()["details"]
            assert any(d.get("metadata", {}).get("retryAfterSeconds") for d in details)
        # other members are not affected
        other = sign_up(http, "Neighbour Co")
        assert login(http, other.email)["accessToken"]
