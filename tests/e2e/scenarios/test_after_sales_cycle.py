"""The after-sales cycle, from /work/shared/seeds/001_169a989fa288ba82.txt (HelloWorld翻译
软件跨境多平台客户管理与售后服务优化指南), 五、售后处理流程与优化: "退款处理:根据订单状态和
支付方式自动生成退款申请", "投诉与评价管理:统一收集客户投诉及差评,快速处理", "系统同步更新
平台状态,确保客户实时获得售后反馈", and 六: "客户满意度、回复及时率、售后处理时长".

So: a buyer complains that the item arrived broken; a rule files the complaint as a
case at once; the agent opens the refund for the order and walks it through review,
approval and refund to closed; the complaint is resolved and closed, the
conversation closed; the buyer answers the satisfaction survey on the public page,
and the score reaches the reports.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up
from tests.e2e.scenarios.steps import customer_writes, leaf, matched_runs, save_rule, settled_run

pytestmark = pytest.mark.e2e

ORDER = "AMZ-113-7784512"
COMPLAINT = f"The jacket from order {ORDER} arrived torn. This is terrible, I want a refund!"


def test_complaint_refund_closed_and_rated(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        team = sign_up(http, "Multi-platform Seller", working_language="en")
        h = team.headers
        rule = save_rule(
            http,
            team,
            {
                "displayName": "Complaints become after-sales cases",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "condition": leaf("message.text", "MATCHES_KEYWORDS", "refund", "broken", "torn"),
                "actions": [
                    {
                        "createCase": {
                            "caseType": "CASE_TYPE_COMPLAINT",
                            "reason": "The buyer complained",
                            "priority": "PRIORITY_HIGH",
                        }
                    }
                ],
            },
        )
        inbound = customer_writes(
            http, team, f"buyer-{uuid.uuid4().hex[:6]}@amazon.test", COMPLAINT
        )
        conversation = inbound["conversation"]

        (run,) = eventually(
            lambda: matched_runs(http, team, rule["name"]), timeout=30, what="the complaint rule"
        )
        settled = settled_run(http, team, rule["name"], run["name"])
        assert settled["actionResults"][0]["status"] == "ACTION_STATUS_SUCCEEDED", settled

        def complaints() -> list[dict[str, Any]]:
            body = ok(http.get("/v1/cases", headers=h, params={"type": "CASE_TYPE_COMPLAINT"}))
            return list(body.get("cases", []))

        (complaint,) = eventually(complaints, what="the complaint filed as a case")
        assert complaint["conversation"] == conversation
        assert complaint["customer"] == inbound["customer"]
        assert complaint["priority"] == "PRIORITY_HIGH"
        assert complaint["state"] == "CASE_STATE_OPEN"

        refund = ok(
            http.post(
                "/v1/cases",
                headers=h,
                json={
                    "type": "CASE_TYPE_REFUND",
                    "conversation": conversation,
                    "orderExternalId": ORDER,
                    "amount": {"currencyCode": "USD", "units": "89", "nanos": 990000000},
                    "reason": "arrived torn",
                },
            )
        )
        for state in ("IN_REVIEW", "APPROVED", "REFUNDED", "CLOSED"):
            refund = ok(
                http.post(
                    f"/v1/{refund['name']}:transition",
                    headers=h,
                    json={"state": f"CASE_STATE_{state}", "note": f"refund {state.lower()}"},
                )
            )
        assert refund["state"] == "CASE_STATE_CLOSED"
        assert refund["orderExternalId"] == ORDER
        assert [t["toState"] for t in refund["transitions"]] == [
            "CASE_STATE_IN_REVIEW",
            "CASE_STATE_APPROVED",
            "CASE_STATE_REFUNDED",
            "CASE_STATE_CLOSED",
        ]
        assert refund["closeTime"] >= refund["createTime"]

        ok(
            http.post(
                f"/v1/{conversation}:sendReply",
                headers=h,
                json={
                    "text": f"Your refund for order {ORDER} is on its way. Sorry!",
                    "skipTranslation": True,
                },
            )
        )
        for state in ("IN_REVIEW", "RESOLVED", "CLOSED"):
            complaint = ok(
                http.post(
                    f"/v1/{complaint['name']}:transition",
                    headers=h,
                    json={"state": f"CASE_STATE_{state}"},
                )
            )
        assert complaint["state"] == "CASE_STATE_CLOSED"
        closed = ok(
            http.post(
                f"/v1/{conversation}:setStatus",
                headers=h,
                json={"status": "CONVERSATION_STATUS_CLOSED"},
            )
        )
        assert closed["status"] == "CONVERSATION_STATUS_CLOSED"
        open_cases = ok(http.get("/v1/cases", headers=h, params={"states": "CASE_STATE_OPEN"})).get(
            "cases", []
        )
        assert open_cases == []

        # 客户满意度: the survey, answered on the public page with its one-time token.
        survey = ok(
            http.post(
                "/v1/csatSurveys",
                headers=h,
                json={
                    "conversation": conversation,
                    "questions": [
                        {
                            "key": "after_sales",
                            "kind": "CSAT_QUESTION_KIND_SCORE",
                            "required": True,
                            "texts": [{"language": "en", "text": "How was our after-sales?"}],
                        }
                    ],
                },
            )
        )
        form = ok(http.get(f"/v1/{survey['name']}/form", params={"token": survey["answerToken"]}))
        assert [q["text"] for q in form["questions"]] == ["How was our after-sales?"]
        answered = ok(
            http.post(
                f"/v1/{survey['name']}:submit",
                json={
                    "token": survey["answerToken"],
                    "score": 5,
                    "comment": "Fast refund, thanks",
                    "answers": [{"question": "after_sales", "score": 5}],
                },
            )
        )
        assert answered["state"] == "CSAT_SURVEY_STATE_ANSWERED"
        assert answered["score"] == 5

        now = datetime.now(UTC)
        window = {
            "startTime": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endTime": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

        def csat() -> dict[str, Any] | None:
            answer = ok(
                http.post(
                    "/v1/metrics:query",
                    headers=h,
                    json={"metric": "csat", "timeZone": "UTC", **window},
                )
            )
            return answer if int(answer.get("summary", {}).get("count", 0)) >= 1 else None

        reported = eventually(csat, timeout=30, what="the CSAT score in the reports")
        assert reported["summary"]["value"] == 5.0
