"""Time triggers on durable timers (core_loop §4).

``TimerArming`` runs in the consumer's unit of work, so a timer is armed (or
cancelled) in the same transaction that consumes the event starting (or
ending) the wait. ``TimerPoller`` is the worker that fires them: each pass
claims a batch of due timers, re-checks them against the facts as they are
now, fires the rule through the engine (``Engine.run_in`` for one rule, the
same evaluation, runs, counters and ``rule.action.*`` events as for an event)
and settles them, all in one transaction. Every id the firing makes is derived
from the timer's key: the occurrence's (the evaluation log's), the run's
(``Occurrence.run_key``) and each outbox event's (its ``Nats-Msg-Id``), so a
timer fires once: a crash before the commit leaves it pending, a crash after
has it fired, and a second writer of the same firing would collide on the
run's and the events' primary keys.

The clock is injected (tests move time instead of waiting).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.bus.causation import Causation
from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.enabled_rules import EnabledRules
from rules.app.ports import RulesRepository, UnitOfWork
from rules.app.running import Engine, Occurrence
from rules.domain.evaluation import Outcome
from rules.domain.events import RulesEvent
from rules.domain.model import Rule, Trigger
from rules.domain.runs import Counter, LoggedTrigger, Run
from rules.domain.settings import RuleSettings
from rules.domain.timers import (
    CaseEnded,
    CaseOpened,
    ConversationAnswered,
    CustomerWaiting,
    Timer,
    TimerSignal,
    case_facts_at,
    case_open_timer,
    derived_id,
    next_occurrence,
    no_reply_timer,
    schedule_timer,
    still_waiting,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class TimerArming:
    """Arms and cancels timers for the event a consumer is applying."""

    def __init__(self, enabled_rules: EnabledRules, *, clock: Clock = utc_now) -> None:
        self._enabled_rules = enabled_rules
        self._clock = clock

    async def apply_in(self, uow: UnitOfWork, tenant_id: str, signal: TimerSignal) -> int:
        """Arms or cancels the signal's timers inside the consumer's ``uow``; how many."""
        now = self._clock()
        if isinstance(signal, CustomerWaiting):
            rules = await self._rules(uow, tenant_id, Trigger.NO_REPLY_TIMEOUT)
            return await uow.timers.arm(
                [
                    no_reply_timer(
                        rule,
                        conversation=signal.conversation,
                        customer=signal.customer,
                        last_agent_reply=signal.last_agent_reply,
                        waiting_since=signal.received_at,
                    )
                    for rule in rules
                ]
            )
        if isinstance(signal, ConversationAnswered):
            return await uow.timers.cancel(
                tenant_id, signal.conversation, (Trigger.NO_REPLY_TIMEOUT,), now
            )
        if isinstance(signal, CaseOpened):
            rules = await self._rules(uow, tenant_id, Trigger.CASE_OPEN_TIMEOUT)
            return await uow.timers.arm(
                [
                    case_open_timer(
                        rule,
                        case=signal.case,
                        customer=signal.customer,
                        conversation=signal.conversation,
                        opened_at=signal.opened_at,
                        facts=signal.facts,
                    )
                    for rule in rules
                ]
            )
        if isinstance(signal, CaseEnded):
            return await uow.timers.cancel(
                tenant_id, signal.case, (Trigger.CASE_OPEN_TIMEOUT,), now
            )
        return 0

    async def _rules(self, uow: UnitOfWork, tenant_id: str, trigger: Trigger) -> list[Rule]:
        compiled = await self._enabled_rules.of(uow.rules, tenant_id, trigger)
        return [
            r
            for r in compiled.rules
            if r.time_trigger is not None and r.time_trigger.delay_seconds > 0
        ]


@dataclass
class PassResult:
    claimed: int = 0
    fired: int = 0
    cancelled: int = 0
    # Schedule occurrences: customers evaluated, and occurrences left to go on.
    customers: int = 0
    resumed: int = 0
    runs: list[Run] = field(default_factory=list)


class TimerPoller:
    """Fires due timers, a batch per transaction (a worker of the service)."""

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        engine: Engine,
        *,
        clock: Clock = utc_now,
        batch_size: int = 500,
        schedule_batch: int = 500,
        poll_interval: float = 1.0,
        schedule_every: float = 30.0,
        checkpoint: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._new_uow = new_uow
        self._engine = engine
        self._clock = clock
        self._batch_size = batch_size
        self._schedule_batch = schedule_batch
        self._poll_interval = poll_interval
        self._schedule_every = schedule_every
        self._checkpoint = checkpoint
        self._schedules_armed_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            busy = False
            try:
                now = self._clock()
                last = self._schedules_armed_at
                if last is None or (now - last).total_seconds() >= self._schedule_every:
                    await self.arm_schedules()
                    self._schedules_armed_at = now
                result = await self.fire_due()
                busy = result.claimed >= self._batch_size or result.resumed > 0
            except Exception:
                log.exception("timer poller pass failed")
            if not busy:
                await sleep_unless_stopped(stop, self._poll_interval)

    async def arm_schedules(self) -> int:
        """Arm the next occurrence of every enabled schedule (of its current
        version); an occurrence already armed stays as it is."""
        now = self._clock()
        async with self._new_uow() as uow:
            rules = await uow.timers.schedule_rules()
            zones = await uow.timers.tenant_zones({r.tenant_id for r in rules})
            timers = []
            for rule in rules:
                try:
                    occurrence = next_occurrence(rule, now, zones.get(rule.tenant_id, ""))
                except (ValueError, KeyError):
                    log.warning("schedule of rule %s does not parse; not armed", rule.id)
                    continue
                timers.append(schedule_timer(rule, occurrence))
            armed = await uow.timers.arm(timers)
            await uow.commit()
        return armed

    async def fire_due(self) -> PassResult:
        """One batch: claim, re-check, fire, settle, commit."""
        now = self._clock()
        result = PassResult()
        async with self._new_uow() as uow:
            claimed = await uow.timers.claim_due(now, self._batch_size)
            result.claimed = len(claimed)
            if not claimed:
                return result
            self._checkpoint("claimed")
            batch = _Batch(uow)
            await self._prefetch(uow, batch, claimed)
            fired: list[str] = []
            cancelled: list[str] = []
            advanced: dict[str, str] = {}
            budget = self._batch_size * self._schedule_batch
            for timer in claimed:
                rule = await self._rule_of(batch, timer)
                if rule is None:
                    cancelled.append(timer.id)
                    continue
                if timer.trigger is Trigger.SCHEDULE:
                    if budget <= 0:
                        advanced[timer.id] = timer.cursor  # not this pass
                        continue
                    done, cursor, count = await self._fire_schedule(
                        uow, batch, timer, rule, min(budget, self._schedule_batch)
                    )
                    budget -= count
                    result.customers += count
                    if done:
                        fired.append(timer.id)
                    else:
                        advanced[timer.id] = cursor
                    continue
                if timer.trigger is Trigger.NO_REPLY_TIMEOUT and not still_waiting(
                    timer,
                    await batch.projections.conversation(timer.tenant_id, timer.conversation),
                ):
                    cancelled.append(timer.id)
                    continue
                facts = (
                    case_facts_at(timer, now) if timer.trigger is Trigger.CASE_OPEN_TIMEOUT else {}
                )
                await self._run(batch, timer, rule, timer.customer, facts)
                fired.append(timer.id)
            await batch.flush()
            await uow.timers.settle(fired=fired, cancelled=cancelled, advanced=advanced, at=now)
            await uow.commit()
            result.fired, result.cancelled = len(fired), len(cancelled)
            result.resumed = len(advanced)
            result.runs = batch.runs.added
        self._checkpoint("committed")
        return result

    async def _prefetch(self, uow: UnitOfWork, batch: _Batch, timers: Sequence[Timer]) -> None:
        customers: dict[str, set[str]] = defaultdict(set)
        conversations: dict[str, set[str]] = defaultdict(set)
        for t in timers:
            if t.customer:
                customers[t.tenant_id].add(t.customer)
            if t.conversation:
                conversations[t.tenant_id].add(t.conversation)
        for tenant, names in customers.items():
            batch.projections.prime_customers(
                tenant, names, await uow.timers.customers(tenant, names)
            )
        for tenant, names in conversations.items():
            batch.projections.prime_conversations(
                tenant, names, await uow.timers.conversations(tenant, names)
            )

    async def _rule_of(self, batch: _Batch, timer: Timer) -> Rule | None:
        """The rule the timer fires: the current enabled version (a schedule's
        only if it is still the version that armed it), else None (cancelled)."""
        revisions = cast(RulesRepository, batch.rules)  # the two methods of() calls
        compiled = await self._engine.enabled_rules.of(revisions, timer.tenant_id, timer.trigger)
        by_id = batch.rule_index(compiled.rules)
        rule = by_id.get(timer.rule_id)
        if rule is None:
            return None
        if timer.trigger is Trigger.SCHEDULE and rule.version != timer.rule_version:
            return None
        return rule

    async def _fire_schedule(
        self, uow: UnitOfWork, batch: _Batch, timer: Timer, rule: Rule, limit: int
    ) -> tuple[bool, str, int]:
        """One batch of a schedule's occurrence: (finished, cursor, customers)."""
        page = await uow.timers.customers_after(timer.tenant_id, timer.cursor, limit)
        batch.projections.prime_customers(timer.tenant_id, [name for name, _ in page], dict(page))
        for name, _ in page:
            await self._run(batch, replace(timer, customer=name), rule, name, {})
        cursor = page[-1][0] if page else timer.cursor
        return len(page) < limit, cursor, len(page)

    async def _run(
        self,
        batch: _Batch,
        timer: Timer,
        rule: Rule,
        customer: str,
        facts: Mapping[str, Any],
    ) -> None:
        subject = customer if timer.trigger is Trigger.SCHEDULE else ""
        batch.firing(timer.run_key(subject))
        occurrence = Occurrence(
            tenant_id=timer.tenant_id,
            trigger=timer.trigger,
            event_id=timer.event_id(subject),
            customer=customer,
            facts=facts,
            conversation=timer.conversation,
            occurred_at=timer.due_at,
            run_key=timer.run_key(subject),
        )
        # The batch answers everything run_in uses of a unit of work (see _Batch).
        await self._engine.run_in(cast(UnitOfWork, batch), occurrence, only_rules=(rule.id,))


# --- a claimed batch's unit of work, as the engine sees it -------------------------------

_UNKNOWN: Any = object()


class _Batch:
    """The poller's unit of work seen by ``Engine.run_in`` for a whole batch:
    reads answered from what was fetched for the batch (projections, settings,
    the rule revision), writes (runs, evaluation log, counters) kept and made
    in a few statements by ``flush``, and every event staged with an id
    derived from the firing timer's key."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.rules = _Revisions(uow)
        self.runs = _Runs(uow)
        self.projections = _Projections(uow)
        self.evaluation_log = _Log()
        self.statistics = _Statistics()
        self.settings = _Settings(uow)
        self._key = ""
        self._emitted = 0
        self._indexes: dict[int, dict[str, Rule]] = {}

    # What Engine.run_in reads of a UnitOfWork besides the above.
    @property
    def rule_versions(self) -> Any:
        return self._uow.rule_versions

    @property
    def timers(self) -> Any:
        return self._uow.timers

    def rule_index(self, rules: Sequence[Rule]) -> dict[str, Rule]:
        index = self._indexes.get(id(rules))
        if index is None:
            index = self._indexes[id(rules)] = {r.id: r for r in rules}
        return index

    def firing(self, key: str) -> None:
        """Events staged from now on are this firing's (ids derived from ``key``)."""
        self._key, self._emitted = key, 0

    async def emit(
        self, tenant_id: str, event: RulesEvent, *, causation: Causation | None = None
    ) -> str:
        event_id = derived_id("event", self._key, str(self._emitted))
        self._emitted += 1
        return await self._uow.emit_with_id(
            tenant_id, event, event_id=event_id, causation=causation
        )

    async def flush(self) -> None:
        await self._uow.timers.add_runs(self.runs.added)
        await self._uow.timers.log_many(self.evaluation_log.entries)
        for (tenant, hour), increments in self.statistics.kept.items():
            await self._uow.statistics.add(tenant, hour, increments)


class _Revisions:
    """The tenant's rule revision read once per batch; enabled rules as stored."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._rules = uow.rules
        self._revisions: dict[str, int] = {}

    async def revision(self, tenant_id: str) -> int:
        if tenant_id not in self._revisions:
            self._revisions[tenant_id] = await self._rules.revision(tenant_id)
        return self._revisions[tenant_id]

    async def enabled_for(self, tenant_id: str, trigger: Trigger) -> list[Rule]:
        return await self._rules.enabled_for(tenant_id, trigger)


class _Runs:
    def __init__(self, uow: UnitOfWork) -> None:
        self._runs = uow.runs
        self.added: list[Run] = []

    async def add_many(self, runs: Sequence[Run]) -> None:
        self.added.extend(runs)

    async def last_fired(
        self, tenant_id: str, rule_ids: Sequence[str], customer: str
    ) -> dict[str, datetime]:
        found = await self._runs.last_fired(tenant_id, rule_ids, customer)
        for run in self.added:  # fired earlier in this batch
            mine = run.customer == customer and run.rule_id in rule_ids
            if mine and run.outcome is Outcome.MATCHED:
                found[run.rule_id] = max(found.get(run.rule_id, run.created_at), run.created_at)
        return found


class _Projections:
    def __init__(self, uow: UnitOfWork) -> None:
        self._projections = uow.projections
        self._customers: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        self._conversations: dict[tuple[str, str], Mapping[str, Any] | None] = {}

    def prime_customers(
        self, tenant_id: str, names: Any, found: Mapping[str, Mapping[str, Any]]
    ) -> None:
        for name in names:
            self._customers[tenant_id, name] = found.get(name)

    def prime_conversations(
        self, tenant_id: str, names: Any, found: Mapping[str, Mapping[str, Any]]
    ) -> None:
        for name in names:
            self._conversations[tenant_id, name] = found.get(name)

    async def customer(self, tenant_id: str, customer: str) -> Mapping[str, Any] | None:
        kept = self._customers.get((tenant_id, customer), _UNKNOWN)
        if kept is _UNKNOWN:
            kept = self._customers[tenant_id, customer] = await self._projections.customer(
                tenant_id, customer
            )
        return kept  # type: ignore[no-any-return]

    async def conversation(self, tenant_id: str, conversation: str) -> Mapping[str, Any] | None:
        kept = self._conversations.get((tenant_id, conversation), _UNKNOWN)
        if kept is _UNKNOWN:
            kept = self._conversations[
                tenant_id, conversation
            ] = await self._projections.conversation(tenant_id, conversation)
        return kept  # type: ignore[no-any-return]

    async def save_customer(
        self, tenant_id: str, customer: str, version: int, facts: Mapping[str, Any]
    ) -> bool:
        raise AssertionError("a timer carries no customer snapshot")

    async def merge_conversation(
        self,
        tenant_id: str,
        conversation: str,
        customer: str,
        facts: Mapping[str, Any],
        at: datetime,
    ) -> Mapping[str, Any]:
        raise AssertionError("a timer carries no conversation facts")


class _Log:
    def __init__(self) -> None:
        self.entries: list[LoggedTrigger] = []

    async def append(self, entry: LoggedTrigger) -> None:
        self.entries.append(entry)


class _Statistics:
    def __init__(self) -> None:
        self.kept: dict[tuple[str, datetime], dict[str, dict[Counter, int]]] = {}

    async def add(
        self, tenant_id: str, hour: datetime, increments: Mapping[str, Mapping[Counter, int]]
    ) -> None:
        kept = self.kept.setdefault((tenant_id, hour), {})
        for rule_id, counts in increments.items():
            mine = kept.setdefault(rule_id, {})
            for counter, amount in counts.items():
                mine[counter] = mine.get(counter, 0) + amount


class _Settings:
    def __init__(self, uow: UnitOfWork) -> None:
        self._settings = uow.settings
        self._kept: dict[str, RuleSettings | None] = {}

    async def get(self, tenant_id: str) -> RuleSettings | None:
        if tenant_id not in self._kept:
            self._kept[tenant_id] = await self._settings.get(tenant_id)
        return self._kept[tenant_id]
