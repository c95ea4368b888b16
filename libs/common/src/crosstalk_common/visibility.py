"""Which records a caller may see: the data scope as plain data (no framework)."""

from __future__ import annotations

from dataclasses import dataclass

from crosstalk_common.permissions import DataScope


@dataclass(frozen=True)
class Visibility:
    scope: DataScope
    member_id: str = ""
    departments: frozenset[str] = frozenset()

    @classmethod
    def everything(cls) -> Visibility:
        """For the system itself (event consumers), never for a caller."""
        return cls(DataScope.ALL)
