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
from crosstalk_common.domain.score import SCORE_LIMIT
from crosstalk_common.errors import FieldViolation, InvalidArgument
from rules.domain.actions import Action, AddTag, AdjustScore

# What one rule may hold. MAX_RULE_BYTES bounds a whole rule, so that a page of
# MAX_RULES_PER_PAGE rules stays far below the gateway's response buffer (ADR 0016).
MAX_DISPLAY_NAME_LENGTH = 200
MAX_COOLDOWN_SECONDS = 400 * 24 * 3600  # as a timer's delay
MAX_ACTIONS = 20
MAX_TAGS_PER_ACTION = 50
MAX_TAG_LENGTH = 64
MAX_RULE_BYTES = 32 * 1024
MAX_RULES_PER_PAGE = 50


class Trigger(Enum):
    """What wakes a rule up (``crosstalk.rules.v1.Trigger``); the value is stored."""

    MESSAGE_RECEIVED = "message_received"
    CUSTOMER_CREATED = "customer_created"
    CUSTOMER_UPDATED = "customer_updated"
    CUSTOMER_TAGGED = "customer_tagged"
    CUSTOMER_UNTAGGED = "customer_untagged"
    CUSTOMER_TIER_CHANGED = "customer_tier_changed"
    CUSTOMER_STAGE_CHANGED = "customer_stage_changed"
    CUSTOMER_SCORED = "customer_scored"
    ORDER_RECORDED = "order_recorded"
    CONVERSATION_CREATED = "conversation_created"
    CONVERSATION_STATUS_CHANGED = "conversation_status_changed"
    CONVERSATION_ASSIGNED = "conversation_assigned"
    CASE_OPENED = "case_opened"
    CASE_TRANSITIONED = "case_transitioned"
    CSAT_SUBMITTED = "csat_submitted"
    # Time triggers: fired by durable timers (core_loop §4), not by an event.
    NO_REPLY_TIMEOUT = "no_reply_timeout"
    CASE_OPEN_TIMEOUT = "case_open_timeout"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class TimeTrigger:
    """When a timer trigger fires: after ``delay_seconds`` (NO_REPLY_TIMEOUT,
    CASE_OPEN_TIMEOUT) or on a five-field ``cron`` read in ``time_zone`` (SCHEDULE)."""

    delay_seconds: int = 0
    cron: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class SegmentRef:
    """A saved segment whose condition a rule copied at save, and which version;
    ``condition_blob`` is that condition over the rule's facts, serialized."""

    segment_id: str
    version: int
    condition_blob: bytes = field(default=b"", repr=False)


def in_rollout(rule_id: str, subject: str, percent: int) -> bool:
    """The stable cohort of a rule: a customer's bucket (0-99, a hash of rule id and
    customer) is below the percentage. Raising it keeps everyone already in."""
    if percent >= 100:
        return True
    digest = hashlib.sha256(f"{rule_id}:{subject}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def etag_of(version: int) -> str:
    return f'W/"{version}"'


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
    # Shadow mode: evaluated and recorded (SHADOW_MATCHED), no action requested.
    shadow: bool = False
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The condition as the client sent it (serialized), to give it back unchanged.
    condition_blob: bytes = field(default=b"", repr=False)
    description: str = ""
    time_trigger: TimeTrigger | None = None
    creator: str = ""  # the member id of who created it
    # Saved segments the condition names ("customer.segment"), copied at save:
    # ``condition`` is the tree with their conditions in place (what is evaluated).
    segments: tuple[SegmentRef, ...] = ()

    @property
    def etag(self) -> str:
        """Changes with every version (every change of a rule is a new version)."""
        return etag_of(self.version)

    def validate(self) -> None:
        problems = []
        if not self.display_name.strip():
            problems.append(FieldViolation("rule.display_name", "must not be empty"))
        elif len(self.display_name) > MAX_DISPLAY_NAME_LENGTH:
            problems.append(
                FieldViolation(
                    "rule.display_name", f"must be at most {MAX_DISPLAY_NAME_LENGTH} characters"
                )
            )
        if not self.actions:
            problems.append(FieldViolation("rule.actions", "a rule needs at least one action"))
        elif len(self.actions) > MAX_ACTIONS:
            problems.append(
                FieldViolation("rule.actions", f"a rule has at most {MAX_ACTIONS} actions")
            )
        for i, action in enumerate(self.actions):
            if isinstance(action, AddTag):
                problems.extend(_tag_problems(action.tags, f"rule.actions[{i}].add_tag.tags"))
            elif isinstance(action, AdjustScore) and not 0 < abs(action.delta) <= SCORE_LIMIT:
                problems.append(
                    FieldViolation(
                        f"rule.actions[{i}].adjust_score.delta",
                        f"must not be 0, and between -{SCORE_LIMIT:,} and {SCORE_LIMIT:,}",
                    )
                )
        if not 1 <= self.rollout_percent <= 100:
            problems.append(FieldViolation("rule.rollout_percent", "must be between 1 and 100"))
        if not 0 <= self.cooldown_seconds <= MAX_COOLDOWN_SECONDS:
            problems.append(FieldViolation("rule.cooldown", "must be from 0 to 400 days"))
        if not problems and self.size_in_bytes() > MAX_RULE_BYTES:
            problems.append(
                FieldViolation(
                    "rule",
                    f"a rule is at most {MAX_RULE_BYTES // 1024} KiB (name, condition and "
                    f"actions together), this one is {self.size_in_bytes():,} bytes; split it",
                )
            )
        if problems:
            raise InvalidArgument(problems)

    def size_in_bytes(self) -> int:
        """What the rule's content takes: its name, condition and tags in UTF-8."""
        texts = [
            self.display_name,
            self.description,
            *(tag for action in self.actions for tag in getattr(action, "tags", ())),
        ]
        return len(self.condition_blob) + sum(len(text.encode()) for text in texts)

    def in_rollout(self, subject: str) -> bool:
        """Stable per (rule, customer): the same customer stays in or out."""
        return in_rollout(self.id, subject, self.rollout_percent)


def _tag_problems(tags: Sequence[str], path: str) -> list[FieldViolation]:
    if not [t for t in tags if t.strip()]:
        return [FieldViolation(path, "name at least one tag")]
    if len(tags) > MAX_TAGS_PER_ACTION:
        return [FieldViolation(path, f"an action names at most {MAX_TAGS_PER_ACTION} tags")]
    return [
        FieldViolation(f"{path}[{i}]", f"a tag name has at most {MAX_TAG_LENGTH} characters")
        for i, tag in enumerate(tags)
        if len(tag) > MAX_TAG_LENGTH
    ]


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
