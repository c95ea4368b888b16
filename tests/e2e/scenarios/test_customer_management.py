"""Customer management (客户管理), from /work/shared/seeds/003_467e6b02855f0cdd.txt (微伴).

"多维度筛选客户 ... 批量管理、运营客户,例如给客户评分、批量打移除标签 ... 批量导出客户信息";
its use cases: "需要对进入了企业福利群聊的客户打标签或修改评分时,可以使用客户管理把客户筛选
出来批量操作", "需要把某个客户加入黑名单时,可以查找出该客户", "需要将在某一范围内的客户评分
... 查看数据时,可以通过客户管理查找出这批客户,并导出Excel表格进行分析"; the custom-field
filter with "为空、不为空、等于、不等于、包含、不包含", switched between "且"/"或", "最多可设置
10个筛选条件". The restricted role comes from /work/shared/seeds/000_318f622f2e041d0e.txt
(权限分配): "限制权限:禁止导出敏感数据或修改规则".
"""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up
from tests.e2e.scenarios.steps import add_member, all_of, field_violations, leaf

pytestmark = pytest.mark.e2e

WELFARE_GROUP = "企业福利群"
# name -> (group chat custom field, score)
CUSTOMERS: dict[str, tuple[str, int]] = {
    "Chen": (WELFARE_GROUP, 10),
    "Lin": (WELFARE_GROUP, 40),
    "Zhao": (WELFARE_GROUP, 70),
    "Sun": (f"{WELFARE_GROUP}二群", 90),
    "Wang": ("", 20),
    "Huang": ("", 50),
    "Xu": ("", 80),
    "Ma": ("", 0),
}


def _any_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"group": {"operator": "LOGICAL_OPERATOR_OR", "conditions": list(conditions)}}


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client) -> Session:
    return sign_up(http, "Weiban Retail")


@pytest.fixture(scope="module")
def customers(http: httpx.Client, team: Session) -> dict[str, str]:
    """The customer pool: name -> customers/{id}."""
    ok(
        http.post(
            "/v1/customFieldDefinitions",
            headers=team.headers,
            json={"key": "group_chat", "displayName": "所在群聊", "type": "CUSTOM_FIELD_TYPE_TEXT"},
        )
    )
    names: dict[str, str] = {}
    for name, (group, score) in CUSTOMERS.items():
        body: dict[str, Any] = {"displayName": name}
        if group:
            body["customFields"] = {"group_chat": group}
        created = ok(http.post("/v1/customers", headers=team.headers, json=body))
        if score:
            ok(
                http.post(
                    f"/v1/{created['name']}:adjustScore",
                    headers=team.headers,
                    json={"delta": score, "reason": "activity"},
                )
            )
        names[name] = str(created["name"])
    return names


def _found(http: httpx.Client, team: Session, condition: dict[str, Any]) -> list[str]:
    body = ok(
        http.post(
            "/v1/customers:search",
            headers=team.headers,
            json={"condition": condition, "pageSize": 100},
        )
    )
    return sorted(c["displayName"] for c in body.get("customers", []))


def _job_done(http: httpx.Client, team: Session, job: dict[str, Any]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        current = ok(http.get(f"/v1/{job['name']}", headers=team.headers))
        assert current["state"] not in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"), current
        return current if current["state"] == "JOB_STATE_SUCCEEDED" else None

    return eventually(probe, timeout=60, what=f"job {job['name']} done")


def test_the_welfare_group_is_found_tagged_and_scored_in_bulk(
    http: httpx.Client, team: Session, customers: dict[str, str]
) -> None:
    in_group = leaf("custom_fields.group_chat", "EQUALS", WELFARE_GROUP)
    assert _found(http, team, in_group) == ["Chen", "Lin", "Zhao"]
    # 包含 / 不包含 / 为空 / 不为空, and 或.
    assert _found(http, team, leaf("custom_fields.group_chat", "CONTAINS", "福利")) == [
        "Chen",
        "Lin",
        "Sun",
        "Zhao",
    ]
    assert _found(http, team, leaf("custom_fields.group_chat", "IS_EMPTY")) == [
        "Huang",
        "Ma",
        "Wang",
        "Xu",
    ]
    assert _found(
        http,
        team,
        all_of(
            leaf("custom_fields.group_chat", "IS_NOT_EMPTY"),
            leaf("custom_fields.group_chat", "NOT_CONTAINS", "二群"),
        ),
    ) == ["Chen", "Lin", "Zhao"]
    assert _found(http, team, _any_of(in_group, leaf("score", "GTE", "80"))) == [
        "Chen",
        "Lin",
        "Sun",
        "Xu",
        "Zhao",
    ]
    eleven = _any_of(*[leaf("score", "EQUALS", str(n)) for n in range(11)])
    assert field_violations(
        http.post("/v1/customers:search", headers=team.headers, json={"condition": eleven})
    )

    welfare_tag = ok(
        http.post("/v1/tags", headers=team.headers, json={"displayName": "福利群成员"})
    )
    tagged = ok(
        http.post(
            "/v1/customers:startBulkOperation",
            headers=team.headers,
            json={"condition": in_group, "addTags": {"tags": [welfare_tag["name"]]}},
        )
    )
    assert _job_done(http, team, tagged)["succeededCount"] == "3"
    scored = ok(
        http.post(
            "/v1/customers:startBulkOperation",
            headers=team.headers,
            json={"condition": in_group, "adjustScore": {"delta": 15, "reason": "福利群活动"}},
        )
    )
    assert _job_done(http, team, scored)["succeededCount"] == "3"

    with_tag = leaf("tags", "HAS_ANY_TAG", welfare_tag["name"])
    assert _found(http, team, with_tag) == ["Chen", "Lin", "Zhao"]
    scores = {
        name: int(ok(http.get(f"/v1/{customers[name]}", headers=team.headers))["score"])
        for name in ("Chen", "Lin", "Zhao", "Sun")
    }
    assert scores == {"Chen": 25, "Lin": 55, "Zhao": 85, "Sun": 90}

    # 批量移除标签: those still under 30 points lose the tag.
    untagged = ok(
        http.post(
            "/v1/customers:startBulkOperation",
            headers=team.headers,
            json={
                "condition": all_of(with_tag, leaf("score", "LT", "30")),
                "removeTags": {"tags": [welfare_tag["name"]]},
            },
        )
    )
    assert _job_done(http, team, untagged)["succeededCount"] == "1"
    assert _found(http, team, with_tag) == ["Lin", "Zhao"]


def test_a_score_range_is_exported_to_excel(
    http: httpx.Client, team: Session, customers: dict[str, str]
) -> None:
    score_range = all_of(leaf("score", "GTE", "40"), leaf("score", "LTE", "80"))
    expected = _found(http, team, score_range)
    assert expected
    assert set(expected) <= set(CUSTOMERS)
    job = ok(
        http.post(
            "/v1/customers:startExport",
            headers=team.headers,
            json={
                "condition": score_range,
                "columns": ["display_name", "score"],
                "format": "FILE_FORMAT_XLSX",
            },
        )
    )
    _job_done(http, team, job)
    exported = ok(http.get(f"/v1/{job['name']}/exportFile", headers=team.headers))
    assert exported["filename"].endswith(".xlsx"), exported["filename"]
    book = load_workbook(io.BytesIO(base64.b64decode(exported["content"])), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    body = sorted((str(r[0]), int(r[1])) for r in rows[1:] if r and r[0])
    assert [name for name, _ in body] == expected
    for name, score in body:
        live = ok(http.get(f"/v1/{customers[name]}", headers=team.headers))
        assert int(live["score"]) == score
        assert 40 <= score <= 80


def test_a_customer_is_found_checked_and_blacklisted(
    http: httpx.Client, team: Session, customers: dict[str, str]
) -> None:
    found = ok(
        http.post(
            "/v1/customers:search",
            headers=team.headers,
            json={"condition": leaf("display_name", "EQUALS", "Ma")},
        )
    )
    (ma,) = found["customers"]
    blacklisted = ok(
        http.post(f"/v1/{ma['name']}:blacklist", headers=team.headers, json={"reason": "薅羊毛"})
    )
    assert blacklisted["blacklisted"] is True
    assert blacklisted["blacklistReason"] == "薅羊毛"
    assert _found(http, team, leaf("blacklisted", "EQUALS", "true")) == ["Ma"]


def test_the_restricted_role_cannot_export_bulk_edit_or_change_rules(
    http: httpx.Client, team: Session, customers: dict[str, str]
) -> None:
    member, restricted = add_member(http, team, "Restricted Intern", "roles/restricted")
    ok(
        http.post(
            "/v1/customers:startBulkOperation",
            headers=team.headers,
            json={"customers": [customers["Wang"]], "assignOwner": {"owner": member}},
        )
    )
    eventually(
        lambda: (
            ok(http.get(f"/v1/{customers['Wang']}", headers=team.headers)).get("owner") == member
        ),
        what="Wang handed to the intern",
    )
    refused = {
        "export": http.post(
            "/v1/customers:startExport",
            headers=restricted,
            json={"format": "FILE_FORMAT_XLSX"},
        ),
        "bulk edit": http.post(
            "/v1/customers:startBulkOperation",
            headers=restricted,
            json={"customers": [customers["Wang"]], "adjustScore": {"delta": 5}},
        ),
        "new rule": http.post(
            "/v1/rules",
            headers=restricted,
            json={
                "displayName": "mine",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "actions": [{"addTag": {"tags": ["x"]}}],
            },
        ),
    }
    for what, response in refused.items():
        assert response.status_code == 403, f"{what}: {response.status_code} {response.text}"
        assert response.json()["code"] == 7, what  # PERMISSION_DENIED
    # They still see (only) their own customers.
    mine = ok(http.get("/v1/customers", headers=restricted))
    assert [c["displayName"] for c in mine.get("customers", [])] == ["Wang"]
    assert int(ok(http.get(f"/v1/{customers['Wang']}", headers=team.headers))["score"]) == 20
