"""Rules and how they are matched against an event's facts (pure Python)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from crosstalk_common.conditions.evaluate import evaluate, explain
from crosstalk_common.conditions.model import Node
from crosstalk_common.errors import FieldViolation, InvalidArgument


class Trigger(Enum):
    MESSAGE_RECEIVED = "message_received"


@dataclass(frozen=True)
class AddTag:
    tags: tuple[str, ...]


Action = AddTag


@dataclass(frozen=True)
class Rule:
    id: str
    tenant_id: str
    display_name: str
    trigger: Trigger
    condition: Node | None
    actions: tuple[Action, ...]
    priority: int = 0
    stop_processing: bool = False
    enabled: bool = True
    cooldown_seconds: int = 0
    rollout_percent: int = 100
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The condition as the client sent it (serialized), to give it back unchanged.
    condition_blob: bytes = field(default=b"", repr=False)

    def validate(self) -> None:
        problems = []
        if not self.display_name.strip():
            problems.append(FieldViolation("rule.display_name", "must not be empty"))
        if not self.actions:
            problems.append(FieldViolation("rule.actions", "a rule needs at least one action"))
        for i, action in enumerate(self.actions):
            if isinstance(action, AddTag) and not [t for t in action.tags if t.strip()]:
                problems.append(
                    FieldViolation(f"rule.actions[{i}].add_tag.tags", "name at least one tag")
                )
        if not 0 <= self.rollout_percent <= 100:
            problems.append(FieldViolation("rule.rollout_percent", "must be between 0 and 100"))
        if self.cooldown_seconds < 0:
            problems.append(FieldViolation("rule.cooldown", "must not be negative"))
        if problems:
            raise InvalidArgument(problems)

    def in_rollout(self, subject: str) -> bool:
        """Stable per (rule, customer): the same customer stays in or out."""
        if self.rollout_percent >= 100:
            return True
        digest = hashlib.sha256(f"{self.id}:{subject}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < self.rollout_percent


@dataclass(frozen=True)
class Match:
    rule: Rule
    explanation: tuple[str, ...]


def match_rules(rules: Sequence[Rule], facts: Mapping[str, Any], *, subject: str) -> list[Match]:
    """The enabled rules that fire for these facts, in priority order.

    A matching rule with ``stop_processing`` ends the evaluation.
    """
    matches = []
    for rule in sorted(rules, key=lambda r: (r.priority, r.created_at or datetime.min, r.id)):
        if not rule.enabled or not rule.in_rollout(subject):
            continue
        if rule.condition is not None and not evaluate(rule.condition, facts):
            continue
        lines = (
            tuple(explain(rule.condition, facts))
            if rule.condition is not None
            else ("no condition",)
        )
        matches.append(Match(rule, lines))
        if rule.stop_processing:
            break
    return matches
