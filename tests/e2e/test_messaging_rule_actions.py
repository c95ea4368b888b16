"""Rule actions messaging applies, end to end: rule.action.* events published on the real
bus (as rules' outbox relay publishes them) reach messaging's durable consumer, change
the conversation, notify members (seen through Envoy), are reported with
rule.action.completed on the bus, and a re-published action changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message as ProtoMessage

from crosstalk.events.v1 import rule_events_pb2
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.bus.catalogue import subject_for
from crosstalk_common.bus.connection import connect
from crosstalk_common.bus.envelope import new_envelope, read_event
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up

pytestmark = pytest.mark.e2e


def _member_of(session: Session) -> str:
    """The signed-in admin's member name, from the access token's subject."""
    claims = session.access_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"])


async def _publish(nats_url: str, tenant_id: str, payloads: list[ProtoMessage]) -> None:
    nc = await connect(nats_url, name="e2e-rule-actions")
    try:
        js = nc.jetstream()
        for payload in payloads:
            event_type, envelope = new_envelope(
                tenant_id, payload, occurred_at=datetime.now(UTC), trace_context={}
            )
            await js.publish(
                subject_for("rules", event_type.type),
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
    finally:
        await nc.close()


async def _completed(nats_url: str, tenant_id: str) -> list[rule_events_pb2.RuleActionCompleted]:
    """Every rule.action.completed of the tenant on the bus so far."""
    nc = await connect(nats_url, name="e2e-rule-actions-reader")
    found: list[rule_events_pb2.RuleActionCompleted] = []
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            subject_for("messaging", "rule.action.completed"), ordered_consumer=True
        )
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except TimeoutError:
                break
            event = read_event(msg.data)
            if event.tenant_id == tenant_id and isinstance(
                event.payload, rule_events_pb2.RuleActionCompleted
            ):
                found.append(event.payload)
        await sub.unsubscribe()
    finally:
        await nc.close()
    return found


@pytest.fixture(scope="module")
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=15) as client:
        yield client


def test_published_rule_actions_are_applied_once_and_reported(
    stack: Stack, http: httpx.Client
) -> None:
    team = sign_up(http, "Rules Desk", working_language="en")
    me = _member_of(team)
    message = ok(
        http.post(
            "/v1/messages:ingest",
            headers=team.headers,
            json={
                "sender": {"channel": "CHANNEL_EMAIL", "externalId": "vip@example.com"},
                "text": "Where is my order A-7?",
            },
        )
    )
    conversation = message["conversation"]
    run = f"rules/r-e2e/runs/{uuid.uuid4()}"
    actions: list[ProtoMessage] = [
        rule_events_pb2.RuleActionStatusRequested(
            rule="rules/r-e2e",
            run=run,
            action_index=0,
            customer=message["customer"],
            conversation=conversation,
            status=resources_pb2.CONVERSATION_STATUS_IN_PROGRESS,
        ),
        rule_events_pb2.RuleActionNotifyRequested(
            rule="rules/r-e2e",
            run=run,
            action_index=1,
            customer=message["customer"],
            conversation=conversation,
            members=[me],
            title="VIP is asking about A-7",
            text="Answer within the hour",
        ),
        rule_events_pb2.RuleActionNoteRequested(  # no conversation: skipped, with a reason
            rule="rules/r-e2e", run=run, action_index=2, text="nowhere to write"
        ),
    ]
    asyncio.run(_publish(stack.config.nats_url, team.tenant_id, actions))

    def notified() -> dict[str, Any] | None:
        listed = ok(http.get("/v1/notifications", headers=team.headers))
        return listed if listed.get("notifications") else None

    listed = eventually(notified, what="the rule's notification")
    (notification,) = listed["notifications"]
    assert notification["title"] == "VIP is asking about A-7"
    assert (notification["source"], notification["conversation"]) == ("rules/r-e2e", conversation)
    assert notification["recipient"] == me
    assert listed["unreadCount"] == 1
    status = ok(http.get(f"/v1/{conversation}", headers=team.headers))["status"]
    assert status == "CONVERSATION_STATUS_IN_PROGRESS"

    def reported() -> list[rule_events_pb2.RuleActionCompleted] | None:
        found = asyncio.run(_completed(stack.config.nats_url, team.tenant_id))
        return found if len(found) >= 3 else None

    completed = eventually(reported, what="rule.action.completed for the three actions")
    outcomes = {c.action_index: (c.outcome, c.action_type) for c in completed if c.run == run}
    assert outcomes == {
        0: (rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED, "rule.action.status"),
        1: (rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED, "rule.action.notify"),
        2: (rule_events_pb2.RULE_ACTION_OUTCOME_SKIPPED, "rule.action.note"),
    }

    # Published again (new event ids): nothing new.
    asyncio.run(_publish(stack.config.nats_url, team.tenant_id, actions[1:2]))
    marked = ok(http.post(f"/v1/{notification['name']}:markRead", headers=team.headers, json={}))
    assert marked["readTime"]
    other = sign_up(http, "Not Them")
    assert (
        http.post(f"/v1/{notification['name']}:markRead", headers=other.headers, json={})
    ).status_code == 404
    assert ok(http.get("/v1/notifications", headers=other.headers)).get("notifications", []) == []
    asyncio.run(asyncio.sleep(2))  # time for the re-published action to be consumed
    listed = ok(http.get("/v1/notifications", headers=team.headers))
    assert len(listed["notifications"]) == 1
    assert listed.get("unreadCount", 0) == 0
    again = asyncio.run(_completed(stack.config.nats_url, team.tenant_id))
    assert len([c for c in again if c.run == run]) == 3
