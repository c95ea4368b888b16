"""Composition root of the messaging service."""

from __future__ import annotations

import os
from pathlib import Path

from crosstalk.messaging.v1 import messaging_service_pb2, messaging_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.use_case_handler import in_unit_of_work, scoped_batch_in_unit_of_work
from crosstalk_common.domain.channel import Channel
from crosstalk_common.egress import EgressPolicy
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.adapters.case_settings import case_sla_from_env
from messaging.adapters.channel_adapters.smtp import SmtpChannel
from messaging.adapters.channel_adapters.webhook import WebhookChannel
from messaging.adapters.channel_settings import ChannelSettings, KeyringSecretBox, channel_keyring
from messaging.adapters.consumers import (
    MEMBER_CONTACTS,
    RULE_ACTIONS,
    RULE_DISABLED,
    on_member_contact,
    on_rule_action,
    on_rule_disabled,
)
from messaging.adapters.conversation_consumers import (
    CUSTOMERS,
    MEMBERS,
    on_customer_events,
    on_member_event,
)
from messaging.adapters.csat_consumer import CLOSED_CONVERSATIONS, on_status_changed
from messaging.adapters.csat_settings import csat_settings_from_env
from messaging.adapters.customer_facts_client import GrpcCustomerFacts
from messaging.adapters.customers_client import GrpcCustomerDirectory
from messaging.adapters.delivery_consumer import (
    DELIVERY_FAILURES,
    DELIVERY_REQUESTS,
    on_delivery_failed,
    on_delivery_requested,
)
from messaging.adapters.grpc_servicer import MessagingServicer
from messaging.adapters.inbound_identity import ApiKeyIdentity
from messaging.adapters.permissions import METHOD_PERMISSIONS
from messaging.adapters.service_identity import ServiceIdentity
from messaging.adapters.smtp_mailer import NotifySmtpSettings, SmtpMailer
from messaging.adapters.tables import metadata
from messaging.adapters.translation_client import GrpcTranslation, GrpcWorkingLanguages
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.cases import Cases
from messaging.app.channels import (
    ChannelConfigService,
    InboundChannels,
    WebhookDeliveryPruner,
)
from messaging.app.conversations import ConversationService
from messaging.app.csat import CsatService
from messaging.app.csat_invitations import CsatOnClose
from messaging.app.delivery import DeliveryWorker
from messaging.app.notifications import NotificationEmails, Notifications
from messaging.app.ports import ChannelAdapter
from messaging.app.replies import Replies
from messaging.app.rule_actions import RuleActions
from messaging.app.rule_replies import RepliesAsRule
from messaging.app.settings import InboundTextLimit, Settings
from messaging.app.templates import TemplateRenderer, TemplateService
from messaging.app.understanding import TextUnderstanding
from messaging.app.use_cases import MessagingService

SERVICE = "messaging"
PEERS = ("customers", "translation")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = messaging_service_pb2.DESCRIPTOR.services_by_name["MessagingService"].full_name


def channel_adapters(
    channel_settings: ChannelSettings, egress: EgressPolicy
) -> dict[Channel, ChannelAdapter]:
    """The adapter of each channel that has its own; every other channel goes through
    the API/webhook adapter. A marketplace adapter is one more entry here."""
    return {Channel.EMAIL: SmtpChannel(channel_settings.smtp_timeout.total_seconds(), egress)}


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)
    customers = GrpcCustomerDirectory(settings.peers["customers"])
    translation = GrpcTranslation(settings.peers["translation"])
    working_languages = GrpcWorkingLanguages(settings.peers["identity"])
    understanding = TextUnderstanding(translation, working_languages)
    customer_facts = GrpcCustomerFacts(settings.peers["customers"])
    csat_settings = csat_settings_from_env()

    def new_uow() -> MessagingUnitOfWork:
        return MessagingUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    # The conversations area's projections: customers' snapshots (owner, department, tier,
    # tags: data scope and filters) and members (assignment).
    runtime.consume(
        CUSTOMERS,
        scoped_batch_handler=scoped_batch_in_unit_of_work(
            MessagingUnitOfWork, runtime.outbox, on_customer_events, savepoint=False
        ),
    )
    runtime.consume(MEMBERS, in_unit_of_work(MessagingUnitOfWork, runtime.outbox, on_member_event))
    messaging = MessagingService(new_uow, customers, understanding, InboundTextLimit(new_uow))
    # Channels: configs with sealed secrets, public inbound routes acting as the
    # channel's API key, and the delivery worker behind the ChannelAdapter port.
    channel_settings = ChannelSettings.from_env()
    egress = EgressPolicy.from_env(os.environ)
    channel_configs = ChannelConfigService(new_uow, KeyringSecretBox(channel_keyring()), egress)
    inbound_identity = ApiKeyIdentity(settings.peers["identity"], verifier)
    webhook_channel = WebhookChannel(
        channel_settings.webhook_timeout.total_seconds(), egress=egress
    )
    delivery_worker = DeliveryWorker(
        new_uow,
        channel_configs,
        channel_adapters(channel_settings, egress),
        webhook_channel,
        channel_settings.retry_policy,
    )
    runtime.consume(
        DELIVERY_REQUESTS,
        in_unit_of_work(
            MessagingUnitOfWork, runtime.outbox, on_delivery_requested(delivery_worker.nudge)
        ),
    )
    runtime.consume(
        DELIVERY_FAILURES, in_unit_of_work(MessagingUnitOfWork, runtime.outbox, on_delivery_failed)
    )
    # CSAT: a survey and its link when a conversation closes, if the tenant's settings say so.
    runtime.consume(
        CLOSED_CONVERSATIONS,
        in_unit_of_work(
            MessagingUnitOfWork,
            runtime.outbox,
            on_status_changed(
                lambda uow: CsatOnClose(
                    uow,
                    CsatService(uow, csat_settings.token_key, csat_settings.default_expiry),
                    csat_settings.link_base,
                )
            ),
        ),
    )
    # Rule actions (core_loop §3) and member notifications.
    case_sla = case_sla_from_env()
    notify_smtp = NotifySmtpSettings.from_env()
    notification_emails = NotificationEmails(new_uow, SmtpMailer(notify_smtp))
    renderer = TemplateRenderer(new_uow, customer_facts, translation)

    def rule_actions(uow: UnitOfWorkFactory[MessagingUnitOfWork]) -> RuleActions:
        return RuleActions(
            uow,
            ConversationService(uow),
            Cases(uow, case_sla),
            Notifications(uow, email_enabled=notify_smtp.configured),
            TemplateRenderer(uow, customer_facts, translation),
            RepliesAsRule(Replies(uow, translation, customers, understanding)),
        )

    # A rule's reply asks translation and customers as messaging itself, for the event's
    # tenant (a service token from identity, ADR 0026).
    service_identity = ServiceIdentity.from_env(settings.peers["identity"], verifier)
    runtime.consume(
        RULE_ACTIONS,
        in_unit_of_work(
            MessagingUnitOfWork,
            runtime.outbox,
            on_rule_action(rule_actions, service_identity.acting_for),
        ),
    )
    runtime.consume(
        MEMBER_CONTACTS, in_unit_of_work(MessagingUnitOfWork, runtime.outbox, on_member_contact)
    )
    runtime.consume(
        RULE_DISABLED,
        in_unit_of_work(
            MessagingUnitOfWork,
            runtime.outbox,
            on_rule_disabled(email_enabled=notify_smtp.configured),
        ),
    )
    servicer = MessagingServicer(
        messaging,
        notifications=Notifications(new_uow, email_enabled=notify_smtp.configured),
        cases=Cases(new_uow, case_sla),
        page_tokens=PageTokenCodec(settings.page_token_secret),
        templates=TemplateService(new_uow),
        renderer=renderer,
        csat=CsatService(new_uow, csat_settings.token_key, csat_settings.default_expiry),
        replies=Replies(new_uow, translation, customers, understanding),
        settings=Settings(new_uow),
        channel_configs=channel_configs,
        inbound=InboundChannels(new_uow, channel_configs, messaging, inbound_identity),
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(messaging_service_pb2_grpc.add_MessagingServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=[
            *runtime.workers,
            delivery_worker.run,
            WebhookDeliveryPruner(new_uow, channel_settings.webhook_retention).run,
            *([notification_emails.run] if notify_smtp.configured else []),
        ],
        cleanups=[
            *runtime.cleanups,
            customers.close,
            customer_facts.close,
            translation.close,
            working_languages.close,
            webhook_channel.close,
            inbound_identity.close,
            service_identity.close,
            close_jwks,
        ],
    )
