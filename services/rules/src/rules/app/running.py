"""Running the tenant's rules on something that happened (core_loop §1-§3).

``Engine.run`` is what a consumer calls for a triggering event, in the
consumer's unit of work (so a redelivered event never fires a rule twice).
``Engine.run_in`` is the seam for time triggers: a timer poller builds an
``Occurrence`` for a subject (trigger, customer, conversation, facts) and
calls it in its own unit of work, optionally for one rule only; it gathers
the projected facts, evaluates, records runs and counters and requests the
actions exactly as for an event.

A fired rule emits ``rule.fired`` and one ``rule.action.*`` event per action,
each with explicit causation: its run, at the trigger's depth + 1 (the loop
guard reads it back on whatever applying the action emits).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crosstalk_common.bus.causation import Causation
from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.enabled_rules import EnabledRules
from rules.app.ports import UnitOfWork
from rules.domain.actions import CONVERSATION_ACTIONS, EVENT_TYPE_OF, CallWebhook, kind_of
from rules.domain.evaluation import (
    LoopContext,
    Outcome,
    Verdict,
    decide,
    facts_to_json,
    time_facts,
    trace_to_json,
)
from rules.domain.events import ActionRequested, RuleFired
from rules.domain.model import Rule, Trigger
from rules.domain.runs import ActionResult, ActionStatus, Counter, LoggedTrigger, Run, counters_of

# uuid5 namespace of the run ids derived from ``Occurrence.run_key``.
RUN_KEY_NAMESPACE = uuid.UUID("0b8f3f0e-8a43-4c55-b8a4-6d1c2e9f7a10")


def rule_name(rule_id: str) -> str:
    return f"rules/{rule_id}"


def run_name(rule_id: str, run_id: str) -> str:
    return f"rules/{rule_id}/runs/{run_id}"


@dataclass(frozen=True)
class Occurrence:
    """Something that happened to a customer, which may fire rules.

    ``facts`` are the event's own (``message.*``, ``order.*`` ...).
    ``customer_snapshot`` (version, customer facts) is the customer as the
    event carried it, kept in the projection when newer; ``conversation_facts``
    likewise merge into the conversation's projection. Facts not carried are
    read from the projections.
    """

    tenant_id: str
    trigger: Trigger
    event_id: str
    customer: str  # "customers/{id}"
    facts: Mapping[str, Any]
    conversation: str = ""
    occurred_at: datetime | None = None
    loop: LoopContext = field(default_factory=LoopContext)
    customer_snapshot: tuple[int, Mapping[str, Any]] | None = None
    conversation_facts: Mapping[str, Any] | None = None
    order_external_id: str = ""
    # A time trigger's firing (app/timers.py): the run's id is derived from this
    # key and the rule's, so a timer fires one run however often it is retried.
    run_key: str = ""


def hour_of(moment: datetime) -> datetime:
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


class Engine:
    """Evaluates a tenant's enabled rules (compiled per rule revision) on occurrences."""

    def __init__(
        self, enabled_rules: EnabledRules, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.enabled_rules = enabled_rules
        self._clock = clock

    async def run(
        self, new_uow: UnitOfWorkFactory[UnitOfWork], occurrence: Occurrence
    ) -> list[Run]:
        async with new_uow() as uow:
            runs = await self.run_in(uow, occurrence)
            await uow.commit()
        return runs

    async def facts_of(self, uow: UnitOfWork, occurrence: Occurrence) -> dict[str, Any]:
        """The facts a condition sees: projections (updated from the event first),
        the clock's in the tenant's zone, then the event's own."""
        tenant_id = occurrence.tenant_id
        facts: dict[str, Any] = {}
        customer_facts: Mapping[str, Any] | None = None
        if occurrence.customer_snapshot is not None:
            version, snapshot = occurrence.customer_snapshot
            kept = await uow.projections.save_customer(
                tenant_id, occurrence.customer, version, snapshot
            )
            customer_facts = (
                snapshot if kept else await uow.projections.customer(tenant_id, occurrence.customer)
            )
        elif occurrence.customer:
            customer_facts = await uow.projections.customer(tenant_id, occurrence.customer)
        if customer_facts:
            facts.update(customer_facts)
        if occurrence.conversation:
            if occurrence.conversation_facts is not None:
                conversation = await uow.projections.merge_conversation(
                    tenant_id,
                    occurrence.conversation,
                    occurrence.customer,
                    occurrence.conversation_facts,
                    occurrence.occurred_at or self._clock(),
                )
            else:
                conversation = (
                    await uow.projections.conversation(tenant_id, occurrence.conversation) or {}
                )
            facts.update(conversation)
        settings = await self.enabled_rules.settings_of(uow.rules, uow.settings, tenant_id)
        facts.update(time_facts(self._clock(), settings.calendar()))
        facts.update(occurrence.facts)
        return facts

    async def run_in(
        self,
        uow: UnitOfWork,
        occurrence: Occurrence,
        *,
        only_rules: Collection[str] = (),
    ) -> list[Run]:
        """Evaluate the tenant's enabled rules of the trigger (``only_rules``: just
        these ids) for the occurrence inside ``uow``; record what came of it,
        request the fired rules' actions. The caller commits."""
        tenant_id = occurrence.tenant_id
        now = self._clock()
        compiled = await self.enabled_rules.of(uow.rules, tenant_id, occurrence.trigger)
        facts = await self.facts_of(uow, occurrence)
        loop = occurrence.loop
        facts_json = facts_to_json(facts)
        await uow.evaluation_log.append(
            LoggedTrigger(
                event_id=occurrence.event_id,
                tenant_id=tenant_id,
                trigger=occurrence.trigger,
                customer=occurrence.customer,
                conversation=occurrence.conversation,
                facts=facts_json,
                occurred_at=occurrence.occurred_at or now,
                causing_run=loop.causing_run,
                causation_depth=loop.depth,
            )
        )
        rules: Sequence[Rule] = compiled.rules
        if only_rules:
            rules = [r for r in rules if r.id in only_rules]
        if not rules:
            return []
        if loop.ignored:
            await uow.statistics.add(
                tenant_id,
                hour_of(now),
                {r.id: {Counter.EVALUATED: 1, Counter.SUPPRESSED_LOOP_GUARD: 1} for r in rules},
            )
            return []
        evaluations = compiled.evaluate(facts, now=now)
        if only_rules:
            evaluations = [e for e in evaluations if e.rule.id in only_rules]
        cooling_ids = [e.rule.id for e in evaluations if e.matched and e.rule.cooldown_seconds]
        last = (
            await uow.runs.last_fired(tenant_id, cooling_ids, occurrence.customer)
            if cooling_ids and occurrence.customer
            else {}
        )

        def cooling(rule: Rule) -> bool:
            fired = last.get(rule.id)
            return fired is not None and now - fired < timedelta(seconds=rule.cooldown_seconds)

        verdicts = decide(
            evaluations,
            subject=occurrence.customer,
            loop=loop,
            cooling=cooling,
            blacklisted=bool(facts.get("customer.blacklisted")),
        )
        runs = []
        increments: dict[str, dict[Counter, int]] = {r.id: {Counter.EVALUATED: 1} for r in rules}
        for verdict in verdicts:
            for counter in counters_of(verdict.outcome):
                increments[verdict.rule.id][counter] = 1
            if verdict.outcome is Outcome.NOT_MATCHED:
                continue
            runs.append(await self._record(uow, occurrence, verdict, facts_json, now))
        await uow.runs.add_many(runs)
        await uow.statistics.add(tenant_id, hour_of(now), increments)
        return runs

    async def _record(
        self,
        uow: UnitOfWork,
        occurrence: Occurrence,
        verdict: Verdict,
        facts_json: Mapping[str, Any],
        now: datetime,
    ) -> Run:
        rule = verdict.rule
        run_id = (
            str(uuid.uuid5(RUN_KEY_NAMESPACE, f"{occurrence.run_key}/{rule.id}"))
            if occurrence.run_key
            else str(uuid.uuid4())
        )
        actions: tuple[ActionResult, ...] = ()
        if verdict.fired:
            actions = await self._request_actions(uow, occurrence, rule, run_id, facts_json)
        return Run(
            id=run_id,
            tenant_id=occurrence.tenant_id,
            rule_id=rule.id,
            rule_version=rule.version,
            trigger=occurrence.trigger,
            trigger_event_id=occurrence.event_id,
            customer=occurrence.customer,
            conversation=occurrence.conversation,
            outcome=verdict.outcome,
            summary=verdict.summary,
            facts=facts_json,
            trace=trace_to_json(verdict.trace) if verdict.trace is not None else None,
            actions=actions,
            created_at=now,
            causation_depth=occurrence.loop.depth,
        )

    async def _request_actions(
        self,
        uow: UnitOfWork,
        occurrence: Occurrence,
        rule: Rule,
        run_id: str,
        facts_json: Mapping[str, Any],
    ) -> tuple[ActionResult, ...]:
        tenant_id = occurrence.tenant_id
        causation = Causation(run_name(rule.id, run_id), occurrence.loop.depth + 1)
        await uow.emit(
            tenant_id,
            RuleFired(
                rule_id=rule.id,
                rule_version=rule.version,
                run_id=run_id,
                trigger_event_id=occurrence.event_id,
                customer=occurrence.customer,
            ),
            causation=causation,
        )
        results = []
        for index, action in enumerate(rule.actions):
            event_type = EVENT_TYPE_OF[type(action)]
            kind = kind_of(action)
            if isinstance(action, CONVERSATION_ACTIONS) and not occurrence.conversation:
                results.append(
                    ActionResult(
                        index,
                        kind,
                        event_type,
                        ActionStatus.SKIPPED,
                        error="the trigger concerns no conversation",
                    )
                )
                continue
            body = b""
            if isinstance(action, CallWebhook):
                body = webhook_body(occurrence, rule, run_id, index, facts_json)
            event_id = await uow.emit(
                tenant_id,
                ActionRequested(
                    rule_id=rule.id,
                    run_id=run_id,
                    customer=occurrence.customer,
                    conversation=occurrence.conversation,
                    action_index=index,
                    action=action,
                    order_external_id=occurrence.order_external_id,
                    body=body,
                ),
                causation=causation,
            )
            results.append(ActionResult(index, kind, event_type, event_id=event_id))
        return tuple(results)


def webhook_body(
    occurrence: Occurrence,
    rule: Rule,
    run_id: str,
    action_index: int,
    facts_json: Mapping[str, Any],
) -> bytes:
    """What a webhook action posts: the run, the rule, the trigger and its facts."""
    return json.dumps(
        {
            "run": run_name(rule.id, run_id),
            "rule": rule_name(rule.id),
            "rule_version": rule.version,
            "action_index": action_index,
            "trigger": occurrence.trigger.value,
            "trigger_event_id": occurrence.event_id,
            "customer": occurrence.customer,
            "conversation": occurrence.conversation,
            "facts": facts_json,
        },
        sort_keys=True,
        default=str,
    ).encode()
