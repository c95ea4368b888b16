"""Names shared by the rules use cases (managing rules is app/managing.py,
running them app/running.py)."""

from __future__ import annotations

RESOURCE = "crosstalk.io/Rule"


def rule_name(rule_id: str) -> str:
    return f"rules/{rule_id}"
