"""Rule management's peers over gRPC stubs: a saved segment's condition is
rewritten over rules' customer facts (tags and tiers by their labels), fields
rules cannot see are refused, missing segments and templates are told apart."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import scoring_pb2, segments_pb2, tags_pb2
from crosstalk.messaging.v1 import templates_pb2
from crosstalk_common.conditions.evaluate import evaluate
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.grpc.auth import Caller, acting_as
from crosstalk_common.permissions import DataScope
from rules.adapters.peers import GrpcSegmentDirectory, GrpcTemplateDirectory

CALLER = Caller(
    tenant_id="t1",
    subject="members/m1",
    permissions=frozenset({"rules.edit"}),
    data_scope=DataScope.ALL,
    department_id="",
    visible_departments=frozenset(),
    token="token-1",
)


def leaf(field: str, op: int, *values: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(field=field, operator=op, values=list(values))
    )


def _not_found() -> AioRpcError:
    return AioRpcError(grpc.StatusCode.NOT_FOUND, Metadata(), Metadata(), details="gone")


class FakeCustomers:
    def __init__(self, segment: segments_pb2.Segment | None) -> None:
        self.segment = segment
        self.metadata: list[Any] = []

    async def GetSegment(self, request: Any, **call: Any) -> Any:
        self.metadata.append(call["metadata"])
        if self.segment is None:
            raise _not_found()
        return self.segment

    async def GetTag(self, request: Any, **call: Any) -> Any:
        return tags_pb2.Tag(name=request.name, display_name=f"label of {request.name}")

    async def GetTier(self, request: Any, **call: Any) -> Any:
        return scoring_pb2.Tier(name=request.name, display_name="VIP")


def directory(segment: segments_pb2.Segment | None) -> GrpcSegmentDirectory:
    found = GrpcSegmentDirectory("127.0.0.1:9")
    found._stub = FakeCustomers(segment)  # type: ignore[assignment]
    return found


async def test_a_segment_is_copied_over_customer_facts_with_its_version() -> None:
    condition = condition_pb2.Condition(
        group=condition_pb2.ConditionGroup(
            operator=condition_pb2.LOGICAL_OPERATOR_AND,
            conditions=[
                leaf("tags", condition_pb2.OPERATOR_HAS_ANY_TAG, "tags/t1"),
                leaf("tier", condition_pb2.OPERATOR_EQUALS, "tiers/gold"),
                leaf("order_value", condition_pb2.OPERATOR_GT, "100"),
                leaf("owner", condition_pb2.OPERATOR_EQUALS, "m7"),
                leaf("custom_fields.size", condition_pb2.OPERATOR_EQUALS, "L"),
            ],
        )
    )
    segments = directory(
        segments_pb2.Segment(name="segments/s1", condition=condition, etag='W/"7"')
    )
    with acting_as(CALLER):
        copied = await segments.condition("t1", "s1", field_path="rule.condition.leaf.values[0]")
    assert copied.version == 7
    facts = {
        "customer.tags": frozenset({"label of tags/t1"}),
        "customer.tier": "VIP",
        "customer.order_total": 250.0,
        "customer.owner": "members/m7",
        "customer.custom.size": "L",
    }
    assert evaluate(copied.condition, facts)
    assert not evaluate(copied.condition, {**facts, "customer.order_total": 50.0})
    assert segments._stub.metadata[0] == CALLER.metadata()  # type: ignore[attr-defined]
    await segments.close()


async def test_fields_rules_cannot_see_and_missing_segments_are_refused() -> None:
    email = leaf("emails", condition_pb2.OPERATOR_CONTAINS, "@example.com")
    segments = directory(segments_pb2.Segment(name="segments/s1", condition=email, etag='W/"1"'))
    with acting_as(CALLER), pytest.raises(InvalidArgument) as caught:
        await segments.condition("t1", "s1", field_path="rule.condition.leaf.values[0]")
    assert [v.field for v in caught.value.violations] == ["rule.condition.leaf.values[0]"]
    assert "'emails'" in caught.value.violations[0].description
    missing = directory(None)
    with acting_as(CALLER), pytest.raises(NotFound):
        await missing.condition("t1", "s2", field_path="x")


class FakeMessaging:
    async def GetReplyTemplate(self, request: Any, **call: Any) -> Any:
        if request.name != "replyTemplates/known":
            raise _not_found()
        return templates_pb2.ReplyTemplate(name=request.name)


async def test_templates_exist_or_not() -> None:
    templates = GrpcTemplateDirectory("127.0.0.1:9")
    templates._stub = FakeMessaging()  # type: ignore[assignment]
    with acting_as(CALLER):
        assert await templates.exists("t1", "replyTemplates/known")
        assert not await templates.exists("t1", "replyTemplates/other")
        assert not await templates.exists("t1", "templates/known")  # not a template's name
    await templates.close()
