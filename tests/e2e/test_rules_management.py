"""Rule management through Envoy: create, update with mask and etag, versions and
rollback, disable/enable/delete, ListRules filters, facts, saved segments,
conflict warnings, dry run; bad input is 400 naming the field; tenants are apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    return [
        v["field"]
        for d in response.json().get("details", [])
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    ]


def _rule(name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": name,
        "trigger": "TRIGGER_MESSAGE_RECEIVED",
        "enabled": True,
        "condition": {
            "leaf": {
                "field": "message.text",
                "operator": "OPERATOR_MATCHES_KEYWORDS",
                "values": ["refund"],
            }
        },
        "actions": [{"addTag": {"tags": ["refund"]}}],
    }
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client) -> Session:
    return sign_up(http, "Rule Managers", working_language="en")


def test_create_update_versions_rollback_disable_enable_delete(
    http: httpx.Client, team: Session
) -> None:
    h = team.headers
    created = ok(
        http.post("/v1/rules", headers=h, json=_rule("Refunds", description="tag refund asks"))
    )
    assert created["description"] == "tag refund asks"
    assert created["creator"].startswith("members/")
    assert created["etag"] == 'W/"1"'
    assert created["version"] == 1
    name = created["name"]

    patched = ok(
        http.patch(
            f"/v1/{name}",
            headers=h,
            params={"updateMask": "displayName,priority"},
            json={"displayName": "Refund asks", "priority": 3, "etag": created["etag"]},
        )
    )
    assert (patched["displayName"], patched["priority"], patched["version"]) == (
        "Refund asks",
        3,
        2,
    )
    assert patched["description"] == "tag refund asks"  # not in the mask: kept
    stale = http.patch(
        f"/v1/{name}",
        headers=h,
        params={"updateMask": "priority"},
        json={"priority": 9, "etag": created["etag"]},
    )
    assert stale.status_code == 409, stale.text  # ABORTED

    versions = ok(http.get(f"/v1/{name}/versions", headers=h))["ruleVersions"]
    assert [v["rule"]["version"] for v in versions] == [2, 1]
    assert versions[1]["rule"]["displayName"] == "Refunds"

    back = ok(
        http.post(f"/v1/{name}:rollback", headers=h, json={"version": 1, "etag": patched["etag"]})
    )
    assert (back["displayName"], back["version"], back.get("priority", 0)) == ("Refunds", 3, 0)

    off = ok(http.post(f"/v1/{name}:disable", headers=h, json={}))
    assert not off.get("enabled", False)
    listed = ok(http.get("/v1/rules", headers=h, params={"disabledOnly": True}))["rules"]
    assert [r["name"] for r in listed] == [name]
    on = ok(http.post(f"/v1/{name}:enable", headers=h, json={"etag": off["etag"]}))
    assert on["enabled"]
    assert on["version"] == 5

    assert http.delete(f"/v1/{name}", headers=h, params={"etag": off["etag"]}).status_code == 409
    ok(http.delete(f"/v1/{name}", headers=h, params={"etag": on["etag"]}))
    # A deleted rule's runs and counters can still be read.
    assert ok(http.get(f"/v1/{name}/runs", headers=h)).get("runs", []) == []
    ok(http.get(f"/v1/{name}/statistics", headers=h))
    assert http.get(f"/v1/{name}", headers=h).status_code == 404


def test_a_repeated_create_returns_the_first_rule(http: httpx.Client, team: Session) -> None:
    request_id = str(uuid.uuid4())
    first = ok(
        http.post(
            "/v1/rules",
            headers=team.headers,
            params={"requestId": request_id},
            json=_rule("retried"),
        )
    )
    again = ok(
        http.post(
            "/v1/rules",
            headers=team.headers,
            params={"requestId": request_id},
            json=_rule("retried"),
        )
    )
    assert again["name"] == first["name"]
    named = ok(http.get("/v1/rules", headers=team.headers, params={"query": "retried"}))
    assert [r["name"] for r in named["rules"]] == [first["name"]]


def test_list_orders_by_priority_and_filters(http: httpx.Client, team: Session) -> None:
    h = team.headers
    late = ok(http.post("/v1/rules", headers=h, json=_rule("zz late", priority=50)))
    early = ok(http.post("/v1/rules", headers=h, json=_rule("aa early", priority=-50)))
    vip = ok(
        http.post(
            "/v1/rules",
            headers=h,
            json=_rule("vip tagger", priority=0, actions=[{"addTag": {"tags": ["VIP-List"]}}]),
        )
    )
    names = [r["name"] for r in ok(http.get("/v1/rules", headers=h))["rules"]]
    assert names.index(early["name"]) < names.index(vip["name"]) < names.index(late["name"])
    tagged = ok(http.get("/v1/rules", headers=h, params={"tag": "vip-list"}))["rules"]
    assert [r["name"] for r in tagged] == [vip["name"]]
    found = ok(http.get("/v1/rules", headers=h, params={"query": "EARLY"}))["rules"]
    assert [r["name"] for r in found] == [early["name"]]
    none = ok(http.get("/v1/rules", headers=h, params={"trigger": "TRIGGER_SCHEDULE"}))
    assert none.get("rules", []) == []


def test_facts_are_listed_per_trigger_with_types(http: httpx.Client, team: Session) -> None:
    body = ok(
        http.get("/v1/ruleFacts", headers=team.headers, params={"trigger": "TRIGGER_SCHEDULE"})
    )
    (entry,) = body["triggers"]
    types = {f["name"]: f["type"] for f in entry["facts"]}
    assert types["customer.tier"] == "FACT_TYPE_TEXT"
    assert types["customer.score"] == "FACT_TYPE_NUMBER"
    assert "message.text" not in types  # a schedule has no message
    every = ok(http.get("/v1/ruleFacts", headers=team.headers))["triggers"]
    message = next(t for t in every if t["trigger"] == "TRIGGER_MESSAGE_RECEIVED")
    text = next(f for f in message["facts"] if f["name"] == "message.text")
    assert "OPERATOR_MATCHES_KEYWORDS" in text["operators"]
    first = ok(http.get("/v1/ruleFacts", headers=team.headers, params={"pageSize": 5}))
    rest = ok(
        http.get(
            "/v1/ruleFacts",
            headers=team.headers,
            params={"pageSize": 50, "pageToken": first["nextPageToken"]},
        )
    )
    paged = [t["trigger"] for t in [*first["triggers"], *rest["triggers"]]]
    assert len(first["triggers"]) == 5
    assert paged == [t["trigger"] for t in every]


def test_a_backtest_of_the_last_hour_reports_what_the_rule_fired(
    http: httpx.Client, team: Session
) -> None:
    h = team.headers
    rule = ok(
        http.post(
            "/v1/rules",
            headers=h,
            json=_rule(
                "parcels",
                condition={
                    "leaf": {
                        "field": "message.text",
                        "operator": "OPERATOR_MATCHES_KEYWORDS",
                        "values": ["parcel"],
                    }
                },
            ),
        )
    )
    start = datetime.now(UTC) - timedelta(minutes=5)
    for text in ("where is my parcel?", "hello there", "my parcel is late"):
        ok(
            http.post(
                "/v1/messages:ingest",
                headers=h,
                json={
                    "sender": {"channel": "CHANNEL_EMAIL", "externalId": "pat@example.com"},
                    "text": text,
                },
            )
        )
    eventually(
        lambda: len(ok(http.get(f"/v1/{rule['name']}/runs", headers=h)).get("ruleRuns", [])) == 2,
        what="the rule fired twice",
    )
    end = datetime.now(UTC) + timedelta(minutes=1)
    report = ok(
        http.post(
            "/v1/rules:backtest",
            headers=h,
            json={
                "rules": [rule["name"]],
                "startTime": start.isoformat(),
                "endTime": end.isoformat(),
            },
        )
    )
    (result,) = report["results"]
    assert result["rule"] == rule["name"]
    assert result["hitCount"] == result["liveFiredCount"] == "2"
    assert int(result["evaluatedCount"]) >= 3
    assert len(result["sampleEventIds"]) == 2

    wider = _rule(
        "parcels",
        condition={
            "leaf": {
                "field": "message.text",
                "operator": "OPERATOR_MATCHES_KEYWORDS",
                "values": ["parcel", "hello"],
            }
        },
    )
    wider["name"] = rule["name"]  # the draft stands in for the saved rule
    drafted = ok(
        http.post(
            "/v1/rules:backtest",
            headers=h,
            json={
                "rules": [rule["name"]],
                "draftRules": [wider],
                "startTime": start.isoformat(),
                "endTime": end.isoformat(),
            },
        )
    )
    saved, draft = sorted(drafted["results"], key=lambda r: r.get("rule", ""), reverse=True)
    assert saved["rule"] == rule["name"]
    assert saved["hitCount"] == "2"
    assert draft.get("rule", "") == ""  # a draft is named by its draftIndex (0) only
    assert draft["hitCount"] == "3"
    assert draft["liveHitCount"] == "2"

    dry = ok(
        http.post(
            "/v1/rules:dryRun",
            headers=h,
            json={"message": {"text": "a parcel question"}, "rules": [rule["name"]]},
        )
    )
    assert dry["evaluations"][0]["outcome"] == "RULE_RUN_OUTCOME_MATCHED"
    assert dry["facts"]["message.text"] == "a parcel question"
    # Neither made a run.
    assert len(ok(http.get(f"/v1/{rule['name']}/runs", headers=h))["ruleRuns"]) == 2


def test_bad_rules_are_400_naming_the_field(http: httpx.Client, team: Session) -> None:
    h = team.headers

    def refused(body: dict[str, Any]) -> list[str]:
        return _fields(http.post("/v1/rules", headers=h, json=body))

    unknown = _rule(
        "x",
        condition={
            "leaf": {"field": "message.mood", "operator": "OPERATOR_EQUALS", "values": ["sad"]}
        },
    )
    assert refused(unknown) == ["rule.condition.leaf.field"]
    wrong_type = _rule(
        "x",
        condition={
            "leaf": {
                "field": "message.sentiment.score",
                "operator": "OPERATOR_LT",
                "values": ["very low"],
            }
        },
    )
    assert refused(wrong_type) == ["rule.condition.leaf.values"]
    cron = _rule("x", trigger="TRIGGER_SCHEDULE", timeTrigger={"cron": "0 25 * * MON"})
    del cron["condition"]
    assert refused(cron) == ["rule.time_trigger.cron"]
    cron["timeTrigger"] = {"cron": "0 9 30 2 *"}  # parses, but 30 February never comes
    assert refused(cron) == ["rule.time_trigger.cron"]
    hook = _rule("x", actions=[{"callWebhook": {"url": "http://hooks.example.com/x"}}])
    assert refused(hook) == ["rule.actions[0].call_webhook.url"]
    leaves = [
        {"leaf": {"field": "message.text", "operator": "OPERATOR_CONTAINS", "values": [str(i)]}}
        for i in range(51)
    ]
    many = _rule(
        "x", condition={"group": {"operator": "LOGICAL_OPERATOR_OR", "conditions": leaves}}
    )
    assert refused(many) == ["rule.condition"]
    assert refused(_rule("x", rolloutPercent=101)) == ["rule.rollout_percent"]
    template = _rule(
        "x", actions=[{"replyWithTemplate": {"template": "replyTemplates/no-such-template"}}]
    )
    assert refused(template) == ["rule.actions[0].reply_with_template.template"]
    assign = _rule("x", actions=[{"assign": {"member": "ana"}}])
    assert refused(assign) == ["rule.actions[0].assign.member"]

    made = ok(http.post("/v1/rules", headers=h, json=_rule("fine")))
    bad_patch = http.patch(
        f"/v1/{made['name']}",
        headers=h,
        params={"updateMask": "rolloutPercent"},
        json={"rolloutPercent": 0 - 5},
    )
    assert _fields(bad_patch) == ["rule.rollout_percent"]
    assert ok(http.get(f"/v1/{made['name']}", headers=h))["version"] == 1  # nothing written
    backwards = {"startTime": "2026-03-02T00:00:00Z", "endTime": "2026-03-01T00:00:00Z"}
    for read in ("runs", "statistics"):
        answer = http.get(f"/v1/{made['name']}/{read}", headers=h, params=backwards)
        assert _fields(answer) == ["end_time"]
    not_a_customer = http.get(f"/v1/{made['name']}/runs", headers=h, params={"customer": "ana"})
    assert _fields(not_a_customer) == ["customer"]
    for samples in (-1, 101):
        backtest = http.post(
            "/v1/rules:backtest",
            headers=h,
            json={
                "rules": [made["name"]],
                "startTime": "2026-03-01T00:00:00Z",
                "endTime": "2026-03-02T00:00:00Z",
                "maxSamples": samples,
            },
        )
        assert _fields(backtest) == ["max_samples"]


def test_an_existing_template_and_a_saved_segment_are_accepted(
    http: httpx.Client, team: Session
) -> None:
    h = team.headers
    template = ok(
        http.post(
            "/v1/replyTemplates",
            headers=h,
            json={
                "displayName": "Refund received",
                "bodies": [{"language": "en", "text": "We got your refund request."}],
                "defaultLanguage": "en",
                "visibility": "TEMPLATE_VISIBILITY_SHARED",
            },
        )
    )
    segment = ok(
        http.post(
            "/v1/segments",
            headers=h,
            json={
                "displayName": "Big spenders",
                "condition": {
                    "leaf": {
                        "field": "order_value",
                        "operator": "OPERATOR_GT",
                        "values": ["1000"],
                    }
                },
                "visibility": "SEGMENT_VISIBILITY_SHARED",
            },
        )
    )
    rule = ok(
        http.post(
            "/v1/rules",
            headers=h,
            json=_rule(
                "big spender refunds",
                condition={
                    "group": {
                        "operator": "LOGICAL_OPERATOR_AND",
                        "conditions": [
                            {
                                "leaf": {
                                    "field": "customer.segment",
                                    "operator": "OPERATOR_EQUALS",
                                    "values": [segment["name"]],
                                }
                            },
                            {
                                "leaf": {
                                    "field": "message.text",
                                    "operator": "OPERATOR_MATCHES_KEYWORDS",
                                    "values": ["refund"],
                                }
                            },
                        ],
                    }
                },
                actions=[{"replyWithTemplate": {"template": template["name"]}}],
            ),
        )
    )
    assert rule["segments"] == [{"segment": segment["name"], "version": "1"}]

    dry = ok(
        http.post(
            "/v1/rules:dryRun",
            headers=h,
            json={
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "rules": [rule["name"]],
                "facts": {"message.text": "I want a refund", "customer.order_total": 5000},
            },
        )
    )
    (evaluation,) = dry["evaluations"]
    assert evaluation["outcome"] == "RULE_RUN_OUTCOME_MATCHED"
    (action,) = evaluation["actions"]
    assert action["replyWithTemplate"]["template"] == template["name"]
    assert evaluation["conditionTrace"]["result"]
    small = ok(
        http.post(
            "/v1/rules:dryRun",
            headers=h,
            json={
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "rules": [rule["name"]],
                "facts": {"message.text": "I want a refund", "customer.order_total": 10},
            },
        )
    )
    assert small["evaluations"][0]["outcome"] == "RULE_RUN_OUTCOME_NOT_MATCHED"
    assert small["evaluations"][0].get("actions", []) == []


def test_contradicting_rules_are_saved_with_a_warning(http: httpx.Client, team: Session) -> None:
    h = team.headers
    adds = ok(
        http.post(
            "/v1/rules",
            headers=h,
            json=_rule("adds gold", actions=[{"addTag": {"tags": ["gold"]}}]),
        )
    )
    removes = ok(
        http.post(
            "/v1/rules",
            headers=h,
            json=_rule("removes gold", actions=[{"removeTag": {"tags": ["Gold"]}}]),
        )
    )
    codes = {(w["code"], tuple(w["rules"])) for w in removes["warnings"]}
    assert ("CONTRADICTING_TAGS", (adds["name"],)) in codes
    assert ok(http.get(f"/v1/{removes['name']}", headers=h))["enabled"]


def test_another_tenant_sees_none_of_it(http: httpx.Client, team: Session) -> None:
    mine = ok(http.post("/v1/rules", headers=team.headers, json=_rule("private")))
    other = sign_up(http, "Other Rule Managers", working_language="en")
    name = mine["name"]
    assert http.get(f"/v1/{name}", headers=other.headers).status_code == 404
    assert http.get(f"/v1/{name}/versions", headers=other.headers).status_code == 404
    assert (
        http.patch(
            f"/v1/{name}",
            headers=other.headers,
            params={"updateMask": "priority"},
            json={"priority": 1},
        ).status_code
        == 404
    )
    assert http.post(f"/v1/{name}:disable", headers=other.headers, json={}).status_code == 404
    assert (
        http.post(f"/v1/{name}:rollback", headers=other.headers, json={"version": 1}).status_code
        == 404
    )
    assert http.delete(f"/v1/{name}", headers=other.headers).status_code == 404
    for read in ("runs", "statistics"):  # another tenant's rule is no rule
        assert http.get(f"/v1/{name}/{read}", headers=other.headers).status_code == 404
        nobody = "rules/00000000-0000-4000-8000-000000000000"
        assert http.get(f"/v1/{nobody}/{read}", headers=team.headers).status_code == 404
    assert ok(http.get("/v1/rules", headers=other.headers)).get("rules", []) == []
    dry = http.post(
        "/v1/rules:dryRun",
        headers=other.headers,
        json={"message": {"text": "refund"}, "rules": [name]},
    )
    assert dry.status_code == 404
    now = datetime.now(UTC)
    backtest = http.post(
        "/v1/rules:backtest",
        headers=other.headers,
        json={
            "rules": [name],
            "startTime": (now - timedelta(hours=1)).isoformat(),
            "endTime": now.isoformat(),
        },
    )
    assert backtest.status_code == 404
    # Their own dry run sees none of our rules.
    theirs = ok(
        http.post("/v1/rules:dryRun", headers=other.headers, json={"message": {"text": "refund"}})
    )
    assert theirs.get("evaluations", []) == []
    assert ok(http.get(f"/v1/{name}", headers=team.headers))["version"] == 1
