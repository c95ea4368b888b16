"""Every RPC of every service declares the permission it needs, from the catalogue."""

from __future__ import annotations

import importlib

import pytest

from crosstalk_common.grpc.auth import AUTHENTICATED, PUBLIC
from crosstalk_common.permissions import BUILT_IN_ROLES, CATALOGUE
from tests.contract.conftest import Api

SERVICES = {
    "identity": "IdentityService",
    "customers": "CustomersService",
    "rules": "RulesService",
    "translation": "TranslationService",
    "messaging": "MessagingService",
    "reporting": "ReportingService",
}


def _rpcs(api: Api, service: str) -> set[str]:
    found = {m.proto.name for m in api.methods if m.service.endswith(f".{service}")}
    assert found, f"{service} is not in the descriptor set"
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_rpc_declares_a_catalogued_permission(service: str, api: Api) -> None:
    declared = importlib.import_module(f"{service}.adapters.permissions").METHOD_PERMISSIONS
    rpcs = _rpcs(api, SERVICES[service])
    assert sorted(rpcs - set(declared)) == [], f"{service}: RPCs without a permission"
    assert sorted(set(declared) - rpcs) == [], f"{service}: permissions for unknown RPCs"
    unknown = {
        m: p for m, p in declared.items() if p not in CATALOGUE and p not in (PUBLIC, AUTHENTICATED)
    }
    assert unknown == {}, f"{service}: permissions outside the catalogue"


def test_only_the_sign_in_door_is_public() -> None:
    public = {
        (service, method)
        for service in SERVICES
        for method, permission in importlib.import_module(
            f"{service}.adapters.permissions"
        ).METHOD_PERMISSIONS.items()
        if permission == PUBLIC
    }
    # Besides identity's sign-in door, only requests that carry their own
    # signed credential: the customer's CSAT answer (a one-time token) and
    # inbound channel deliveries (signed with the channel's secret).
    assert {m for m in public if m[0] != "identity"} <= {
        ("messaging", "SubmitCsat"),
        ("messaging", "GetCsatSurveyForm"),
        ("messaging", "ReceiveWebhook"),
        ("messaging", "ReceiveEmail"),
    }, public


def test_built_in_roles_use_catalogued_permissions() -> None:
    for role in BUILT_IN_ROLES.values():
        assert role.permissions <= set(CATALOGUE), role.id
    assert BUILT_IN_ROLES["admin"].permissions == set(CATALOGUE)
    restricted = BUILT_IN_ROLES["restricted"].permissions
    assert not restricted & {"customers.export", "rules.edit", "customers.bulk_edit"}
    assert "templates.manage_shared" in BUILT_IN_ROLES["senior"].permissions
    assert "rules.edit" in BUILT_IN_ROLES["senior"].permissions
