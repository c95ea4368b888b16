"""Small SQL helpers shared by identity's repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past


def after_created(created_at: Any, row_id: Any, after: list[str]) -> ColumnElement[bool] | None:
    """Rows after the keyset position (created_at, id) a page token carries."""
    if not after:
        return None
    return past([created_at, row_id], [datetime.fromisoformat(after[0]), after[1]])


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def rowcount(result: Any) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def like_escaped(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere (escape character: ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
