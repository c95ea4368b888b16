"""Case settings from the environment."""

from __future__ import annotations

import os

from messaging.domain.cases import CaseSla


def case_sla_from_env() -> CaseSla:
    """``MESSAGING_CASE_SLA``, e.g. ``return=72h,complaint=24h,default=48h`` (48 hours for
    every type when unset); a bad value stops the service, naming the bad part."""
    return CaseSla.parse(os.environ.get("MESSAGING_CASE_SLA", ""))
