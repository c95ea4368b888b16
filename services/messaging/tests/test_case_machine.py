"""The after-sales case machines (domain/cases.py): every type's allowed moves, and the refusals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.errors import FailedPrecondition, InvalidArgument
from messaging.domain.cases import (
    Case,
    CaseSla,
    CaseState,
    CaseTransitionRefused,
    CaseType,
    Money,
    allowed_next_states,
    states_of,
    validate_case,
)
from messaging.domain.conversation import Priority

S = CaseState
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

# The contract's table (cases.proto), written out by hand: the main path of each type.
MAIN_PATHS = {
    CaseType.RETURN: [
        S.OPEN, S.IN_REVIEW, S.APPROVED, S.AWAITING_RETURN, S.ITEM_RECEIVED, S.REFUNDED, S.CLOSED
    ],
    CaseType.EXCHANGE: [
        S.OPEN, S.IN_REVIEW, S.APPROVED, S.AWAITING_RETURN, S.ITEM_RECEIVED, S.RESHIPPED, S.CLOSED
    ],
    CaseType.REFUND: [S.OPEN, S.IN_REVIEW, S.APPROVED, S.REFUNDED, S.CLOSED],
    CaseType.COMPLAINT: [S.OPEN, S.IN_REVIEW, S.RESOLVED, S.CLOSED],
}  # fmt: skip


def expected_edges(case_type: CaseType) -> set[tuple[CaseState, CaseState]]:
    path = MAIN_PATHS[case_type]
    edges = set(itertools.pairwise(path))
    edges |= {(S.IN_REVIEW, S.REJECTED), (S.REJECTED, S.CLOSED)}
    before_closed = set(path[:-1]) | {S.REJECTED}
    edges |= {(state, S.CANCELLED) for state in before_closed}
    return edges


def a_case(case_type: CaseType, state: CaseState = S.OPEN) -> Case:
    return Case(
        id="c1",
        tenant_id="t1",
        type=case_type,
        state=state,
        customer="customers/k1",
        conversation_id="v1",
        order_external_id="A-1001",
        amount=None,
        reason="damaged",
        description="",
        assignee="",
        priority=Priority.NORMAL,
        created_at=T0,
        updated_at=T0,
        sla_due_at=T0 + timedelta(hours=48),
    )


@pytest.mark.parametrize("case_type", list(CaseType))
def test_every_pair_of_states_is_allowed_exactly_as_the_contract_says(case_type: CaseType) -> None:
    allowed = expected_edges(case_type)
    for here in CaseState:
        for there in CaseState:
            assert (there in allowed_next_states(case_type, here)) == ((here, there) in allowed), (
                case_type,
                here,
                there,
            )


@pytest.mark.parametrize("case_type", list(CaseType))
def test_the_main_path_walks_to_closed_recording_each_step(case_type: CaseType) -> None:
    case = a_case(case_type)
    at = T0
    for to in MAIN_PATHS[case_type][1:]:
        at += timedelta(hours=1)
        case, step = case.moved_to(to, case_name="cases/c1", actor="members/m1", note=" ok ", at=at)
        assert (step.to_state, step.actor, step.note, step.at) == (to, "members/m1", "ok", at)
    assert case.state is S.CLOSED
    assert [t.to_state for t in case.transitions] == MAIN_PATHS[case_type][1:]
    assert case.closed_at == at
    assert case.time_to_resolve() == at - T0
    assert case.version == len(MAIN_PATHS[case_type])
    assert case.allowed_next_states == ()


@pytest.mark.parametrize("case_type", list(CaseType))
def test_a_rejected_case_can_only_close_or_be_cancelled(case_type: CaseType) -> None:
    case = a_case(case_type, S.IN_REVIEW)
    case, _ = case.moved_to(S.REJECTED, case_name="cases/c1", actor="system", note="", at=T0)
    assert case.allowed_next_states == (S.CLOSED, S.CANCELLED)


@pytest.mark.parametrize("case_type", list(CaseType))
def test_every_non_final_state_can_be_cancelled_and_final_states_go_nowhere(
    case_type: CaseType,
) -> None:
    for state in states_of(case_type):
        can_cancel = S.CANCELLED in allowed_next_states(case_type, state)
        assert can_cancel == (not state.is_final), state
    assert allowed_next_states(case_type, S.CLOSED) == ()
    assert allowed_next_states(case_type, S.CANCELLED) == ()


def test_states_a_type_never_reaches_are_not_in_its_machine() -> None:
    assert S.RESHIPPED not in states_of(CaseType.RETURN)
    assert S.REFUNDED not in states_of(CaseType.EXCHANGE)
    assert S.AWAITING_RETURN not in states_of(CaseType.REFUND)
    assert S.APPROVED not in states_of(CaseType.COMPLAINT)


def test_a_refused_move_names_the_allowed_states_and_changes_nothing() -> None:
    case = a_case(CaseType.REFUND)
    with pytest.raises(CaseTransitionRefused) as refused:
        case.moved_to(S.REFUNDED, case_name="cases/c1", actor="members/m1", note="", at=T0)
    error = refused.value
    assert isinstance(error, FailedPrecondition)
    assert error.reason == "CASE_TRANSITION_NOT_ALLOWED"
    assert "IN_REVIEW, CANCELLED" in error.message
    assert "OPEN to REFUNDED" in error.message
    assert error.metadata["allowedNextStates"] == "IN_REVIEW,CANCELLED"
    (violation,) = error.violations
    assert (violation.type, violation.subject) == ("CASE_STATE", "cases/c1")
    assert "IN_REVIEW, CANCELLED" in violation.description
    assert case.state is S.OPEN
    assert case.transitions == ()


def test_a_closed_case_says_it_is_final() -> None:
    case = a_case(CaseType.COMPLAINT, S.CLOSED)
    with pytest.raises(CaseTransitionRefused, match="none \\(the case is final\\)"):
        case.moved_to(S.OPEN, case_name="cases/c1", actor="system", note="", at=T0)


def test_a_note_longer_than_2000_characters_is_refused() -> None:
    with pytest.raises(InvalidArgument) as bad:
        a_case(CaseType.RETURN).moved_to(
            S.IN_REVIEW, case_name="cases/c1", actor="system", note="x" * 2001, at=T0
        )
    assert bad.value.violations[0].field == "note"


def test_validation_names_every_bad_field() -> None:
    case = a_case(CaseType.RETURN)
    from dataclasses import replace

    bad_case = replace(
        case,
        customer="",
        order_external_id="",
        reason="r" * 501,
        amount=Money("euro", -5, 0),
    )
    with pytest.raises(InvalidArgument) as bad:
        validate_case(bad_case)
    fields = {v.field for v in bad.value.violations}
    assert fields == {
        "case.customer",
        "case.order_external_id",
        "case.reason",
        "case.amount.currency_code",
        "case.amount.units",
    }


def test_a_complaint_needs_no_order() -> None:
    from dataclasses import replace

    validate_case(replace(a_case(CaseType.COMPLAINT), order_external_id=""))


def test_sla_per_type_with_a_default() -> None:
    sla = CaseSla.parse("return=72h, complaint=1d,default=24h")
    assert sla.due(CaseType.RETURN, T0) == T0 + timedelta(hours=72)
    assert sla.due(CaseType.COMPLAINT, T0) == T0 + timedelta(days=1)
    assert sla.due(CaseType.REFUND, T0) == T0 + timedelta(hours=24)
    assert CaseSla.parse("").due(CaseType.EXCHANGE, T0) == T0 + timedelta(hours=48)


@pytest.mark.parametrize("spec", ["returns=72h", "return=0h", "return=3w", "return"])
def test_a_bad_sla_setting_is_refused_naming_the_part(spec: str) -> None:
    with pytest.raises(ValueError, match="case SLA"):
        CaseSla.parse(spec)


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "eur", "EURO", ""])
def test_an_amount_names_an_iso_4217_currency(code: str) -> None:
    """Three capitals are not enough: a made-up or non-money code is refused."""
    from dataclasses import replace

    with pytest.raises(InvalidArgument) as bad:
        validate_case(replace(a_case(CaseType.RETURN), amount=Money(code, 5, 0)))
    assert [v.field for v in bad.value.violations] == ["case.amount.currency_code"]
    validate_case(replace(a_case(CaseType.RETURN), amount=Money("VND", 50_000, 0)))
