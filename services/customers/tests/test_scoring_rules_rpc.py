"""Score rule RPCs through the servicer: CRUD, bad input named by field, etags."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from google.protobuf import field_mask_pb2

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import scoring_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import Aborted, InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.bootstrap import compose_servicer
from customers.domain.scoring import SCORABLE_EVENT_TYPES

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def _caller(tenant: str) -> auth.Caller:
    return auth.Caller(
        tenant_id=tenant,
        subject="members/admin",
        permissions=frozenset(),
        data_scope=DataScope.ALL,
        department_id="",
        visible_departments=frozenset(),
        token="",
    )


@pytest.fixture
def servicer(tmp_path: Path) -> CustomersServicer:
    url = service_database_urls(("customers",), tmp_path, "scoringrules")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))
    return compose_servicer(
        lambda: CustomersUnitOfWork(sessions, outbox), PageTokenCodec(b"test-secret")
    )


def _run(scenario: Callable[[], Awaitable[None]], tenant: str = "tenant-rules") -> None:
    async def as_caller() -> None:
        token = auth._current.set(_caller(tenant))
        try:
            await scenario()
        finally:
            auth._current.reset(token)

    asyncio.run(as_caller())


def _leaf(field: str, op: int, *values: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(field=field, operator=op, values=list(values))  # type: ignore[arg-type]
    )


def _all_of(*conditions: condition_pb2.Condition) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        group=condition_pb2.ConditionGroup(
            operator=condition_pb2.LOGICAL_OPERATOR_AND, conditions=list(conditions)
        )
    )


REFUND_WORDS = _leaf("text", condition_pb2.OPERATOR_MATCHES_KEYWORDS, "refund", "return")


def _rule(**overrides: object) -> scoring_pb2.ScoreRule:
    fields: dict[str, object] = {
        "display_name": "Refund talk",
        "event_type": "message.received",
        "condition": REFUND_WORDS,
        "points": -5,
        "frequency": scoring_pb2.SCORE_RULE_FREQUENCY_REPEATABLE,
        "cap_points": 20,
        "cap_period": scoring_pb2.CAP_PERIOD_DAY,
        "enabled": True,
    }
    fields.update(overrides)
    return scoring_pb2.ScoreRule(**fields)  # type: ignore[arg-type]


def test_scorable_event_types_are_catalogued_events_about_a_customer() -> None:
    for event_type in SCORABLE_EVENT_TYPES:
        payload = catalogue()[event_type].payload
        assert "customer" in payload.DESCRIPTOR.fields_by_name, event_type
    assert "customer.scored" not in SCORABLE_EVENT_TYPES


def test_score_rule_crud_and_etags(servicer: CustomersServicer) -> None:
    async def scenario() -> None:
        created = await servicer.CreateScoreRule(
            pb.CreateScoreRuleRequest(score_rule=_rule()), None
        )
        assert created.name.startswith("scoreRules/")
        assert (created.points, created.cap_points, created.etag) == (-5, 20, 'W/"1"')
        assert created.condition == REFUND_WORDS
        got = await servicer.GetScoreRule(pb.GetScoreRuleRequest(name=created.name), None)
        assert got == created

        second = await servicer.CreateScoreRule(
            pb.CreateScoreRuleRequest(
                score_rule=_rule(
                    display_name="First order",
                    event_type="order.recorded",
                    condition=_leaf("amount", condition_pb2.OPERATOR_GTE, "100"),
                    points=10,
                    frequency=scoring_pb2.SCORE_RULE_FREQUENCY_ONCE,
                    cap_points=0,
                    cap_period=scoring_pb2.CAP_PERIOD_UNSPECIFIED,
                )
            ),
            None,
        )
        first_page = await servicer.ListScoreRules(pb.ListScoreRulesRequest(page_size=1), None)
        assert [r.name for r in first_page.score_rules] == [created.name]
        rest = await servicer.ListScoreRules(
            pb.ListScoreRulesRequest(page_size=1, page_token=first_page.next_page_token), None
        )
        assert [r.name for r in rest.score_rules] == [second.name]
        assert rest.next_page_token == ""

        # changing the event type alone re-checks the kept condition against its facts
        with pytest.raises(InvalidArgument) as bad:
            await servicer.UpdateScoreRule(
                pb.UpdateScoreRuleRequest(
                    score_rule=scoring_pb2.ScoreRule(
                        name=created.name, event_type="order.recorded"
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["event_type"]),
                ),
                None,
            )
        assert [v.field for v in bad.value.violations] == ["score_rule.condition.leaf.field"]

        updated = await servicer.UpdateScoreRule(
            pb.UpdateScoreRuleRequest(
                score_rule=scoring_pb2.ScoreRule(
                    name=created.name, enabled=False, etag=created.etag
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
            ),
            None,
        )
        assert (updated.enabled, updated.points, updated.etag) == (False, -5, 'W/"2"')
        with pytest.raises(Aborted):
            await servicer.UpdateScoreRule(
                pb.UpdateScoreRuleRequest(
                    score_rule=scoring_pb2.ScoreRule(
                        name=created.name, points=3, etag=created.etag
                    ),
                ),
                None,
            )
        cleared = await servicer.UpdateScoreRule(
            pb.UpdateScoreRuleRequest(
                score_rule=scoring_pb2.ScoreRule(name=created.name),
                update_mask=field_mask_pb2.FieldMask(paths=["condition"]),
            ),
            None,
        )
        assert not cleared.HasField("condition")

        with pytest.raises(Aborted):
            await servicer.DeleteScoreRule(
                pb.DeleteScoreRuleRequest(name=created.name, etag=created.etag), None
            )
        await servicer.DeleteScoreRule(pb.DeleteScoreRuleRequest(name=created.name), None)
        with pytest.raises(NotFound):
            await servicer.GetScoreRule(pb.GetScoreRuleRequest(name=created.name), None)

    _run(scenario)


def test_score_rules_belong_to_their_tenant(servicer: CustomersServicer) -> None:
    names: list[str] = []

    async def create() -> None:
        created = await servicer.CreateScoreRule(
            pb.CreateScoreRuleRequest(score_rule=_rule()), None
        )
        names.append(created.name)

    async def elsewhere() -> None:
        with pytest.raises(NotFound):
            await servicer.GetScoreRule(pb.GetScoreRuleRequest(name=names[0]), None)
        listed = await servicer.ListScoreRules(pb.ListScoreRulesRequest(), None)
        assert list(listed.score_rules) == []

    _run(create)
    _run(elsewhere, tenant="tenant-elsewhere")


def test_score_rule_bad_input_names_every_field(servicer: CustomersServicer) -> None:
    async def violations(rule: scoring_pb2.ScoreRule) -> list[str]:
        with pytest.raises(InvalidArgument) as bad:
            await servicer.CreateScoreRule(pb.CreateScoreRuleRequest(score_rule=rule), None)
        return [v.field for v in bad.value.violations]

    async def scenario() -> None:
        assert await violations(
            _rule(display_name=" ", event_type="message.sent", points=0, frequency=0)
        ) == [
            "score_rule.display_name",
            "score_rule.event_type",
            "score_rule.points",
            "score_rule.frequency",
        ]
        # scoring its own output would loop
        assert await violations(_rule(event_type="customer.scored", condition=None)) == [
            "score_rule.event_type"
        ]
        assert await violations(_rule(points=5_000_000)) == ["score_rule.points"]
        assert await violations(_rule(cap_period=scoring_pb2.CAP_PERIOD_UNSPECIFIED)) == [
            "score_rule.cap_period"
        ]
        assert await violations(_rule(cap_points=0)) == ["score_rule.cap_points"]
        assert await violations(_rule(cap_points=-1)) == ["score_rule.cap_points"]
        # a fact the event does not have, named with its position
        unknown = _all_of(REFUND_WORDS, _leaf("amount", condition_pb2.OPERATOR_GT, "5"))
        assert await violations(_rule(condition=unknown, points=0)) == [
            "score_rule.points",
            "score_rule.condition.group.conditions[1].leaf.field",
        ]
        wrong_value = _leaf("channel", condition_pb2.OPERATOR_EQUALS, "pigeon")
        assert await violations(_rule(condition=wrong_value)) == [
            "score_rule.condition.leaf.values"
        ]
        listed = await servicer.ListScoreRules(pb.ListScoreRulesRequest(), None)
        assert list(listed.score_rules) == [], "a refused rule was stored"

    _run(scenario)
