"""The permission each MessagingService RPC needs (enforced by crosstalk_common)."""

from __future__ import annotations

from crosstalk_common.grpc.auth import AUTHENTICATED

_READ = "conversations.read"
_CRUD = ("Create", "Get", "Update", "Delete")

METHOD_PERMISSIONS: dict[str, str] = {
    "IngestMessage": "messages.ingest",
    "GetConversation": _READ,
    "ListConversations": _READ,
    "GetMessage": _READ,
    "ListMessages": _READ,
    "SendReply": "conversations.reply",
    "AssignConversation": "conversations.assign",
    "SetConversationStatus": "conversations.assign",
    "SetConversationPriority": "conversations.assign",
    "RenderTemplate": "templates.use",
    "ListReplyTemplateVersions": "templates.use",
    "GetReplyTemplate": "templates.use",
    "ListReplyTemplates": "templates.use",
    # Private templates are each member's own; shared ones need the permission
    # (the handler checks which kind a template is).
    "CreateReplyTemplate": "templates.use",
    "UpdateReplyTemplate": "templates.use",
    "DeleteReplyTemplate": "templates.use",
    "TransitionCase": "cases.manage",
    **{f"{verb}Case": _READ if verb == "Get" else "cases.manage" for verb in _CRUD},
    "ListCases": _READ,
    "CreateCsatSurvey": "conversations.reply",
    "GetCsatSurvey": _READ,
    "ListCsatSurveys": _READ,
    # Customers answer surveys through a channel adapter acting for them.
    "SubmitCsat": "messages.ingest",
    **{f"{verb}ChannelConfig": "channels.manage" for verb in _CRUD},
    "ListChannelConfigs": "channels.manage",
    # A member's own notifications: any signed-in member (the handler scopes to the caller).
    "ListNotifications": AUTHENTICATED,
    "MarkNotificationRead": AUTHENTICATED,
}
