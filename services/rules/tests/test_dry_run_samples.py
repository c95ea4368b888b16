"""What a DryRun request is evaluated against (adapters/rpc_safe_change.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.struct_pb2 import Struct

from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk.rules.v1 import rules_service_pb2 as pb
from crosstalk_common.bus.envelope import new_envelope
from crosstalk_common.errors import InvalidArgument
from rules.adapters.rpc_safe_change import _sample
from rules.domain.model import Trigger


def test_a_sample_message_gives_message_facts_and_its_customer() -> None:
    request = pb.DryRunRequest(
        message=pb.SampleMessage(
            text="refund please",
            language="en",
            channel=channel_pb2.CHANNEL_EMAIL,
            customer="customers/c1",
        )
    )
    sample = _sample("t1", request)
    assert sample.trigger is Trigger.MESSAGE_RECEIVED
    assert sample.customer == "customers/c1"
    assert sample.facts == {
        "message.text": "refund please",
        "message.language": "en",
        "message.channel": "email",
    }


def test_an_event_is_read_as_the_engine_reads_it_in_the_callers_tenant() -> None:
    payload = messaging_events_pb2.MessageReceived(
        customer="customers/c2",
        text="where is my parcel",
        sender=channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL, external_id="a@b"),
    )
    _, envelope = new_envelope(
        "someone-else", payload, occurred_at=datetime.now(UTC), trace_context={}
    )
    facts = Struct()
    facts.update({"customer.tier": "VIP"})
    sample = _sample("t1", pb.DryRunRequest(event=envelope, facts=facts))
    assert sample.tenant_id == "t1"
    assert sample.trigger is Trigger.MESSAGE_RECEIVED
    assert sample.customer == "customers/c2"
    assert sample.facts["message.text"] == "where is my parcel"
    assert sample.given == {"customer.tier": "VIP"}


def test_given_facts_need_a_trigger_and_known_names() -> None:
    facts = Struct()
    facts.update({"customer.tier": "VIP"})
    with pytest.raises(InvalidArgument) as caught:
        _sample("t1", pb.DryRunRequest(facts=facts))
    assert [v.field for v in caught.value.violations] == ["trigger"]
    sample = _sample("t1", pb.DryRunRequest(facts=facts, trigger=resources_pb2.TRIGGER_SCHEDULE))
    assert sample.trigger is Trigger.SCHEDULE
    facts.update({"customer.shoe_size": 44})
    with pytest.raises(InvalidArgument) as caught:
        _sample("t1", pb.DryRunRequest(facts=facts, trigger=resources_pb2.TRIGGER_SCHEDULE))
    assert [v.field for v in caught.value.violations] == ["facts"]
