"""Tag groups, tags, lifecycle stages, the blacklist and the timeline of a
customer, through Envoy over REST."""

from __future__ import annotations

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import ok, sign_up

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _violations(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    body = response.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    return [
        v["field"]
        for d in body.get("details", [])
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    ]


def test_tags_lifecycle_blacklist_and_timeline(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        h = sign_up(http, "Tag Testers").headers
        intent = ok(
            http.post(
                "/v1/tagGroups",
                headers=h,
                json={"displayName": "Intent", "kind": "TAG_GROUP_KIND_INTENT", "exclusive": True},
            )
        )
        high, low = (
            ok(
                http.post(
                    "/v1/tags",
                    headers=h,
                    json={"displayName": n, "tagGroup": intent["name"], "color": "#00aa00"},
                )
            )
            for n in ("high", "low")
        )
        duplicate = http.post("/v1/tags", headers=h, json={"displayName": "high"})
        assert duplicate.status_code == 409, duplicate.text
        customer = ok(http.post("/v1/customers", headers=h, json={"displayName": "Bo"}))
        name = customer["name"]

        tagged = ok(http.post(f"/v1/{name}:addTags", headers=h, json={"tags": [high["name"]]}))
        assert tagged["tags"] == [high["name"]]
        # exclusive group: low replaces high
        tagged = ok(http.post(f"/v1/{name}:addTags", headers=h, json={"tags": [low["name"]]}))
        assert tagged["tags"] == [low["name"]]
        assert _violations(
            http.post(f"/v1/{name}:addTags", headers=h, json={"tags": ["tags/missing"]})
        ) == ["tags[0]"]
        in_use = http.delete(f"/v1/{intent['name']}", headers=h)
        assert in_use.status_code == 400, in_use.text
        assert in_use.json()["code"] == 9  # FAILED_PRECONDITION

        staged = ok(
            http.post(
                f"/v1/{name}:setLifecycleStage",
                headers=h,
                json={"stage": "LIFECYCLE_STAGE_INTENT", "reason": "asked for prices"},
            )
        )
        assert staged["lifecycleStage"] == "LIFECYCLE_STAGE_INTENT"
        history = ok(http.get(f"/v1/{name}/lifecycleHistory", headers=h))
        assert [c["toStage"] for c in history["lifecycleStageChanges"]] == [
            "LIFECYCLE_STAGE_INTENT"
        ]

        assert _violations(http.post(f"/v1/{name}:blacklist", headers=h, json={})) == ["reason"]
        ok(http.post(f"/v1/{name}:blacklist", headers=h, json={"reason": "fraud"}))
        read = ok(http.get(f"/v1/{name}", headers=h))
        assert read["blacklisted"] is True
        assert read["blacklistReason"] == "fraud"
        assert read["blacklistTime"]

        first = ok(http.get(f"/v1/{name}/timelineEvents", headers=h, params={"pageSize": 2}))
        rest = ok(
            http.get(
                f"/v1/{name}/timelineEvents",
                headers=h,
                params={"pageSize": 50, "pageToken": first["nextPageToken"]},
            )
        )
        types = [e["type"] for e in first["timelineEvents"] + rest["timelineEvents"]]
        assert types == [
            "customer.blacklisted",
            "customer.stage_changed",
            "customer.untagged",
            "customer.tagged",
            "customer.tagged",
            "customer.created",
        ]

        # another tenant sees none of it
        other = sign_up(http, "Other Tenant").headers
        assert http.get(f"/v1/{name}/timelineEvents", headers=other).status_code == 404
        assert http.get(f"/v1/{high['name']}", headers=other).status_code == 404
