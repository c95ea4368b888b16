"""Composition root of the rules service."""

from __future__ import annotations

import os
from pathlib import Path

from crosstalk.rules.v1 import rules_service_pb2, rules_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.use_case_handler import in_unit_of_work, scoped_batch_in_unit_of_work
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from crosstalk_common.secrets import Keyring, keyring_from_env
from rules.adapters.condition_reading import read_condition
from rules.adapters.consumers import (
    CONVERSATIONS,
    CUSTOMERS,
    MESSAGES,
    WEBHOOKS,
    on_triggers,
    on_webhook,
)
from rules.adapters.grpc_servicer import RulesServicer
from rules.adapters.management_settings import (
    auto_disable_failures_from_env,
    rule_limits_from_env,
)
from rules.adapters.peers import GrpcSegmentDirectory, GrpcTemplateDirectory
from rules.adapters.permissions import METHOD_PERMISSIONS
from rules.adapters.statistics_reporter import StatisticsReporter
from rules.adapters.tables import metadata
from rules.adapters.timer_repository import crash_hook_from_env, timer_settings
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.adapters.webhook_transport import HttpxTransport
from rules.app import auto_disable
from rules.app.enabled_rules import EnabledRules
from rules.app.managing import RuleManagement
from rules.app.running import Engine
from rules.app.runs import EvaluationLogKeeper, RunService
from rules.app.timers import TimerArming, TimerPoller
from rules.app.webhooks import WebhookCaller

SERVICE = "rules"
# Rule management asks customers for saved segments, messaging for reply templates.
PEERS = ("customers", "messaging")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = rules_service_pb2.DESCRIPTOR.services_by_name["RulesService"].full_name


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)
    limits = rule_limits_from_env(os.environ)
    auto_disable.POLICY.failures = auto_disable_failures_from_env(os.environ)
    segments = GrpcSegmentDirectory(settings.peers["customers"])
    templates = GrpcTemplateDirectory(settings.peers["messaging"])

    unit_of_work = RulesUnitOfWork.with_keyring(_keyring())

    def new_uow() -> RulesUnitOfWork:
        return unit_of_work(runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge)

    enabled_rules = EnabledRules()
    engine = Engine(enabled_rules)
    # One unit of work per batch, without a savepoint: any failure rolls the batch back.
    triggers = scoped_batch_in_unit_of_work(
        unit_of_work,
        runtime.outbox,
        on_triggers(engine, TimerArming(enabled_rules)),
        savepoint=False,
    )
    for subscription in (MESSAGES, CONVERSATIONS, CUSTOMERS):
        runtime.consume(subscription, scoped_batch_handler=triggers)
    transport = HttpxTransport(egress=limits.egress)
    runtime.consume(
        WEBHOOKS,
        in_unit_of_work(unit_of_work, runtime.outbox, on_webhook(WebhookCaller(transport))),
    )
    # Time triggers: due timers fired by one worker per replica (app/timers.py).
    timer_poller = TimerPoller(
        new_uow, engine, checkpoint=crash_hook_from_env(os.environ), **timer_settings(os.environ)
    )
    management = RuleManagement(new_uow, read_condition, segments, templates, limits)
    servicer = RulesServicer(
        management, PageTokenCodec(settings.page_token_secret), RunService(new_uow)
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(rules_service_pb2_grpc.add_RulesServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=[
            *runtime.workers,
            timer_poller.run,
            EvaluationLogKeeper(new_uow).run,
            StatisticsReporter(new_uow).run,
        ],
        cleanups=[*runtime.cleanups, segments.close, templates.close, close_jwks, transport.close],
    )


def _keyring() -> Keyring | None:
    """Seals the tenants' webhook secrets (``RULES_KEK``, ADR 0015). Without it rules
    runs, but refuses to store a webhook secret (webhook actions then fail)."""
    if not os.environ.get("RULES_KEK", "").strip():
        return None
    return keyring_from_env("RULES")
