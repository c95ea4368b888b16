"""Dry runs and backtests on a migrated database (SQLite and PostgreSQL), with the
engine (app/running.py) writing the runs and the evaluation log they read."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.visibility import Visibility
from rules.adapters.tables import outbox, rule_runs
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine, Occurrence
from rules.app.safe_change import DryRunResult, SafeChange, Sample
from rules.domain.evaluation import Outcome
from rules.domain.model import Trigger
from services.rules.tests.management_fakes import management
from services.rules.tests.test_rule_management_sql import all_of, draft, leaf

NewUow = Callable[[], RulesUnitOfWork]
DAY = datetime(2026, 12, 6, tzinfo=UTC)
EVERYONE = Visibility.everything()
KEYWORDS = condition_pb2.OPERATOR_MATCHES_KEYWORDS


def keywords(*words: str) -> condition_pb2.Condition:
    return leaf("message.text", KEYWORDS, *words)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_backtest_over_a_day_reports_the_hits_the_live_rules_fired(
    new_uow: NewUow, tenant: str
) -> None:
    clock = Clock(DAY)
    rules = management(new_uow, clock=clock)
    refunds = (
        await rules.create(draft(tenant, "refunds", condition=keywords("refund")), author="m")
    ).rule
    urgent = (
        await rules.create(
            replace(
                draft(tenant, "urgent", condition=keywords("urgent")),
                stop_processing=True,
                priority=-1,
            ),
            author="m",
        )
    ).rule
    hello = (
        await rules.create(
            replace(draft(tenant, "hello", condition=keywords("hello")), cooldown_seconds=8 * 3600),
            author="m",
        )
    ).rule
    half = (
        await rules.create(
            replace(draft(tenant, "half", condition=keywords("parcel")), rollout_percent=50),
            author="m",
        )
    ).rule

    engine = Engine(EnabledRules(), clock=clock)
    texts = [
        "refund please",
        "urgent refund",
        "hello",
        "hello again",
        "where is my parcel",
        "money back",
        "thanks",
        "urgent",
        "refund my money",
    ]
    pick = random.Random(7)
    moments = sorted(DAY + timedelta(minutes=pick.randrange(24 * 60)) for _ in range(150))
    # The day before ends with greetings from all three greeters: they start the
    # day cooling down (and a message the day after is out of range too).
    greetings = [(DAY - timedelta(hours=1, minutes=c), "hello", c) for c in range(3)]
    day = []
    for at in moments:
        text = pick.choice(texts)
        # Greetings come from few customers (cooldowns bite), the rest from many
        # (the 50% rollout splits them whatever the rule's id).
        day.append(
            (at, text, pick.randrange(3) if text.startswith("hello") else 3 + pick.randrange(40))
        )
    # "parcel" also comes from forty customers of its own, so the 50% rollout
    # lets some through whatever the rule's (random) id: all of them out is 2**-40.
    parcels = (DAY + timedelta(minutes=pick.randrange(24 * 60)) for _ in range(40))
    day.extend((at, "where is my parcel", 100 + n) for n, at in enumerate(parcels))
    day.sort(key=lambda sent: sent[0])
    after = [(DAY + timedelta(days=1, hours=1), "refund please", 1)]
    for i, (at, text, customer) in enumerate([*greetings, *day, *after]):
        clock.now = at
        await engine.run(
            new_uow,
            Occurrence(
                tenant_id=tenant,
                trigger=Trigger.MESSAGE_RECEIVED,
                event_id=f"{tenant}-{i}",
                customer=f"customers/c{customer}",
                facts={"message.text": text},
                occurred_at=at,
            ),
        )

    report = await SafeChange(rules).backtest(
        tenant, visibility=EVERYONE, start=DAY, end=DAY + timedelta(days=1)
    )
    assert report.events == len(day)
    by_rule = {r.rule_id: r for r in report.results}
    assert set(by_rule) == {refunds.id, urgent.id, hello.id, half.id}
    for result in by_rule.values():
        assert result.evaluated == len(day)
        assert result.hits == result.live_fired, result
        assert result.hits == result.live_hits
        assert result.added == result.removed == []
    assert by_rule[refunds.id].hits > 0  # the replay is not vacuous
    assert by_rule[hello.id].hits > 0
    assert by_rule[half.id].hits > 0
    # stop_processing, cooldowns and the rollout were in play, and the replay agreed:
    assert by_rule[urgent.id].hits > 0
    async with new_uow() as uow:
        suppressed = set(
            (
                await uow.session.execute(
                    select(rule_runs.c.outcome).where(rule_runs.c.tenant_id == tenant)
                )
            ).scalars()
        )
    assert {"skipped_stopped", "skipped_cooldown", "skipped_rollout"} <= suppressed

    # A draft of "refunds" that also catches "money": more hits, customers added.
    wider = replace(draft(tenant, "refunds", condition=keywords("refund", "money")), id=refunds.id)
    new = draft(tenant, "thanks", condition=keywords("thanks"))
    report = await SafeChange(rules).backtest(
        tenant,
        visibility=EVERYONE,
        start=DAY,
        end=DAY + timedelta(days=1),
        drafts=[wider, new],
        max_samples=3,
    )
    edit, fresh = (r for r in report.results if r.draft_index is not None)
    assert edit.rule_id == refunds.id
    assert edit.live_hits == by_rule[refunds.id].hits
    assert edit.hits > edit.live_hits
    assert edit.removed == []
    assert set(edit.added) <= edit.customers
    assert len(edit.samples) == 3
    assert fresh.rule_id == ""
    assert fresh.hits > 0
    assert fresh.live_hits == 0
    assert sorted(fresh.added) == sorted(fresh.customers)

    # Nothing was recorded or requested by either backtest.
    async with new_uow() as uow:
        runs_before = await uow.session.scalar(
            select(func.count()).select_from(rule_runs).where(rule_runs.c.tenant_id == tenant)
        )
    await SafeChange(rules).backtest(
        tenant, visibility=EVERYONE, start=DAY, end=DAY + timedelta(days=1)
    )
    async with new_uow() as uow:
        assert runs_before == await uow.session.scalar(
            select(func.count()).select_from(rule_runs).where(rule_runs.c.tenant_id == tenant)
        )


async def test_a_backtest_refuses_bad_drafts_and_ranges(new_uow: NewUow, tenant: str) -> None:
    safe = SafeChange(management(new_uow))
    with pytest.raises(InvalidArgument) as caught:
        await safe.backtest(tenant, visibility=EVERYONE, start=DAY, end=DAY)
    assert [v.field for v in caught.value.violations] == ["end_time"]
    bad = replace(draft(tenant, "x"), rollout_percent=0)
    with pytest.raises(InvalidArgument) as caught:
        await safe.backtest(
            tenant, visibility=EVERYONE, start=DAY, end=DAY + timedelta(hours=1), drafts=[bad]
        )
    assert [v.field for v in caught.value.violations] == ["draft_rules[0].rollout_percent"]


async def _outbox_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(outbox)) or 0)


async def test_a_dry_run_explains_each_rule_and_acts_on_nothing(
    new_uow: NewUow, tenant: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rules = management(new_uow)
    vip = all_of(keywords("refund"), leaf("customer.tier", condition_pb2.OPERATOR_EQUALS, "VIP"))
    first = (
        await rules.create(
            replace(draft(tenant, "vip refunds", condition=vip), stop_processing=True), author="m"
        )
    ).rule
    second = (
        await rules.create(draft(tenant, "refunds", condition=keywords("refund")), author="m")
    ).rule
    off = (
        await rules.create(
            draft(tenant, "off", condition=keywords("refund"), enabled=False), author="m"
        )
    ).rule
    before = await _outbox_count(sessions)
    safe = SafeChange(rules)

    def outcomes(result: DryRunResult) -> dict[str, Outcome]:
        return {e.verdict.rule.id: e.verdict.outcome for e in result.evaluations}

    sample = Sample(
        tenant,
        Trigger.MESSAGE_RECEIVED,
        facts={"message.text": "a refund now"},
        given={"customer.tier": "VIP"},
    )
    result = await safe.dry_run(sample, visibility=EVERYONE)
    assert outcomes(result) == {first.id: Outcome.MATCHED, second.id: Outcome.SKIPPED_STOPPED}
    fired = result.evaluations[0]
    assert fired.actions == first.actions
    assert fired.verdict.trace is not None
    assert fired.verdict.trace.result
    assert result.evaluations[1].actions == ()
    assert result.facts["customer.tier"] == "VIP"
    assert "time.hour" in result.facts

    normal = replace(sample, given={"customer.tier": "Gold"})
    assert outcomes(await safe.dry_run(normal, visibility=EVERYONE)) == {
        first.id: Outcome.NOT_MATCHED,
        second.id: Outcome.MATCHED,
    }
    everything = await safe.dry_run(normal, visibility=EVERYONE, include_disabled=True)
    assert outcomes(everything)[off.id] == Outcome.MATCHED

    # A draft in place of the first rule, and a new one.
    looser = replace(
        draft(tenant, "vip refunds", condition=keywords("refund")),
        id=first.id,
        stop_processing=True,
    )
    extra = draft(tenant, "extra", condition=keywords("now"))
    drafted = await safe.dry_run(normal, visibility=EVERYONE, drafts=[looser, extra])
    by_draft = {e.draft_index: e.verdict.outcome for e in drafted.evaluations}
    assert by_draft[0] == Outcome.MATCHED
    assert by_draft[1] == Outcome.SKIPPED_STOPPED  # the draft of the first stopped it
    assert by_draft[None] == Outcome.SKIPPED_STOPPED

    only = await safe.dry_run(normal, visibility=EVERYONE, rule_ids=[second.id])
    assert [e.verdict.rule.id for e in only.evaluations] == [second.id]

    bad = replace(draft(tenant, "bad", condition=keywords("x")), rollout_percent=0)
    with pytest.raises(InvalidArgument) as caught:
        await safe.dry_run(normal, visibility=EVERYONE, drafts=[extra, bad])
    assert [v.field for v in caught.value.violations] == ["draft_rules[1].rollout_percent"]

    assert await _outbox_count(sessions) == before  # nothing requested
    async with new_uow() as uow:
        assert await uow.runs.last_fired(tenant, [first.id, second.id], "customers/-") == {}
