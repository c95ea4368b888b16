"""What rules announces when a rule fires, as the domain sees it.

``run_rules`` stages these (``uow.emit``); the unit of work turns each into the
event of the contract (``rule.fired``, ``rule.action.tag``) with
``adapters/mapping.event_pb``, so the app layer builds no proto.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.domain.actions import Action


@dataclass(frozen=True)
class RuleFired:
    """A rule's condition held for a customer: run ``run_id`` of version ``rule_version``."""

    rule_id: str
    rule_version: int
    run_id: str
    trigger_event_id: str  # the event that triggered the rule
    customer: str  # "customers/{customer}", as the trigger named it


@dataclass(frozen=True)
class RuleActionTagRequested:
    """A fired rule's add_tag action: tag the customer with these labels (display names)."""

    rule_id: str
    run_id: str
    customer: str
    tag_labels: tuple[str, ...]


@dataclass(frozen=True)
class ActionRequested:
    """A fired rule's action ``action_index``: one ``rule.action.*`` event for the
    service that applies it (``rule.action.webhook`` for rules' own webhook worker,
    whose ``body`` is the JSON it posts)."""

    rule_id: str
    run_id: str
    customer: str
    conversation: str  # "" when the trigger had none
    action_index: int
    action: Action
    order_external_id: str = ""
    body: bytes = b""


@dataclass(frozen=True)
class RuleAutoDisabled:
    """Rules disabled a rule (new version ``rule_version``) because its actions
    failed ``failures`` times in a row; its owners are to be told."""

    rule_id: str
    rule_version: int
    display_name: str
    failures: int
    last_error: str
    run_id: str
    owners: tuple[str, ...]  # member ids
    reason: str = "ACTION_FAILURES"


RulesEvent = RuleFired | RuleActionTagRequested | ActionRequested | RuleAutoDisabled
