"""A VIP complaint with negative sentiment, from /work/shared/seeds/002_7f65c0d4d16fd57f.txt
(客戶關係管理的自動化響應工具使用指南).

Its scenarios: "VIP客戶咨詢時自動觸發'優先處理'標籤,由專屬客服跟進" (客戶分層服務管理) and
"對負面情緒(如'為什麼還沒解決?''太慢了!')自動觸發預警機制,優先分配給資深客服處理"
(客戶情緒預警與干預), with the priority order "VIP客戶投訴>普通客戶咨詢".

So: a rule on the customer's tier and the message's sentiment raises the
conversation's priority, tags the customer 優先處理 and escalates to the senior
agent; an ordinary customer writing the same words is not escalated.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up
from tests.e2e.scenarios.steps import (
    add_member,
    all_of,
    customer_writes,
    leaf,
    matched_runs,
    runs,
    save_rule,
    settled_run,
)

pytestmark = pytest.mark.e2e

COMPLAINT = (
    "Why is this still not solved? Too slow! I am very angry and disappointed, "
    "this is terrible service."
)
PRIORITY_TAG = "優先處理"


def test_a_vip_complaint_is_raised_tagged_and_escalated_to_the_senior_agent(
    stack: Stack,
) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        team = sign_up(http, "B2B Service Center", working_language="en")
        senior, _ = add_member(http, team, "Senior Agent Zhou", "roles/senior")

        # Tiers: score 100 and more makes a VIP (客戶等級).
        tier = ok(
            http.post("/v1/tiers", headers=team.headers, json={"displayName": "VIP", "rank": 10})
        )
        ok(
            http.post(
                "/v1/tierRules",
                headers=team.headers,
                json={
                    "tier": tier["name"],
                    "condition": leaf("score", "GTE", "100"),
                    "enabled": True,
                },
            )
        )
        became_vip = save_rule(
            http,
            team,
            {
                "displayName": "Became VIP",
                "trigger": "TRIGGER_CUSTOMER_TIER_CHANGED",
                "condition": leaf("customer.tier", "EQUALS", "VIP"),
                "actions": [{"addTag": {"tags": ["VIP"]}}],
            },
        )
        vip_complaint = save_rule(
            http,
            team,
            {
                "displayName": "VIP complaint: priority, tag, senior agent",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "priority": 1,
                "stopProcessing": True,
                "condition": all_of(
                    leaf("customer.tier", "EQUALS", "VIP"),
                    leaf("message.sentiment.label", "EQUALS", "SENTIMENT_LABEL_NEGATIVE"),
                ),
                "actions": [
                    {"setPriority": {"priority": "PRIORITY_URGENT"}},
                    {"addTag": {"tags": [PRIORITY_TAG]}},
                    {
                        "escalate": {
                            "reason": "VIP complaint with negative sentiment",
                            "member": senior,
                            "priority": "PRIORITY_URGENT",
                        }
                    },
                ],
            },
        )

        vip = str(customer_writes(http, team, "mr-li@bigbuyer.test", "Hello")["customer"])
        ordinary = str(customer_writes(http, team, "ms-wu@example.test", "Hello")["customer"])
        ok(
            http.post(
                f"/v1/{vip}:adjustScore",
                headers=team.headers,
                json={"delta": 150, "reason": "yearly contract"},
            )
        )
        eventually(
            lambda: matched_runs(http, team, became_vip["name"], customer=vip),
            timeout=30,
            what="rules saw the customer become VIP",
        )

        vip_message = customer_writes(http, team, "mr-li@bigbuyer.test", COMPLAINT)
        assert vip_message["sentiment"]["label"] == "SENTIMENT_LABEL_NEGATIVE", vip_message
        ordinary_message = customer_writes(http, team, "ms-wu@example.test", COMPLAINT)
        assert ordinary_message["sentiment"]["label"] == "SENTIMENT_LABEL_NEGATIVE"

        (run,) = eventually(
            lambda: matched_runs(http, team, vip_complaint["name"], customer=vip),
            timeout=30,
            what="the VIP complaint rule fired",
        )
        settled = settled_run(http, team, vip_complaint["name"], run["name"])
        assert [a["status"] for a in settled["actionResults"]] == ["ACTION_STATUS_SUCCEEDED"] * 3

        # What the senior agent and the team lead see.
        def escalated() -> dict[str, Any] | None:
            got = ok(http.get(f"/v1/{vip_message['conversation']}", headers=team.headers))
            return got if got.get("assignee") == senior else None

        raised = eventually(escalated, timeout=30, what="the conversation escalated")
        assert raised["priority"] == "PRIORITY_URGENT", raised
        assert raised["status"] == "CONVERSATION_STATUS_EXCEPTION", raised
        tags = ok(http.get("/v1/tags", headers=team.headers, params={"pageSize": 100}))
        tag_names = {t["displayName"]: t["name"] for t in tags.get("tags", [])}
        assert PRIORITY_TAG in tag_names, tags
        customer = eventually(
            lambda: (
                (c := ok(http.get(f"/v1/{vip}", headers=team.headers)))
                and tag_names[PRIORITY_TAG] in c.get("tags", [])
                and c
            ),
            what="the VIP tagged 優先處理",
        )
        assert customer["tier"]

        # The ordinary customer's same words take the ordinary path.
        assert runs(http, team, vip_complaint["name"], customer=ordinary) == []
        plain = ok(http.get(f"/v1/{ordinary_message['conversation']}", headers=team.headers))
        assert plain.get("assignee", "") != senior
        assert plain.get("priority") != "PRIORITY_URGENT"
        assert plain["status"] == "CONVERSATION_STATUS_UNREAD"
