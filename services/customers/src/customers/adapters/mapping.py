"""Proto <-> domain conversion for customers."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.common.v1 import channel_pb2
from crosstalk.customers.v1 import resources_pb2
from crosstalk_common.errors import FieldViolation, InvalidArgument
from customers.app.use_cases import customer_name
from customers.domain.model import Channel, ChannelIdentity, Customer


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


def _resource_id(name: str, prefix: str, *, field: str) -> str:
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
        owner_member_id=_resource_id(pb.owner, "members/", field="customer.owner") or default_owner,
        department_id=_resource_id(pb.department, "departments/", field="customer.department")
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
        tags=sorted(customer.tags),
        score=customer.score,
        owner=f"members/{customer.owner_member_id}" if customer.owner_member_id else "",
        department=f"departments/{customer.department_id}" if customer.department_id else "",
        create_time=_ts(customer.created_at),
        update_time=_ts(customer.updated_at),
        etag=customer.etag,
    )
