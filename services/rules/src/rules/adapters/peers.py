"""What rule management asks other services, over gRPC as the caller of the
current RPC (its token travels along, so the peer applies its own permissions):
customers for saved segments (and the labels of the tags and tiers they name),
messaging for reply templates."""

from __future__ import annotations

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import (
    customers_service_pb2,
    customers_service_pb2_grpc,
    scoring_pb2,
    tags_pb2,
)
from crosstalk.messaging.v1 import messaging_service_pb2, messaging_service_pb2_grpc
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.errors import FieldViolation, InvalidArgument, NotFound
from crosstalk_common.grpc.auth import require_caller
from crosstalk_common.grpc.channels import open_channel
from crosstalk_common.grpc.client import call
from rules.adapters.condition_reading import fields_of
from rules.app.ports import SegmentCondition
from rules.domain.model import Trigger

DEADLINE_SECONDS = 2.0

# A segment's field -> the rule fact it is copied as, and how a value is rewritten.
_SAME = {
    "country": "customer.country",
    "language": "customer.language",
    "lifecycle_stage": "customer.lifecycle_stage",
    "score": "customer.score",
    "points_balance": "customer.points",
    "order_count": "customer.order_count",
    "order_value": "customer.order_total",
    "last_order_time": "customer.last_order_time",
    "blacklisted": "customer.blacklisted",
}
_REFERENCES = {
    "owner": ("customer.owner", "members/"),
    "department": ("customer.department", "departments/"),
}


def _version_of(etag: str) -> int:
    """customers' segment etag ``W/"3"`` -> 3."""
    digits = "".join(ch for ch in etag if ch.isdigit())
    return int(digits) if digits else 0


class GrpcSegmentDirectory:
    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = customers_service_pb2_grpc.CustomersServiceStub(self._channel)

    async def condition(
        self, tenant_id: str, segment_id: str, *, field_path: str
    ) -> SegmentCondition:
        caller = require_caller()
        try:
            segment = await call(
                self._stub.GetSegment,
                customers_service_pb2.GetSegmentRequest(name=f"segments/{segment_id}"),
                caller=caller,
                timeout=DEADLINE_SECONDS,
            )
        except InvalidArgument:
            raise NotFound("crosstalk.io/Segment", f"segments/{segment_id}") from None
        copied = condition_pb2.Condition()
        problems: list[FieldViolation] = []
        labels: dict[str, str] = {}
        await self._rewrite(segment.condition, copied, field_path, problems, labels)
        if problems:
            raise InvalidArgument(problems)
        if copied.WhichOneof("node") is None:
            raise InvalidArgument.field(field_path, f"segments/{segment_id} has no condition")
        node = parse_condition(
            copied, fields_of(Trigger.SCHEDULE), max_conditions=10_000, field_path=field_path
        )
        assert node is not None
        return SegmentCondition(
            segment_id=segment_id,
            version=_version_of(segment.etag),
            condition=node,
            condition_blob=copied.SerializeToString(deterministic=True),
        )

    async def _rewrite(
        self,
        source: condition_pb2.Condition,
        target: condition_pb2.Condition,
        field_path: str,
        problems: list[FieldViolation],
        labels: dict[str, str],
    ) -> None:
        kind = source.WhichOneof("node")
        if kind == "group":
            target.group.operator = source.group.operator
            for child in source.group.conditions:
                await self._rewrite(
                    child, target.group.conditions.add(), field_path, problems, labels
                )
            return
        if kind != "leaf":
            return
        leaf = source.leaf
        out = target.leaf
        out.CopyFrom(leaf)
        name = leaf.field
        if name in _SAME:
            out.field = _SAME[name]
        elif name in _REFERENCES:
            fact, prefix = _REFERENCES[name]
            out.field = fact
            del out.values[:]
            out.values.extend(v if v.startswith(prefix) else prefix + v for v in leaf.values)
        elif name.startswith("custom_fields."):
            out.field = "customer.custom." + name.removeprefix("custom_fields.")
        elif name in ("tags", "tier"):
            # customers compares tags and tiers by id; rules' facts hold their names.
            out.field = "customer.tags" if name == "tags" else "customer.tier"
            del out.values[:]
            for value in leaf.values:
                out.values.append(await self._label(name, value, labels))
        else:
            problems.append(
                FieldViolation(
                    field_path,
                    f"the segment's condition uses {name!r}, which rules cannot see; "
                    "use a segment over customer facts (tags, tier, score, stage, country ...)",
                )
            )

    async def _label(self, kind: str, value: str, labels: dict[str, str]) -> str:
        prefix = "tags/" if kind == "tags" else "tiers/"
        name = value if value.startswith(prefix) else prefix + value
        if name not in labels:
            found: tags_pb2.Tag | scoring_pb2.Tier
            if kind == "tags":
                found = await call(
                    self._stub.GetTag,
                    customers_service_pb2.GetTagRequest(name=name),
                    caller=require_caller(),
                    timeout=DEADLINE_SECONDS,
                )
            else:
                found = await call(
                    self._stub.GetTier,
                    customers_service_pb2.GetTierRequest(name=name),
                    caller=require_caller(),
                    timeout=DEADLINE_SECONDS,
                )
            labels[name] = found.display_name
        return labels[name]

    async def close(self) -> None:
        await self._channel.close()


class GrpcTemplateDirectory:
    def __init__(self, address: str) -> None:
        self._channel = open_channel(address)
        self._stub = messaging_service_pb2_grpc.MessagingServiceStub(self._channel)

    async def exists(self, tenant_id: str, template: str) -> bool:
        if not template.startswith("replyTemplates/") or len(template) <= len("replyTemplates/"):
            return False
        try:
            await call(
                self._stub.GetReplyTemplate,
                messaging_service_pb2.GetReplyTemplateRequest(name=template),
                caller=require_caller(),
                timeout=DEADLINE_SECONDS,
            )
        except (NotFound, InvalidArgument):
            return False
        return True

    async def close(self) -> None:
        await self._channel.close()
