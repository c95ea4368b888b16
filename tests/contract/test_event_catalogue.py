"""The event catalogue: every payload in crosstalk.events.v1 names its type
and producer with the (crosstalk.events.v1.event) option, and every event
the architecture says a service publishes exists.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.nodb

EVENTS_PACKAGE = "crosstalk.events.v1"
# Shapes events carry, not events themselves.
NOT_PAYLOADS = {"EventEnvelope", "EventSpec", "CustomerSnapshot", "RuleHourCounts"}
SERVICES = {"identity", "customers", "rules", "translation", "messaging", "reporting"}
# NATS subject: dot-separated tokens, each of lowercase letters, digits and "_".
SUBJECT = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")

# The "publishes" column of ARCHITECTURE.md's services table, spelled out:
# event type -> producing service.
REQUIRED_CATALOGUE = {
    # identity: member.*, role.*, tenant.*
    "tenant.created": "identity",
    "member.created": "identity",
    "member.updated": "identity",
    "member.disabled": "identity",
    "role.changed": "identity",
    # customers
    "customer.created": "customers",
    "customer.updated": "customers",
    "customer.tagged": "customers",
    "customer.untagged": "customers",
    "customer.scored": "customers",
    "customer.tier_changed": "customers",
    "customer.stage_changed": "customers",
    "customer.blacklisted": "customers",
    "customer.merged": "customers",
    "order.recorded": "customers",
    # messaging: message.received/sent, conversation.*, case.*, csat.submitted
    "message.received": "messaging",
    "message.sent": "messaging",
    "conversation.created": "messaging",
    "conversation.assigned": "messaging",
    "conversation.status_changed": "messaging",
    "case.opened": "messaging",
    "case.transitioned": "messaging",
    "csat.submitted": "messaging",
    # rules: rule.fired, rule.action.*
    "rule.fired": "rules",
    "rule.action.tag": "rules",
    "rule.action.untag": "rules",
    "rule.action.score": "rules",
    "rule.action.reply": "rules",
    "rule.action.note": "rules",
    "rule.action.assign": "rules",
    "rule.action.escalate": "rules",
    "rule.action.priority": "rules",
    "rule.action.stage": "rules",
    # translation
    "translation.completed": "translation",
    # reporting
    "report.ready": "reporting",
}


def _event_option():
    try:
        from crosstalk.events.v1 import envelope_pb2
    except ImportError as exc:  # generated code missing
        pytest.fail(
            f"cannot import crosstalk.events.v1.envelope_pb2 ({exc}): run make gen", pytrace=False
        )
    return envelope_pb2.event


def _payloads(api) -> list[tuple[str, str, object]]:
    """(message full name, file, EventSpec or None) of every top-level payload message."""
    option = _event_option()
    out = []
    for file in api.files:
        if file.package != EVENTS_PACKAGE:
            continue
        for msg in file.message_type:
            if msg.name in NOT_PAYLOADS:
                continue
            spec = msg.options.Extensions[option] if msg.options.HasExtension(option) else None
            out.append((f"{file.package}.{msg.name}", file.name, spec))
    return out


@pytest.fixture(scope="module")
def payloads(api):
    found = _payloads(api)
    assert found, f"no payload messages in {EVENTS_PACKAGE}"
    return found


def test_every_payload_declares_type_and_producer(payloads) -> None:
    problems = []
    for name, file, spec in payloads:
        if spec is None:
            problems.append(f"{name} ({file}) has no (crosstalk.events.v1.event) option")
            continue
        if not spec.type:
            problems.append(f"{name} ({file}) has an empty event type")
        if spec.producer not in SERVICES:
            problems.append(
                f"{name} ({file}) has producer {spec.producer!r}, "
                f"expected one of {sorted(SERVICES)}"
            )
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_event_types_are_unique(payloads) -> None:
    seen: dict[str, list[str]] = {}
    for name, _, spec in payloads:
        if spec is not None and spec.type:
            seen.setdefault(spec.type, []).append(name)
    dupes = [
        f"{t} is the type of {', '.join(names)}" for t, names in seen.items() if len(names) > 1
    ]
    if dupes:
        pytest.fail("event types must be unique:\n" + "\n".join(dupes), pytrace=False)


def test_subjects_are_valid_nats_subjects(payloads) -> None:
    bad = []
    for name, _, spec in payloads:
        if spec is None:
            continue
        subject = f"crosstalk.{spec.producer}.{spec.type}"
        if not SUBJECT.match(subject):
            bad.append(f"{name}: subject {subject!r} is not tokens of [a-z0-9_] joined by dots")
    if bad:
        pytest.fail("\n".join(bad), pytrace=False)


def test_required_catalogue_is_present(payloads) -> None:
    declared = {spec.type: (spec.producer, name) for name, _, spec in payloads if spec is not None}
    problems = []
    for event_type, producer in sorted(REQUIRED_CATALOGUE.items()):
        if event_type not in declared:
            problems.append(f"{event_type} (published by {producer}) has no payload message")
        elif declared[event_type][0] != producer:
            actual, name = declared[event_type]
            problems.append(
                f"{event_type} ({name}) is produced by {actual!r}, expected {producer!r}"
            )
    if problems:
        pytest.fail("event catalogue incomplete:\n" + "\n".join(problems), pytrace=False)
