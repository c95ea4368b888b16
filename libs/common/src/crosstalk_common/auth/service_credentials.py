"""A service's own credential: the secret it presents to identity for a service token.

``<SERVICE>_SERVICE_SECRET`` is read by the service that holds it and by identity, which
checks it (ADR 0026). It is required outside dev; in dev both sides fall back to the same
dev-only value, so a local stack works without configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from crosstalk_common.config import MissingSetting

MIN_SECRET_BYTES = 32


def service_secret_name(service: str) -> str:
    return f"{service.upper()}_SERVICE_SECRET"


def service_secret_from_env(service: str, environ: Mapping[str, str] | None = None) -> str:
    """The service's secret; a missing (outside dev) or short one stops the start."""
    env = os.environ if environ is None else environ
    name = service_secret_name(service)
    secret = env.get(name, "")
    if not secret:
        if env.get("CROSSTALK_ENV", "dev") != "dev":
            raise MissingSetting(f"{name} is required outside dev", (f"{name} is required",))
        return f"dev-only-service-secret-of-{service}-0123456789abcdef"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        problem = f"{name} must be at least {MIN_SECRET_BYTES} bytes"
        raise MissingSetting(problem, (problem,))
    return secret
