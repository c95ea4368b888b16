"""Rule runs through Envoy follow the caller's data scope, as customers do: an agent
(own customers) and a senior agent (their department) see the runs, explanations,
dry runs, backtests and statistics of the customers they may see; another
customer's run is not found, and lists leave it out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up
from tests.e2e.scenarios.steps import (
    add_member,
    customer_writes,
    leaf,
    placed_customer,
    save_rule,
)

pytestmark = pytest.mark.e2e


def _same(
    seen: Callable[[dict[str, str]], set[str]], headers: dict[str, str], reach: set[str]
) -> bool:
    return seen(headers) == reach


def test_agents_see_only_the_rule_runs_of_customers_in_their_scope(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        admin = sign_up(http, "Scoped Rules Co", working_language="en")

        def department(name: str) -> str:
            body = {"displayName": name}
            return str(ok(http.post("/v1/departments", headers=admin.headers, json=body))["name"])

        sales, support = department("Sales"), department("Support")
        _, senior = add_member(http, admin, "Senior Sales", "roles/senior", department=sales)
        agent, agent_headers = add_member(
            http, admin, "Agent Sales", "roles/normal", department=sales
        )
        started = datetime.now(UTC) - timedelta(minutes=1)
        rule = save_rule(
            http,
            admin,
            {
                "displayName": "Parcel questions",
                "trigger": "TRIGGER_MESSAGE_RECEIVED",
                "condition": leaf("message.text", "MATCHES_KEYWORDS", "parcel"),
                "actions": [{"addNote": {"text": "Parcel question"}}],
            },
        )["name"]

        tag = uuid.uuid4().hex[:6]
        pool = {
            "agent's own": {"owner": agent, "department": sales},
            "sales": {"department": sales},
            "support": {"department": support},
        }
        name_of = {
            label: placed_customer(http, admin, label, f"scoped{n}-{tag}@buyer.test", **placement)
            for n, (label, placement) in enumerate(pool.items())
        }
        label_of = {name: label for label, name in name_of.items()}
        for n in range(len(pool)):
            customer_writes(http, admin, f"scoped{n}-{tag}@buyer.test", "where is my parcel")

        def runs(headers: dict[str, str], parent: str = rule, **params: str) -> list[Any]:
            body = ok(http.get(f"/v1/{parent}/runs", headers=headers, params=params))
            return list(body.get("ruleRuns", []))

        def seen(headers: dict[str, str], parent: str = rule) -> set[str]:
            return {label_of.get(r["customer"], r["customer"]) for r in runs(headers, parent)}

        everyone = set(pool)
        eventually(lambda: seen(admin.headers) == everyone, timeout=60, what="the three runs")
        # The scope is read from the customers' snapshots rules projects (eventually).
        for who, headers, reach in (
            ("agent", agent_headers, {"agent's own"}),
            ("senior", senior, {"agent's own", "sales"}),
        ):
            eventually(partial(_same, seen, headers, reach), timeout=30, what=f"{who}'s runs")
            assert seen(headers, "rules/-") == reach, who
        assert runs(agent_headers, customer=name_of["support"]) == []

        run_of = {label_of[r["customer"]]: r["name"] for r in runs(admin.headers)}
        for headers in (agent_headers, senior):
            hidden = http.get(f"/v1/{run_of['support']}:explain", headers=headers)
            assert hidden.status_code == 404, hidden.text
        assert http.get(f"/v1/{run_of['sales']}:explain", headers=agent_headers).status_code == 404
        mine = run_of["agent's own"]
        own = ok(http.get(f"/v1/{mine}:explain", headers=agent_headers))
        assert own["facts"]["message.text"] == "where is my parcel"
        ok(http.get(f"/v1/{run_of['support']}:explain", headers=admin.headers))

        # A dry run on a customer out of reach is not found; on one in reach it runs.
        def dry_run(headers: dict[str, str], label: str) -> httpx.Response:
            body = {"message": {"text": "my parcel", "customer": name_of[label]}}
            return http.post("/v1/rules:dryRun", headers=headers, json=body)

        assert dry_run(senior, "support").status_code == 404
        answered = ok(dry_run(senior, "sales"))
        assert answered["facts"]["customer.department"] == sales

        # A backtest replays the events of the customers in reach only.
        span = {
            "rules": [rule],
            "startTime": started.isoformat(),
            "endTime": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        }

        def backtest(headers: dict[str, str]) -> tuple[int, int]:
            report = ok(http.post("/v1/rules:backtest", headers=headers, json=span))
            (result,) = report["results"]
            return int(report.get("eventCount", 0)), int(result.get("customerCount", 0))

        assert backtest(admin.headers) == (3, 3)
        assert backtest(senior) == (2, 2)

        # Statistics count what the caller may see.
        def fired(headers: dict[str, str]) -> int:
            body = ok(http.get(f"/v1/{rule}/statistics", headers=headers))
            return sum(int(s.get("firedCount", 0)) for s in body.get("statistics", []))

        eventually(lambda: fired(admin.headers) == 3, timeout=30, what="the counters")
        assert fired(senior) == 2
        assert fired(agent_headers) == 1
