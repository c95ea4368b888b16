"""Crosstalk's own services as principals: what each may do when identity issues it a
token for one tenant (ADR 0026).

A service token carries only its service's grants, for one tenant, over that tenant's
whole data (scope ALL: background work such as a rule's reply acts for the tenant, not for
a member). The list is code, not data: a tenant cannot widen it, and adding a service or
a grant is a reviewed change.
"""

from __future__ import annotations

from collections.abc import Mapping

from crosstalk_common.auth.claims import SERVICE_SUBJECT_PREFIX

SERVICE_GRANTS: Mapping[str, frozenset[str]] = {
    # The rule-actions and CSAT consumers: render a template (the customer's facts and
    # latest order from customers) and machine-translate it (translation).
    "messaging": frozenset({"customers.read", "translation.use"}),
}


def service_subject(service: str) -> str:
    return f"{SERVICE_SUBJECT_PREFIX}{service}"
