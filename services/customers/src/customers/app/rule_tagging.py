"""A batch of rules' tag actions applied together (issue 14: one per message).

Each action is applied as ``RuleActions.tag`` would apply it alone (the same
tags created, customer.tagged, timeline rows and customer.rule_action_completed
report), but the batch shares ONE unit of work and a fixed number of
statements per tenant: the customers are read at once, the labels resolved at
once, and the new tags, version bumps, timeline rows and events written at
once (the events' snapshots too, when the unit of work commits).

Every action's events are staged inside its own ``within()``, so they carry
the trace and causation of the action's event.

Where a tag of an exclusive group is involved (adding it displaces the
customer's other tag of the group, which takes the one-by-one path's reads),
the unit of work is dropped and the actions are applied one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, replace

from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import UnitOfWork
from customers.app.rule_actions import RuleAction, RuleActions, completed
from customers.app.tags import CUSTOMER, resolve_display_names, tagged
from customers.app.timeline import timeline_entry
from customers.domain.events import RuleActionOutcome
from customers.domain.model import Customer, Tag, TimelineEntry, normalize_tags
from customers.domain.names import customer_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TagRequest:
    """A rule's tag action: add the tags with these labels to the action's customer;
    ``within()`` makes the action's event (its trace and causation) current."""

    action: RuleAction
    labels: list[str]
    within: Callable[[], AbstractContextManager[None]]


async def add_tags_together(
    new_uow: UnitOfWorkFactory[UnitOfWork], requests: Sequence[TagRequest]
) -> None:
    """Apply the tag actions in order, in one unit of work when no exclusive
    group is involved, else one at a time. The caller gives actions on distinct
    customers (each event's snapshot shows the whole unit of work's changes)."""
    if not requests:
        return
    async with new_uow() as uow:
        if await _apply(uow, requests):
            await uow.commit()
            return
    for request in requests:
        with request.within():
            await RuleActions(new_uow).tag(request.action, request.labels, remove=False)


@dataclass
class _Tenant:
    """One tenant's share of the batch, as read before any action is applied."""

    customers: dict[str, Customer]
    tags: dict[str, Tag]  # by display name


async def _read(uow: UnitOfWork, tenant_id: str, requests: list[TagRequest]) -> _Tenant | None:
    """The customers and the tags (missing labels created), or None when a tag
    of an exclusive group is among them."""
    ids = list(dict.fromkeys(r.action.customer_id for r in requests))
    found = {c.id: c for c in await _customers(uow, tenant_id, ids)}
    labels: set[str] = set()
    for r in requests:
        if r.action.customer_id in found:  # no tag is made for a skipped action
            with suppress(InvalidArgument):  # reported when the action is applied
                labels |= normalize_tags(r.labels, field_name="tags")
    tags = await resolve_display_names(uow.tags, tenant_id, sorted(labels)) if labels else []
    groups = await uow.tags.groups(tenant_id, {t.group_id for t in tags if t.group_id})
    if any(g.exclusive for g in groups.values()):
        return None
    return _Tenant(found, {t.display_name: t for t in tags})


async def _customers(uow: UnitOfWork, tenant_id: str, ids: list[str]) -> list[Customer]:
    """The customers that exist; one of them by key (one statement, not ``many``'s two)."""
    if len(ids) == 1:
        one = await uow.customers.get(tenant_id, ids[0])
        return [] if one is None else [one]
    return await uow.customers.many(tenant_id, ids)


async def _apply(uow: UnitOfWork, requests: Sequence[TagRequest]) -> bool:
    """Stage every action's effects and report in ``uow``; False (nothing
    written that counts: the unit of work is dropped) if an exclusive group
    is involved."""
    by_tenant: dict[str, list[TagRequest]] = {}
    for r in requests:
        by_tenant.setdefault(r.action.tenant_id, []).append(r)
    read: dict[str, _Tenant] = {}
    for tenant_id, theirs in by_tenant.items():
        tenant = await _read(uow, tenant_id, theirs)
        if tenant is None:
            return False
        read[tenant_id] = tenant
    for tenant_id, theirs in by_tenant.items():
        tenant = read[tenant_id]
        changes: list[tuple[str, frozenset[str]]] = []
        entries: list[TimelineEntry] = []
        for r in theirs:
            with r.within():
                await _apply_one(uow, tenant, r, changes, entries)
        await uow.customers.add_new_tags(tenant_id, changes)
        await uow.customers.add_timeline_entries(entries)
    return True


async def _apply_one(
    uow: UnitOfWork,
    tenant: _Tenant,
    request: TagRequest,
    changes: list[tuple[str, frozenset[str]]],
    entries: list[TimelineEntry],
) -> None:
    """One action against the batch's view of its customer (updated in place)."""
    action = request.action
    customer = tenant.customers.get(action.customer_id)
    if customer is None:
        reason = str(NotFound(CUSTOMER, customer_name(action.customer_id)))
        log.warning("skipping %s of %s: %s", action.action_type, action.run, reason)
        await uow.emit(action.tenant_id, completed(action, RuleActionOutcome.SKIPPED, reason))
        return
    try:
        labels = sorted(normalize_tags(request.labels, field_name="tags"))
    except InvalidArgument as exc:
        log.warning("%s of %s failed: %s", action.action_type, action.run, exc)
        await uow.emit(action.tenant_id, completed(action, RuleActionOutcome.FAILED, str(exc)))
        return
    adding = [tenant.tags[label] for label in labels]
    added = frozenset(t.id for t in adding) - customer.tags
    if added:
        tenant.customers[customer.id] = customer = replace(customer, tags=customer.tags | added)
        changes.append((customer.id, added))
        names = {t.id: t.display_name for t in adding}
        event, summary, details = tagged(customer.id, added, names, action.cause_event_id)
        event_id = await uow.emit(action.tenant_id, event)
        entries.append(
            timeline_entry(
                customer, event_id, event, summary=summary, actor=action.actor, details=details
            )
        )
    result = customer_name(customer.id)
    await uow.emit(action.tenant_id, completed(action, RuleActionOutcome.SUCCEEDED, result=result))
