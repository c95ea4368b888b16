"""After-sales cases in SQL, always filtered by tenant, and by the caller's data scope
through the customer's owner and department (``customer_scope.visible_customer``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.adapters.customer_scope import visible_customer
from messaging.adapters.tables import case_transitions, cases, conversations, given
from messaging.app.case_ports import CaseFilter, DuplicateCaseRequest
from messaging.domain.cases import (
    Case,
    CaseState,
    CaseTransition,
    CaseType,
    Money,
)
from messaging.domain.conversation import Priority


def _inserts(module: Any) -> Any:
    return (
        module.insert(cases)
        .on_conflict_do_nothing(
            index_elements=[cases.c.tenant_id, cases.c.request_id],
            index_where=cases.c.request_id != literal_column("''"),
        )
        .returning(cases.c.id)
    )


_INSERT_CASE = {"postgresql": _inserts(postgresql), "sqlite": _inserts(sqlite)}


class SqlCasesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        postgres = session.get_bind().dialect.name == "postgresql"
        self._insert = _INSERT_CASE["postgresql" if postgres else "sqlite"]

    async def get(self, tenant_id: str, visibility: Visibility, case_id: str) -> Case | None:
        row = (
            await self._session.execute(
                select(cases).where(
                    cases.c.tenant_id == tenant_id,
                    cases.c.id == case_id,
                    visible_customer(visibility, tenant_id, cases.c.customer),
                )
            )
        ).first()
        if row is None:
            return None
        return (await self._with_transitions([row]))[0]

    async def find_by_request(self, tenant_id: str, request_id: str) -> Case | None:
        row = (
            await self._session.execute(
                select(cases).where(
                    cases.c.tenant_id == tenant_id,
                    cases.c.request_id == request_id,
                    given(cases.c.request_id),
                )
            )
        ).first()
        return None if row is None else (await self._with_transitions([row]))[0]

    async def add(self, case: Case) -> None:
        values = _row_of(case)
        if case.request_id:
            inserted = await self._session.scalar(self._insert.values(**values))
            if inserted is None:
                raise DuplicateCaseRequest(case.request_id)
        else:
            await self._session.execute(insert(cases).values(**values))
        await self._add_transitions(case.id, case.transitions, start=0)

    async def save(self, case: Case, *, expected_version: int) -> bool:
        values = _row_of(case)
        for key in ("id", "tenant_id", "request_id", "created_by", "created_at", "type"):
            values.pop(key)
        result = await self._session.execute(
            update(cases)
            .where(
                cases.c.tenant_id == case.tenant_id,
                cases.c.id == case.id,
                cases.c.version == expected_version,
            )
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        stored = await self._session.scalar(
            select(func.count())
            .select_from(case_transitions)
            .where(case_transitions.c.case_id == case.id)
        )
        await self._add_transitions(
            case.id, case.transitions[int(stored or 0) :], start=int(stored or 0)
        )
        return True

    async def delete(self, tenant_id: str, case_id: str) -> None:
        owned = select(cases.c.id).where(cases.c.tenant_id == tenant_id, cases.c.id == case_id)
        await self._session.execute(
            delete(case_transitions).where(case_transitions.c.case_id.in_(owned))
        )
        await self._session.execute(
            delete(cases).where(cases.c.tenant_id == tenant_id, cases.c.id == case_id)
        )

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        filters: CaseFilter,
        *,
        after: Sequence[str],
        limit: int,
    ) -> list[Case]:
        query = select(cases).where(
            cases.c.tenant_id == tenant_id,
            visible_customer(visibility, tenant_id, cases.c.customer),
        )
        if filters.type is not None:
            query = query.where(cases.c.type == filters.type.value)
        if filters.states:
            query = query.where(cases.c.state.in_(sorted(s.value for s in filters.states)))
        if filters.customer:
            query = query.where(cases.c.customer == filters.customer)
        if filters.assignee:
            query = query.where(cases.c.assignee == filters.assignee)
        if after:
            query = query.where(
                past(
                    [cases.c.created_at, cases.c.id],
                    [datetime.fromisoformat(after[0]), after[1]],
                    descending=True,
                )
            )
        rows = (
            await self._session.execute(
                query.order_by(cases.c.created_at.desc(), cases.c.id.desc()).limit(limit)
            )
        ).all()
        return await self._with_transitions(rows)

    async def conversation_customer(self, tenant_id: str, conversation_id: str) -> str | None:
        found: str | None = await self._session.scalar(
            select(conversations.c.customer).where(
                conversations.c.tenant_id == tenant_id, conversations.c.id == conversation_id
            )
        )
        return found

    async def customer_visible(self, tenant_id: str, visibility: Visibility, customer: str) -> bool:
        if visibility.scope is DataScope.ALL:
            return True
        return bool(
            await self._session.scalar(select(visible_customer(visibility, tenant_id, customer)))
        )

    async def _add_transitions(
        self, case_id: str, steps: Sequence[CaseTransition], *, start: int
    ) -> None:
        if not steps:
            return
        await self._session.execute(
            insert(case_transitions),
            [
                {
                    "case_id": case_id,
                    "seq": start + i,
                    "from_state": step.from_state.value,
                    "to_state": step.to_state.value,
                    "note": step.note,
                    "actor": step.actor,
                    "created_at": step.at,
                }
                for i, step in enumerate(steps)
            ],
        )

    async def _with_transitions(self, rows: Sequence[Row[Any]]) -> list[Case]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        steps: dict[str, list[CaseTransition]] = {}
        for t in await self._session.execute(
            select(case_transitions)
            .where(case_transitions.c.case_id.in_(ids))
            .order_by(case_transitions.c.case_id, case_transitions.c.seq)
        ):
            steps.setdefault(t.case_id, []).append(
                CaseTransition(
                    CaseState(t.from_state),
                    CaseState(t.to_state),
                    t.note,
                    t.actor,
                    as_utc(t.created_at),
                )
            )
        return [_case_of(r, tuple(steps.get(r.id, ()))) for r in rows]


def _row_of(case: Case) -> dict[str, Any]:
    amount = case.amount
    return {
        "id": case.id,
        "tenant_id": case.tenant_id,
        "type": case.type.value,
        "state": case.state.value,
        "customer": case.customer,
        "conversation_id": case.conversation_id,
        "order_external_id": case.order_external_id,
        "amount_currency": None if amount is None else amount.currency_code,
        "amount_units": None if amount is None else amount.units,
        "amount_nanos": None if amount is None else amount.nanos,
        "reason": case.reason,
        "description": case.description,
        "assignee": case.assignee,
        "priority": case.priority.name.lower(),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "sla_due_at": case.sla_due_at,
        "closed_at": case.closed_at,
        "version": case.version,
        "request_id": case.request_id,
        "created_by": case.created_by,
    }


def _case_of(row: Row[Any], transitions: tuple[CaseTransition, ...]) -> Case:
    amount = (
        None
        if row.amount_currency is None
        else Money(row.amount_currency, int(row.amount_units or 0), int(row.amount_nanos or 0))
    )
    return Case(
        id=row.id,
        tenant_id=row.tenant_id,
        type=CaseType(row.type),
        state=CaseState(row.state),
        customer=row.customer,
        conversation_id=row.conversation_id,
        order_external_id=row.order_external_id,
        amount=amount,
        reason=row.reason,
        description=row.description,
        assignee=row.assignee,
        priority=Priority[row.priority.upper()],
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        sla_due_at=as_utc(row.sla_due_at),
        closed_at=None if row.closed_at is None else as_utc(row.closed_at),
        transitions=transitions,
        version=row.version,
        request_id=row.request_id,
        created_by=row.created_by,
    )
