"""A rule's actions on a customer (tag, untag, score, stage), each reported back.

The rules engine asks with rule.action.* events; this applies the action
with the use case a person's request would run (acting as the rule), then
stages customer.rule_action_completed: SUCCEEDED, SKIPPED (the customer is
gone, or there was nothing to do) or FAILED (the action cannot succeed, as a
score change out of bounds). Both run in units of work of the consumer's
transaction (``bus.use_case_handler``), so the action's effects, its report
and the inbox entry of the event commit together, once.

A score action is recorded under a request id made of the run and the
action's index, so the same action asked twice (a rule run replayed under
new event ids) changes the score once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from crosstalk_common.errors import FailedPrecondition, InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lifecycle import LifecycleStages
from customers.app.ports import UnitOfWork
from customers.app.score_changes import ScoreAdjustments
from customers.app.tags import TagLabels, TagService
from customers.domain.events import RuleActionCompleted, RuleActionOutcome
from customers.domain.model import Customer, LifecycleStage
from customers.domain.names import customer_name

log = logging.getLogger(__name__)

# A rule acts on any customer of its tenant, under its own name ("rules/{rule}").
_RULE_SCOPE = Visibility.everything()


@dataclass(frozen=True)
class RuleAction:
    """Which action of which rule run this is, on which customer."""

    tenant_id: str
    rule: str
    run: str
    action_index: int
    action_type: str  # the event's type, e.g. "rule.action.tag"
    customer_id: str
    cause_event_id: str

    @property
    def actor(self) -> str:
        return self.rule or "system"

    @property
    def request_id(self) -> str:
        """The same for every delivery of this action of this run (at most 64 characters)."""
        key = f"{self.run}#{self.action_index}".encode()
        return "rule-action:" + hashlib.sha256(key).hexdigest()[:40]


@dataclass(frozen=True)
class RuleActions:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def tag(self, action: RuleAction, labels: list[str], *, remove: bool) -> None:
        async def apply() -> Customer:
            return await TagService(self.new_uow).change_customer_tags(
                action.tenant_id,
                _RULE_SCOPE,
                action.customer_id,
                TagLabels(labels),
                remove=remove,
                actor=action.actor,
                cause_event_id=action.cause_event_id,
            )

        await self._run(action, apply)

    async def score(self, action: RuleAction, delta: int, reason: str) -> None:
        async def apply() -> Customer:
            return await ScoreAdjustments(self.new_uow).adjust_score(
                action.tenant_id,
                _RULE_SCOPE,
                action.customer_id,
                delta,
                reason or f"rule {action.rule}",
                actor=action.actor,
                request_id=action.request_id,
                cause_event_id=action.cause_event_id,
            )

        await self._run(action, apply)

    async def stage(self, action: RuleAction, stage: LifecycleStage | None) -> None:
        if stage is None:
            await self.report(action, RuleActionOutcome.SKIPPED, "no lifecycle stage given")
            return
        chosen = stage

        async def apply() -> Customer:
            return await LifecycleStages(self.new_uow).set_lifecycle_stage(
                action.tenant_id,
                _RULE_SCOPE,
                action.customer_id,
                chosen,
                f"rule {action.rule}" if action.rule else "",
                actor=action.actor,
                cause_event_id=action.cause_event_id,
            )

        await self._run(action, apply)

    async def _run(self, action: RuleAction, apply: Callable[[], Awaitable[Customer]]) -> None:
        """Apply, then report how it went. An action that can never succeed (the
        customer is gone, the change is refused) is reported, not retried."""
        try:
            customer = await apply()
        except NotFound as exc:
            log.warning("skipping %s of %s: %s", action.action_type, action.run, exc)
            await self.report(action, RuleActionOutcome.SKIPPED, str(exc))
            return
        except (InvalidArgument, FailedPrecondition) as exc:
            log.warning("%s of %s failed: %s", action.action_type, action.run, exc)
            await self.report(action, RuleActionOutcome.FAILED, str(exc))
            return
        await self.report(action, RuleActionOutcome.SUCCEEDED, result=customer_name(customer.id))

    async def report(
        self, action: RuleAction, outcome: RuleActionOutcome, reason: str = "", result: str = ""
    ) -> None:
        async with self.new_uow() as uow:
            await uow.emit(action.tenant_id, completed(action, outcome, reason, result))
            await uow.commit()


def completed(
    action: RuleAction, outcome: RuleActionOutcome, reason: str = "", result: str = ""
) -> RuleActionCompleted:
    """customer.rule_action_completed: how the action went."""
    return RuleActionCompleted(
        rule=action.rule,
        run=action.run,
        action_index=action.action_index,
        action_type=action.action_type,
        outcome=outcome,
        reason=reason[:500],
        result=result,
    )
