"""The permission each RulesService RPC needs (enforced by crosstalk_common)."""

from __future__ import annotations

METHOD_PERMISSIONS: dict[str, str] = {
    "CreateRule": "rules.edit",
    "GetRule": "rules.read",
    "ListRules": "rules.read",
    "UpdateRule": "rules.edit",
    "DeleteRule": "rules.edit",
    "ListRuleVersions": "rules.read",
    "EnableRule": "rules.edit",
    "DisableRule": "rules.edit",
    "DryRun": "rules.edit",
    "Backtest": "rules.edit",
    "ListRuleRuns": "rules.read",
    "ExplainRuleRun": "rules.read",
    "RollbackRule": "rules.edit",
    "ListFacts": "rules.read",
    "GetRuleStatistics": "rules.read",
    "GetRuleSettings": "rules.read",
    "UpdateRuleSettings": "rules.edit",
}
