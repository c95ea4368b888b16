"""Follow-ups, from two seeds.

/work/shared/seeds/000_318f622f2e041d0e.txt (HelloGPT 企业版), 规则创建流程: "选择触发条件:
... 时间触发(如24小时未回复)", "设置自动操作:发送消息 ... 提醒人工跟进", and "保存并测试规则,
确保不会冲突或重复触发": a follow-up goes out once when the customer got no answer for
24 h, never twice, and not at all when an agent answered in time. The stack cannot
wait 24 h: the same rule is saved with the shortest delay the rules API accepts
within reason (a few seconds); the timer is the same durable timer.

/work/shared/seeds/002_7f65c0d4d16fd57f.txt (客戶關係管理的自動化響應工具), 步驟六: "當客戶
連續追問3次時,自動轉人工": the third unanswered message of a conversation
(conversation.follow_ups >= 3) hands it to a human.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up
from tests.e2e.scenarios.steps import (
    add_member,
    customer_writes,
    leaf,
    matched_runs,
    outbound,
    save_rule,
    settled_run,
)

pytestmark = pytest.mark.e2e

# Stands in for 24 h (86400s): long enough for an agent's immediate answer to land first.
DELAY_SECONDS = 6
FOLLOW_UP = "Just checking in: did our last answer help? Reply here and we will follow up."


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client) -> Session:
    return sign_up(http, "Southeast Asia Services", working_language="en")


def test_a_follow_up_after_no_reply_is_sent_once_and_not_after_an_answer(
    http: httpx.Client, team: Session
) -> None:
    template = ok(
        http.post(
            "/v1/replyTemplates",
            headers=team.headers,
            json={
                "displayName": "24 h follow-up",
                "bodies": [{"language": "en", "text": FOLLOW_UP}],
                "defaultLanguage": "en",
                "visibility": "TEMPLATE_VISIBILITY_SHARED",
            },
        )
    )
    rule = save_rule(
        http,
        team,
        {
            "displayName": "No reply for 24 h: follow up",
            "trigger": "TRIGGER_NO_REPLY_TIMEOUT",
            "timeTrigger": {"delay": f"{DELAY_SECONDS}s"},
            "actions": [{"replyWithTemplate": {"template": template["name"]}}],
        },
    )
    assert rule["timeTrigger"]["delay"] == f"{DELAY_SECONDS}s"

    waiting = customer_writes(
        http, team, f"waiting-{uuid.uuid4().hex[:6]}@example.com", "Is the blue tent in stock?"
    )
    answered = customer_writes(
        http, team, f"answered-{uuid.uuid4().hex[:6]}@example.com", "Do you ship to Hanoi?"
    )
    ok(
        http.post(
            f"/v1/{answered['conversation']}:sendReply",
            headers=team.headers,
            json={"text": "Yes, in five days.", "skipTranslation": True},
        )
    )

    (run,) = eventually(
        lambda: matched_runs(http, team, rule["name"], customer=waiting["customer"]),
        timeout=DELAY_SECONDS + 30,
        what="the follow-up timer fired",
    )
    settled = settled_run(http, team, rule["name"], run["name"])
    assert settled["actionResults"][0]["status"] == "ACTION_STATUS_SUCCEEDED", settled
    (sent,) = eventually(
        lambda: outbound(http, team, waiting["conversation"]), what="the follow-up stored"
    )
    assert sent["text"] == FOLLOW_UP

    # Once: two more delays later there is still one follow-up and one run, and the
    # conversation answered in time got none.
    time.sleep(2 * DELAY_SECONDS)
    assert len(matched_runs(http, team, rule["name"], customer=waiting["customer"])) == 1
    assert len(outbound(http, team, waiting["conversation"])) == 1
    assert matched_runs(http, team, rule["name"], customer=answered["customer"]) == []
    assert [m["text"] for m in outbound(http, team, answered["conversation"])] == [
        "Yes, in five days."
    ]


def test_the_third_unanswered_message_is_handed_to_a_human(
    http: httpx.Client, team: Session
) -> None:
    human, _ = add_member(http, team, "Agent Nguyen", "roles/normal")
    rule = save_rule(
        http,
        team,
        {
            "displayName": "Asked 3 times: hand to a human",
            "trigger": "TRIGGER_MESSAGE_RECEIVED",
            "condition": leaf("conversation.follow_ups", "GTE", "3"),
            "cooldown": "3600s",
            "actions": [
                {
                    "escalate": {
                        "reason": "The customer asked three times without an answer",
                        "member": human,
                    }
                }
            ],
        },
    )
    sender = f"impatient-{uuid.uuid4().hex[:6]}@example.com"
    first = customer_writes(http, team, sender, "Where is my refund?")
    customer_writes(http, team, sender, "Hello? Where is my refund?")
    second = ok(http.get(f"/v1/{first['conversation']}", headers=team.headers))
    assert second["followUps"] == 2
    third = customer_writes(http, team, sender, "Third time: where is my refund??")
    assert third["conversation"] == first["conversation"]

    (run,) = eventually(
        lambda: matched_runs(http, team, rule["name"], customer=first["customer"]),
        timeout=30,
        what="the hand-over rule fired",
    )
    explained = ok(http.get(f"/v1/{run['name']}:explain", headers=team.headers))
    assert explained["facts"]["conversation.follow_ups"] in (3, "3", 3.0), explained["facts"]
    settled_run(http, team, rule["name"], run["name"])

    def handed_over() -> dict[str, Any] | None:
        got = ok(http.get(f"/v1/{first['conversation']}", headers=team.headers))
        return got if got.get("assignee") == human else None

    conversation = eventually(handed_over, timeout=30, what="the conversation handed over")
    assert conversation["status"] == "CONVERSATION_STATUS_EXCEPTION", conversation
    assert conversation["followUps"] == 3
    assert conversation["priority"] in ("PRIORITY_HIGH", "PRIORITY_URGENT"), conversation
    # Only the third message matched: the first two were evaluated and did not.
    assert len(matched_runs(http, team, rule["name"], customer=first["customer"])) == 1
