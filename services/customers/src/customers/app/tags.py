"""Tag groups and tags, and putting tags on customers (by people or by rules)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
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
from customers.app.ports import CustomerRepository, Emit, TagNameTaken, TagRepository, UnitOfWork
from customers.app.timeline import record
from customers.domain.events import CustomerTagged, CustomerUntagged
from customers.domain.model import (
    AUTOMATION_GROUP,
    Customer,
    Tag,
    TagGroup,
    TagGroupKind,
    displaced_by_exclusive,
    normalize_tags,
    validate_tag,
    validate_tag_group,
)

TAG = "crosstalk.io/Tag"
TAG_GROUP = "crosstalk.io/TagGroup"
CUSTOMER = "crosstalk.io/Customer"


def tag_name(tag_id: str) -> str:
    return f"tags/{tag_id}"


def tag_group_name(group_id: str) -> str:
    return f"tagGroups/{group_id}"


@dataclass(frozen=True)
class TagIds:
    """Tags named by id, as people name them (AddTags, RemoveTags): every one
    must be a tag of the tenant, and two of one exclusive group are refused."""

    ids: list[str]


@dataclass(frozen=True)
class TagLabels:
    """Tags named by label, as a rule's tag action is authored (free text the
    sender cannot correct): adding creates a missing label as a tag of the
    "Automation" group and keeps the last of two tags of one exclusive group;
    removing passes over labels the tenant has no tag for."""

    labels: list[str]


@dataclass(frozen=True)
class TagChange:
    added: frozenset[str]
    removed: frozenset[str]


async def change_tags(
    customers: CustomerRepository,
    tags: TagRepository,
    emit: Emit,
    customer: Customer,
    *,
    add: list[Tag],
    remove: frozenset[str] = frozenset(),
    actor: str,
    cause_event_id: str = "",
    field_name: str = "tags",
    last_of_exclusive_wins: bool = False,
) -> TagChange:
    """Add and remove tags of one customer, keeping exclusive groups exclusive.

    Two tags of one exclusive group are refused, unless last_of_exclusive_wins
    (rules: free text cannot be corrected by the sender, so the last one is kept).
    Runs inside the caller's transaction; emits customer.tagged / untagged and
    writes the timeline.
    """
    tenant_id = customer.tenant_id
    groups = await tags.groups(tenant_id, {t.group_id for t in add if t.group_id})
    if last_of_exclusive_wins:
        last = {
            t.group_id: t.id for t in add if t.group_id in groups and groups[t.group_id].exclusive
        }
        add = [t for t in add if last.get(t.group_id, t.id) == t.id]
    members = await tags.members(tenant_id, {g.id for g in groups.values() if g.exclusive})
    displaced = displaced_by_exclusive(customer.tags, add, groups, members, field_name=field_name)
    adding = frozenset(t.id for t in add)
    removed = await customers.remove_tags(tenant_id, customer.id, (displaced | remove) - adding)
    added = await customers.add_tags(tenant_id, customer.id, adding)
    labels = {t.id: t.display_name for t in add} | {
        t.id: t.display_name for t in (await tags.tags(tenant_id, set(removed))).values()
    }
    if added:
        event, summary, details = tagged(customer.id, added, labels, cause_event_id)
        await record(
            customers, emit, customer, event, summary=summary, actor=actor, details=details
        )
    if removed:
        names = [tag_name(t) for t in sorted(removed)]
        await record(
            customers,
            emit,
            customer,
            CustomerUntagged(customer.id, tuple(sorted(removed)), cause_event_id),
            summary="Untagged " + ", ".join(sorted(labels.get(t, t) for t in removed)),
            actor=actor,
            details={"tags": names},
        )
    return TagChange(added, removed)


def tagged(
    customer_id: str, added: frozenset[str], labels: dict[str, str], cause_event_id: str
) -> tuple[CustomerTagged, str, dict[str, object]]:
    """customer.tagged for tags a customer did not have, with its timeline
    summary and details (``labels``: display names by tag id)."""
    summary = "Tagged " + ", ".join(sorted(labels.get(t, t) for t in added))
    details: dict[str, object] = {"tags": [tag_name(t) for t in sorted(added)]}
    return CustomerTagged(customer_id, tuple(sorted(added)), cause_event_id), summary, details


async def resolve_display_names(tags: TagRepository, tenant_id: str, names: list[str]) -> list[Tag]:
    """The tenant's tags with these display names; missing ones are created in
    the "Automation" group (rules name tags by free text)."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    found = await tags.tags_by_display_name(tenant_id, set(wanted))
    missing = [n for n in wanted if n not in found]
    if missing:
        now = utc_now()
        group = await tags.find_group(tenant_id, AUTOMATION_GROUP)
        if group is None:
            group = TagGroup(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                display_name=AUTOMATION_GROUP,
                kind=TagGroupKind.CUSTOM,
                description="Tags created by rules",
                created_at=now,
                updated_at=now,
            )
            await tags.add_group(group)
        for display_name in missing:
            tag = Tag(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                display_name=display_name,
                group_id=group.id,
                created_at=now,
                updated_at=now,
            )
            await tags.add_tag(tag)
            found[display_name] = tag
    return [found[n] for n in wanted]


async def _chosen(
    tags: TagRepository, tenant_id: str, chosen: TagIds | TagLabels, *, adding: bool
) -> list[Tag]:
    if isinstance(chosen, TagIds):
        known = await tags.tags(tenant_id, set(chosen.ids))
        missing = [
            FieldViolation(f"tags[{i}]", f"no tag {tag_name(t)!r}")
            for i, t in enumerate(chosen.ids)
            if t not in known
        ]
        if missing:
            raise InvalidArgument(missing)
        return [known[t] for t in dict.fromkeys(chosen.ids)]
    labels = sorted(normalize_tags(chosen.labels, field_name="tags"))
    if adding:
        return await resolve_display_names(tags, tenant_id, labels)
    return list((await tags.tags_by_display_name(tenant_id, set(labels))).values())


@dataclass(frozen=True)
class TagService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    # --- tags on a customer -----------------------------------------------------

    async def change_customer_tags(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        tags: TagIds | TagLabels,
        *,
        remove: bool = False,
        actor: str,
        cause_event_id: str = "",
    ) -> Customer:
        """AddTags (RemoveTags with ``remove``), and a rule's tag (untag) action,
        which names its tags by ``TagLabels`` and acts as the rule."""
        if isinstance(tags, TagIds) and not tags.ids:
            raise InvalidArgument([FieldViolation("tags", "name at least one tag ('tags/{tag}')")])
        name = f"customers/{customer_id}"
        async with self.new_uow() as uow:
            customer = await uow.customers.get(tenant_id, customer_id, visibility)
            if customer is None:
                raise NotFound(CUSTOMER, name)
            chosen = await _chosen(uow.tags, tenant_id, tags, adding=not remove)
            await change_tags(
                uow.customers,
                uow.tags,
                uow.emit,
                customer,
                add=[] if remove else chosen,
                remove=frozenset(t.id for t in chosen) if remove else frozenset(),
                actor=actor,
                cause_event_id=cause_event_id,
                last_of_exclusive_wins=isinstance(tags, TagLabels),
            )
            updated = await uow.customers.get(tenant_id, customer_id, visibility)
            if updated is None:
                raise NotFound(CUSTOMER, name)
            await uow.commit()
        return updated

    # --- groups -------------------------------------------------------------

    async def create_group(self, draft: TagGroup) -> TagGroup:
        now = utc_now()
        group = replace(
            draft,
            id=str(uuid.uuid4()),
            display_name=draft.display_name.strip(),
            created_at=now,
            updated_at=now,
            version=1,
        )
        validate_tag_group(group)
        async with self.new_uow() as uow:
            try:
                await uow.tags.add_group(group)
            except TagNameTaken:
                raise AlreadyExists(TAG_GROUP, group.display_name) from None
            await uow.commit()
        return group

    async def get_group(self, tenant_id: str, group_id: str) -> TagGroup:
        async with self.new_uow() as uow:
            group = await uow.tags.get_group(tenant_id, group_id)
        if group is None:
            raise NotFound(TAG_GROUP, tag_group_name(group_id))
        return group

    async def page_groups(
        self, tenant_id: str, *, kind: TagGroupKind | None, after: list[str], limit: int
    ) -> list[TagGroup]:
        async with self.new_uow() as uow:
            return await uow.tags.page_groups(tenant_id, kind=kind, after=after, limit=limit)

    async def update_group(
        self, tenant_id: str, group_id: str, changes: dict[str, object], etag: str
    ) -> TagGroup:
        async with self.new_uow() as uow:
            current = await uow.tags.get_group(tenant_id, group_id)
            if current is None:
                raise NotFound(TAG_GROUP, tag_group_name(group_id))
            check_etag(etag, current.etag, tag_group_name(group_id))
            updated = replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            updated = replace(updated, display_name=updated.display_name.strip())
            validate_tag_group(updated)
            try:
                saved = await uow.tags.save_group(updated, expected_version=current.version)
            except TagNameTaken:
                raise AlreadyExists(TAG_GROUP, updated.display_name) from None
            if not saved:
                raise Aborted.etag_mismatch(tag_group_name(group_id))
            await uow.commit()
        return updated

    async def delete_group(self, tenant_id: str, group_id: str, etag: str) -> None:
        name = tag_group_name(group_id)
        async with self.new_uow() as uow:
            current = await uow.tags.get_group(tenant_id, group_id)
            if current is None:
                raise NotFound(TAG_GROUP, name)
            check_etag(etag, current.etag, name)
            count = await uow.tags.count_in_group(tenant_id, group_id)
            if count:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "TAG_GROUP_NOT_EMPTY",
                            name,
                            f"the group still has {count} tag(s); delete or move them first",
                        )
                    ]
                )
            await uow.tags.delete_group(tenant_id, group_id)
            await uow.commit()

    # --- tags ---------------------------------------------------------------

    async def _check_group(self, uow: UnitOfWork, tag: Tag) -> None:
        if tag.group_id and await uow.tags.get_group(tag.tenant_id, tag.group_id) is None:
            raise InvalidArgument(
                [FieldViolation("tag.tag_group", f"no tag group {tag_group_name(tag.group_id)!r}")]
            )

    async def create_tag(self, draft: Tag) -> Tag:
        now = utc_now()
        tag = replace(
            draft,
            id=str(uuid.uuid4()),
            display_name=draft.display_name.strip(),
            created_at=now,
            updated_at=now,
            version=1,
        )
        validate_tag(tag)
        async with self.new_uow() as uow:
            await self._check_group(uow, tag)
            try:
                await uow.tags.add_tag(tag)
            except TagNameTaken:
                raise AlreadyExists(TAG, tag.display_name) from None
            await uow.commit()
        return tag

    async def get_tag(self, tenant_id: str, tag_id: str) -> tuple[Tag, int]:
        async with self.new_uow() as uow:
            tag = await uow.tags.get_tag(tenant_id, tag_id)
            if tag is None:
                raise NotFound(TAG, tag_name(tag_id))
            counts = await uow.tags.customer_counts(tenant_id, [tag_id])
        return tag, counts.get(tag_id, 0)

    async def page_tags(
        self, tenant_id: str, *, group_id: str, after: list[str], limit: int
    ) -> tuple[list[Tag], dict[str, int]]:
        async with self.new_uow() as uow:
            page = await uow.tags.page_tags(tenant_id, group_id=group_id, after=after, limit=limit)
            counts = await uow.tags.customer_counts(tenant_id, [t.id for t in page])
        return page, counts

    async def update_tag(
        self, tenant_id: str, tag_id: str, changes: dict[str, object], etag: str
    ) -> Tag:
        async with self.new_uow() as uow:
            current = await uow.tags.get_tag(tenant_id, tag_id)
            if current is None:
                raise NotFound(TAG, tag_name(tag_id))
            check_etag(etag, current.etag, tag_name(tag_id))
            updated = replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            updated = replace(updated, display_name=updated.display_name.strip())
            validate_tag(updated)
            await self._check_group(uow, updated)
            try:
                saved = await uow.tags.save_tag(updated, expected_version=current.version)
            except TagNameTaken:
                raise AlreadyExists(TAG, updated.display_name) from None
            if not saved:
                raise Aborted.etag_mismatch(tag_name(tag_id))
            await uow.commit()
        return updated

    async def delete_tag(self, tenant_id: str, tag_id: str, etag: str, *, actor: str) -> None:
        name = tag_name(tag_id)
        async with self.new_uow() as uow:
            current = await uow.tags.get_tag(tenant_id, tag_id)
            if current is None:
                raise NotFound(TAG, name)
            check_etag(etag, current.etag, name)
            holders = await uow.tags.delete_tag(tenant_id, tag_id)
            for customer_id in holders:
                customer = await uow.customers.get(tenant_id, customer_id)
                if customer is None:
                    continue
                await record(
                    uow.customers,
                    uow.emit,
                    customer,
                    CustomerUntagged(customer_id, (tag_id,)),
                    summary=f"Untagged {current.display_name} (tag deleted)",
                    actor=actor,
                    details={"tags": [name]},
                )
            await uow.commit()
