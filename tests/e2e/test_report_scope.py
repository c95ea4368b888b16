"""Reports count only what the caller's data scope lets it see."""

from __future__ import annotations

import uuid

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import PASSWORD, eventually, login, ok, sign_up

pytestmark = pytest.mark.e2e


def test_an_agent_sees_the_figures_of_their_own_customers_only(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        admin = sign_up(http, "Report Scope Co", working_language="en")
        email = f"agent-{uuid.uuid4().hex[:8]}@acme.test"
        agent_member = ok(
            http.post(
                "/v1/members",
                headers=admin.headers,
                json={
                    "member": {"email": email, "displayName": "Agent", "role": "roles/normal"},
                    "initialPassword": PASSWORD,
                },
            )
        )
        agent = {"authorization": f"Bearer {login(http, email)['accessToken']}"}
        for label, owner in (("mine", agent_member["name"]), ("theirs", "")):
            body = {
                "displayName": label,
                "identities": [{"channel": "CHANNEL_EMAIL", "externalId": f"{label}@buyer.test"}],
            }
            if owner:
                body["owner"] = owner
            ok(http.post("/v1/customers", headers=admin.headers, json=body))

        def board(headers: dict[str, str]) -> dict[str, str]:
            return ok(http.get("/v1/dashboard", headers=headers))

        eventually(
            lambda: board(admin.headers)["customersCreated"] == "2", what="customers counted"
        )
        for label in ("mine", "theirs"):
            ok(
                http.post(
                    "/v1/messages:ingest",
                    headers=admin.headers,
                    json={
                        "sender": {"channel": "CHANNEL_EMAIL", "externalId": f"{label}@buyer.test"},
                        "text": "hello",
                    },
                )
            )
        eventually(lambda: board(admin.headers)["messagesReceived"] == "2", what="messages counted")
        mine = board(agent)
        assert mine["messagesReceived"] == "1"
        assert mine["customersCreated"] == "1"
