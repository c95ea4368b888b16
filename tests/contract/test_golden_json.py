"""Golden JSON: the REST shape (proto3 JSON, lowerCamel names) of a few
representative resources. A diff here means the REST contract changed: if
that is intended, regenerate with CROSSTALK_UPDATE_GOLDEN=1 and review the
diff of tests/contract/golden/*.json.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message as ProtoMessage

pytestmark = pytest.mark.nodb

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CROSSTALK_UPDATE_GOLDEN") == "1"


def _import(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        pytest.fail(f"cannot import {module} ({exc}): run make gen", pytrace=False)


def customer() -> ProtoMessage:
    channel = _import("crosstalk.common.v1.channel_pb2")
    lifecycle = _import("crosstalk.common.v1.lifecycle_stage_pb2")
    money = _import("crosstalk.common.v1.money_pb2")
    resources = _import("crosstalk.customers.v1.resources_pb2")
    c = resources.Customer(
        name="customers/c-1042",
        display_name="Jana Nováková",
        emails=["jana@example.cz"],
        phones=["+420601123456"],
        country="CZ",
        language="cs",
        identities=[
            channel.ChannelIdentity(
                channel=channel.CHANNEL_AMAZON, external_id="A2X9QK1", store="amazon-de"
            ),
            channel.ChannelIdentity(channel=channel.CHANNEL_EMAIL, external_id="jana@example.cz"),
        ],
        tags=["tags/refund-intent", "tags/vip"],
        score=42,
        etag="W/3",
        time_zone="Europe/Prague",
        owner="members/m-7",
        department="departments/eu-sales",
        lifecycle_stage=lifecycle.LIFECYCLE_STAGE_REPEAT,
        tier="tiers/gold",
        points_balance=1250,
        blacklisted=False,
        order_count=3,
        order_value=money.Money(currency_code="EUR", units=389, nanos=900_000_000),
    )
    c.create_time.FromJsonString("2025-01-15T09:30:00Z")
    c.update_time.FromJsonString("2025-03-02T17:04:05Z")
    c.last_active_time.FromJsonString("2025-03-02T17:00:00Z")
    c.last_order_time.FromJsonString("2025-02-20T12:00:00Z")
    c.custom_fields["vip_code"].string_value = "G-17"
    c.custom_fields["lifetime_returns"].number_value = 1
    c.custom_fields["newsletter"].bool_value = True
    c.custom_fields["interests"].list_value.extend(["hiking", "tea"])
    return c


def rule() -> ProtoMessage:
    condition = _import("crosstalk.common.v1.condition_pb2")
    priority = _import("crosstalk.common.v1.priority_pb2")
    resources = _import("crosstalk.rules.v1.resources_pb2")
    keywords = condition.Condition(
        leaf=condition.ConditionLeaf(
            field="text",
            operator=condition.OPERATOR_MATCHES_KEYWORDS,
            values=["refund", "money back"],
            fuzzy=True,
        )
    )
    negative = condition.Condition(
        leaf=condition.ConditionLeaf(
            field="sentiment.score", operator=condition.OPERATOR_LT, values=["-0.3"]
        )
    )
    r = resources.Rule(
        name="rules/refund-words",
        display_name="Refund words",
        trigger=resources.TRIGGER_MESSAGE_RECEIVED,
        condition=condition.Condition(
            group=condition.ConditionGroup(
                operator=condition.LOGICAL_OPERATOR_AND, conditions=[keywords, negative]
            )
        ),
        actions=[
            resources.Action(add_tag=resources.AddTagAction(tags=["tags/refund-intent"])),
            resources.Action(
                reply_with_template=resources.ReplyWithTemplateAction(
                    template="replyTemplates/refund-ack", translate_to_customer_language=True
                )
            ),
            resources.Action(
                set_priority=resources.SetPriorityAction(priority=priority.PRIORITY_HIGH)
            ),
        ],
        priority=10,
        stop_processing=True,
        enabled=True,
        rollout_percent=100,
        version=4,
        description="Tag and acknowledge refund requests from unhappy customers.",
        creator="members/m-1",
        etag="W/4",
    )
    r.cooldown.FromJsonString("86400s")
    r.create_time.FromJsonString("2025-01-10T08:00:00Z")
    r.update_time.FromJsonString("2025-02-01T08:00:00Z")
    return r


def message() -> ProtoMessage:
    channel = _import("crosstalk.common.v1.channel_pb2")
    analysis = _import("crosstalk.common.v1.text_analysis_pb2")
    resources = _import("crosstalk.messaging.v1.resources_pb2")
    m = resources.Message(
        name="conversations/cv-88/messages/ms-501",
        customer="customers/c-1042",
        sender=channel.ChannelIdentity(
            channel=channel.CHANNEL_AMAZON, external_id="A2X9QK1", store="amazon-de"
        ),
        direction=resources.DIRECTION_INBOUND,
        text="Dobrý den, chci vrátit peníze, zboží přišlo rozbité.",
        language="cs",
        external_id="amzn-msg-77aa",
        conversation="conversations/cv-88",
        translated_text="Hello, I want my money back, the goods arrived broken.",
        translated_language="en",
        sentiment=analysis.Sentiment(score=-0.625, label=analysis.SENTIMENT_LABEL_NEGATIVE),
        intents=[
            analysis.IntentMatch(
                intent="refund",
                keyword_set="intentKeywordSets/refund-cs",
                matched_keywords=["vrátit peníze"],
                confidence=1.0,
            )
        ],
    )
    m.create_time.FromJsonString("2025-03-02T17:00:00Z")
    return m


CASES: dict[str, Callable[[], ProtoMessage]] = {
    "customer": customer,
    "rule": rule,
    "message": message,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_json(case: str) -> None:
    msg = CASES[case]()
    actual = json_format.MessageToDict(msg)
    path = GOLDEN / f"{case}.json"
    rendered = json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    if not path.exists():
        pytest.fail(
            f"{path.name} is missing: run with CROSSTALK_UPDATE_GOLDEN=1 and review it",
            pytrace=False,
        )
    expected = json.loads(path.read_text(encoding="utf-8"))
    if actual != expected:
        want = json.dumps(expected, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
        diff = "\n".join(
            difflib.unified_diff(
                want, rendered.splitlines(), f"golden/{path.name}", "actual", lineterm=""
            )
        )
        pytest.fail(
            f"REST JSON of {msg.DESCRIPTOR.full_name} differs from golden/{path.name}:\n{diff}",
            pytrace=False,
        )
