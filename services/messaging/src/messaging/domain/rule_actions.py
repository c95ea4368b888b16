"""Rule actions messaging applies (core_loop §3): how each one ended.

A rule action is named by its run and its index in the run (``action_index``);
messaging applies each at most once and reports the outcome with
``rule.action.completed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RuleActionOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Nothing to do: already applied, the subject is gone, blacklisted ...
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RuleActionKey:
    """Names one action of one rule run."""

    tenant_id: str
    run: str  # "rules/{rule}/runs/{run}" or the run's id, as rules sends it
    action_index: int


@dataclass(frozen=True)
class RuleActionResult:
    """How applying one action ended; ``result`` names what it made
    (``conversations/{c}/messages/{m}``, ``cases/{id}`` ...)."""

    outcome: RuleActionOutcome
    reason: str = ""
    result: str = ""

    @classmethod
    def succeeded(cls, result: str = "") -> RuleActionResult:
        return cls(RuleActionOutcome.SUCCEEDED, "", result)

    @classmethod
    def failed(cls, reason: str) -> RuleActionResult:
        return cls(RuleActionOutcome.FAILED, reason)

    @classmethod
    def skipped(cls, reason: str) -> RuleActionResult:
        return cls(RuleActionOutcome.SKIPPED, reason)
