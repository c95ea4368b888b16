"""After-sales cases: open, read, list, change, delete and move them along their machine.

Cases follow their customer's owner and department: a caller whose data scope
does not hold the customer gets NOT_FOUND, as for the customer itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import Aborted, FieldViolation, InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from messaging.app.case_ports import CaseFilter, CasesUnitOfWork, DuplicateCaseRequest
from messaging.domain.cases import (
    EDITABLE_FIELDS,
    Case,
    CaseSla,
    CaseState,
    CaseType,
    Money,
    case_name,
    validate_case,
)
from messaging.domain.conversation import Priority
from messaging.domain.events import CaseOpened, CaseTransitioned

CASE = "crosstalk.io/Case"
CONVERSATION = "crosstalk.io/Conversation"


@dataclass(frozen=True)
class NewCase:
    """What a caller (an agent, a rule) asks to open."""

    type: CaseType
    customer: str = ""  # "customers/{id}"; from the conversation when empty
    conversation_id: str = ""
    order_external_id: str = ""
    amount: Money | None = None
    reason: str = ""
    description: str = ""
    assignee: str = ""  # member id
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True)
class CaseChanges:
    """UpdateCase: the fields named by its mask, with their new values."""

    values: Mapping[str, object]

    def __post_init__(self) -> None:
        unknown = set(self.values) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")


_FIELD_ATTRIBUTES = {"conversation": "conversation_id"}


@dataclass(frozen=True)
class Cases:
    new_uow: UnitOfWorkFactory[CasesUnitOfWork]
    sla: CaseSla = field(default_factory=CaseSla)
    clock: Callable[[], datetime] = utc_now

    async def open(
        self,
        tenant_id: str,
        visibility: Visibility,
        draft: NewCase,
        *,
        actor: str,
        request_id: str = "",
        cause_event_id: str = "",
        conversation_required: bool = True,
    ) -> Case:
        """Opens a case (state OPEN) and announces it (case.opened).

        A repeated ``request_id`` returns the case it opened and changes nothing.
        """
        async with self.new_uow() as uow:
            if request_id:
                known = await uow.cases.find_by_request(tenant_id, request_id)
                if known is not None:
                    return known
            customer = await self._customer_of(
                uow, tenant_id, draft, conversation_required=conversation_required
            )
            if not await uow.cases.customer_visible(tenant_id, visibility, customer):
                raise NotFound("crosstalk.io/Customer", customer)
            now = self.clock()
            case = Case(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                type=draft.type,
                state=CaseState.OPEN,
                customer=customer,
                conversation_id=draft.conversation_id,
                order_external_id=draft.order_external_id.strip(),
                amount=draft.amount,
                reason=draft.reason.strip(),
                description=draft.description.strip(),
                assignee=draft.assignee,
                priority=draft.priority,
                created_at=now,
                updated_at=now,
                sla_due_at=self.sla.due(draft.type, now),
                request_id=request_id,
                created_by=actor,
            )
            validate_case(case)
            await _check_assignee(uow, tenant_id, case.assignee)
            try:
                await uow.cases.add(case)
            except DuplicateCaseRequest:
                pass
            else:
                await uow.record(CaseOpened(case, actor, cause_event_id))
                await uow.commit()
                return case
        async with self.new_uow() as uow:  # lost the race for the request id
            stored = await uow.cases.find_by_request(tenant_id, request_id)
        if stored is None:
            raise Aborted(f"case request {request_id} is being stored; retry")
        return stored

    async def _customer_of(
        self,
        uow: CasesUnitOfWork,
        tenant_id: str,
        draft: NewCase,
        *,
        conversation_required: bool,
    ) -> str:
        if not draft.conversation_id:
            if conversation_required:
                raise InvalidArgument.field(
                    "case.conversation", "is required: the conversation the case comes from"
                )
            return draft.customer
        of_conversation = await uow.cases.conversation_customer(tenant_id, draft.conversation_id)
        if of_conversation is None:
            raise InvalidArgument.field(
                "case.conversation",
                f"conversations/{draft.conversation_id} does not exist in this tenant",
            )
        if draft.customer and draft.customer != of_conversation:
            raise InvalidArgument(
                FieldViolation(
                    "case.customer",
                    f"must be the conversation's customer ({of_conversation}) or left empty",
                )
            )
        return of_conversation

    async def get(self, tenant_id: str, visibility: Visibility, case_id: str) -> Case:
        async with self.new_uow() as uow:
            return await _visible(uow, tenant_id, visibility, case_id)

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        filters: CaseFilter,
        *,
        after: Sequence[str],
        limit: int,
    ) -> list[Case]:
        async with self.new_uow() as uow:
            return await uow.cases.page(tenant_id, visibility, filters, after=after, limit=limit)

    async def update(
        self,
        tenant_id: str,
        visibility: Visibility,
        case_id: str,
        changes: CaseChanges,
        etag: str,
    ) -> Case:
        async with self.new_uow() as uow:
            current = await _visible(uow, tenant_id, visibility, case_id)
            check_etag(etag, current.etag, case_name(case_id))
            values = {_FIELD_ATTRIBUTES.get(k, k): v for k, v in changes.values.items()}
            if not values:
                return current
            updated = replace(
                current,
                **values,  # type: ignore[arg-type]
                updated_at=self.clock(),
                version=current.version + 1,
            )
            if updated.conversation_id and updated.conversation_id != current.conversation_id:
                of_conversation = await uow.cases.conversation_customer(
                    tenant_id, updated.conversation_id
                )
                if of_conversation != current.customer:
                    raise InvalidArgument.field(
                        "case.conversation", "must be a conversation of the case's customer"
                    )
            validate_case(updated)
            if updated.assignee != current.assignee:
                await _check_assignee(uow, tenant_id, updated.assignee)
            if not await uow.cases.save(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(case_name(case_id))
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, visibility: Visibility, case_id: str, etag: str) -> None:
        async with self.new_uow() as uow:
            current = await _visible(uow, tenant_id, visibility, case_id)
            check_etag(etag, current.etag, case_name(case_id))
            await uow.cases.delete(tenant_id, case_id)
            await uow.commit()

    async def transition(
        self,
        tenant_id: str,
        visibility: Visibility,
        case_id: str,
        to: CaseState,
        *,
        note: str,
        etag: str,
        actor: str,
    ) -> Case:
        """Moves the case along its type's machine, records who and why, and announces it
        (case.transitioned). A move the machine does not allow is FAILED_PRECONDITION
        naming the allowed next states."""
        name = case_name(case_id)
        async with self.new_uow() as uow:
            current = await _visible(uow, tenant_id, visibility, case_id)
            check_etag(etag, current.etag, name)
            moved, step = current.moved_to(
                to, case_name=name, actor=actor, note=note, at=self.clock()
            )
            if not await uow.cases.save(moved, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.record(CaseTransitioned(moved, step))
            await uow.commit()
        return moved


async def _visible(
    uow: CasesUnitOfWork, tenant_id: str, visibility: Visibility, case_id: str
) -> Case:
    case = await uow.cases.get(tenant_id, visibility, case_id)
    if case is None:
        raise NotFound(CASE, case_name(case_id))
    return case


async def _check_assignee(uow: CasesUnitOfWork, tenant_id: str, assignee: str) -> None:
    """A case is assigned to an active member of the tenant, as a conversation is
    (AssignConversation): not to an id nobody has, nor to a disabled member."""
    if not assignee:
        return
    profile = await uow.members.get(tenant_id, f"members/{assignee}")
    if profile is None or not profile.enabled:
        raise InvalidArgument.field(
            "case.assignee", f"members/{assignee} is not an active member of this tenant"
        )
