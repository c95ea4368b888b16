"""What rules announces when a rule fires, as the domain sees it.

``run_rules`` stages these (``uow.emit``); the unit of work turns each into the
event of the contract (``rule.fired``, ``rule.action.tag``) with
``adapters/mapping.event_pb``, so the app layer builds no proto.
"""

from __future__ import annotations

from dataclasses import dataclass


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


RulesEvent = RuleFired | RuleActionTagRequested
