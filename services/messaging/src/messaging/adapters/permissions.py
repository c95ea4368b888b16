"""The permission each MessagingService RPC needs (enforced by crosstalk_common)."""

from __future__ import annotations

from crosstalk_common.grpc.auth import AUTHENTICATED, PUBLIC

_READ = "conversations.read"
_CRUD = ("Create", "Get", "Update", "Delete")

METHOD_PERMISSIONS: dict[str, str] = {
    "IngestMessage": "messages.ingest",
    "GetConversation": _READ,
    "ListConversations": _READ,
    "GetMessage": _READ,
    "ListMessages": _READ,
    "SendReply": "conversations.reply",
    "ConfirmDraft": "conversations.reply",
    "DiscardDraft": "conversations.reply",
    "SendProactiveMessage": "conversations.reply",
    "GetMessagingSettings": _READ,
    "UpdateMessagingSettings": "tenant.manage",
    "SetTranslationSetting": "translation.manage",
    "ListTranslationSettings": _READ,
    "DeleteTranslationSetting": "translation.manage",
    "AssignConversation": "conversations.assign",
    "SetConversationStatus": "conversations.assign",
    "SetConversationPriority": "conversations.assign",
    # Notes and labels on a conversation are part of working it.
    "CreateNote": "conversations.reply",
    "SetConversationLabels": "conversations.assign",
    "ListConversationLabels": _READ,
    # The tenant's label list is shared configuration.
    "CreateConversationLabel": "conversations.assign",
    "DeleteConversationLabel": "conversations.assign",
    "RenderTemplate": "templates.use",
    "ListReplyTemplateVersions": "templates.use",
    "RollbackReplyTemplate": "templates.use",
    "GetReplyTemplate": "templates.use",
    "ListReplyTemplates": "templates.use",
    # Private templates are each member's own; creating, changing or deleting a
    # shared one also needs templates.manage_shared (app/templates.py checks it).
    "CreateReplyTemplate": "templates.use",
    "UpdateReplyTemplate": "templates.use",
    "DeleteReplyTemplate": "templates.use",
    "TransitionCase": "cases.manage",
    **{f"{verb}Case": _READ if verb == "Get" else "cases.manage" for verb in _CRUD},
    "ListCases": _READ,
    "CreateCsatSurvey": "conversations.reply",
    "GetCsatSurvey": _READ,
    "ListCsatSurveys": _READ,
    # The customer answers without an access token: the request's one-time
    # token, signed by messaging, is the credential (gateway.yaml lists it in
    # auth.public_methods too).
    "SubmitCsat": PUBLIC,
    "GetCsatSurveyForm": PUBLIC,
    **{f"{verb}ChannelConfig": "channels.manage" for verb in _CRUD},
    "ListChannelConfigs": "channels.manage",
    # A channel's inbound deliveries: the channel's own secret is the credential
    # (signature or inbound secret, checked by the handler; auth.public_methods too).
    "ReceiveWebhook": PUBLIC,
    "ReceiveEmail": PUBLIC,
    # A member's own notifications: any signed-in member (the handler scopes to the caller).
    "ListNotifications": AUTHENTICATED,
    "MarkNotificationRead": AUTHENTICATED,
}
