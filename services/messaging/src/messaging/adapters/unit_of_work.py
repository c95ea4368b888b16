"""The messaging unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from messaging.adapters.case_repository import SqlCasesRepository
from messaging.adapters.channel_repository import (
    SqlChannelConfigs,
    SqlDeliveries,
    SqlInboundDeliveries,
)
from messaging.adapters.mapping import event_to_pb
from messaging.adapters.notification_repository import (
    SqlMemberContacts,
    SqlNotificationsRepository,
    SqlRuleActionLedger,
)
from messaging.adapters.reply_repository import (
    SqlMessagingSettingsRepository,
    SqlRepliesRepository,
    SqlTranslationSettingsRepository,
)
from messaging.adapters.repository import SqlMessagesRepository
from messaging.adapters.repository_conversations import (
    SqlConversationLabelsRepository,
    SqlConversationsRepository,
    SqlMembers,
)
from messaging.adapters.snapshot_repository import SqlCustomerSnapshots
from messaging.adapters.template_repository import (
    SqlConversationLookup,
    SqlCsatRepository,
    SqlTemplatesRepository,
)
from messaging.domain.events import MessagingEvent


class MessagingUnitOfWork(SqlUnitOfWork):
    messages: SqlMessagesRepository
    conversations: SqlConversationsRepository
    conversation_labels: SqlConversationLabelsRepository
    customer_snapshots: SqlCustomerSnapshots
    members: SqlMembers
    cases: SqlCasesRepository
    templates: SqlTemplatesRepository
    csat: SqlCsatRepository
    conversation_facts: SqlConversationLookup
    replies: SqlRepliesRepository
    settings: SqlMessagingSettingsRepository
    translation_settings: SqlTranslationSettingsRepository
    channel_configs: SqlChannelConfigs
    inbound_deliveries: SqlInboundDeliveries
    deliveries: SqlDeliveries
    notifications: SqlNotificationsRepository
    member_contacts: SqlMemberContacts
    rule_actions: SqlRuleActionLedger

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.messages = SqlMessagesRepository(self.session)
        self.conversations = SqlConversationsRepository(self.session)
        self.conversation_labels = SqlConversationLabelsRepository(self.session)
        self.customer_snapshots = SqlCustomerSnapshots(self.session)
        self.members = SqlMembers(self.session)
        self.cases = SqlCasesRepository(self.session)
        self.templates = SqlTemplatesRepository(self.session)
        self.csat = SqlCsatRepository(self.session)
        self.conversation_facts = SqlConversationLookup(self.session)
        self.replies = SqlRepliesRepository(self.session)
        self.settings = SqlMessagingSettingsRepository(self.session)
        self.translation_settings = SqlTranslationSettingsRepository(self.session)
        self.channel_configs = SqlChannelConfigs(self.session)
        self.inbound_deliveries = SqlInboundDeliveries(self.session)
        self.deliveries = SqlDeliveries(self.session)
        self.notifications = SqlNotificationsRepository(self.session)
        self.member_contacts = SqlMemberContacts(self.session)
        self.rule_actions = SqlRuleActionLedger(self.session)
        return self

    async def record(self, event: MessagingEvent) -> None:
        tenant_id, payload = event_to_pb(event)
        await self.emit(tenant_id, payload)
