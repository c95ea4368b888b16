"""Reporting through Envoy: messages and replies flow, then first response time,
rule hits and CSAT appear in QueryMetric; an xlsx export opens in openpyxl with the
same numbers; a scheduled report arrives at a real SMTP server (aiosmtpd); another
tenant sees none of it, and bad queries name their fields."""

from __future__ import annotations

import base64
import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up
from tests.e2e.scenarios.steps import add_member
from tests.mail_sink import MailSink

pytestmark = pytest.mark.e2e

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"startTime": _iso(now - timedelta(days=1)), "endTime": _iso(now + timedelta(hours=1))}


def _query(http: httpx.Client, team: Session, metric: str, **extra: Any) -> dict[str, Any]:
    return ok(
        http.post(
            "/v1/metrics:query",
            headers=team.headers,
            json={"metric": metric, "timeZone": "Asia/Shanghai", **_window(), **extra},
        )
    )


def _count(answer: dict[str, Any]) -> int:
    return int(answer.get("summary", {}).get("count", 0))


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def team(http: httpx.Client, mail_sink: MailSink) -> Session:
    """A tenant with a refund rule, an e-mail channel that delivers to the sink, one
    conversation answered by an agent and one CSAT answer."""
    team = sign_up(http, "Numbers Ltd", working_language="en")
    h = team.headers
    ok(
        http.post(
            "/v1/rules",
            headers=h,
            json={
                "displayName": "Refund asks",
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
            },
        )
    )
    config = ok(
        http.post(
            "/v1/channelConfigs",
            headers=h,
            json={
                "displayName": "Support",
                "channel": "CHANNEL_EMAIL",
                "address": "support@numbers.test",
                "secrets": {
                    "smtpHost": "127.0.0.1",
                    "smtpPort": mail_sink.port,
                    "smtpSecurity": "SMTP_SECURITY_NONE",
                    "fromAddress": "support@numbers.test",
                },
            },
        )
    )
    inbound = ok(
        http.post(
            "/v1/messages:ingest",
            headers=h,
            json={
                "sender": {
                    "channel": "CHANNEL_EMAIL",
                    "externalId": f"buyer-{uuid.uuid4().hex[:6]}@example.com",
                },
                "text": "I want a refund for order 4471, it arrived broken.",
                "channelConfig": config["name"],
            },
        )
    )
    conversation = inbound["conversation"]
    time.sleep(1.0)  # a first response time of at least a second
    ok(
        http.post(
            f"/v1/{conversation}:sendReply",
            headers=h,
            json={"text": "Sorry about that, a refund is on its way.", "skipTranslation": True},
        )
    )
    survey = ok(
        http.post(
            "/v1/csatSurveys",
            headers=h,
            json={
                "conversation": conversation,
                "questions": [
                    {
                        "key": "overall",
                        "kind": "CSAT_QUESTION_KIND_SCORE",
                        "required": True,
                        "texts": [{"language": "en", "text": "How did we do?"}],
                    }
                ],
            },
        )
    )
    ok(
        http.post(
            f"/v1/{survey['name']}:submit",
            json={
                "token": survey["answerToken"],
                "score": 4,
                "answers": [{"question": "overall", "score": 4}],
            },
        )
    )
    return team


def test_messages_replies_rules_and_csat_appear_in_the_metrics(
    http: httpx.Client, team: Session
) -> None:
    received = eventually(
        lambda: (a := _query(http, team, "messages_received")) and _count(a) >= 1 and a,
        what="the message counted",
    )
    assert _count(received) == 1
    first = eventually(
        lambda: (a := _query(http, team, "first_response_time")) and _count(a) >= 1 and a,
        timeout=40,
        what="the reply's first response time",
    )
    assert first["unit"] == "seconds"
    assert first["aggregation"] == "distribution"
    assert 1.0 <= first["summary"]["value"] < 60.0
    assert first["summary"]["buckets"]
    hits = eventually(
        lambda: (
            (a := _query(http, team, "rule_hits", groupBys=["GROUP_BY_RULE"]))
            and _count(a) >= 1
            and a
        ),
        what="the rule hit",
    )
    assert hits["points"][0]["groups"][0].startswith("rules/")
    # Rules' own counters reach reporting: evaluated once, matched once.
    rate = eventually(
        lambda: (
            (a := _query(http, team, "rule_hit_rate"))
            and int(a["summary"].get("denominator", 0)) >= 1
            and a
        ),
        timeout=40,
        what="the rule's counters reported",
    )
    assert rate["summary"]["value"] == 1.0
    csat = eventually(
        lambda: (a := _query(http, team, "csat")) and _count(a) >= 1 and a, what="the CSAT answer"
    )
    assert csat["summary"]["value"] == 4.0


def test_an_xlsx_export_holds_the_same_numbers(http: httpx.Client, team: Session) -> None:
    eventually(lambda: _count(_query(http, team, "messages_received")) >= 1, what="counted")
    answer = _query(http, team, "messages_received", groupBys=["GROUP_BY_CHANNEL"])
    job = ok(
        http.post(
            "/v1/reports:export",
            headers=team.headers,
            json={
                "metrics": ["messages_received"],
                "format": "FILE_FORMAT_XLSX",
                "timeZone": "Asia/Shanghai",
                "groupBys": ["GROUP_BY_CHANNEL"],
                **_window(),
            },
        )
    )
    assert job["state"] in ("REPORT_FILE_STATE_PENDING", "REPORT_FILE_STATE_RUNNING")
    done = eventually(
        lambda: (
            (f := ok(http.get(f"/v1/{job['name']}", headers=team.headers)))
            and f["state"] == "REPORT_FILE_STATE_SUCCEEDED"
            and f
        ),
        what="the export built",
    )
    book = load_workbook(io.BytesIO(base64.b64decode(done["content"])), read_only=True)
    rows = list(book["messages_received"].iter_rows(values_only=True))
    assert rows[0][:3] == ("bucket_start", "channel", "value (count)")
    assert [(r[1], r[2]) for r in rows[1:]] == [
        (p["groups"][0], p["value"]) for p in answer["points"]
    ]


def test_a_scheduled_report_arrives_by_mail(
    http: httpx.Client, team: Session, mail_sink: MailSink
) -> None:
    recipient = f"lead-{uuid.uuid4().hex[:6]}@numbers.test"
    created = ok(
        http.post(
            "/v1/scheduledReports",
            headers=team.headers,
            json={
                "displayName": "Every minute",
                "metrics": ["messages_received", "first_response_time"],
                "cron": "* * * * *",
                "timeZone": "Asia/Shanghai",
                "lookback": "86400s",
                "format": "FILE_FORMAT_XLSX",
                "recipients": [recipient],
                "enabled": True,
            },
        )
    )
    assert created["nextRunTime"]
    mails = eventually(lambda: mail_sink.to(recipient), timeout=90, what="the scheduled mail")
    (attachment,) = [p for p in mails[0].walk() if p.get_filename()]
    book = load_workbook(io.BytesIO(attachment.get_payload(decode=True)), read_only=True)
    assert book.sheetnames == ["messages_received", "first_response_time"]
    ok(http.delete(f"/v1/{created['name']}", headers=team.headers))


def test_a_department_lead_neither_sees_nor_redirects_the_administrators_schedule(
    http: httpx.Client, team: Session
) -> None:
    """A schedule reports what its owner sees; a narrower member who could change its
    recipients would have the whole tenant's figures mailed to them."""
    created = ok(
        http.post(
            "/v1/scheduledReports",
            headers=team.headers,
            json={
                "displayName": "Company weekly",
                "metrics": ["messages_received"],
                "cron": "0 8 * * MON",
                "lookback": "604800s",
                "format": "FILE_FORMAT_CSV",
                "recipients": ["board@numbers.test"],
                "enabled": True,
            },
        )
    )
    sales = ok(http.post("/v1/departments", headers=team.headers, json={"displayName": "Sales"}))
    _, lead = add_member(http, team, "Sales Lead", "roles/senior", department=sales["name"])
    name = created["name"]
    redirected = http.patch(
        f"/v1/{name}",
        headers=lead,
        params={"updateMask": "recipients"},
        json={"recipients": ["lead@elsewhere.test"]},
    )
    # For the lead it does not exist: neither its recipients nor that the owner has one.
    assert redirected.status_code == 404, redirected.text
    assert http.delete(f"/v1/{name}", headers=lead).status_code == 404
    assert http.get(f"/v1/{name}", headers=lead).status_code == 404
    listed = ok(http.get("/v1/scheduledReports", headers=lead))
    assert name not in [s["name"] for s in listed.get("scheduledReports", [])]
    kept = ok(http.get(f"/v1/{name}", headers=team.headers))
    assert kept["recipients"] == ["board@numbers.test"]
    ok(http.delete(f"/v1/{name}", headers=team.headers))


def test_another_tenant_sees_none_of_it_and_bad_queries_name_their_fields(
    http: httpx.Client, team: Session
) -> None:
    eventually(lambda: _count(_query(http, team, "messages_received")) >= 1, what="counted")
    other = sign_up(http, "Nosy Ltd", working_language="en")
    assert _count(_query(http, other, "messages_received")) == 0
    bad = http.post(
        "/v1/metrics:query",
        headers=team.headers,
        json={
            "metric": "rule_hits",
            "timeZone": "Mars/Olympus",
            "groupBys": ["GROUP_BY_CHANNEL"],
            **_window(),
        },
    )
    assert bad.status_code == 400, bad.text
    fields = {
        v["field"]
        for d in bad.json()["details"]
        if d["@type"] == BAD_REQUEST
        for v in d["fieldViolations"]
    }
    assert fields == {"time_zone", "group_bys[0]"}
    catalogue = ok(http.get("/v1/metrics", headers=team.headers, params={"pageSize": 200}))
    names = {m["metric"] for m in catalogue["metrics"]}
    assert {"first_response_time", "automation_rate", "clv", "csat"} <= names
