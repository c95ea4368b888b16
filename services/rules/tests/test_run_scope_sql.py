"""The caller's data scope on what rules shows about customers (SQLite and
PostgreSQL): runs, their explanations, dry runs, backtests and the statistics
of a caller who sees a department or their own customers follow the owner and
department of the customer, as customers' projection in rules holds them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.errors import NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from rules.adapters.engine_mapping import snapshot_facts
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine, Occurrence
from rules.app.runs import RunService, record_action_outcome
from rules.app.safe_change import SafeChange, Sample
from rules.domain.model import Rule, Trigger
from rules.domain.runs import ActionStatus, Counter, RunFilter
from services.rules.tests.management_fakes import management
from services.rules.tests.test_rule_management_sql import draft
from services.rules.tests.test_safe_change_sql import Clock, keywords

NewUow = Callable[[], RulesUnitOfWork]
DAY = datetime(2026, 11, 2, 9, tzinfo=UTC)
EVERYONE = Visibility.everything()
# Who owns which customer: (owner member, department); "ghost" has no projection.
PLACES = {"a": ("m1", "d1"), "b": ("m2", "d1"), "c": ("m3", "d2")}
AGENT_M1 = Visibility(DataScope.OWN, "m1")
HEAD_D1 = Visibility(DataScope.DEPARTMENT, "m9", frozenset({"d1"}))
NO_DEPARTMENT = Visibility(DataScope.DEPARTMENT, "m9", frozenset())


async def place(
    new_uow: NewUow, tenant: str, customer: str, version: int, where: tuple[str, str]
) -> None:
    snapshot = customer_events_pb2.CustomerSnapshot(
        version=version, owner=f"members/{where[0]}", department=f"departments/{where[1]}"
    )
    async with new_uow() as uow:
        await uow.projections.save_customer(
            tenant, f"customers/{customer}", version, snapshot_facts(snapshot)
        )
        await uow.commit()


async def a_run_each(new_uow: NewUow, tenant: str) -> tuple[Rule, Clock]:
    """A rule fired once for each of a, b, c and ghost (one message each)."""
    clock = Clock(DAY)
    rule = (
        await management(new_uow, clock=clock).create(
            draft(tenant, "hello", condition=keywords("hello")), author="m"
        )
    ).rule
    for customer, where in PLACES.items():
        await place(new_uow, tenant, customer, 1, where)
    engine = Engine(EnabledRules(), clock=clock)
    for i, customer in enumerate([*PLACES, "ghost"]):
        clock.now = DAY + timedelta(minutes=i)
        await engine.run(
            new_uow,
            Occurrence(
                tenant_id=tenant,
                trigger=Trigger.MESSAGE_RECEIVED,
                event_id=f"{tenant}-{customer}",
                customer=f"customers/{customer}",
                conversation=f"conversations/of-{customer}",
                conversation_facts={"conversation.follow_ups": 1},
                facts={"message.text": "hello"},
                occurred_at=clock.now,
            ),
        )
    return rule, clock


async def customers_seen(service: RunService, tenant: str, visibility: Visibility) -> list[str]:
    runs = await service.page(tenant, visibility, RunFilter(), after=[], limit=10)
    return sorted(r.customer.removeprefix("customers/") for r in runs)


async def test_runs_are_listed_and_explained_within_the_callers_scope(
    new_uow: NewUow, tenant: str
) -> None:
    rule, _ = await a_run_each(new_uow, tenant)
    service = RunService(new_uow)
    assert await customers_seen(service, tenant, EVERYONE) == ["a", "b", "c", "ghost"]
    assert await customers_seen(service, tenant, HEAD_D1) == ["a", "b"]
    assert await customers_seen(service, tenant, AGENT_M1) == ["a"]
    assert await customers_seen(service, tenant, NO_DEPARTMENT) == []
    assert await customers_seen(service, tenant, Visibility(DataScope.OWN)) == []
    # The customer filter does not reach past the scope either.
    assert (
        await service.page(tenant, AGENT_M1, RunFilter(customer="customers/b"), after=[], limit=9)
        == []
    )

    runs = {
        r.customer: r for r in await service.page(tenant, EVERYONE, RunFilter(), after=[], limit=9)
    }
    mine, theirs = runs["customers/a"], runs["customers/c"]
    assert (await service.get(tenant, AGENT_M1, rule.id, mine.id)).facts == mine.facts
    for outside in (theirs, runs["customers/ghost"]):
        with pytest.raises(NotFound):
            await service.get(tenant, AGENT_M1, rule.id, outside.id)
        with pytest.raises(NotFound):
            await service.get(tenant, HEAD_D1, rule.id, outside.id)
    assert (await service.get(tenant, EVERYONE, rule.id, theirs.id)).id == theirs.id

    # The scope follows the customer: b handed to m1 (a newer snapshot) is m1's now.
    await place(new_uow, tenant, "b", 2, ("m1", "d2"))
    assert await customers_seen(service, tenant, AGENT_M1) == ["a", "b"]
    assert await customers_seen(service, tenant, HEAD_D1) == ["a"]


async def test_statistics_of_a_scoped_caller_count_the_runs_it_may_see(
    new_uow: NewUow, tenant: str
) -> None:
    rule, clock = await a_run_each(new_uow, tenant)
    service = RunService(new_uow, clock=clock)
    (mine,) = await service.page(tenant, AGENT_M1, RunFilter(), after=[], limit=9)
    await record_action_outcome(
        new_uow, tenant, f"rules/{rule.id}/runs/{mine.id}", 0, ActionStatus.SUCCEEDED
    )
    window = {"start": DAY - timedelta(days=1), "end": DAY + timedelta(days=1), "week": False}

    (everything,) = await service.statistics(tenant, EVERYONE, rule.id, **window)  # type: ignore[arg-type]
    assert everything.counts[Counter.EVALUATED] == 4
    assert everything.counts[Counter.FIRED] == 4
    (department,) = await service.statistics(tenant, HEAD_D1, rule.id, **window)  # type: ignore[arg-type]
    assert department.counts[Counter.FIRED] == department.counts[Counter.MATCHED] == 2
    assert department.counts[Counter.ACTIONS_SUCCEEDED] == 1
    assert department.counts.get(Counter.EVALUATED, 0) == 0  # not known per customer
    assert department.hit_rate == 0.0
    assert department.start == everything.start
    (own,) = await service.statistics(tenant, AGENT_M1, "", **window)  # type: ignore[arg-type]
    assert (own.rule_id, own.counts[Counter.FIRED]) == (rule.id, 1)
    assert await service.statistics(tenant, NO_DEPARTMENT, rule.id, **window) == []  # type: ignore[arg-type]


async def test_a_dry_run_refuses_a_customer_or_conversation_out_of_scope(
    new_uow: NewUow, tenant: str
) -> None:
    await a_run_each(new_uow, tenant)
    safe = SafeChange(management(new_uow))
    hello = Sample(tenant, Trigger.MESSAGE_RECEIVED, facts={"message.text": "hello"})

    def of(customer: str) -> Sample:
        return Sample(
            tenant,
            Trigger.MESSAGE_RECEIVED,
            customer=f"customers/{customer}",
            facts={"message.text": "hello"},
        )

    seen = await safe.dry_run(of("a"), visibility=AGENT_M1)
    assert seen.facts["customer.owner"] == "members/m1"
    assert (await safe.dry_run(of("c"), visibility=EVERYONE)).facts["customer.owner"] == (
        "members/m3"
    )
    for outside, visibility in (("c", AGENT_M1), ("c", HEAD_D1), ("b", AGENT_M1), ("x", HEAD_D1)):
        with pytest.raises(NotFound):
            await safe.dry_run(of(outside), visibility=visibility)
        # The given facts do not open it either.
        with pytest.raises(NotFound):
            await safe.dry_run(
                Sample(
                    tenant,
                    Trigger.MESSAGE_RECEIVED,
                    customer=f"customers/{outside}",
                    given={"message.text": "hello"},
                ),
                visibility=visibility,
            )
    with pytest.raises(NotFound):
        await safe.dry_run(
            Sample(tenant, Trigger.MESSAGE_RECEIVED, conversation="conversations/of-c"),
            visibility=HEAD_D1,
        )
    mine = Sample(tenant, Trigger.MESSAGE_RECEIVED, conversation="conversations/of-a")
    assert (await safe.dry_run(mine, visibility=AGENT_M1)).facts["conversation.follow_ups"] == 1
    # A sample naming no customer shows nothing of one: anyone may run it.
    assert (await safe.dry_run(hello, visibility=NO_DEPARTMENT)).evaluations


async def test_a_backtest_replays_only_the_customers_in_scope(new_uow: NewUow, tenant: str) -> None:
    rule, _ = await a_run_each(new_uow, tenant)
    safe = SafeChange(management(new_uow))
    span = {"start": DAY - timedelta(hours=1), "end": DAY + timedelta(hours=1)}

    async def backtest(visibility: Visibility) -> tuple[int, int, int, set[str]]:
        report = await safe.backtest(tenant, visibility=visibility, **span)  # type: ignore[arg-type]
        (result,) = report.results
        assert result.rule_id == rule.id
        return report.events, result.hits, result.live_fired, result.customers

    assert await backtest(EVERYONE) == (
        4,
        4,
        4,
        {"customers/a", "customers/b", "customers/c", "customers/ghost"},
    )
    assert await backtest(HEAD_D1) == (2, 2, 2, {"customers/a", "customers/b"})
    assert await backtest(AGENT_M1) == (1, 1, 1, {"customers/a"})
    assert await backtest(NO_DEPARTMENT) == (0, 0, 0, set())
