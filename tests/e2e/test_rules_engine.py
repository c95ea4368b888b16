"""The rules engine through Envoy (issue 16): a VIP customer (tier) with a
negative message gets the escalation path (priority raised, escalated, a
note), a normal-tier customer with the same message the standard path; both
are seen through ListRuleRuns and ExplainRuleRun, the actions' outcomes as
messaging reports them back, and the rule statistics."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from typing import Any, ClassVar

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up

pytestmark = pytest.mark.e2e

ANGRY = "This is unacceptable, I am very angry and disappointed. Terrible service!"


def _ingest(http: httpx.Client, team: Session, sender: str, text: str) -> dict[str, Any]:
    return ok(
        http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={"sender": {"channel": "CHANNEL_EMAIL", "externalId": sender}, "text": text},
        )
    )


def _rule(http: httpx.Client, team: Session, body: dict[str, Any]) -> str:
    return str(ok(http.post("/v1/rules", headers=team.headers, json=body))["name"])


def _leaf(field: str, op: str, *values: str) -> dict[str, Any]:
    return {"leaf": {"field": field, "operator": f"OPERATOR_{op}", "values": list(values)}}


def _runs(http: httpx.Client, team: Session, rule: str, **params: str) -> list[dict[str, Any]]:
    body = ok(http.get(f"/v1/{rule}/runs", headers=team.headers, params=params))
    return list(body.get("ruleRuns", []))


def _make_vip(http: httpx.Client, team: Session, customer: str) -> None:
    tier = ok(http.post("/v1/tiers", headers=team.headers, json={"displayName": "VIP", "rank": 10}))
    ok(
        http.post(
            "/v1/tierRules",
            headers=team.headers,
            json={
                "tier": tier["name"],
                "condition": _leaf("score", "GTE", "100"),
                "enabled": True,
            },
        )
    )
    ok(
        http.post(
            f"/v1/{customer}:adjustScore",
            headers=team.headers,
            json={"delta": 150, "reason": "big spender"},
        )
    )


def test_a_vip_with_a_negative_message_is_escalated_and_a_normal_customer_is_not(
    stack: Stack,
) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http:
        team = sign_up(http, "Rules Engine Desk", working_language="en")
        negative = _leaf("message.sentiment.label", "EQUALS", "SENTIMENT_LABEL_NEGATIVE")
        vip_rule = _rule(
            http,
            team,
            {
                "displayName": "Angry VIP",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "enabled": True,
                "priority": 1,
                "stopProcessing": True,
                "condition": {
                    "group": {
                        "operator": "LOGICAL_OPERATOR_AND",
                        "conditions": [_leaf("customer.tier", "EQUALS", "VIP"), negative],
                    }
                },
                "actions": [
                    {"setPriority": {"priority": "PRIORITY_URGENT"}},
                    {"escalate": {"reason": "Angry VIP", "priority": "PRIORITY_URGENT"}},
                    {"addNote": {"text": "VIP is unhappy: call back today"}},
                ],
            },
        )
        standard_rule = _rule(
            http,
            team,
            {
                "displayName": "Angry customer",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "enabled": True,
                "priority": 2,
                "condition": negative,
                "actions": [{"addNote": {"text": "Standard path: answer within a day"}}],
            },
        )
        # Rules learns the tier from the snapshot customers' events carry: a rule
        # on the tier change shows when its projection has the VIP.
        tier_seen = _rule(
            http,
            team,
            {
                "displayName": "Became VIP",
                "trigger": "TRIGGER_CUSTOMER_TIER_CHANGED",
                "enabled": True,
                "condition": _leaf("customer.tier", "EQUALS", "VIP"),
                "actions": [{"addTag": {"tags": ["vip-seen"]}}],
            },
        )

        vip = str(_ingest(http, team, "vip@example.com", "Hello there")["customer"])
        normal = str(_ingest(http, team, "normal@example.com", "Hello there")["customer"])
        _make_vip(http, team, vip)
        eventually(
            lambda: _runs(http, team, tier_seen, customer=vip),
            timeout=30,
            what="rules saw the customer become VIP",
        )

        vip_message = _ingest(http, team, "vip@example.com", ANGRY)
        assert vip_message["sentiment"]["label"] == "SENTIMENT_LABEL_NEGATIVE", vip_message
        _ingest(http, team, "normal@example.com", ANGRY)

        def fired(rule: str, customer: str) -> dict[str, Any] | None:
            for run in _runs(http, team, rule, customer=customer):
                if run["outcome"] == "RULE_RUN_OUTCOME_MATCHED":
                    return run
            return None

        vip_run = eventually(lambda: fired(vip_rule, vip), timeout=30, what="the VIP rule fired")
        assert vip_run["conversation"] == vip_message["conversation"]
        assert [a["index"] for a in vip_run["actionResults"]] == [0, 1, 2]
        # The standard rule came after the VIP rule's stop: suppressed, recorded.
        stopped = eventually(
            lambda: _runs(http, team, standard_rule, customer=vip), what="the stopped run"
        )
        assert [r["outcome"] for r in stopped] == ["RULE_RUN_OUTCOME_SKIPPED_STOPPED"]

        standard_run = eventually(
            lambda: fired(standard_rule, normal), timeout=30, what="the standard rule fired"
        )
        assert [a["index"] for a in standard_run["actionResults"]] == [0]
        assert _runs(http, team, vip_rule, customer=normal) == []  # not matched: no run

        # Why: the facts and the condition trace.
        explained = ok(http.get(f"/v1/{vip_run['name']}:explain", headers=team.headers))
        assert explained["outcome"] == "RULE_RUN_OUTCOME_MATCHED"
        assert explained["facts"]["customer.tier"] == "VIP"
        assert explained["facts"]["message.sentiment.label"] == "negative"
        trace = explained["conditionTrace"]
        assert trace["result"] is True
        assert [c["leaf"]["field"] for c in trace["children"]] == [
            "customer.tier",
            "message.sentiment.label",
        ]
        assert "matched" in explained["summary"]

        # Messaging applies the actions and reports back: every outcome lands on the run.
        def settled() -> list[dict[str, Any]] | None:
            (run,) = [r for r in _runs(http, team, vip_rule) if r["name"] == vip_run["name"]]
            results = run["actionResults"]
            done = all(a["status"] != "ACTION_STATUS_REQUESTED" for a in results)
            return results if done else None

        results = eventually(settled, timeout=30, what="the actions' outcomes")
        assert results[0]["status"] == "ACTION_STATUS_SUCCEEDED", results
        assert results[2]["status"] == "ACTION_STATUS_SUCCEEDED", results

        statistics = ok(http.get("/v1/rules/-/statistics", headers=team.headers))["statistics"]
        by_rule = {s["rule"]: s for s in statistics}
        assert by_rule[vip_rule]["evaluatedCount"] == "4"  # two greetings, two complaints
        assert by_rule[vip_rule]["matchedCount"] == "1"
        assert by_rule[vip_rule]["hitRate"] == 0.25
        assert by_rule[standard_rule]["suppressedStopCount"] == "1"
        assert int(by_rule[vip_rule]["actionsSucceededCount"]) >= 2


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(500 if len(type(self).received) == 1 else 204)  # retried once
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_settings_and_a_signed_webhook_retried_until_it_lands(stack: Stack) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as http_client:
            team = sign_up(http_client, "Webhook Desk", working_language="en")
            bad = http_client.patch(
                "/v1/ruleSettings",
                headers=team.headers,
                json={"name": "ruleSettings", "timeZone": "Mars/Olympus"},
            )
            assert bad.status_code == 400, bad.text
            assert "settings.time_zone" in bad.text
            saved = ok(
                http_client.patch(
                    "/v1/ruleSettings",
                    headers=team.headers,
                    json={
                        "name": "ruleSettings",
                        "timeZone": "Europe/Berlin",
                        "webhookSecret": "hook-secret",
                        "businessHours": [{"weekday": 1, "start": "09:00", "end": "17:00"}],
                    },
                )
            )
            assert saved["webhookSecretSet"] is True
            assert saved.get("webhookSecret", "") == ""  # write only
            got = ok(http_client.get("/v1/ruleSettings", headers=team.headers))
            assert (got["timeZone"], got["businessHours"][0]["start"]) == ("Europe/Berlin", "09:00")

            url = f"http://127.0.0.1:{server.server_address[1]}/hook"
            rule = _rule(
                http_client,
                team,
                {
                    "displayName": "Tell the ERP",
                    "trigger": "TRIGGER_MESSAGE_RECEIVED",
                    "enabled": True,
                    "condition": _leaf("message.text", "MATCHES_KEYWORDS", "invoice"),
                    "actions": [{"callWebhook": {"url": url}}],
                },
            )
            _ingest(http_client, team, "erp@example.com", "Please send the INVOICE again")

            def landed() -> dict[str, Any] | None:
                runs = _runs(http_client, team, rule)
                if runs and runs[0]["actionResults"][0]["status"] == "ACTION_STATUS_SUCCEEDED":
                    return runs[0]
                return None

            run = eventually(landed, timeout=30, what="the webhook landed")
            assert len(_Hook.received) == 2  # a 500, then the retry
            headers, body = _Hook.received[-1]
            assert headers["x-crosstalk-run"] == run["name"]
            stamp = headers["x-crosstalk-timestamp"]
            digest = hmac.new(b"hook-secret", f"{stamp}.".encode() + body, hashlib.sha256)
            assert headers["x-crosstalk-signature"] == f"sha256={digest.hexdigest()}"
            assert json.loads(body)["facts"]["message.text"] == "Please send the INVOICE again"
    finally:
        server.shutdown()
