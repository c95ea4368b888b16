"""Migration 0003 on existing rules: each keeps its current version (listed and
rolled back to like any) and its tag labels are filled in for ListRules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import alembic_config
from crosstalk_devstack.databases import service_database_urls
from rules.adapters.rule_versions import _from_content
from rules.domain.actions import AddTag, RemoveTag

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_existing_rules_keep_their_version_and_tag_labels(tmp_path: Path) -> None:
    url = service_database_urls(("rules",), tmp_path, "r3")["rules"]
    config = alembic_config(MIGRATIONS, url)
    command.upgrade(config, "0002")
    engine = create_engine(sync_url(url))
    # A rule of before namespaced facts: its condition names the bare "text".
    condition = condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(
            field="text", operator=condition_pb2.OPERATOR_MATCHES_KEYWORDS, values=["refund"]
        )
    ).SerializeToString()
    actions = [{"add_tag": {"tags": ["Refund "]}}, {"remove_tag": {"tags": ["happy"]}}]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rules (id, tenant_id, display_name, trigger, condition, actions,"
                " priority, stop_processing, enabled, cooldown_seconds, rollout_percent,"
                " version, created_at, updated_at) VALUES ('r1', 't1', 'old', "
                "'message_received', :condition, :actions, 0, false, true, 0, 100, 3, :at, :at)"
            ),
            {"condition": condition, "actions": json.dumps(actions), "at": T0},
        )

    command.upgrade(config, "head")

    with engine.connect() as conn:
        content, author, version = conn.execute(
            text("SELECT content, author, version FROM rule_versions WHERE rule_id = 'r1'")
        ).one()
        labels = conn.execute(text("SELECT tag_labels FROM rules WHERE id = 'r1'")).scalar()
    engine.dispose()

    assert (author, version) == ("", 3)
    if isinstance(content, str):
        content = json.loads(content)
    rule = _from_content(content)
    assert (rule.id, rule.tenant_id, rule.display_name, rule.version) == ("r1", "t1", "old", 3)
    assert rule.actions == (AddTag(("Refund ",)), RemoveTag(("happy",)))
    assert rule.condition is not None
    assert rule.created_at == T0
    assert labels == "|happy|refund|"
