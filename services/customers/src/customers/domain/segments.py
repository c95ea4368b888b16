"""Segments: saved customer filters, private to their owner or shared with the tenant."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument

MAX_SEGMENT_NAME_LENGTH = 100
MAX_SEGMENT_DESCRIPTION_LENGTH = 500
SEGMENT_EDITABLE_FIELDS = ("display_name", "description", "condition", "visibility")


class SegmentVisibility(Enum):
    # Only the owner sees and uses it.
    PRIVATE = "private"
    # Every member of the tenant (each still sees only their own customers).
    SHARED = "shared"


@dataclass(frozen=True)
class Segment:
    id: str
    tenant_id: str
    display_name: str
    # The filter as a serialized crosstalk.common.v1.Condition (read by the adapters).
    condition: bytes
    visibility: SegmentVisibility | None
    owner_member_id: str
    description: str = ""
    # How many customers matched at the last count, and when.
    customer_count: int = 0
    count_time: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def visible_to(self, member_id: str) -> bool:
        """Shared segments are seen by everyone, private ones by their owner only."""
        return self.visibility is SegmentVisibility.SHARED or (
            bool(member_id) and self.owner_member_id == member_id
        )

    def counted(self, count: int, at: datetime) -> Segment:
        return replace(self, customer_count=count, count_time=at)


def validate_segment(segment: Segment, *, prefix: str = "segment") -> Segment:
    """Trimmed and checked; every bad field is reported at once."""
    display_name = segment.display_name.strip()
    description = segment.description.strip()
    bad: list[FieldViolation] = []
    if not display_name:
        bad.append(FieldViolation(f"{prefix}.display_name", "must not be empty"))
    elif len(display_name) > MAX_SEGMENT_NAME_LENGTH:
        bad.append(
            FieldViolation(
                f"{prefix}.display_name", f"at most {MAX_SEGMENT_NAME_LENGTH} characters"
            )
        )
    if len(description) > MAX_SEGMENT_DESCRIPTION_LENGTH:
        bad.append(
            FieldViolation(
                f"{prefix}.description", f"at most {MAX_SEGMENT_DESCRIPTION_LENGTH} characters"
            )
        )
    if segment.visibility is None:
        bad.append(
            FieldViolation(
                f"{prefix}.visibility",
                "must be SEGMENT_VISIBILITY_PRIVATE or SEGMENT_VISIBILITY_SHARED",
            )
        )
    if not segment.condition:
        bad.append(FieldViolation(f"{prefix}.condition", "a segment needs a condition"))
    if bad:
        raise InvalidArgument(bad)
    return replace(segment, display_name=display_name, description=description)
