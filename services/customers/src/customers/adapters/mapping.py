"""Proto <-> domain conversion for customers."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2
from crosstalk.customers.v1 import resources_pb2, tags_pb2
from crosstalk_common.errors import FieldViolation, InvalidArgument
from customers.app.tags import tag_group_name, tag_name
from customers.app.use_cases import customer_name
from customers.domain.model import (
    Channel,
    ChannelIdentity,
    Customer,
    LifecycleChange,
    LifecycleStage,
    Tag,
    TagGroup,
    TagGroupKind,
    TimelineEntry,
)


def channel_from_pb(value: int, *, field: str) -> Channel:
    known = {int(v): channel_pb2.Channel.Name(v) for v in channel_pb2.Channel.values()}
    name = known.get(value, "")
    if not name or value == channel_pb2.CHANNEL_UNSPECIFIED:
        raise InvalidArgument([FieldViolation(field, "a channel is required (e.g. CHANNEL_EMAIL)")])
    return Channel[name.removeprefix("CHANNEL_")]


def identity_from_pb(pb: channel_pb2.ChannelIdentity, *, field: str) -> ChannelIdentity:
    return ChannelIdentity(
        channel=channel_from_pb(pb.channel, field=f"{field}.channel"),
        external_id=pb.external_id,
        store=pb.store,
    )


def identity_to_pb(identity: ChannelIdentity) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_pb2.Channel.Value(f"CHANNEL_{identity.channel.name}"),
        external_id=identity.external_id,
        store=identity.store,
    )


def resource_id(name: str, prefix: str, *, field: str) -> str:
    if not name:
        return ""
    if not name.startswith(prefix) or len(name) == len(prefix) or "/" in name[len(prefix) :]:
        raise InvalidArgument([FieldViolation(field, f"must look like '{prefix}{{id}}'")])
    return name[len(prefix) :]


def draft_from_pb(
    tenant_id: str,
    pb: resources_pb2.Customer,
    *,
    default_owner: str = "",
    default_department: str = "",
) -> Customer:
    """A customer as a caller wrote it; owner and department default to the caller's."""
    return Customer(
        id="",
        tenant_id=tenant_id,
        owner_member_id=resource_id(pb.owner, "members/", field="customer.owner") or default_owner,
        department_id=resource_id(pb.department, "departments/", field="customer.department")
        or default_department,
        display_name=pb.display_name,
        emails=tuple(pb.emails),
        phones=tuple(pb.phones),
        country=pb.country,
        language=pb.language,
        identities=tuple(
            identity_from_pb(i, field=f"customer.identities[{n}]")
            for n, i in enumerate(pb.identities)
        ),
    )


def _ts(value: object) -> Timestamp:
    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def customer_to_pb(customer: Customer) -> resources_pb2.Customer:
    return resources_pb2.Customer(
        name=customer_name(customer.id),
        display_name=customer.display_name,
        emails=list(customer.emails),
        phones=list(customer.phones),
        country=customer.country,
        language=customer.language,
        identities=[identity_to_pb(i) for i in customer.identities],
        # Tags by resource name ("tags/{id}"); ListTags/GetTag give their display names.
        tags=sorted(tag_name(t) for t in customer.tags),
        score=customer.score,
        owner=f"members/{customer.owner_member_id}" if customer.owner_member_id else "",
        department=f"departments/{customer.department_id}" if customer.department_id else "",
        create_time=_ts(customer.created_at),
        update_time=_ts(customer.updated_at),
        etag=customer.etag,
        lifecycle_stage=stage_to_pb(customer.lifecycle_stage),
        blacklisted=customer.blacklisted,
        blacklist_reason=customer.blacklist_reason,
        blacklist_time=_ts(customer.blacklist_time) if customer.blacklist_time else None,
    )


def stage_to_pb(stage: LifecycleStage | None) -> lifecycle_stage_pb2.LifecycleStage.ValueType:
    if stage is None:
        return lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED
    return lifecycle_stage_pb2.LifecycleStage.Value(f"LIFECYCLE_STAGE_{stage.name}")


def stage_from_pb(value: int, *, field: str) -> LifecycleStage:
    known = {
        int(v): lifecycle_stage_pb2.LifecycleStage.Name(v)
        for v in lifecycle_stage_pb2.LifecycleStage.values()
    }
    name = known.get(value, "")
    if not name or value == lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED:
        raise InvalidArgument(
            [FieldViolation(field, "a stage is required (e.g. LIFECYCLE_STAGE_INTENT)")]
        )
    return LifecycleStage[name.removeprefix("LIFECYCLE_STAGE_")]


def kind_from_pb(value: int, *, field: str) -> TagGroupKind:
    known = {int(v): tags_pb2.TagGroupKind.Name(v) for v in tags_pb2.TagGroupKind.values()}
    name = known.get(value, "")
    if not name or value == tags_pb2.TAG_GROUP_KIND_UNSPECIFIED:
        raise InvalidArgument(
            [
                FieldViolation(
                    field,
                    "a kind is required: BEHAVIOUR, INTENT, LIFECYCLE or CUSTOM "
                    "(e.g. TAG_GROUP_KIND_INTENT)",
                )
            ]
        )
    return TagGroupKind[name.removeprefix("TAG_GROUP_KIND_")]


def kind_to_pb(kind: TagGroupKind) -> tags_pb2.TagGroupKind.ValueType:
    return tags_pb2.TagGroupKind.Value(f"TAG_GROUP_KIND_{kind.name}")


def tag_group_to_pb(group: TagGroup) -> tags_pb2.TagGroup:
    return tags_pb2.TagGroup(
        name=tag_group_name(group.id),
        display_name=group.display_name,
        kind=kind_to_pb(group.kind),
        exclusive=group.exclusive,
        description=group.description,
        create_time=_ts(group.created_at),
        update_time=_ts(group.updated_at),
        etag=group.etag,
    )


def tag_to_pb(tag: Tag, customer_count: int = 0) -> tags_pb2.Tag:
    return tags_pb2.Tag(
        name=tag_name(tag.id),
        display_name=tag.display_name,
        tag_group=tag_group_name(tag.group_id) if tag.group_id else "",
        color=tag.color,
        description=tag.description,
        customer_count=customer_count,
        create_time=_ts(tag.created_at),
        update_time=_ts(tag.updated_at),
        etag=tag.etag,
    )


def lifecycle_change_to_pb(change: LifecycleChange) -> resources_pb2.LifecycleStageChange:
    return resources_pb2.LifecycleStageChange(
        from_stage=stage_to_pb(change.from_stage),
        to_stage=stage_to_pb(change.to_stage),
        reason=change.reason,
        actor=change.actor,
        cause_event_id=change.cause_event_id,
        create_time=_ts(change.created_at),
    )


def timeline_entry_to_pb(entry: TimelineEntry) -> resources_pb2.TimelineEvent:
    details = json_format.ParseDict(entry.details, Struct())
    return resources_pb2.TimelineEvent(
        type=entry.type,
        event_id=entry.event_id,
        occurred_time=_ts(entry.occurred_at),
        summary=entry.summary,
        actor=entry.actor,
        resource=entry.resource,
        details=details,
    )
