"""The weekly report delivered by e-mail, from /work/shared/seeds/000_318f622f2e041d0e.txt
(HelloGPT 企业版, 数据追踪与绩效分析): "系统可生成周期性报表(每日/每周/每月)", "自动化规则
命中率", "客户活跃度:每日互动次数", and 周会复盘流程: "展示各阶段客户数据、规则效果与多语言
沟通情况".

So: the team lead schedules the weekly report for Monday 09:00 in the team's zone
and the next run is that Monday; the same report on a schedule the e2e stack can
wait for (every minute) arrives by e-mail at a real SMTP server (aiosmtpd) as an
Excel file holding the week's numbers: the messages the customers wrote and the
rule's hits.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up
from tests.e2e.scenarios.steps import customer_writes, leaf, matched_runs, save_rule
from tests.mail_sink import MailSink

pytestmark = pytest.mark.e2e


def _sheet_total(book: Any, metric: str) -> float:
    rows = list(book[metric].iter_rows(values_only=True))
    column = next(i for i, h in enumerate(rows[0]) if str(h).startswith("value"))
    return sum(float(r[column] or 0) for r in rows[1:] if r)


def test_the_weekly_report_arrives_by_mail_with_the_weeks_numbers(
    stack: Stack, mail_sink: MailSink
) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        team = sign_up(http, "Weekly Review Co", working_language="en")
        rule = save_rule(
            http,
            team,
            {
                "displayName": "Price questions",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "condition": leaf("message.text", "MATCHES_KEYWORDS", "price"),
                "actions": [{"addTag": {"tags": ["询价"]}}],
            },
        )
        for n, text in enumerate(
            ["What is the price of the tent?", "Hello", "Price for 50 pieces?"]
        ):
            customer_writes(http, team, f"buyer{n}-{uuid.uuid4().hex[:6]}@example.com", text)
        eventually(
            lambda: len(matched_runs(http, team, rule["name"])) == 2, what="the rule's two hits"
        )

        # Reporting counts from the events: wait until it has the week's numbers.
        now = datetime.now(UTC)
        window = {
            "startTime": (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endTime": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

        def counted(metric: str) -> int:
            answer = ok(
                http.post(
                    "/v1/metrics:query",
                    headers=team.headers,
                    json={"metric": metric, "timeZone": "Asia/Shanghai", **window},
                )
            )
            return int(answer.get("summary", {}).get("count", 0))

        eventually(lambda: counted("messages_received") == 3, what="the messages counted")
        eventually(lambda: counted("rule_hits") == 2, what="the rule hits counted")

        lead = f"team-lead-{uuid.uuid4().hex[:6]}@weekly.test"
        report: dict[str, Any] = {
            "displayName": "周报",
            "metrics": ["messages_received", "rule_hits"],
            "granularity": "GRANULARITY_DAY",
            "lookback": "604800s",
            "timeZone": "Asia/Shanghai",
            "format": "FILE_FORMAT_XLSX",
            "recipients": [lead],
            "enabled": True,
        }
        weekly = ok(
            http.post(
                "/v1/scheduledReports", headers=team.headers, json={**report, "cron": "0 9 * * MON"}
            )
        )
        next_run = datetime.fromisoformat(weekly["nextRunTime"].replace("Z", "+00:00"))
        local = next_run.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (local.strftime("%A"), local.hour, local.minute) == ("Monday", 9, 0), local
        ok(
            http.patch(
                f"/v1/{weekly['name']}",
                headers=team.headers,
                params={"updateMask": "enabled"},
                json={"enabled": False},
            )
        )

        # The e2e stand-in: the same report every minute; its mail is the weekly mail.
        minutely = ok(
            http.post(
                "/v1/scheduledReports", headers=team.headers, json={**report, "cron": "* * * * *"}
            )
        )
        try:
            mails = eventually(lambda: mail_sink.to(lead), timeout=120, what="the report mail")
        finally:
            ok(http.delete(f"/v1/{minutely['name']}", headers=team.headers))
        mail = mails[0]
        assert mail["Subject"].startswith("Crosstalk report"), mail["Subject"]
        (attachment,) = [p for p in mail.walk() if p.get_filename()]
        assert attachment.get_filename().endswith(".xlsx")
        book = load_workbook(io.BytesIO(attachment.get_payload(decode=True)), read_only=True)
        assert book.sheetnames == ["messages_received", "rule_hits"]
        assert _sheet_total(book, "messages_received") == 3
        assert _sheet_total(book, "rule_hits") == 2
        # The disabled weekly schedule sent nothing of its own.
        stored = ok(http.get(f"/v1/{weekly['name']}", headers=team.headers))
        assert stored["enabled"] is False
        assert stored.get("lastRunTime", "") == ""
