"""A customer's score moved by an amount in SQL, kept within the domain's limit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, case, cast
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.domain.score import SCORE_LIMIT
from customers.adapters.tables import customers


def score_plus(delta: Any) -> ColumnElement[int]:
    """score + delta, stopped at ±SCORE_LIMIT; added in 8 bytes, so the sum of a
    score near the limit and a large delta does not overflow PostgreSQL's integer."""
    total = cast(customers.c.score, BigInteger) + cast(delta, BigInteger)
    return case(
        (total > SCORE_LIMIT, SCORE_LIMIT),
        (total < -SCORE_LIMIT, -SCORE_LIMIT),
        else_=total,
    )
