"""Gray release at 10% and a backtest matching live hits, from
/work/shared/seeds/002_7f65c0d4d16fd57f.txt (客戶關係管理的自動化響應工具), 步驟五:
"模擬測試:使用歷史咨詢數據(脫敏後)模擬觸發場景,驗證規則匹配準確率" and
"灰度發布:先對10%的咨詢量啟用自動化工具,監控 ... 記錄異常情況(如規則誤觸發、模板錯誤)".

So: the logistics rule (標籤 ORDER_LOGISTICS, 關鍵詞 "物流查詢"/"parcel") is tried on a
sample first, then released to 10% of customers. About a tenth of the buyers who ask
get it, the same ones every time; replaying the period (backtest) reports exactly
the hits the live rule fired; raising the release keeps everyone already in.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up
from tests.e2e.scenarios.steps import customer_writes, leaf, save_rule

pytestmark = pytest.mark.e2e

BUYERS = 80
QUESTION = "Hi, where is my parcel? 物流查詢"


def _all_runs(http: httpx.Client, team: Session, rule: str, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        body = ok(
            http.get(
                f"/v1/{rule}/runs",
                headers=team.headers,
                params={"pageSize": 100, **({"pageToken": token} if token else {}), **params},
            )
        )
        found.extend(body.get("ruleRuns", []))
        token = body.get("nextPageToken", "")
        if not token:
            return found


def _by_outcome(runs: list[dict[str, Any]]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for run in runs:
        grouped.setdefault(run["outcome"], set()).add(run["customer"])
    return grouped


def test_a_rule_released_to_ten_percent_and_its_backtest(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        team = sign_up(http, "Gray Release Shop", working_language="en")
        body = {
            "displayName": "Logistics questions (gray)",
            "trigger": "TRIGGER_MESSAGE_RECEIVED",
            "condition": leaf("message.text", "MATCHES_KEYWORDS", "parcel", "物流查詢"),
            "actions": [{"addTag": {"tags": ["ORDER_LOGISTICS"]}}],
        }
        # 模擬測試 first: the draft matches a sample question and nothing is recorded.
        dry = ok(
            http.post(
                "/v1/rules:dryRun",
                headers=team.headers,
                json={"message": {"text": QUESTION}, "draftRules": [body]},
            )
        )
        assert dry["evaluations"][0]["outcome"] == "RULE_RUN_OUTCOME_MATCHED", dry
        start = datetime.now(UTC) - timedelta(minutes=1)
        rule = save_rule(http, team, {**body, "rolloutPercent": 10})
        assert rule["rolloutPercent"] == 10

        senders = [f"buyer{n}-{uuid.uuid4().hex[:6]}@example.com" for n in range(BUYERS)]
        customers = [str(customer_writes(http, team, s, QUESTION)["customer"]) for s in senders]
        runs = eventually(
            lambda: (r := _all_runs(http, team, rule["name"])) and len(r) >= BUYERS and r,
            timeout=60,
            what="every question evaluated",
        )
        outcomes = _by_outcome(runs)
        fired = outcomes.get("RULE_RUN_OUTCOME_MATCHED", set())
        held_back = outcomes.get("RULE_RUN_OUTCOME_SKIPPED_ROLLOUT", set())
        assert len(runs) == BUYERS
        assert fired | held_back == set(customers)
        assert not fired & held_back
        # About a tenth: binomial(80, 0.1) lies in [1, 24] but for ~1 in 5,000 runs.
        assert 1 <= len(fired) <= 24, len(fired)

        # The tag landed on exactly the released customers.
        tags = ok(http.get("/v1/tags", headers=team.headers, params={"pageSize": 100}))
        (logistics,) = [t for t in tags.get("tags", []) if t["displayName"] == "ORDER_LOGISTICS"]

        def tagged() -> set[str]:
            found = ok(
                http.post(
                    "/v1/customers:search",
                    headers=team.headers,
                    json={
                        "condition": leaf("tags", "HAS_ANY_TAG", logistics["name"]),
                        "pageSize": 100,
                    },
                )
            )
            return {c["name"] for c in found.get("customers", [])}

        eventually(lambda: tagged() == fired, timeout=30, what="the released customers tagged")

        # The backtest of the period reports the hits the live rule fired.
        end = datetime.now(UTC) + timedelta(minutes=1)
        report = ok(
            http.post(
                "/v1/rules:backtest",
                headers=team.headers,
                json={
                    "rules": [rule["name"]],
                    "startTime": start.isoformat(),
                    "endTime": end.isoformat(),
                },
            )
        )
        (result,) = report["results"]
        assert result["evaluatedCount"] == str(BUYERS)
        assert result["hitCount"] == result["liveFiredCount"] == str(len(fired)), result
        assert result["customerCount"] == str(len(fired))

        # The cohort is stable: the same customers are in (and out) when they ask again.
        again_in = sorted(fired)[:3]
        again_out = sorted(held_back)[:3]
        for customer in again_in + again_out:
            customer_writes(http, team, senders[customers.index(customer)], QUESTION)
        later = eventually(
            lambda: (r := _all_runs(http, team, rule["name"])) and len(r) >= BUYERS + 6 and r,
            timeout=60,
            what="the second questions evaluated",
        )
        assert _by_outcome(later)["RULE_RUN_OUTCOME_MATCHED"] == fired

        # Raising the release to 50% keeps everyone already in.
        raised = ok(
            http.patch(
                f"/v1/{rule['name']}",
                headers=team.headers,
                params={"updateMask": "rolloutPercent"},
                json={"rolloutPercent": 50, "etag": rule["etag"]},
            )
        )
        assert raised["rolloutPercent"] == 50
        for customer in again_in:
            customer_writes(http, team, senders[customers.index(customer)], QUESTION)

        def at_50_percent() -> list[dict[str, Any]]:
            every = _all_runs(http, team, rule["name"])
            return [r for r in every if r["ruleVersion"] == raised["version"]]

        newest = eventually(
            lambda: (r := at_50_percent()) and len(r) >= len(again_in) and r,
            timeout=60,
            what="the questions after the raise evaluated",
        )
        assert {r["outcome"] for r in newest} == {"RULE_RUN_OUTCOME_MATCHED"}
        assert {r["customer"] for r in newest} == set(again_in)
