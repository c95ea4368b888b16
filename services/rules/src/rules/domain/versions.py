"""Every change of a rule is a new version (core_loop §5).

A version keeps the rule's whole content as it was; a rollback makes a new
version with an earlier version's content (its enabled flag included), so
history only grows and runs keep naming the version they used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from rules.domain.model import Rule

# The fields UpdateRule may change (AIP-134 paths of crosstalk.rules.v1.Rule).
UPDATABLE_FIELDS = (
    "display_name",
    "description",
    "trigger",
    "condition",
    "actions",
    "priority",
    "stop_processing",
    "enabled",
    "cooldown",
    "rollout_percent",
    "time_trigger",
    "shadow",
)

# Content a new version takes from the version rolled back to; identity,
# creation and bookkeeping stay the current rule's.
_KEPT_ON_ROLLBACK = ("id", "tenant_id", "creator", "created_at")


@dataclass(frozen=True)
class RuleVersion:
    """The rule as it was at ``rule.version``, who made that change and when."""

    rule: Rule
    author: str  # member id
    created_at: datetime


def next_version(current: Rule, changed: Rule, now: datetime) -> Rule:
    """``changed`` as the version after ``current``."""
    return replace(
        changed,
        id=current.id,
        tenant_id=current.tenant_id,
        creator=current.creator,
        created_at=current.created_at,
        version=current.version + 1,
        updated_at=now,
    )


def rolled_back(current: Rule, earlier: Rule, now: datetime) -> Rule:
    """A new version of ``current`` holding ``earlier``'s content."""
    kept = {name: getattr(current, name) for name in _KEPT_ON_ROLLBACK}
    return next_version(current, replace(earlier, **kept), now)
