"""After-sales cases: a return, exchange, refund or complaint, and the state machine of each type.

Allowed transitions (the contract's comment in ``crosstalk/messaging/v1/cases.proto``):

    RETURN:    OPEN > IN_REVIEW > APPROVED > AWAITING_RETURN > ITEM_RECEIVED > REFUNDED > CLOSED
    EXCHANGE:  OPEN > IN_REVIEW > APPROVED > AWAITING_RETURN > ITEM_RECEIVED > RESHIPPED > CLOSED
    REFUND:    OPEN > IN_REVIEW > APPROVED > REFUNDED > CLOSED
    COMPLAINT: OPEN > IN_REVIEW > RESOLVED > CLOSED

and for every type IN_REVIEW > REJECTED > CLOSED, and any state before CLOSED > CANCELLED.
CLOSED and CANCELLED are final. Anything else is refused with FAILED_PRECONDITION naming
the states the case may move to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from crosstalk_common.currencies import ISO_4217_CURRENCIES
from crosstalk_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
)
from messaging.domain.conversation import Priority


class CaseType(StrEnum):
    RETURN = "return"
    EXCHANGE = "exchange"
    REFUND = "refund"
    COMPLAINT = "complaint"


class CaseState(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    AWAITING_RETURN = "awaiting_return"
    ITEM_RECEIVED = "item_received"
    REFUNDED = "refunded"
    RESHIPPED = "reshipped"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (CaseState.CLOSED, CaseState.CANCELLED)


S = CaseState
_MAIN_PATHS: dict[CaseType, tuple[CaseState, ...]] = {
    CaseType.RETURN: (
        S.OPEN, S.IN_REVIEW, S.APPROVED, S.AWAITING_RETURN, S.ITEM_RECEIVED, S.REFUNDED, S.CLOSED
    ),
    CaseType.EXCHANGE: (
        S.OPEN, S.IN_REVIEW, S.APPROVED, S.AWAITING_RETURN, S.ITEM_RECEIVED, S.RESHIPPED, S.CLOSED
    ),
    CaseType.REFUND: (S.OPEN, S.IN_REVIEW, S.APPROVED, S.REFUNDED, S.CLOSED),
    CaseType.COMPLAINT: (S.OPEN, S.IN_REVIEW, S.RESOLVED, S.CLOSED),
}  # fmt: skip


def _machine(path: tuple[CaseState, ...]) -> dict[CaseState, tuple[CaseState, ...]]:
    nexts: dict[CaseState, list[CaseState]] = {}
    for here, there in pairwise(path):
        nexts.setdefault(here, []).append(there)
    nexts.setdefault(S.IN_REVIEW, []).append(S.REJECTED)
    nexts.setdefault(S.REJECTED, []).append(S.CLOSED)
    for state in nexts:
        if not state.is_final:
            nexts[state].append(S.CANCELLED)
    return {state: tuple(targets) for state, targets in nexts.items()}


MACHINES: Mapping[CaseType, Mapping[CaseState, tuple[CaseState, ...]]] = {
    case_type: _machine(path) for case_type, path in _MAIN_PATHS.items()
}


def allowed_next_states(case_type: CaseType, state: CaseState) -> tuple[CaseState, ...]:
    """The states a case of this type may move to from ``state`` (none from a final state)."""
    return MACHINES[case_type].get(state, ())


def states_of(case_type: CaseType) -> frozenset[CaseState]:
    """Every state a case of this type can be in."""
    machine = MACHINES[case_type]
    return frozenset(machine) | {s for targets in machine.values() for s in targets}


class CaseTransitionRefused(FailedPrecondition):
    """The case's type does not allow that move from its current state."""

    def __init__(self, case_name: str, case: Case, to: CaseState) -> None:
        allowed = allowed_next_states(case.type, case.state)
        self.allowed = allowed
        spelled = ", ".join(s.name for s in allowed) or "none (the case is final)"
        description = (
            f"a {case.type.value} case cannot move from {case.state.name} to {to.name}; "
            f"allowed next states: {spelled}"
        )
        super().__init__(
            [PreconditionViolation("CASE_STATE", case_name, description)],
            description,
            reason="CASE_TRANSITION_NOT_ALLOWED",
            metadata={
                "fromState": case.state.name,
                "toState": to.name,
                "allowedNextStates": ",".join(s.name for s in allowed),
            },
        )


# --- values ---------------------------------------------------------------------------

_NANOS = 1_000_000_000
MAX_REASON = 500
MAX_DESCRIPTION = 5000
MAX_NOTE = 2000
MAX_ORDER_ID = 200
MAX_TRANSITIONS = 1000
DEFAULT_SLA = timedelta(hours=48)


@dataclass(frozen=True)
class Money:
    currency_code: str
    units: int
    nanos: int = 0

    def violations(self, field_name: str) -> list[FieldViolation]:
        found = []
        if self.currency_code not in ISO_4217_CURRENCIES:
            found.append(
                FieldViolation(
                    f"{field_name}.currency_code", "must be an ISO 4217 code such as EUR"
                )
            )
        if not -_NANOS < self.nanos < _NANOS:
            found.append(FieldViolation(f"{field_name}.nanos", "must be within ±999,999,999"))
        elif (self.units > 0 and self.nanos < 0) or (self.units < 0 and self.nanos > 0):
            found.append(FieldViolation(f"{field_name}.nanos", "must have the sign of units"))
        if self.units < 0 or self.nanos < 0:
            found.append(FieldViolation(f"{field_name}.units", "must not be negative"))
        return found


@dataclass(frozen=True)
class CaseTransition:
    from_state: CaseState
    to_state: CaseState
    note: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class CaseSla:
    """How long each type of case may stay open (``MESSAGING_CASE_SLA``)."""

    durations: Mapping[CaseType, timedelta] = field(default_factory=dict)
    default: timedelta = DEFAULT_SLA

    def due(self, case_type: CaseType, opened_at: datetime) -> datetime:
        return opened_at + self.durations.get(case_type, self.default)

    @classmethod
    def parse(cls, spec: str) -> CaseSla:
        """``"return=72h,complaint=24h,default=48h"``: hours (``h``) or days (``d``) per type.

        Raises ValueError naming the bad part.
        """
        durations: dict[CaseType, timedelta] = {}
        default = DEFAULT_SLA
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key, _, value = part.partition("=")
            amount = _duration(value.strip(), part)
            key = key.strip().lower()
            if key == "default":
                default = amount
                continue
            try:
                durations[CaseType(key)] = amount
            except ValueError:
                raise ValueError(
                    f"case SLA {part!r}: unknown case type {key!r} "
                    f"(one of {', '.join(t.value for t in CaseType)} or default)"
                ) from None
        return cls(durations, default)


def _duration(value: str, part: str) -> timedelta:
    match = re.fullmatch(r"(\d{1,5})([hd])", value)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"case SLA {part!r}: give a positive number of hours or days, e.g. 48h")
    count = int(match.group(1))
    return timedelta(hours=count) if match.group(2) == "h" else timedelta(days=count)


@dataclass(frozen=True)
class Case:
    id: str
    tenant_id: str
    type: CaseType
    state: CaseState
    customer: str
    conversation_id: str
    order_external_id: str
    amount: Money | None
    reason: str
    description: str
    assignee: str  # member id, "" when nobody
    priority: Priority
    created_at: datetime
    updated_at: datetime
    sla_due_at: datetime
    closed_at: datetime | None = None
    transitions: tuple[CaseTransition, ...] = ()
    version: int = 1
    request_id: str = ""
    created_by: str = ""

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def allowed_next_states(self) -> tuple[CaseState, ...]:
        return allowed_next_states(self.type, self.state)

    def moved_to(
        self, to: CaseState, *, case_name: str, actor: str, note: str, at: datetime
    ) -> tuple[Case, CaseTransition]:
        """The case in state ``to`` with the transition recorded; CaseTransitionRefused if
        its type's machine does not allow the move."""
        if len(note) > MAX_NOTE:
            raise InvalidArgument.field("note", f"must be at most {MAX_NOTE} characters")
        if to not in self.allowed_next_states:
            raise CaseTransitionRefused(case_name, self, to)
        if len(self.transitions) >= MAX_TRANSITIONS:
            raise FailedPrecondition(
                [
                    PreconditionViolation(
                        "CASE_TRANSITIONS", case_name, f"a case keeps at most {MAX_TRANSITIONS}"
                    )
                ]
            )
        step = CaseTransition(self.state, to, note.strip(), actor, at)
        moved = replace(
            self,
            state=to,
            transitions=(*self.transitions, step),
            updated_at=at,
            closed_at=at if to.is_final else self.closed_at,
            version=self.version + 1,
        )
        return moved, step

    def time_to_resolve(self) -> timedelta | None:
        """From opening to CLOSED or CANCELLED; None while open."""
        return None if self.closed_at is None else self.closed_at - self.created_at


# Fields UpdateCase may change (the state moves only through TransitionCase).
EDITABLE_FIELDS = (
    "conversation",
    "order_external_id",
    "amount",
    "reason",
    "description",
    "assignee",
    "priority",
)


def validate_case(case: Case, *, prefix: str = "case") -> None:
    """INVALID_ARGUMENT naming every bad field of a case about to be stored."""
    bad: list[FieldViolation] = []
    if not case.customer:
        bad.append(
            FieldViolation(
                f"{prefix}.customer", "is required (or give the conversation it comes from)"
            )
        )
    if case.type is not CaseType.COMPLAINT and not case.order_external_id:
        bad.append(
            FieldViolation(
                f"{prefix}.order_external_id", f"is required for a {case.type.value} case"
            )
        )
    if len(case.order_external_id) > MAX_ORDER_ID:
        bad.append(
            FieldViolation(
                f"{prefix}.order_external_id", f"must be at most {MAX_ORDER_ID} characters"
            )
        )
    if len(case.reason) > MAX_REASON:
        bad.append(FieldViolation(f"{prefix}.reason", f"must be at most {MAX_REASON} characters"))
    if len(case.description) > MAX_DESCRIPTION:
        bad.append(
            FieldViolation(f"{prefix}.description", f"must be at most {MAX_DESCRIPTION} characters")
        )
    if case.amount is not None:
        bad.extend(case.amount.violations(f"{prefix}.amount"))
    if bad:
        raise InvalidArgument(bad)


def case_name(case_id: str) -> str:
    return f"cases/{case_id}"
