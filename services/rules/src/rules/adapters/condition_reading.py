"""A rule's condition (a serialized ``crosstalk.common.v1.Condition``) read against
its trigger's facts (``rules.domain.facts``), and its saved segments put in place."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.conditions.model import FieldSpec, Node
from crosstalk_common.conditions.parse import parse_condition
from rules.domain.facts import allowed_fields
from rules.domain.model import SegmentRef, Trigger
from rules.domain.segments import SEGMENT_FACT, SEGMENT_SPEC, inline_segments

# Stored conditions were checked when saved; reading them back is not limited again.
_NO_LIMIT = 10_000


def fields_of(trigger: Trigger) -> Mapping[str, FieldSpec]:
    """The trigger's facts, and ``customer.segment`` when it sees the customer."""
    fields = allowed_fields(trigger)
    if "customer.tags" in fields:
        fields[SEGMENT_FACT] = SEGMENT_SPEC
    return fields


def read_condition(
    blob: bytes, trigger: Trigger, *, field_path: str, max_conditions: int
) -> Node | None:
    """The checked tree of ``blob`` (ConditionReader), INVALID_ARGUMENT on ``field_path``."""
    return parse_condition(
        condition_pb2.Condition.FromString(blob),
        fields_of(trigger),
        max_conditions=max_conditions,
        field_path=field_path,
    )


def stored_condition(blob: bytes, trigger: Trigger, segments: Iterable[SegmentRef]) -> Node | None:
    """A saved rule's condition as evaluated: its segments' copied conditions in place."""
    node = read_condition(blob, trigger, field_path="rule.condition", max_conditions=_NO_LIMIT)
    copied = {
        ref.segment_id: read_condition(
            ref.condition_blob, trigger, field_path="segment", max_conditions=_NO_LIMIT
        )
        for ref in segments
    }
    return inline_segments(node, {k: v for k, v in copied.items() if v is not None})


def segments_to_json(segments: Iterable[SegmentRef]) -> list[dict[str, Any]]:
    return [
        {
            "segment": ref.segment_id,
            "version": ref.version,
            "condition": base64.b64encode(ref.condition_blob).decode(),
        }
        for ref in segments
    ]


def segments_from_json(data: list[dict[str, Any]] | None) -> tuple[SegmentRef, ...]:
    return tuple(
        SegmentRef(item["segment"], int(item["version"]), base64.b64decode(item["condition"]))
        for item in data or ()
    )
