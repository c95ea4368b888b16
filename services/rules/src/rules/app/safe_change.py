"""Safe change (core_loop §5): dry runs and backtests. Nothing acts, nothing is recorded.

**Dry run**: draft rules (or the tenant's rules of a trigger) are evaluated
against a sample: the facts given, over the message's, over the customer's as
rules projected them, over the clock's (the tenant's calendar). The answer
says, per rule in evaluation order, what came of it, the condition trace and
the actions that would run.

**Backtest**: the triggering facts the engine logged over a time range
(``EvaluationLog``) are replayed, in order, through the tenant's enabled rules
of each trigger as they are now (the live set), and again with each draft in
place of the rule it edits (or added, for a new rule). Cooldowns and
``stop_processing`` apply as in a live pass (a cooldown running at the start
of the range, from a recorded run, included); rollout cohorts are the rules'
own. Per rule: events evaluated, hits, customers hit, samples, the live
version's hits and what it actually fired (its recorded runs), and the
customers the draft adds and removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from crosstalk_common.errors import FieldViolation, InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from rules.app.managing import RuleManagement
from rules.app.ports import RuleFilter, UnitOfWork
from rules.app.use_cases import RESOURCE, rule_name
from rules.domain.actions import Action
from rules.domain.evaluation import (
    BusinessCalendar,
    LoopContext,
    Outcome,
    Verdict,
    evaluate_pass,
    facts_from_json,
    time_facts,
)
from rules.domain.model import Rule, Trigger
from rules.domain.runs import RunFilter

HIT_OUTCOMES = (Outcome.MATCHED, Outcome.SHADOW_MATCHED)
MAX_DRAFTS = 20
MAX_LISTED_RULES = 1000
MAX_REPLAYED_EVENTS = 100_000
_DRAFT_ID = "draft-{}"


@dataclass(frozen=True)
class Sample:
    """What a dry run evaluates against."""

    tenant_id: str
    trigger: Trigger
    customer: str = ""  # "customers/{id}": its projected facts are used
    conversation: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)  # the trigger's own facts
    given: Mapping[str, Any] = field(default_factory=dict)  # win over everything


@dataclass(frozen=True)
class DryEvaluation:
    verdict: Verdict
    draft_index: int | None  # None for a saved rule
    actions: tuple[Action, ...]  # what would run (nothing unless it fired)


@dataclass(frozen=True)
class DryRunResult:
    facts: Mapping[str, Any]
    evaluations: tuple[DryEvaluation, ...]


@dataclass
class BacktestResult:
    rule_id: str  # "" for a new draft
    draft_index: int | None
    evaluated: int = 0
    hits: int = 0
    customers: set[str] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)
    live_hits: int = 0
    live_fired: int = 0
    live_customers: set[str] = field(default_factory=set)

    @property
    def added(self) -> list[str]:
        return sorted(self.customers - self.live_customers)

    @property
    def removed(self) -> list[str]:
        return sorted(self.live_customers - self.customers)


@dataclass(frozen=True)
class BacktestReport:
    results: tuple[BacktestResult, ...]
    events: int


@dataclass
class SafeChange:
    management: RuleManagement

    # --- dry run --------------------------------------------------------------------------

    async def dry_run(
        self,
        sample: Sample,
        *,
        visibility: Visibility,
        rule_ids: Sequence[str] = (),
        drafts: Sequence[Rule] = (),
        include_disabled: bool = False,
        ignore_limits: bool = False,
    ) -> DryRunResult:
        tenant_id = sample.tenant_id
        now = self.management.clock()
        prepared = await self._drafts(tenant_id, drafts, "draft_rules")
        async with self.management.new_uow() as uow:
            saved = await self._saved(uow, tenant_id, rule_ids, sample.trigger, include_disabled)
            await _check_in_scope(uow, sample, visibility)
            facts = await self._facts(uow, sample, now)
            chosen, index_of = _with_drafts(saved, prepared, now)
            if ignore_limits:
                chosen = [replace(r, rollout_percent=100, cooldown_seconds=0) for r in chosen]
            last: Mapping[str, datetime] = {}
            if sample.customer and not ignore_limits:
                last = await uow.runs.last_fired(
                    tenant_id, [r.id for r in chosen if r.cooldown_seconds], sample.customer
                )
        chosen = [replace(r, enabled=True) for r in chosen]

        def cooling(rule: Rule) -> bool:
            fired = last.get(rule.id)
            return fired is not None and now - fired < timedelta(seconds=rule.cooldown_seconds)

        verdicts = evaluate_pass(
            chosen,
            facts,
            subject=sample.customer or "customers/-",
            now=now,
            cooling=cooling,
        )
        return DryRunResult(
            facts=facts,
            evaluations=tuple(
                DryEvaluation(
                    v,
                    index_of.get(v.rule.id),
                    v.rule.actions if v.outcome in HIT_OUTCOMES else (),
                )
                for v in verdicts
            ),
        )

    async def _facts(self, uow: UnitOfWork, sample: Sample, now: datetime) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if sample.customer:
            projected = await uow.projections.customer(sample.tenant_id, sample.customer)
            if projected is None and not sample.given:
                raise NotFound("crosstalk.io/Customer", sample.customer)
            facts.update(facts_from_json(projected or {}))
        if sample.conversation:
            projected = await uow.projections.conversation(sample.tenant_id, sample.conversation)
            facts.update(facts_from_json(projected or {}))
        settings = await uow.settings.get(sample.tenant_id)
        calendar = settings.calendar() if settings is not None else BusinessCalendar()
        facts.update(time_facts(now, calendar))
        facts.update(sample.facts)
        facts.update(sample.given)
        return facts

    # --- backtest -------------------------------------------------------------------------

    async def backtest(
        self,
        tenant_id: str,
        *,
        visibility: Visibility,
        start: datetime,
        end: datetime,
        rule_ids: Sequence[str] = (),
        drafts: Sequence[Rule] = (),
        max_samples: int = 10,
    ) -> BacktestReport:
        if end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        prepared = await self._drafts(tenant_id, drafts, "draft_rules")
        async with self.management.new_uow() as uow:
            named = await self._saved(uow, tenant_id, rule_ids, None, include_disabled=True)
            subjects = list(named) if rule_ids else []
            live_sets: dict[Trigger, list[Rule]] = {}
            for trigger in {r.trigger for r in [*subjects, *prepared]} | (
                set() if rule_ids or prepared else set(Trigger)
            ):
                live_sets[trigger] = _ordered(await uow.rules.enabled_for(tenant_id, trigger))
            if not rule_ids and not prepared:
                subjects = [r for rules in live_sets.values() for r in rules]
            entries = await uow.evaluation_log.between(
                tenant_id,
                start,
                end,
                visibility=visibility,
                triggers=sorted(live_sets, key=lambda t: t.value),
                limit=MAX_REPLAYED_EVENTS,
            )
            results = [BacktestResult(r.id, None) for r in subjects]
            results += [
                BacktestResult(d.id if not d.id.startswith("draft-") else "", i)
                for i, d in enumerate(prepared)
            ]
            for result in results:
                if result.rule_id:
                    result.live_fired = await self._fired(
                        uow, tenant_id, visibility, result.rule_id, start, end
                    )
            cooling = [r for rs in live_sets.values() for r in rs] + prepared
            fired_before = await self._fired_before(uow, tenant_id, visibility, cooling, start)

        live = {t: _Replay(rules, fired_before) for t, rules in live_sets.items()}
        with_draft = [
            _Replay(_ordered([*(r for r in live_sets[d.trigger] if r.id != d.id), d]), fired_before)
            for d in prepared
        ]
        saved_results = {r.rule_id: r for r in results if r.draft_index is None}
        draft_results = [r for r in results if r.draft_index is not None]
        trigger_of = {r.id: r.trigger for r in subjects}
        cap = max_samples if max_samples > 0 else 10
        for entry in entries:
            replay = live.get(entry.trigger)
            if replay is None:
                continue
            facts = facts_from_json(entry.facts)
            loop = LoopContext(entry.causing_run, entry.causation_depth)
            live_hits = {
                v.rule.id
                for v in replay.run(facts, entry.customer, entry.occurred_at, loop)
                if v.outcome in HIT_OUTCOMES
            }
            for rule_id, result in saved_results.items():
                if trigger_of.get(rule_id) is not entry.trigger:
                    continue
                result.evaluated += 1
                if rule_id in live_hits:
                    result.live_hits += 1
                    result.live_customers.add(entry.customer)
                    _hit(result, entry.event_id, entry.customer, cap)
            for draft, replay_with, result in zip(prepared, with_draft, draft_results, strict=True):
                if draft.trigger is not entry.trigger:
                    continue
                result.evaluated += 1
                if draft.id in live_hits:
                    result.live_hits += 1
                    result.live_customers.add(entry.customer)
                verdicts = replay_with.run(facts, entry.customer, entry.occurred_at, loop)
                if any(v.rule.id == draft.id and v.outcome in HIT_OUTCOMES for v in verdicts):
                    _hit(result, entry.event_id, entry.customer, cap)
        return BacktestReport(tuple(results), len(entries))

    async def _fired(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        visibility: Visibility,
        rule_id: str,
        start: datetime,
        end: datetime,
    ) -> int:
        total = 0
        for outcome in HIT_OUTCOMES:
            after: list[str] = []
            while True:
                page = await uow.runs.page(
                    tenant_id,
                    RunFilter(rule_id=rule_id, outcome=outcome, start=start, end=end),
                    visibility=visibility,
                    after=after,
                    limit=1000,
                )
                total += len(page)
                if len(page) < 1000:
                    break
                after = [page[-1].created_at.isoformat(), page[-1].id]
        return total

    async def _fired_before(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        visibility: Visibility,
        rules: Sequence[Rule],
        start: datetime,
    ) -> dict[tuple[str, str], datetime]:
        """When each rule with a cooldown last fired for each customer in the
        cooldown before ``start`` (its recorded runs): the replay starts with the
        cooldowns the live rules were in."""
        last: dict[tuple[str, str], datetime] = {}
        longest: dict[str, int] = {}
        for rule in rules:
            if rule.cooldown_seconds and not rule.id.startswith("draft-"):
                longest[rule.id] = max(longest.get(rule.id, 0), rule.cooldown_seconds)
        for rule_id, seconds in longest.items():
            after: list[str] = []
            while True:
                page = await uow.runs.page(
                    tenant_id,
                    RunFilter(
                        rule_id=rule_id,
                        outcome=Outcome.MATCHED,
                        start=start - timedelta(seconds=seconds),
                        end=start,
                    ),
                    visibility=visibility,
                    after=after,
                    limit=1000,
                )
                for run in page:  # newest first: keep the first seen per customer
                    last.setdefault((rule_id, run.customer), run.created_at)
                if len(page) < 1000:
                    break
                after = [page[-1].created_at.isoformat(), page[-1].id]
        return last

    # --- shared ---------------------------------------------------------------------------

    async def _drafts(self, tenant_id: str, drafts: Sequence[Rule], path: str) -> list[Rule]:
        if len(drafts) > MAX_DRAFTS:
            raise InvalidArgument.field(path, f"at most {MAX_DRAFTS} draft rules")
        prepared: list[Rule] = []
        problems: list[FieldViolation] = []
        now = self.management.clock()
        async with self.management.new_uow() as uow:
            existing = {d.id: await uow.rules.get(tenant_id, d.id) for d in drafts if d.id}
        for i, draft in enumerate(drafts):
            current = existing.get(draft.id) if draft.id else None
            if draft.id and current is None:
                problems.append(
                    FieldViolation(f"{path}[{i}].name", f"no rule {rule_name(draft.id)}")
                )
                continue
            base = replace(
                draft,
                tenant_id=tenant_id,
                id=draft.id or _DRAFT_ID.format(i),
                version=(current.version + 1) if current else 1,
                created_at=current.created_at if current else now,
                updated_at=now,
            )
            try:
                prepared.append(await self.management.prepare(base))
            except InvalidArgument as exc:
                problems.extend(
                    FieldViolation(f"{path}[{i}]" + v.field.removeprefix("rule"), v.description)
                    for v in exc.violations
                )
        if problems:
            raise InvalidArgument(problems)
        return prepared

    async def _saved(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        rule_ids: Sequence[str],
        trigger: Trigger | None,
        include_disabled: bool,
    ) -> list[Rule]:
        if rule_ids:
            found = []
            for rule_id in rule_ids:
                rule = await uow.rules.get(tenant_id, rule_id)
                if rule is None:
                    raise NotFound(RESOURCE, rule_name(rule_id))
                found.append(rule)
            return found
        if trigger is None:
            return []
        if not include_disabled:
            return list(await uow.rules.enabled_for(tenant_id, trigger))
        return await uow.rule_versions.listed(
            tenant_id, RuleFilter(trigger=trigger), after=[], limit=MAX_LISTED_RULES
        )


async def _check_in_scope(uow: UnitOfWork, sample: Sample, visibility: Visibility) -> None:
    """A sample's customer and conversation must be in the caller's data scope (else
    NOT_FOUND, as customers answers): their projected facts and recorded runs are
    not shown to a caller who may not see the customer."""
    if visibility.scope is DataScope.ALL:
        return
    tenant_id = sample.tenant_id
    if sample.customer and not await uow.projections.customer_visible(
        tenant_id, sample.customer, visibility
    ):
        raise NotFound("crosstalk.io/Customer", sample.customer)
    if sample.conversation and not await uow.projections.conversation_visible(
        tenant_id, sample.conversation, visibility
    ):
        raise NotFound("crosstalk.io/Conversation", sample.conversation)


class _Replay:
    """One rule set replayed over logged events in order, with its own cooldowns."""

    def __init__(
        self, rules: Sequence[Rule], fired_before: Mapping[tuple[str, str], datetime]
    ) -> None:
        self.rules = [replace(r, enabled=True) for r in rules]
        self.last: dict[tuple[str, str], datetime] = dict(fired_before)

    def run(
        self, facts: Mapping[str, Any], customer: str, at: datetime, loop: LoopContext
    ) -> list[Verdict]:
        def cooling(rule: Rule) -> bool:
            fired = self.last.get((rule.id, customer))
            return fired is not None and at - fired < timedelta(seconds=rule.cooldown_seconds)

        verdicts = evaluate_pass(
            self.rules, facts, subject=customer, now=at, loop=loop, cooling=cooling
        )
        for verdict in verdicts:
            if verdict.outcome is Outcome.MATCHED:
                self.last[(verdict.rule.id, customer)] = at
        return verdicts


def _hit(result: BacktestResult, event_id: str, customer: str, cap: int) -> None:
    result.hits += 1
    result.customers.add(customer)
    if len(result.samples) < cap:
        result.samples.append(event_id)


def _ordered(rules: Iterable[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda r: (r.priority, r.created_at or datetime.max, r.id))


def _with_drafts(
    saved: Sequence[Rule], drafts: Sequence[Rule], now: datetime
) -> tuple[list[Rule], dict[str, int]]:
    index_of = {d.id: i for i, d in enumerate(drafts)}
    replaced = set(index_of)
    return _ordered([*(r for r in saved if r.id not in replaced), *drafts]), index_of
