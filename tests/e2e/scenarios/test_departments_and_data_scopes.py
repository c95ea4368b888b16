"""Departments and data scopes, from /work/shared/seeds/003_467e6b02855f0cdd.txt (微伴,
使用范围): "超级管理员管理员——管理全部客户; 部门管理员——管理部门成员客户(所管部门不包含
子部门); 普通员工——管理个人客户", and /work/shared/seeds/000_318f622f2e041d0e.txt (团队分组):
"根据部门或项目分组,例如销售组、客服组 ... 分组权限可自定义".

The same holds for the conversations of those customers (the inbox), as the core loop
says owner and department come from the customer.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up
from tests.e2e.scenarios.steps import add_member, customer_writes, placed_customer

pytestmark = pytest.mark.e2e


def test_admin_department_manager_and_agent_each_see_their_own_reach(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        admin = sign_up(http, "Global Trade (80 people)")
        # 部门管理员 manage their department without its sub-departments, unless their
        # role says otherwise. The tenant's default (on) is only the default of new
        # roles: it does not widen a role that says no.
        settings = ok(http.get(f"/v1/tenants/{admin.tenant_id}/settings", headers=admin.headers))
        assert settings["includeSubDepartments"] is True

        def department(name: str, parent: str = "") -> str:
            body = {"displayName": name, **({"parent": parent} if parent else {})}
            return str(ok(http.post("/v1/departments", headers=admin.headers, json=body))["name"])

        sales = department("销售组")
        sales_de = department("德国", parent=sales)
        support = department("客服组")

        def role(name: str, include_sub_departments: bool) -> str:
            created = ok(
                http.post(
                    "/v1/roles",
                    headers=admin.headers,
                    json={
                        "displayName": name,
                        "permissions": ["customers.read", "conversations.read"],
                        "dataScope": "DATA_SCOPE_DEPARTMENT",
                        "includeSubDepartments": include_sub_departments,
                    },
                )
            )
            return str(created["name"])

        _, manager = add_member(
            http, admin, "Manager Sales", role("部门管理员", False), department=sales
        )
        _, wide_manager = add_member(
            http, admin, "Director Sales", role("部门管理员(含子部门)", True), department=sales
        )
        agent, agent_headers = add_member(
            http, admin, "Agent Sales", "roles/normal", department=sales
        )
        de_agent, _ = add_member(http, admin, "Agent Germany", "roles/normal", department=sales_de)

        tag = uuid.uuid4().hex[:6]
        pool = {
            "agent's own": {"owner": agent, "department": sales},
            "sales, no owner": {"department": sales},
            "germany": {"owner": de_agent, "department": sales_de},
            "support": {"department": support},
        }
        names: dict[str, str] = {}
        for number, (label, placement) in enumerate(pool.items()):
            address = f"buyer{number}-{tag}@buyer.test"
            names[label] = placed_customer(http, admin, label, address, **placement)
            customer_writes(http, admin, address, f"Hello from {label}")

        def customers_seen(headers: dict[str, str]) -> set[str]:
            body = ok(http.get("/v1/customers", headers=headers, params={"pageSize": 100}))
            return {c["displayName"] for c in body.get("customers", [])}

        def conversations_seen(headers: dict[str, str]) -> set[str]:
            body = ok(http.get("/v1/conversations", headers=headers, params={"pageSize": 100}))
            by_customer = {v: k for k, v in names.items()}
            return {
                by_customer.get(c["customer"], c["customer"]) for c in body.get("conversations", [])
            }

        everyone = set(pool)
        expected = {
            "admin": (admin.headers, everyone),
            "department manager": (manager, {"agent's own", "sales, no owner"}),
            "manager with sub-departments": (
                wide_manager,
                {"agent's own", "sales, no owner", "germany"},
            ),
            "agent": (agent_headers, {"agent's own"}),
        }
        for who, (headers, reach) in expected.items():
            assert customers_seen(headers) == reach, who
            # Conversations follow once the customers' snapshots reached messaging.
            eventually(
                lambda h=headers, r=reach: conversations_seen(h) == r,
                timeout=30,
                what=f"the {who}'s inbox",
            )

        # Out of reach is not found, not forbidden: nothing tells it exists.
        assert http.get(f"/v1/{names['germany']}", headers=manager).status_code == 404
        assert http.get(f"/v1/{names['support']}", headers=agent_headers).status_code == 404
        assert http.get(f"/v1/{names['germany']}", headers=wide_manager).status_code == 200
        listed = ok(http.get("/v1/departments", headers=admin.headers))
        parents = {d["displayName"]: d.get("parent", "") for d in listed["departments"]}
        assert parents["德国"] == sales
        assert parents["销售组"] == ""


def test_another_tenant_sees_none_of_it(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        first = sign_up(http, "First Trade Co")
        second = sign_up(http, "Second Trade Co")
        created = ok(http.post("/v1/customers", headers=first.headers, json={"displayName": "A"}))
        departments: Any = ok(http.get("/v1/departments", headers=second.headers))
        assert departments.get("departments", []) == []
        assert http.get(f"/v1/{created['name']}", headers=second.headers).status_code == 404
        assert ok(http.get("/v1/customers", headers=second.headers)).get("customers", []) == []
