"""Which rules fire on a message and what a run records and requests, with in-memory ports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.errors import InvalidArgument, NotFound
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Occurrence, run_rules
from rules.app.use_cases import RuleService
from rules.domain.events import RuleActionTagRequested, RuleFired
from rules.domain.model import AddTag, Rule, Trigger, match_rules
from services.rules.tests.fakes import FakeUnitOfWork

TENANT = "t1"
EMAIL = Leaf("channel", Op.EQUALS, ("email",))
CREATED = datetime(2026, 3, 1, tzinfo=UTC)


def rule(rule_id: str, *tags: str, condition: Leaf | None = EMAIL, **kw: Any) -> Rule:
    fields: dict[str, Any] = {
        "id": rule_id,
        "tenant_id": TENANT,
        "display_name": f"rule {rule_id}",
        "trigger": Trigger.MESSAGE_RECEIVED,
        "condition": condition,
        "actions": (AddTag(tags or ("vip",)),),
        "created_at": CREATED,
    }
    fields.update(kw)
    return Rule(**fields)


def message(customer: str = "customers/c1", channel: str = "email", **facts: Any) -> Occurrence:
    return Occurrence(
        tenant_id=TENANT,
        trigger=Trigger.MESSAGE_RECEIVED,
        event_id="ev-1",
        customer=customer,
        facts={"channel": channel, "text": "hello", **facts},
    )


# -- domain


def test_rules_match_in_priority_order_and_a_stop_flag_ends_the_evaluation() -> None:
    late = rule("late", priority=5)
    first = rule("first", priority=1)
    stopper = rule("stopper", priority=3, stop_processing=True)
    never = rule("never", priority=2, condition=Leaf("channel", Op.EQUALS, ("phone",)))
    off = rule("off", priority=0, enabled=False)
    matched = match_rules([late, first, stopper, never, off], {"channel": "email"}, subject="c")
    assert [m.rule.id for m in matched] == ["first", "stopper"]
    assert all(m.explanation for m in matched)


def test_a_rollout_keeps_each_customer_in_or_out() -> None:
    half = rule("half", rollout_percent=50)
    customers = [f"customers/{i}" for i in range(200)]
    chosen = {c for c in customers if match_rules([half], {"channel": "email"}, subject=c)}
    again = {c for c in customers if match_rules([half], {"channel": "email"}, subject=c)}
    assert chosen == again
    assert 0 < len(chosen) < len(customers)
    assert not match_rules([rule("none", rollout_percent=0)], {"channel": "email"}, subject="c")


# -- running


async def test_a_rule_that_fires_records_a_run_and_requests_its_actions() -> None:
    uow = FakeUnitOfWork(rule("r1", "vip", "email-buyer"), rule("r2", condition=None))
    runs = await run_rules(uow, message(), EnabledRules())
    assert [r.rule_id for r in sorted(runs, key=lambda r: r.rule_id)] == ["r1", "r2"]
    assert uow.rules.runs == runs
    assert uow.commits == 1
    by_rule = {r.rule_id: r for r in runs}
    run = by_rule["r1"]
    assert (run.trigger_event_id, run.customer, run.rule_version) == ("ev-1", "customers/c1", 1)
    events = [payload for tenant, payload in uow.emitted if tenant == TENANT]
    assert len(events) == len(uow.emitted) == 4
    fired = [e for e in events if isinstance(e, RuleFired)]
    assert {f.rule_id for f in fired} == {"r1", "r2"}
    r1_fired = next(f for f in fired if f.rule_id == "r1")
    assert r1_fired == RuleFired(
        rule_id="r1",
        rule_version=1,
        run_id=run.id,
        trigger_event_id="ev-1",
        customer="customers/c1",
    )
    # each rule's fired event comes before the actions it requests
    assert events[events.index(r1_fired) + 1] == RuleActionTagRequested(
        rule_id="r1", run_id=run.id, customer="customers/c1", tag_labels=("vip", "email-buyer")
    )


async def test_nothing_fires_when_no_condition_holds() -> None:
    uow = FakeUnitOfWork(rule("r1"))
    assert await run_rules(uow, message(channel="phone"), EnabledRules()) == []
    assert (uow.rules.runs, uow.emitted) == ([], [])


async def test_a_cooldown_holds_a_rule_back_for_the_same_customer_only() -> None:
    uow = FakeUnitOfWork(rule("r1", cooldown_seconds=3600))
    assert len(await run_rules(uow, message("customers/c1"), EnabledRules())) == 1
    assert await run_rules(uow, message("customers/c1"), EnabledRules()) == []
    assert len(await run_rules(uow, message("customers/c2"), EnabledRules())) == 1
    # an hour later it fires again
    uow.rules.runs = [
        replace(run, created_at=run.created_at - timedelta(seconds=3601)) for run in uow.rules.runs
    ]
    assert len(await run_rules(uow, message("customers/c1"), EnabledRules())) == 1


async def test_other_tenants_and_triggers_do_not_fire() -> None:
    uow = FakeUnitOfWork(rule("theirs", tenant_id="t2"))
    assert await run_rules(uow, message(), EnabledRules()) == []


# -- managing


async def test_a_created_rule_gets_an_id_and_version_one_and_is_found_again() -> None:
    uow = FakeUnitOfWork()
    service = RuleService(uow)
    created = await service.create(rule("", created_at=None))
    assert created.id
    assert created.version == 1
    assert created.created_at is not None
    assert created.created_at == created.updated_at
    assert await service.get(TENANT, created.id) == created
    with pytest.raises(NotFound):
        await service.get("t2", created.id)


async def test_an_invalid_rule_is_refused_before_anything_is_stored() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidArgument):
        await RuleService(uow).create(rule("", display_name=" "))
    assert (uow.rules.rules, uow.commits) == ({}, 0)


async def test_enabled_rules_are_read_again_only_when_the_tenants_revision_moves() -> None:
    uow = FakeUnitOfWork(rule("r1"))
    reads = []
    enabled_for = uow.rules.enabled_for

    async def counted(tenant_id: str, trigger: Trigger) -> list[Rule]:
        reads.append(tenant_id)
        return await enabled_for(tenant_id, trigger)

    uow.rules.enabled_for = counted  # type: ignore[method-assign]
    cache = EnabledRules()
    assert len(await run_rules(uow, message("customers/c1"), cache)) == 1
    assert len(await run_rules(uow, message("customers/c2"), cache)) == 1
    assert reads == [TENANT]
    await uow.rules.add(rule("r2", priority=-1))
    runs = await run_rules(uow, message("customers/c3"), cache)
    assert [r.rule_id for r in runs] == ["r2", "r1"]
    assert reads == [TENANT, TENANT]
