"""The main job end to end, through Envoy over REST, traced as one trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crosstalk_devstack.otlp_collector import CollectedSpan, OtlpCollector
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up

pytestmark = pytest.mark.e2e

INGEST = "/crosstalk.messaging.v1.MessagingService/IngestMessage"


def _ancestors(span: CollectedSpan, by_id: dict[str, CollectedSpan]) -> list[CollectedSpan]:
    chain = []
    current = by_id.get(span.parent_span_id)
    while current is not None:
        chain.append(current)
        current = by_id.get(current.parent_span_id)
    return chain


def test_refund_message_tags_the_customer_and_is_counted(
    stack: Stack, collector: OtlpCollector
) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        session = sign_up(http)
        headers = session.headers
        customer = ok(
            http.post(
                "/v1/customers",
                headers=headers,
                json={
                    "displayName": "Anna Schmidt",
                    "country": "DE",
                    "identities": [{"channel": "CHANNEL_EMAIL", "externalId": "anna@example.de"}],
                },
            )
        )
        assert customer["tags"] == []
        ok(
            http.post(
                "/v1/rules",
                headers=headers,
                json={
                    "displayName": "refund -> after-sales",
                    "trigger": "TRIGGER_MESSAGE_RECEIVED",
                    "enabled": True,
                    "condition": {
                        "leaf": {
                            "field": "text",
                            "operator": "OPERATOR_MATCHES_KEYWORDS",
                            "values": ["refund"],
                        }
                    },
                    "actions": [{"addTag": {"tags": ["after-sales"]}}],
                },
            )
        )
        message = ok(
            http.post(
                "/v1/messages:ingest",
                headers=headers,
                json={
                    "sender": {"channel": "CHANNEL_EMAIL", "externalId": "Anna@Example.de"},
                    "text": "I want a refund",
                    "externalId": "mail-0001",
                },
            )
        )
        assert message["customer"] == customer["name"]
        assert message["name"].startswith(message["conversation"] + "/messages/")

        tagged = eventually(
            lambda: (c := ok(http.get(f"/v1/{customer['name']}", headers=headers)))["tags"] and c,
            what="customer tagged after-sales",
        )
        # Customer.tags holds tag resource names; the rule's free-text tag was
        # resolved to (or created as) the tenant's tag with that display name.
        tags = ok(http.get("/v1/tags", headers=headers))["tags"]
        after_sales = [t for t in tags if t["displayName"] == "after-sales"]
        assert len(after_sales) == 1
        assert tagged["tags"] == [after_sales[0]["name"]]

        dashboard = eventually(
            lambda: (
                (d := ok(http.get("/v1/dashboard", headers=headers)))["messagesReceived"] == "1"
                and d
            ),
            what="reporting counts the message",
        )
        assert dashboard["rulesFired"] == "1"
        now = datetime.now(UTC)
        metric = ok(
            http.post(
                "/v1/metrics:query",
                headers=headers,
                json={
                    "metric": "messages_received",
                    "startTime": (now - timedelta(days=1)).isoformat(),
                    "endTime": (now + timedelta(days=1)).isoformat(),
                    "granularity": "GRANULARITY_DAY",
                },
            )
        )
        assert metric["total"] == 1

    message_name = message["name"]

    def trace_complete() -> (
        tuple[CollectedSpan, CollectedSpan, CollectedSpan, dict[str, CollectedSpan]] | None
    ):
        spans = collector.spans()
        ingest = [s for s in spans if s.service == "messaging" and s.name == INGEST]
        for server_span in ingest:
            same_trace = {s.span_id: s for s in spans if s.trace_id == server_span.trace_id}
            rules = [
                s
                for s in same_trace.values()
                if s.service == "rules" and s.name == "process crosstalk.messaging.message.received"
            ]
            tags = [
                s
                for s in same_trace.values()
                if s.service == "customers" and s.name == "process crosstalk.rules.rule.action.tag"
            ]
            # Envoy exports its spans on its own schedule: wait for them too.
            gateway = [s for s in same_trace.values() if s.service == "gateway"]
            if rules and tags and gateway:
                return server_span, rules[0], tags[0], same_trace
        return None

    server_span, rules_span, customers_span, by_id = eventually(
        trace_complete,
        timeout=30,
        what=f"one trace from the gateway to customers for {message_name}",
    )
    # gateway -> messaging
    assert any(s.service == "gateway" for s in _ancestors(server_span, by_id)), (
        "Envoy's span is not the parent"
    )
    # messaging -> (NATS) -> rules
    assert server_span in _ancestors(rules_span, by_id)
    # rules -> (NATS) -> customers
    assert rules_span in _ancestors(customers_span, by_id)
    # and messaging asked customers to resolve the sender inside the same request
    assert any(
        s.service == "customers"
        and s.name.endswith("/ResolveIdentity")
        and server_span in _ancestors(s, by_id)
        for s in by_id.values()
    )
