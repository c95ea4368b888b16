"""run_rules' domain events become the contract's event protos (adapters/mapping.event_pb),
the same protos run_rules built itself before."""

from __future__ import annotations

import pytest

from crosstalk.events.v1 import rule_events_pb2
from rules.adapters.mapping import event_pb
from rules.domain.events import RuleActionTagRequested, RuleFired
from tests.event_mapping import assert_same_event


def test_each_rules_event_maps_to_its_proto() -> None:
    expected = [
        (
            RuleFired(
                rule_id="r1",
                rule_version=3,
                run_id="run-9",
                trigger_event_id="ev-1",
                customer="customers/c1",
            ),
            rule_events_pb2.RuleFired(
                rule="rules/r1",
                rule_version=3,
                run="rules/r1/runs/run-9",
                trigger_event_id="ev-1",
                customer="customers/c1",
            ),
        ),
        (
            RuleActionTagRequested(
                rule_id="r1",
                run_id="run-9",
                customer="customers/c1",
                tag_labels=("vip", "after-sales"),
            ),
            rule_events_pb2.RuleActionTagRequested(
                rule="rules/r1",
                run="rules/r1/runs/run-9",
                customer="customers/c1",
                tag_labels=["vip", "after-sales"],
            ),
        ),
    ]
    for event, proto in expected:
        assert_same_event(event_pb(event), proto)


def test_a_proto_is_staged_as_it_is_and_anything_else_is_refused() -> None:
    fired = rule_events_pb2.RuleFired(rule="rules/r1")
    assert event_pb(fired) is fired
    with pytest.raises(TypeError):
        event_pb("rule.fired")  # type: ignore[arg-type]
