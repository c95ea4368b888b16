"""Customer use cases: each runs in one unit of work (rows and events together)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2, money_pb2
from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.api.etags import check_etag
from crosstalk_common.api.resource_names import optional_resource_id
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import FieldSpec, Node
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.conflicts import ChangedMeanwhile, retried_when_changed_meanwhile
from customers.app.ports import IdentityTaken, OrderTaken, RequestReplayed, UnitOfWork
from customers.app.tags import change_tags, tag_name
from customers.app.tiers import reassess_tier
from customers.app.timeline import record
from customers.domain.filter_fields import DEFAULT_MAX_FILTER_CONDITIONS, filter_fields
from customers.domain.model import (
    Channel,
    ChannelIdentity,
    Customer,
    LifecycleChange,
    LifecycleStage,
    Money,
    Order,
    PointsEntry,
    PointsKind,
    ScoreChange,
    TimelineEntry,
    is_language,
    validate_custom_fields,
    validate_identity,
    validate_order,
    validate_points,
    validate_profile,
    validate_reason,
    validate_request_id,
    validate_score_delta,
)

RESOURCE = "crosstalk.io/Customer"
ORDER = "crosstalk.io/Order"


def customer_name(customer_id: str) -> str:
    return f"customers/{customer_id}"


def order_name(customer_id: str, order_id: str) -> str:
    return f"customers/{customer_id}/orders/{order_id}"


def _amount(money: Money) -> str:
    sign = "-" if money.total_nanos < 0 else ""
    whole, frac = divmod(abs(money.total_nanos), 1_000_000_000)
    digits = f"{frac:09d}".rstrip("0")
    return f"{sign}{whole}{'.' + digits if digits else ''} {money.currency}"


def _identity_pb(identity: ChannelIdentity) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_pb2.Channel.Value(f"CHANNEL_{identity.channel.name}"),
        external_id=identity.external_id,
        store=identity.store,
    )


def _normalized(customer: Customer) -> Customer:
    return replace(
        customer,
        display_name=customer.display_name.strip(),
        emails=tuple(e.strip().lower() for e in customer.emails),
        identities=tuple(i.normalized() for i in customer.identities),
    )


async def _refuse_taken_identities(
    uow: UnitOfWork, customer: Customer, *, except_id: str = ""
) -> None:
    taken = await uow.customers.identities_taken(
        customer.tenant_id, customer.identities, except_id=except_id
    )
    if taken:
        first = taken[0]
        raise AlreadyExists(
            "crosstalk.io/ChannelIdentity",
            f"{first.channel.value}:{first.store}:{first.external_id}",
            message="a channel identity of this customer already belongs to another customer",
        )


@dataclass(frozen=True)
class CustomerService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def create(self, draft: Customer, *, actor: str = "system") -> Customer:
        now = utc_now()
        customer = replace(
            _normalized(draft), id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1
        )
        validate_profile(customer)
        async with self.new_uow() as uow:
            customer = replace(
                customer,
                custom_fields=validate_custom_fields(
                    customer.custom_fields, await uow.fields.by_key(customer.tenant_id)
                ),
            )
            await _refuse_taken_identities(uow, customer)
            await uow.customers.add(customer)
            await _record_created(uow, customer, actor)
            await uow.commit()
        return customer

    async def _current(
        self, uow: UnitOfWork, tenant_id: str, visibility: Visibility, customer_id: str
    ) -> Customer:
        customer = await uow.customers.get(tenant_id, customer_id, visibility)
        if customer is None:
            raise NotFound(RESOURCE, customer_name(customer_id))
        return customer

    async def change_tags(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        tag_ids: list[str],
        *,
        remove: bool,
        actor: str,
    ) -> Customer:
        """AddTags / RemoveTags on one customer by tag ids."""
        if not tag_ids:
            raise InvalidArgument([FieldViolation("tags", "name at least one tag ('tags/{tag}')")])
        async with self.new_uow() as uow:
            customer = await self._current(uow, tenant_id, visibility, customer_id)
            known = await uow.tags.tags(tenant_id, set(tag_ids))
            missing = [
                FieldViolation(f"tags[{i}]", f"no tag {tag_name(t)!r}")
                for i, t in enumerate(tag_ids)
                if t not in known
            ]
            if missing:
                raise InvalidArgument(missing)
            ordered = [known[t] for t in dict.fromkeys(tag_ids)]
            if remove:
                await change_tags(
                    uow.customers,
                    uow.tags,
                    uow.emit,
                    customer,
                    add=[],
                    remove=frozenset(known),
                    actor=actor,
                )
            else:
                await change_tags(
                    uow.customers, uow.tags, uow.emit, customer, add=ordered, actor=actor
                )
            updated = await self._current(uow, tenant_id, visibility, customer_id)
            await uow.commit()
        return updated

    @retried_when_changed_meanwhile
    async def set_lifecycle_stage(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        stage: LifecycleStage,
        reason: str,
        *,
        actor: str,
        cause_event_id: str = "",
    ) -> Customer:
        """Any move is allowed; every one is recorded (setting the same stage is a no-op)."""
        reason = validate_reason(reason, field_name="reason", required=False)
        async with self.new_uow() as uow:
            current = await self._current(uow, tenant_id, visibility, customer_id)
            if current.lifecycle_stage is stage:
                return current
            now = utc_now()
            updated = replace(
                current, lifecycle_stage=stage, updated_at=now, version=current.version + 1
            )
            if not await uow.customers.save_stage(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            await uow.customers.add_lifecycle_change(
                LifecycleChange(
                    id=str(uuid.uuid4()),
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    from_stage=current.lifecycle_stage,
                    to_stage=stage,
                    reason=reason,
                    actor=actor,
                    cause_event_id=cause_event_id,
                    created_at=now,
                )
            )
            before = current.lifecycle_stage.value if current.lifecycle_stage else "none"
            await record(
                uow.customers,
                uow.emit,
                updated,
                customer_events_pb2.CustomerStageChanged(
                    customer=customer_name(customer_id),
                    from_stage=_stage_pb(current.lifecycle_stage),
                    to_stage=_stage_pb(stage),
                    reason=reason,
                    actor=actor,
                    cause_event_id=cause_event_id,
                ),
                summary=f"Lifecycle stage {before} -> {stage.value}"
                + (f": {reason}" if reason else ""),
                actor=actor,
                details={"from_stage": before, "to_stage": stage.value, "reason": reason},
            )
            await uow.commit()
        return updated

    async def lifecycle_history(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        after: list[str],
        limit: int,
    ) -> list[LifecycleChange]:
        async with self.new_uow() as uow:
            await self._current(uow, tenant_id, visibility, customer_id)
            return await uow.customers.lifecycle_history(
                tenant_id, customer_id, after=after, limit=limit
            )

    @retried_when_changed_meanwhile
    async def blacklist(
        self, tenant_id: str, visibility: Visibility, customer_id: str, reason: str, *, actor: str
    ) -> Customer:
        reason = validate_reason(reason, field_name="reason", required=True)
        async with self.new_uow() as uow:
            current = await self._current(uow, tenant_id, visibility, customer_id)
            now = utc_now()
            updated = replace(
                current,
                blacklisted=True,
                blacklist_reason=reason,
                blacklist_time=current.blacklist_time if current.blacklisted else now,
                updated_at=now,
                version=current.version + 1,
            )
            if not await uow.customers.save(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            await record(
                uow.customers,
                uow.emit,
                updated,
                customer_events_pb2.CustomerBlacklisted(
                    customer=customer_name(customer_id), reason=reason, actor=actor
                ),
                summary=f"Blacklisted: {reason}",
                actor=actor,
                details={"reason": reason},
            )
            await uow.commit()
        return updated

    @retried_when_changed_meanwhile
    async def unblacklist(
        self, tenant_id: str, visibility: Visibility, customer_id: str, *, actor: str
    ) -> Customer:
        async with self.new_uow() as uow:
            current = await self._current(uow, tenant_id, visibility, customer_id)
            if not current.blacklisted:
                return current
            updated = replace(
                current,
                blacklisted=False,
                blacklist_reason="",
                blacklist_time=None,
                updated_at=utc_now(),
                version=current.version + 1,
            )
            if not await uow.customers.save(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            # The event catalogue has no customer.unblacklisted: it is an update.
            await record(
                uow.customers,
                uow.emit,
                updated,
                customer_events_pb2.CustomerUpdated(
                    customer=customer_name(customer_id),
                    changed_fields=["blacklisted", "blacklist_reason", "blacklist_time"],
                    actor=actor,
                ),
                summary="Taken off the blacklist",
                actor=actor,
                details={"changed_fields": ["blacklisted"]},
            )
            await uow.commit()
        return updated

    # --- score ----------------------------------------------------------------

    async def adjust_score(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        delta: int,
        reason: str,
        *,
        actor: str,
        request_id: str = "",
        cause_event_id: str = "",
    ) -> Customer:
        """score += delta in one UPDATE, with a history row, customer.scored and a timeline row.

        A repeated request_id changes nothing and returns the customer as it is.
        """
        validate_score_delta(delta)
        reason = validate_reason(reason, field_name="reason", required=True)
        request_id = validate_request_id(request_id)
        async with self.new_uow() as uow:
            await self._current(uow, tenant_id, visibility, customer_id)
            if request_id and await uow.customers.score_change_for_request(
                tenant_id, customer_id, request_id
            ):
                return await self._current(uow, tenant_id, visibility, customer_id)
            now = utc_now()
            if not await uow.customers.add_to_score(tenant_id, customer_id, delta, now=now):
                raise NotFound(RESOURCE, customer_name(customer_id))
            updated = await self._current(uow, tenant_id, visibility, customer_id)
            try:
                await uow.customers.add_score_change(
                    ScoreChange(
                        id=str(uuid.uuid4()),
                        tenant_id=tenant_id,
                        customer_id=customer_id,
                        delta=delta,
                        score=updated.score,
                        reason=reason,
                        source=actor,
                        cause_event_id=cause_event_id,
                        request_id=request_id,
                        created_at=now,
                    )
                )
            except RequestReplayed:
                raise Aborted(
                    "a request with this request_id is being processed; retry it"
                ) from None
            await record(
                uow.customers,
                uow.emit,
                updated,
                customer_events_pb2.CustomerScored(
                    customer=customer_name(customer_id),
                    delta=delta,
                    score=updated.score,
                    reason=reason,
                    source=actor,
                    cause_event_id=cause_event_id,
                ),
                summary=f"Score {delta:+d} -> {updated.score}: {reason}",
                actor=actor,
                details={"delta": delta, "score": updated.score, "reason": reason},
            )
            updated = await reassess_tier(uow, tenant_id, customer_id) or updated
            await uow.commit()
        return updated

    async def score_history(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        after: list[str],
        limit: int,
    ) -> list[ScoreChange]:
        async with self.new_uow() as uow:
            await self._current(uow, tenant_id, visibility, customer_id)
            return await uow.customers.score_history(
                tenant_id, customer_id, after=after, limit=limit
            )

    # --- points ---------------------------------------------------------------

    async def earn_points(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        points: int,
        reason: str,
        *,
        actor: str,
        order: str = "",
        expire_time: datetime | None = None,
        request_id: str = "",
    ) -> PointsEntry:
        if expire_time is not None and expire_time <= utc_now():
            raise InvalidArgument([FieldViolation("expire_time", "must be in the future")])
        return await self._book_points(
            tenant_id,
            visibility,
            customer_id,
            PointsKind.EARN,
            validate_points(points),
            reason,
            actor=actor,
            order=order,
            expire_time=expire_time,
            request_id=request_id,
        )

    async def spend_points(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        points: int,
        reason: str,
        *,
        actor: str,
        order: str = "",
        request_id: str = "",
    ) -> PointsEntry:
        """Spending more than the balance is FAILED_PRECONDITION and writes nothing."""
        return await self._book_points(
            tenant_id,
            visibility,
            customer_id,
            PointsKind.SPEND,
            -validate_points(points),
            reason,
            actor=actor,
            order=order,
            expire_time=None,
            request_id=request_id,
        )

    async def _book_points(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        kind: PointsKind,
        signed: int,
        reason: str,
        *,
        actor: str,
        order: str,
        expire_time: datetime | None,
        request_id: str,
    ) -> PointsEntry:
        reason = validate_reason(reason, field_name="reason", required=True)
        request_id = validate_request_id(request_id)
        order = order.strip()
        # The entry keeps the order's whole name; it must be one of this customer's orders.
        optional_resource_id(order, f"{customer_name(customer_id)}/orders", field="order")
        async with self.new_uow() as uow:
            current = await self._current(uow, tenant_id, visibility, customer_id)
            if request_id:
                earlier = await uow.customers.points_entry_for_request(
                    tenant_id, customer_id, request_id
                )
                if earlier is not None:
                    return earlier
            now = utc_now()
            # One conditional UPDATE: concurrent spends can never take the balance below 0.
            if not await uow.customers.add_points(tenant_id, customer_id, signed, now=now):
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "INSUFFICIENT_POINTS",
                            customer_name(customer_id),
                            f"the balance is {current.points_balance} point(s); "
                            f"cannot spend {-signed}",
                        )
                    ]
                )
            updated = await self._current(uow, tenant_id, visibility, customer_id)
            entry = PointsEntry(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                customer_id=customer_id,
                kind=kind,
                points=signed,
                balance=updated.points_balance,
                reason=reason,
                order=order,
                expire_time=expire_time,
                actor=actor,
                request_id=request_id,
                created_at=now,
            )
            try:
                await uow.customers.add_points_entry(entry)
            except RequestReplayed:
                raise Aborted(
                    "a request with this request_id is being processed; retry it"
                ) from None
            await reassess_tier(uow, tenant_id, customer_id)
            await uow.commit()
        return entry

    async def points_ledger(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        after: list[str],
        limit: int,
    ) -> list[PointsEntry]:
        async with self.new_uow() as uow:
            await self._current(uow, tenant_id, visibility, customer_id)
            return await uow.customers.points_ledger(
                tenant_id, customer_id, after=after, limit=limit
            )

    # --- orders ---------------------------------------------------------------

    async def record_order(
        self, tenant_id: str, visibility: Visibility, draft: Order, *, actor: str
    ) -> Order:
        """Stores the order and updates the customer's totals in one transaction.

        A store's order id is unique per tenant. Recording it again for the same
        customer returns the first order and changes nothing (channel adapters
        retry); for another customer it is ALREADY_EXISTS.
        """
        now = utc_now()
        order = validate_order(replace(draft, id=str(uuid.uuid4()), created_at=now), now=now)
        customer_id = order.customer_id
        async with self.new_uow() as uow:
            await self._current(uow, tenant_id, visibility, customer_id)
            # Lock the customer row first so concurrent orders add up (no lost totals).
            if not await uow.customers.lock(tenant_id, customer_id, now=now):
                raise NotFound(RESOURCE, customer_name(customer_id))
            try:
                await uow.customers.add_order(order)
            except OrderTaken:
                first = await uow.customers.order_by_external_id(
                    tenant_id, order.store, order.external_id
                )
                if first is not None and first.customer_id == customer_id:
                    return first
                raise AlreadyExists(
                    ORDER,
                    f"{order.store}/{order.external_id}" if order.store else order.external_id,
                ) from None
            current = await self._current(uow, tenant_id, visibility, customer_id)
            totals = current.order_totals.after(order)
            await uow.customers.save_order_totals(tenant_id, customer_id, totals)
            value = totals.order_value or Money(order.amount.currency)
            name = order_name(customer_id, order.id)
            await record(
                uow.customers,
                uow.emit,
                current,
                customer_events_pb2.OrderRecorded(
                    order=name,
                    customer=customer_name(customer_id),
                    external_id=order.external_id,
                    store=order.store,
                    amount=money_pb2.Money(
                        currency_code=order.amount.currency,
                        units=order.amount.units,
                        nanos=order.amount.nanos,
                    ),
                    order_time=to_timestamp(order.order_time),
                    order_count=totals.order_count,
                    order_value=money_pb2.Money(
                        currency_code=value.currency, units=value.units, nanos=value.nanos
                    ),
                ),
                summary=f"Order {order.external_id} ({_amount(order.amount)})"
                + (f" in {order.store}" if order.store else ""),
                actor=actor,
                details={
                    "order": name,
                    "external_id": order.external_id,
                    "store": order.store,
                    "amount": _amount(order.amount),
                },
            )
            await reassess_tier(uow, tenant_id, customer_id)
            await uow.commit()
        return order

    async def orders(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[Order]:
        """One customer's orders, or (customer_id "") those of every customer the caller sees."""
        async with self.new_uow() as uow:
            if customer_id:
                await self._current(uow, tenant_id, visibility, customer_id)
            return await uow.customers.orders(
                tenant_id,
                visibility,
                customer_id=customer_id,
                start=start,
                end=end,
                after=after,
                limit=limit,
            )

    async def timeline(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        types: list[str],
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[TimelineEntry]:
        async with self.new_uow() as uow:
            await self._current(uow, tenant_id, visibility, customer_id)
            return await uow.customers.timeline(
                tenant_id, customer_id, types=types, start=start, end=end, after=after, limit=limit
            )

    async def get(self, tenant_id: str, visibility: Visibility, customer_id: str) -> Customer:
        async with self.new_uow() as uow:
            customer = await uow.customers.get(tenant_id, customer_id, visibility)
        if customer is None:
            raise NotFound(RESOURCE, customer_name(customer_id))
        return customer

    @retried_when_changed_meanwhile
    async def update(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        changes: dict[str, object],
        etag: str,
        *,
        actor: str = "system",
    ) -> Customer:
        async with self.new_uow() as uow:
            current = await uow.customers.get(tenant_id, customer_id, visibility)
            if current is None:
                raise NotFound(RESOURCE, customer_name(customer_id))
            check_etag(etag, current.etag, customer_name(customer_id))
            updated = _normalized(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            validate_profile(updated)
            if "custom_fields" in changes:
                updated = replace(
                    updated,
                    custom_fields=validate_custom_fields(
                        updated.custom_fields, await uow.fields.by_key(tenant_id)
                    ),
                )
            if "identities" in changes:
                await _refuse_taken_identities(uow, updated, except_id=customer_id)
            if not await uow.customers.save(updated, expected_version=current.version):
                raise ChangedMeanwhile()
            await record(
                uow.customers,
                uow.emit,
                updated,
                customer_events_pb2.CustomerUpdated(
                    customer=customer_name(customer_id), changed_fields=sorted(changes), actor=actor
                ),
                summary="Updated " + ", ".join(sorted(changes)),
                actor=actor,
                details={"changed_fields": sorted(changes)},
            )
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, visibility: Visibility, customer_id: str) -> None:
        async with self.new_uow() as uow:
            if not await uow.customers.delete(tenant_id, customer_id, visibility):
                raise NotFound(RESOURCE, customer_name(customer_id))
            await uow.emit(
                tenant_id,
                customer_events_pb2.CustomerDeleted(customer=customer_name(customer_id)),
            )
            await uow.commit()

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        condition: Node | None,
        after: list[str],
        limit: int,
    ) -> list[Customer]:
        async with self.new_uow() as uow:
            return await uow.customers.page(
                tenant_id, visibility, condition=condition, after=after, limit=limit
            )

    async def count(self, tenant_id: str, visibility: Visibility, condition: Node | None) -> int:
        async with self.new_uow() as uow:
            return await uow.customers.count(tenant_id, visibility, condition)

    async def filter_fields(
        self, tenant_id: str, *, in_memory: bool = False
    ) -> tuple[dict[str, FieldSpec], int]:
        """The fields the tenant's customer filters may name, and how many leaves they may have."""
        async with self.new_uow() as uow:
            definitions = await uow.fields.by_key(tenant_id)
            limit = await uow.customers.max_filter_conditions(tenant_id)
        fields = filter_fields(definitions, in_memory=in_memory)
        return fields, limit or DEFAULT_MAX_FILTER_CONDITIONS

    async def resolve_identity(
        self,
        tenant_id: str,
        visibility: Visibility,
        identity: ChannelIdentity,
        display_name: str,
        language: str = "",
    ) -> tuple[Customer, bool]:
        """The customer owning an identity, created on first contact (with ``language``).

        Like every read, inside the caller's data scope: an identity held by a
        customer the caller may not see answers NOT_FOUND (ADR 0006), and no
        second customer is created for it.
        """
        identity = identity.normalized()
        problems = validate_identity(identity, prefix="identity")
        language = language.strip()
        if language and not is_language(language):
            problems.append(
                FieldViolation("language", "must be a BCP-47 code such as 'en' or 'pt-BR'")
            )
        if problems:
            raise InvalidArgument(problems)
        async with self.new_uow() as uow:
            found = await uow.customers.find_by_identity(tenant_id, identity, visibility)
            if found is not None:
                return found, False
            if await uow.customers.identities_taken(tenant_id, (identity,)):
                raise _identity_out_of_scope(identity)
            now = utc_now()
            customer = Customer(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                display_name=(display_name.strip() or identity.external_id)[:200],
                emails=(identity.external_id,) if identity.channel is Channel.EMAIL else (),
                language=language,
                identities=(identity,),
                created_at=now,
                updated_at=now,
            )
            try:
                await uow.customers.add(customer)
                await _record_created(uow, customer, "system")
                await uow.commit()
                return customer, True
            except IdentityTaken:
                pass  # created concurrently by another request: read theirs
        async with self.new_uow() as uow:
            found = await uow.customers.find_by_identity(tenant_id, identity, visibility)
            if found is None and await uow.customers.identities_taken(tenant_id, (identity,)):
                raise _identity_out_of_scope(identity)
        if found is None:
            raise Aborted("the identity was claimed concurrently; try again")
        return found, False


def _identity_out_of_scope(identity: ChannelIdentity) -> NotFound:
    """What a caller learns of a customer outside its data scope: nothing more
    than of one that does not exist (the answer names the identity it sent)."""
    key = f"{identity.channel.value}:{identity.store}:{identity.external_id}"
    return NotFound(
        "crosstalk.io/ChannelIdentity",
        key,
        message="no customer in your data scope holds this channel identity",
    )


async def _record_created(uow: UnitOfWork, customer: Customer, actor: str) -> None:
    await record(
        uow.customers,
        uow.emit,
        customer,
        _created_event(customer),
        summary=f"Created {customer.display_name}",
        actor=actor,
    )


def _stage_pb(stage: LifecycleStage | None) -> lifecycle_stage_pb2.LifecycleStage.ValueType:
    if stage is None:
        return lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED
    return lifecycle_stage_pb2.LifecycleStage.Value(f"LIFECYCLE_STAGE_{stage.name}")


def _created_event(customer: Customer) -> customer_events_pb2.CustomerCreated:
    return customer_events_pb2.CustomerCreated(
        customer=customer_name(customer.id),
        display_name=customer.display_name,
        identities=[_identity_pb(i) for i in customer.identities],
        owner=f"members/{customer.owner_member_id}" if customer.owner_member_id else "",
        department=f"departments/{customer.department_id}" if customer.department_id else "",
    )
