"""An API/webhook channel through Envoy: a public route whose deliveries are signed with
HMAC-SHA256 over timestamp + body. A bad signature is 401 and stores nothing; a replay
is refused; a signed delivery is stored, once per idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import ok, sign_up
from tests.e2e.test_email_round_trip import api_key

pytestmark = pytest.mark.e2e

SECRET = "whsec-e2e-0123456789abcdef"


def _headers(body: bytes, *, secret: str = SECRET, at: int = 0, key: str = "") -> dict[str, str]:
    stamp = str(at or int(time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-crosstalk-timestamp": stamp,
        "x-crosstalk-signature": f"sha256={mac}",
    }
    if key:
        headers["idempotency-key"] = key
    return headers


def test_webhook_deliveries_are_verified_refused_on_replay_and_stored_once(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Webhook Widgets", working_language="en")
        config = ok(
            http.post(
                "/v1/channelConfigs",
                headers=team.headers,
                json={
                    "displayName": "Shop chat widget",
                    "channel": "CHANNEL_WEB_CHAT",
                    "store": "shop-eu",
                    "secrets": {
                        "signingSecret": SECRET,
                        "ingestApiKey": api_key(http, team, "chat widget"),
                    },
                },
            )
        )
        assert SECRET not in json.dumps(config)
        route = f"/v1/{config['name']}/webhook"
        visitor = f"visitor-{uuid.uuid4().hex[:8]}"
        body = json.dumps(
            {
                "sender": {"external_id": visitor, "display_name": "Ana"},
                "text": "Do you ship to Spain?",
            }
        ).encode()

        def messages() -> list[dict[str, object]]:
            listed = ok(
                http.get(
                    "/v1/conversations",
                    headers=team.headers,
                    params={"channel": "CHANNEL_WEB_CHAT"},
                )
            )
            return listed.get("conversations", [])

        # A bad signature, a stale one, none at all: 401 and nothing stored.
        for headers in (
            _headers(body, secret="whsec-not-the-secret-0000"),
            _headers(body, at=int(time.time()) - 600),
            {"content-type": "application/json"},
        ):
            refused = http.post(route, content=body, headers=headers)
            assert refused.status_code == 401, refused.text
        tampered = _headers(body)
        refused = http.post(route, content=body.replace(b"Spain", b"Chile"), headers=tampered)
        assert refused.status_code == 401, refused.text
        assert messages() == []

        # Signed: stored.
        signed = _headers(body, key="delivery-1")
        receipt = ok(http.post(route, content=body, headers=signed))
        stored = ok(http.get(f"/v1/{receipt['message']}", headers=team.headers))
        assert stored["text"] == "Do you ship to Spain?"
        assert stored["sender"]["externalId"] == visitor
        assert stored["sender"]["store"] == "shop-eu"

        # The same signed request again: a replay, refused.
        replayed = http.post(route, content=body, headers=signed)
        assert replayed.status_code == 409, replayed.text
        assert "WEBHOOK_REPLAYED" in replayed.text

        # The sender's retry, signed anew with the same idempotency key: the same message.
        retry = ok(
            http.post(
                route,
                content=body,
                headers=_headers(body, at=int(time.time()) + 1, key="delivery-1"),
            )
        )
        assert (retry["message"], retry["duplicate"]) == (receipt["message"], True)
        conversations = messages()
        assert len(conversations) == 1
        listed = ok(http.get(f"/v1/{receipt['conversation']}/messages", headers=team.headers))
        assert len(listed["messages"]) == 1

        # A channel config that does not exist answers as a bad signature does.
        unknown = http.post(
            f"/v1/channelConfigs/{uuid.uuid4()}/webhook", content=body, headers=_headers(body)
        )
        assert unknown.status_code == 401, unknown.text
