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
from tests.e2e.rest import Session, ok, sign_up
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


def _fields(response: httpx.Response) -> list[str]:
    return [v["field"] for d in response.json()["details"] for v in d.get("fieldViolations", [])]


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


def test_channel_configs_crud_secrets_never_returned_and_isolated(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as http:
        team = sign_up(http, "Config Crafters", working_language="en")
        other = sign_up(http, "Someone Else", working_language="en")

        bad = http.post(
            "/v1/channelConfigs",
            headers=team.headers,
            json={
                "displayName": " ",
                "channel": "CHANNEL_WEB_CHAT",
                "secrets": {"signingSecret": "short", "outboundUrl": "ftp://x.test"},
            },
        )
        assert bad.status_code == 400, bad.text
        fields = set(_fields(bad))
        assert fields == {
            "channel_config.display_name",
            "channel_config.secrets.signing_secret",
            "channel_config.secrets.outbound_url",
        }
        no_channel = http.post(
            "/v1/channelConfigs", headers=team.headers, json={"displayName": "No channel"}
        )
        assert no_channel.status_code == 400, no_channel.text

        made = [
            ok(
                http.post(
                    "/v1/channelConfigs",
                    headers=team.headers,
                    json={
                        "displayName": f"Widget {i}",
                        "channel": "CHANNEL_WEB_CHAT",
                        "secrets": {"signingSecret": SECRET, "outboundUrl": "https://a.test/x"},
                    },
                )
            )
            for i in range(3)
        ]
        assert all(SECRET not in json.dumps(c) for c in made)
        assert made[0]["secretsSet"] == ["outbound_url", "signing_secret"]
        assert made[0]["enabled"] is True

        first = ok(http.get("/v1/channelConfigs", headers=team.headers, params={"pageSize": 2}))
        assert [c["name"] for c in first["channelConfigs"]] == [made[0]["name"], made[1]["name"]]
        rest = ok(
            http.get(
                "/v1/channelConfigs",
                headers=team.headers,
                params={"pageSize": 2, "pageToken": first["nextPageToken"]},
            )
        )
        assert [c["name"] for c in rest["channelConfigs"]] == [made[2]["name"]]
        assert (
            ok(http.get("/v1/channelConfigs", headers=other.headers)).get("channelConfigs", [])
            == []
        )
        for call in (
            lambda: http.get(f"/v1/{made[0]['name']}", headers=other.headers),
            lambda: http.delete(f"/v1/{made[0]['name']}", headers=other.headers),
            lambda: http.patch(
                f"/v1/{made[0]['name']}", headers=other.headers, json={"displayName": "mine"}
            ),
        ):
            assert call().status_code == 404

        # A secret changed alone; the others stay; disabling needs the mask (a false).
        updated = ok(
            http.patch(
                f"/v1/{made[0]['name']}",
                headers=team.headers,
                params={"updateMask": "secrets.outbound_url,enabled"},
                json={
                    "secrets": {"outboundUrl": "https://b.test/x"},
                    "enabled": False,
                    "etag": made[0]["etag"],
                },
            )
        )
        assert updated["secretsSet"] == ["outbound_url", "signing_secret"]
        assert updated["enabled"] is False
        assert updated["etag"] != made[0]["etag"]
        stale = http.patch(
            f"/v1/{made[0]['name']}",
            headers=team.headers,
            json={"displayName": "late", "etag": made[0]["etag"]},
        )
        assert stale.status_code == 409, stale.text
        cleared = ok(
            http.patch(
                f"/v1/{made[0]['name']}",
                headers=team.headers,
                params={"updateMask": "secrets"},
                json={"secrets": {"signingSecret": SECRET}},
            )
        )
        assert cleared["secretsSet"] == ["signing_secret"]
        assert http.delete(f"/v1/{made[0]['name']}", headers=team.headers).status_code == 200
        assert http.get(f"/v1/{made[0]['name']}", headers=team.headers).status_code == 404
        # A disabled or deleted channel takes no deliveries (the same 401 as a bad signature).
        body = b'{"sender":{"external_id":"v"},"text":"hi"}'
        gone = http.post(f"/v1/{made[0]['name']}/webhook", content=body, headers=_headers(body))
        assert gone.status_code == 401

        # A message ingested through the API names a channel config of its own tenant and
        # of its sender's channel (its replies go out through it), never a deleted one or
        # another tenant's; nothing is stored for a refused one.
        def ingest(session: Session, config: str, channel: str) -> httpx.Response:
            return http.post(
                "/v1/messages:ingest",
                headers=session.headers,
                json={
                    "sender": {"channel": channel, "externalId": "chat-visitor-7"},
                    "text": "hello",
                    "channelConfig": config,
                },
            )

        for session, config, channel in (
            (other, made[1]["name"], "CHANNEL_WEB_CHAT"),
            (team, made[0]["name"], "CHANNEL_WEB_CHAT"),
            (team, made[1]["name"], "CHANNEL_WHATSAPP"),
        ):
            refused = ingest(session, config, channel)
            assert refused.status_code == 400, refused.text
            assert _fields(refused) == ["channel_config"]
        assert ok(http.get("/v1/conversations", headers=other.headers)).get("conversations") in (
            None,
            [],
        )
        taken = ok(ingest(team, made[1]["name"], "CHANNEL_WEB_CHAT"))
        conversation = ok(http.get(f"/v1/{taken['conversation']}", headers=team.headers))
        assert conversation["channelConfig"] == made[1]["name"]
