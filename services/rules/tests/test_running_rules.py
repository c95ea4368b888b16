"""Running rules on an occurrence with in-memory ports (rules/app/running.py):
facts from projections and the clock, runs with facts and trace, actions with
causation, counters, cooldowns, outcomes back on the run, the webhook."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from crosstalk_common.bus.causation import Causation
from crosstalk_common.conditions.model import Group, Leaf, Op
from crosstalk_common.egress import PUBLIC_ONLY
from crosstalk_common.visibility import Visibility
from rules.adapters.webhook_transport import HttpxTransport
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine, Occurrence
from rules.app.runs import RunService, record_action_outcome
from rules.app.webhooks import Backoff, TransportError, WebhookCaller, WebhookRequest, signature
from rules.domain.actions import AddNote, AddTag, CallWebhook, Escalate, SetPriority
from rules.domain.evaluation import LoopContext, Outcome
from rules.domain.events import ActionRequested, RuleFired
from rules.domain.model import Rule, Trigger
from rules.domain.runs import ActionStatus, Counter
from rules.domain.settings import RuleSettings
from services.rules.tests.engine_fakes import EngineUnitOfWork

TENANT = "t1"
EVERYONE = Visibility.everything()
CREATED = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
VIP = Leaf("customer.tier", Op.EQUALS, ("VIP",))
NEGATIVE = Leaf("message.sentiment.label", Op.EQUALS, ("negative",))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def rule(rule_id: str, condition: Any = VIP, **kw: Any) -> Rule:
    fields: dict[str, Any] = {
        "id": rule_id,
        "tenant_id": TENANT,
        "display_name": rule_id,
        "trigger": Trigger.MESSAGE_RECEIVED,
        "condition": condition,
        "actions": (AddTag(("vip",)),),
        "created_at": CREATED,
    }
    fields.update(kw)
    return Rule(**fields)


def message(
    customer: str = "customers/c1", loop: LoopContext | None = None, **facts: Any
) -> Occurrence:
    return Occurrence(
        tenant_id=TENANT,
        trigger=Trigger.MESSAGE_RECEIVED,
        event_id="ev-1",
        customer=customer,
        conversation="conversations/v1",
        facts={
            "message.text": "this is unacceptable",
            "message.sentiment.label": "negative",
            **facts,
        },
        loop=loop or LoopContext(),
        conversation_facts={"conversation.follow_ups": 2, "conversation.status": "unread"},
    )


async def test_a_vip_with_a_negative_message_gets_the_escalation_path() -> None:
    escalate = rule(
        "vip-angry",
        Group("and", (VIP, NEGATIVE)),
        actions=(
            SetPriority("urgent"),
            Escalate("angry VIP", group="groups/seniors"),
            AddNote("VIP unhappy: call back"),
        ),
        priority=1,
        stop_processing=True,
    )
    standard = rule("standard", NEGATIVE, actions=(AddNote("standard path"),), priority=2)
    uow = EngineUnitOfWork(escalate, standard)
    uow.projections.customers[(TENANT, "customers/vip")] = (3, {"customer.tier": "VIP"})
    engine = Engine(EnabledRules(), clock=Clock())

    runs = await engine.run(uow, message("customers/vip"))
    assert [(r.rule_id, r.outcome) for r in runs] == [
        ("vip-angry", Outcome.MATCHED),
        ("standard", Outcome.SKIPPED_STOPPED),
    ]
    fired = runs[0]
    assert fired.facts["customer.tier"] == "VIP"
    assert fired.facts["conversation.follow_ups"] == 2
    assert fired.facts["time.weekday"] == "monday"
    assert fired.trace is not None
    assert fired.trace["result"] is True
    events = [payload for _, payload in uow.emitted]
    assert isinstance(events[0], RuleFired)
    actions = [e for e in events if isinstance(e, ActionRequested)]
    assert [(a.action_index, type(a.action).__name__) for a in actions] == [
        (0, "SetPriority"),
        (1, "Escalate"),
        (2, "AddNote"),
    ]
    assert {a.conversation for a in actions} == {"conversations/v1"}
    # Every action names its run and one more step of causation.
    run = f"rules/vip-angry/runs/{fired.id}"
    assert set(uow.causations.values()) == {Causation(run, 1)}
    assert [a.status for a in fired.actions] == [ActionStatus.REQUESTED] * 3
    assert uow.commits == 1

    # A normal customer with the same message takes the standard path.
    uow.projections.customers[(TENANT, "customers/normal")] = (1, {"customer.tier": "Silver"})
    runs = await engine.run(uow, message("customers/normal"))
    assert [(r.rule_id, r.outcome) for r in runs] == [("standard", Outcome.MATCHED)]
    assert uow.statistics.of("vip-angry") == {
        Counter.EVALUATED: 2,
        Counter.MATCHED: 1,
        Counter.FIRED: 1,
    }
    assert uow.statistics.of("standard")[Counter.SUPPRESSED_STOP] == 1
    assert len(uow.evaluation_log.entries) == 2


async def test_a_cooling_rule_records_its_suppression_and_stops_nothing() -> None:
    cooling = rule("cooling", cooldown_seconds=3600, stop_processing=True, priority=1)
    after = rule("after", priority=2)
    uow = EngineUnitOfWork(cooling, after)
    uow.projections.customers[(TENANT, "customers/c1")] = (1, {"customer.tier": "VIP"})
    clock = Clock()
    engine = Engine(EnabledRules(), clock=clock)
    first = await engine.run(uow, message())
    assert [(r.rule_id, r.outcome) for r in first] == [
        ("cooling", Outcome.MATCHED),
        ("after", Outcome.SKIPPED_STOPPED),
    ]
    clock.now = NOW + timedelta(minutes=10)
    second = await engine.run(uow, message())
    assert [(r.rule_id, r.outcome) for r in second] == [
        ("cooling", Outcome.SKIPPED_COOLDOWN),
        ("after", Outcome.MATCHED),
    ]
    clock.now = NOW + timedelta(hours=2)
    third = await engine.run(uow, message())
    assert [r.outcome for r in third] == [Outcome.MATCHED, Outcome.SKIPPED_STOPPED]


async def test_the_loop_guard_and_shadow_request_nothing() -> None:
    uow = EngineUnitOfWork(rule("r1", None), rule("shadow", None, shadow=True))
    engine = Engine(EnabledRules(), clock=Clock())
    runs = await engine.run(uow, message(loop=LoopContext("rules/r1/runs/x", 1)))
    assert [(r.rule_id, r.outcome) for r in runs] == [
        ("r1", Outcome.SKIPPED_LOOP_GUARD),
        ("shadow", Outcome.SHADOW_MATCHED),
    ]
    assert uow.emitted == []
    assert await engine.run(uow, message(loop=LoopContext("rules/r9/runs/x", 3))) == []
    assert uow.statistics.of("r1")[Counter.SUPPRESSED_LOOP_GUARD] == 2


async def test_a_customer_event_keeps_only_a_newer_snapshot() -> None:
    uow = EngineUnitOfWork(rule("tier", VIP, trigger=Trigger.CUSTOMER_TIER_CHANGED))
    engine = Engine(EnabledRules(), clock=Clock())

    def tier_changed(version: int, tier: str) -> Occurrence:
        return Occurrence(
            tenant_id=TENANT,
            trigger=Trigger.CUSTOMER_TIER_CHANGED,
            event_id=f"ev-{version}",
            customer="customers/c1",
            facts={},
            customer_snapshot=(version, {"customer.tier": tier}),
        )

    assert [r.outcome for r in await engine.run(uow, tier_changed(5, "VIP"))] == [Outcome.MATCHED]
    # An older snapshot arriving late does not overwrite the newer one, and the
    # rule sees the newer facts.
    late = await engine.run(uow, tier_changed(4, "Silver"))
    assert [r.outcome for r in late] == [Outcome.MATCHED]
    assert uow.projections.customers[(TENANT, "customers/c1")] == (5, {"customer.tier": "VIP"})


async def test_action_outcomes_are_recorded_on_the_run_and_counted_once() -> None:
    uow = EngineUnitOfWork(rule("r1", None, actions=(AddTag(("a",)), AddNote("n"))))
    engine = Engine(EnabledRules(), clock=Clock())
    (run,) = await engine.run(uow, message())
    name = f"rules/r1/runs/{run.id}"
    await record_action_outcome(uow, TENANT, name, 0, ActionStatus.SUCCEEDED, result="tags/9")
    await record_action_outcome(uow, TENANT, name, 1, ActionStatus.FAILED, error="no such")
    await record_action_outcome(uow, TENANT, name, 1, ActionStatus.FAILED, error="no such")
    assert await record_action_outcome(uow, TENANT, name, 7, ActionStatus.FAILED) is None
    assert await record_action_outcome(uow, "t2", name, 0, ActionStatus.FAILED) is None
    stored = await RunService(uow).get(TENANT, EVERYONE, "r1", run.id)
    assert [(a.status, a.result, a.error) for a in stored.actions] == [
        (ActionStatus.SUCCEEDED, "tags/9", ""),
        (ActionStatus.FAILED, "", "no such"),
    ]
    counts = uow.statistics.of("r1")
    assert (counts[Counter.ACTIONS_SUCCEEDED], counts[Counter.ACTIONS_FAILED]) == (1, 1)
    (period,) = await RunService(uow, clock=Clock(NOW + timedelta(hours=1))).statistics(
        TENANT, EVERYONE, "r1", start=None, end=None, week=False
    )
    assert period.hit_rate == 1.0
    assert period.start == datetime(2026, 12, 7, tzinfo=UTC)


class Transport:
    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[str, bytes, Mapping[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.posts.append((url, body, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def _no_sleep(seconds: float) -> None:
    return None


async def test_the_webhook_is_signed_retried_with_backoff_and_its_outcome_recorded() -> None:
    uow = EngineUnitOfWork(rule("hook", None, actions=(CallWebhook("https://hooks.test/x"),)))
    uow.settings.by_tenant[TENANT] = RuleSettings(TENANT, webhook_secret="s3cret")
    engine = Engine(EnabledRules(), clock=Clock())
    (run,) = await engine.run(uow, message())
    (request,) = [p for _, p in uow.emitted if isinstance(p, ActionRequested)]
    body = json.loads(request.body)
    assert (body["rule"], body["customer"], body["facts"]["message.text"]) == (
        "rules/hook",
        "customers/c1",
        "this is unacceptable",
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = Transport(TransportError("refused"), 503, 200)
    caller = WebhookCaller(transport, backoff=Backoff(4, 0.5, 2), sleep=sleep, clock=Clock())
    name = f"rules/hook/runs/{run.id}"
    status = await caller.call(
        WebhookRequest(TENANT, name, 0, request.action.url, request.body),  # type: ignore[union-attr]
        new_uow=uow,
    )
    assert status is ActionStatus.SUCCEEDED
    assert slept == [0.5, 1.0]
    _, sent, headers = transport.posts[-1]
    stamp = int(NOW.timestamp())
    assert headers["X-Crosstalk-Signature"] == signature("s3cret", stamp, sent)
    assert headers["X-Crosstalk-Timestamp"] == str(stamp)
    stored = await RunService(uow).get(TENANT, EVERYONE, "hook", run.id)
    assert [(a.status, a.result) for a in stored.actions] == [(ActionStatus.SUCCEEDED, "HTTP 200")]

    # A 4xx is not retried; the failure goes on the run.
    (again,) = await engine.run(uow, message())
    failing = WebhookCaller(Transport(404), sleep=_no_sleep, clock=Clock())
    status = await failing.call(
        WebhookRequest(TENANT, f"rules/hook/runs/{again.id}", 0, "https://hooks.test/x", b"{}"),
        new_uow=uow,
    )
    assert status is ActionStatus.FAILED
    stored = await RunService(uow).get(TENANT, EVERYONE, "hook", again.id)
    assert stored.actions[0].error == "attempt 1: HTTP 404"


async def _call_webhook_for_real(
    url: str, backoff: Backoff
) -> tuple[ActionStatus, list[float], str]:
    """A rule calling ``url`` through the real transport (public addresses only):
    the outcome, the backoff slept, and the error the run records."""
    uow = EngineUnitOfWork(rule("hook", None, actions=(CallWebhook(url),)))
    uow.settings.by_tenant[TENANT] = RuleSettings(TENANT, webhook_secret="s3cret")
    (run,) = await Engine(EnabledRules(), clock=Clock()).run(uow, message())
    transport = HttpxTransport(egress=PUBLIC_ONLY)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    try:
        caller = WebhookCaller(transport, backoff=backoff, sleep=sleep, clock=Clock())
        status = await caller.call(
            WebhookRequest(TENANT, f"rules/hook/runs/{run.id}", 0, url, b"{}"), new_uow=uow
        )
    finally:
        await transport.close()
    stored = await RunService(uow).get(TENANT, EVERYONE, "hook", run.id)
    return status, slept, stored.actions[0].error


async def test_a_webhook_to_a_refused_destination_fails_at_once_without_a_connection() -> None:
    """A name that resolves to loopback (here ``localhost``) is refused by the real
    transport before it connects, and the caller does not try it again."""
    status, slept, error = await _call_webhook_for_real("https://localhost/x", Backoff())
    assert status is ActionStatus.FAILED
    assert slept == []
    assert "not a public address" in error
    assert error.startswith("attempt 1:")


async def test_a_webhook_host_that_does_not_resolve_is_tried_again() -> None:
    status, slept, error = await _call_webhook_for_real("https://x.invalid/", Backoff(3, 0.5, 2))
    assert status is ActionStatus.FAILED
    assert slept == [0.5, 1.0]  # retried like a connection that got no answer
    assert "does not resolve" in error
