"""Proto <-> domain conversion for customers."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2, money_pb2
from crosstalk.customers.v1 import custom_fields_pb2, resources_pb2, scoring_pb2, tags_pb2
from crosstalk.events.v1 import customer_events_pb2, rule_events_pb2
from crosstalk_common.api.channels import channel_from_pb, channel_to_pb
from crosstalk_common.api.resource_names import optional_resource_id
from crosstalk_common.api.timestamps import from_timestamp, timestamp_or_none, to_timestamp
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import Caller
from customers.app.tags import tag_group_name, tag_name
from customers.app.tiers import tier_name, tier_rule_name
from customers.domain.events import (
    CustomerBlacklisted,
    CustomerCreated,
    CustomerDeleted,
    CustomerEvent,
    CustomerMerged,
    CustomerScored,
    CustomerSnapshot,
    CustomerStageChanged,
    CustomerTagged,
    CustomerTierChanged,
    CustomerUpdated,
    OrderRecorded,
    RuleActionCompleted,
    RuleActionOutcome,
    TagsChanged,
)
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleChange,
    LifecycleStage,
    Money,
    Order,
    PointsEntry,
    ScoreChange,
    Tag,
    TagGroup,
    TagGroupKind,
    TimelineEntry,
)
from customers.domain.names import customer_name, order_name


def identity_from_pb(pb: channel_pb2.ChannelIdentity, *, field: str) -> ChannelIdentity:
    return ChannelIdentity(
        channel=channel_from_pb(pb.channel, field=f"{field}.channel"),
        external_id=pb.external_id,
        store=pb.store,
    )


def identity_to_pb(identity: ChannelIdentity) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_to_pb(identity.channel),
        external_id=identity.external_id,
        store=identity.store,
    )


def actor_of(caller: Caller) -> str:
    """Who did it, as events and timelines name them."""
    return f"members/{caller.member_id}" if caller.member_id else (caller.subject or "system")


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
        owner_member_id=optional_resource_id(pb.owner, "members", field="customer.owner")
        or default_owner,
        department_id=optional_resource_id(
            pb.department, "departments", field="customer.department"
        )
        or default_department,
        display_name=pb.display_name,
        emails=tuple(pb.emails),
        phones=tuple(pb.phones),
        country=pb.country,
        language=pb.language,
        time_zone=pb.time_zone,
        custom_fields={
            key: json_format.MessageToDict(value) for key, value in pb.custom_fields.items()
        },
        identities=tuple(
            identity_from_pb(i, field=f"customer.identities[{n}]")
            for n, i in enumerate(pb.identities)
        ),
    )


def customer_to_pb(customer: Customer) -> resources_pb2.Customer:
    message = _customer_pb(customer)
    if customer.custom_fields:
        values = json_format.ParseDict(dict(customer.custom_fields), Struct())
        for key, value in values.fields.items():
            message.custom_fields[key].CopyFrom(value)
    return message


def _customer_pb(customer: Customer) -> resources_pb2.Customer:
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
        create_time=to_timestamp(customer.created_at),
        update_time=to_timestamp(customer.updated_at),
        etag=customer.etag,
        lifecycle_stage=stage_to_pb(customer.lifecycle_stage),
        blacklisted=customer.blacklisted,
        blacklist_reason=customer.blacklist_reason,
        blacklist_time=timestamp_or_none(customer.blacklist_time),
        points_balance=customer.points_balance,
        order_count=customer.order_totals.order_count,
        order_value=money_to_pb(customer.order_totals.order_value)
        if customer.order_totals.order_value
        else None,
        last_order_time=timestamp_or_none(customer.order_totals.last_order_time),
        time_zone=customer.time_zone,
        tier=f"tiers/{customer.tier_id}" if customer.tier_id else "",
        last_active_time=timestamp_or_none(customer.last_active_at),
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
        create_time=to_timestamp(group.created_at),
        update_time=to_timestamp(group.updated_at),
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
        create_time=to_timestamp(tag.created_at),
        update_time=to_timestamp(tag.updated_at),
        etag=tag.etag,
    )


def lifecycle_change_to_pb(change: LifecycleChange) -> resources_pb2.LifecycleStageChange:
    return resources_pb2.LifecycleStageChange(
        from_stage=stage_to_pb(change.from_stage),
        to_stage=stage_to_pb(change.to_stage),
        reason=change.reason,
        actor=change.actor,
        cause_event_id=change.cause_event_id,
        create_time=to_timestamp(change.created_at),
    )


def timeline_entry_to_pb(entry: TimelineEntry) -> resources_pb2.TimelineEvent:
    details = json_format.ParseDict(entry.details, Struct())
    return resources_pb2.TimelineEvent(
        type=entry.type,
        event_id=entry.event_id,
        occurred_time=to_timestamp(entry.occurred_at),
        summary=entry.summary,
        actor=entry.actor,
        resource=entry.resource,
        details=details,
    )


def score_change_to_pb(change: ScoreChange) -> scoring_pb2.ScoreChange:
    return scoring_pb2.ScoreChange(
        delta=change.delta,
        score=change.score,
        reason=change.reason,
        source=change.source,
        cause_event_id=change.cause_event_id,
        create_time=to_timestamp(change.created_at),
    )


def points_entry_to_pb(entry: PointsEntry) -> scoring_pb2.PointsEntry:
    return scoring_pb2.PointsEntry(
        name=f"{customer_name(entry.customer_id)}/pointsEntries/{entry.id}",
        kind=scoring_pb2.PointsEntryKind.Value(f"POINTS_ENTRY_KIND_{entry.kind.name}"),
        points=entry.points,
        balance=entry.balance,
        reason=entry.reason,
        order=entry.order,
        expire_time=timestamp_or_none(entry.expire_time),
        actor=entry.actor,
        create_time=to_timestamp(entry.created_at),
    )


def money_to_pb(money: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=money.currency, units=money.units, nanos=money.nanos)


def order_from_pb(tenant_id: str, customer_id: str, pb: scoring_pb2.Order) -> Order:
    missing = [
        FieldViolation(f"order.{f}", "required")
        for f in ("amount", "order_time")
        if not pb.HasField(f)
    ]
    if missing:
        raise InvalidArgument(missing)
    return Order(
        id="",
        tenant_id=tenant_id,
        customer_id=customer_id,
        external_id=pb.external_id,
        store=pb.store,
        amount=Money(pb.amount.currency_code, pb.amount.units, pb.amount.nanos),
        item_count=pb.item_count,
        order_time=from_timestamp(pb.order_time),
    )


def order_to_pb(order: Order) -> scoring_pb2.Order:
    return scoring_pb2.Order(
        name=order_name(order.customer_id, order.id),
        external_id=order.external_id,
        store=order.store,
        amount=money_to_pb(order.amount),
        item_count=order.item_count,
        order_time=to_timestamp(order.order_time),
        create_time=to_timestamp(order.created_at),
    )


def custom_field_type_from_pb(value: int) -> CustomFieldType | None:
    if value == custom_fields_pb2.CUSTOM_FIELD_TYPE_UNSPECIFIED:
        return None
    known = {
        int(v): custom_fields_pb2.CustomFieldType.Name(v)
        for v in custom_fields_pb2.CustomFieldType.values()
    }
    name = known.get(value, "")
    if not name:
        raise InvalidArgument(
            [FieldViolation("custom_field_definition.type", f"unknown type {value}")]
        )
    return CustomFieldType[name.removeprefix("CUSTOM_FIELD_TYPE_")]


def custom_field_from_pb(
    tenant_id: str, pb: custom_fields_pb2.CustomFieldDefinition
) -> CustomFieldDefinition:
    return CustomFieldDefinition(
        id="",
        tenant_id=tenant_id,
        key=pb.key,
        display_name=pb.display_name,
        type=custom_field_type_from_pb(pb.type),
        options=tuple(pb.options),
        required=pb.required,
        description=pb.description,
        sort_order=pb.sort_order,
    )


def custom_field_to_pb(d: CustomFieldDefinition) -> custom_fields_pb2.CustomFieldDefinition:
    return custom_fields_pb2.CustomFieldDefinition(
        name=f"customFieldDefinitions/{d.id}",
        key=d.key,
        display_name=d.display_name,
        type=custom_fields_pb2.CustomFieldType.Value(
            f"CUSTOM_FIELD_TYPE_{d.type.name}" if d.type else "CUSTOM_FIELD_TYPE_UNSPECIFIED"
        ),
        options=list(d.options),
        required=d.required,
        description=d.description,
        sort_order=d.sort_order,
        create_time=to_timestamp(d.created_at),
        update_time=to_timestamp(d.updated_at),
        etag=d.etag,
    )


# --- events ---------------------------------------------------------------------


_OUTCOME_PB = {
    RuleActionOutcome.SUCCEEDED: rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED,
    RuleActionOutcome.FAILED: rule_events_pb2.RULE_ACTION_OUTCOME_FAILED,
    RuleActionOutcome.SKIPPED: rule_events_pb2.RULE_ACTION_OUTCOME_SKIPPED,
}


def _field_text(value: object) -> str:
    """A custom field's value as the snapshot carries it: text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_field_text(v) for v in value)
    return str(value)


def snapshot_pb(snapshot: CustomerSnapshot) -> customer_events_pb2.CustomerSnapshot:
    """The contract's CustomerSnapshot (tags ordered by display name, then id)."""
    if snapshot.deleted:
        return customer_events_pb2.CustomerSnapshot(version=snapshot.version, deleted=True)
    tags = sorted(snapshot.tags, key=lambda t: (t[1], t[0]))
    pb = customer_events_pb2.CustomerSnapshot(
        version=snapshot.version,
        display_name=snapshot.display_name,
        owner=f"members/{snapshot.owner_member_id}" if snapshot.owner_member_id else "",
        department=f"departments/{snapshot.department_id}" if snapshot.department_id else "",
        tags=[tag_name(t) for t, _ in tags],
        tag_labels=[label for _, label in tags],
        tier=snapshot.tier_label,
        score=snapshot.score,
        points=snapshot.points,
        lifecycle_stage=stage_to_pb(snapshot.lifecycle_stage),
        country=snapshot.country,
        language=snapshot.language,
        custom_fields={k: _field_text(v) for k, v in snapshot.custom_fields.items()},
        order_count=snapshot.order_count,
        blacklisted=snapshot.blacklisted,
        identities=[identity_to_pb(i) for i in snapshot.identities],
    )
    if snapshot.order_total is not None:
        pb.order_total.CopyFrom(money_to_pb(snapshot.order_total))
    if snapshot.last_order_time is not None:
        pb.last_order_time.CopyFrom(to_timestamp(snapshot.last_order_time))
    return pb


def event_pb(payload: Message | CustomerEvent) -> Message:
    """The contract's event for a CustomerEvent, with its snapshot when it has
    one; a proto is staged as it is."""
    if not isinstance(payload, CustomerEvent):
        return payload
    pb = _event_pb(payload)
    if payload.snapshot is not None:
        pb.snapshot.CopyFrom(snapshot_pb(payload.snapshot))  # type: ignore[attr-defined]
    return pb


def _event_pb(payload: CustomerEvent) -> Message:
    if isinstance(payload, RuleActionCompleted):
        return rule_events_pb2.CustomerRuleActionCompleted(
            rule=payload.rule,
            run=payload.run,
            action_index=payload.action_index,
            action_type=payload.action_type,
            outcome=_OUTCOME_PB[payload.outcome],
            reason=payload.reason,
            result=payload.result,
        )
    if isinstance(payload, CustomerCreated):
        customer = payload.customer
        return customer_events_pb2.CustomerCreated(
            customer=customer_name(customer.id),
            display_name=customer.display_name,
            identities=[identity_to_pb(i) for i in customer.identities],
            owner=f"members/{customer.owner_member_id}" if customer.owner_member_id else "",
            department=f"departments/{customer.department_id}" if customer.department_id else "",
        )
    if isinstance(payload, CustomerUpdated):
        return customer_events_pb2.CustomerUpdated(
            customer=customer_name(payload.customer_id),
            changed_fields=list(payload.changed_fields),
            owner=f"members/{payload.owner_member_id}" if payload.owner_member_id else "",
            department=f"departments/{payload.department_id}" if payload.department_id else "",
            actor=payload.actor,
        )
    if isinstance(payload, TagsChanged):
        tags_event = (
            customer_events_pb2.CustomerTagged
            if isinstance(payload, CustomerTagged)
            else customer_events_pb2.CustomerUntagged
        )
        return tags_event(
            customer=customer_name(payload.customer_id),
            tags=[tag_name(t) for t in payload.tag_ids],
            cause_event_id=payload.cause_event_id,
        )
    if isinstance(payload, CustomerTierChanged):
        return customer_events_pb2.CustomerTierChanged(
            customer=customer_name(payload.customer_id),
            from_tier=tier_name(payload.from_tier_id),
            to_tier=tier_name(payload.to_tier_id),
            tier_rule=tier_rule_name(payload.tier_rule_id),
        )
    if isinstance(payload, CustomerMerged):
        return customer_events_pb2.CustomerMerged(
            customer=customer_name(payload.customer_id),
            merged_customers=[customer_name(c) for c in payload.merged_customer_ids],
            actor=payload.actor,
        )
    if isinstance(payload, CustomerDeleted):
        return customer_events_pb2.CustomerDeleted(customer=customer_name(payload.customer_id))
    if isinstance(payload, CustomerStageChanged):
        return customer_events_pb2.CustomerStageChanged(
            customer=customer_name(payload.customer_id),
            from_stage=stage_to_pb(payload.from_stage),
            to_stage=stage_to_pb(payload.to_stage),
            reason=payload.reason,
            actor=payload.actor,
            cause_event_id=payload.cause_event_id,
        )
    if isinstance(payload, CustomerBlacklisted):
        return customer_events_pb2.CustomerBlacklisted(
            customer=customer_name(payload.customer_id), reason=payload.reason, actor=payload.actor
        )
    if isinstance(payload, CustomerScored):
        return customer_events_pb2.CustomerScored(
            customer=customer_name(payload.customer_id),
            delta=payload.delta,
            score=payload.score,
            reason=payload.reason,
            source=payload.source,
            cause_event_id=payload.cause_event_id,
        )
    if isinstance(payload, OrderRecorded):
        order = payload.order
        return customer_events_pb2.OrderRecorded(
            order=order_name(order.customer_id, order.id),
            customer=customer_name(order.customer_id),
            external_id=order.external_id,
            store=order.store,
            amount=money_to_pb(order.amount),
            order_time=to_timestamp(order.order_time),
            order_count=payload.order_count,
            order_value=money_to_pb(payload.order_value),
        )
    raise TypeError(f"no event proto for {type(payload).__name__}")
