"""The permission each CustomersService RPC needs (enforced by crosstalk_common)."""

from __future__ import annotations

_READ = "customers.read"
_WRITE = "customers.write"
_CONFIGURE = "customers.configure"

METHOD_PERMISSIONS: dict[str, str] = {
    "CreateCustomer": _WRITE,
    "GetCustomer": _READ,
    "ListCustomers": _READ,
    "UpdateCustomer": _WRITE,
    "DeleteCustomer": _WRITE,
    "SearchCustomers": _READ,
    "CountCustomers": _READ,
    "ResolveIdentity": "customers.resolve_identity",
    "MergeCustomers": "customers.merge",
    "ListDuplicateSuggestions": _READ,
    "AddTags": _WRITE,
    "RemoveTags": _WRITE,
    "AdjustScore": _WRITE,
    "ListScoreHistory": _READ,
    "EarnPoints": _WRITE,
    "SpendPoints": _WRITE,
    "ListPointsLedger": _READ,
    "RecordOrder": _WRITE,
    "ListOrders": _READ,
    "SetLifecycleStage": _WRITE,
    "ListLifecycleHistory": _READ,
    "BlacklistCustomer": "customers.blacklist",
    "UnblacklistCustomer": "customers.blacklist",
    "ListTimelineEvents": _READ,
    "StartBulkOperation": "customers.bulk_edit",
    "StartImport": "customers.import",
    "GetImportPreview": "customers.import",
    "StartExport": "customers.export",
    "GetExportFile": "customers.export",
    "GetJob": _READ,
    "ListJobs": _READ,
    "CancelJob": "customers.bulk_edit",
    **{
        f"{verb}{kind}": _READ if verb in ("Get", "List") else _CONFIGURE
        for kind in (
            "Tag",
            "TagGroup",
            "ScoreRule",
            "Tier",
            "TierRule",
            "CustomFieldDefinition",
            "Segment",
        )
        for verb in ("Create", "Get", "Update", "Delete")
    },
    **{
        f"List{kinds}": _READ
        for kinds in (
            "Tags",
            "TagGroups",
            "ScoreRules",
            "Tiers",
            "TierRules",
            "CustomFieldDefinitions",
            "Segments",
        )
    },
}
