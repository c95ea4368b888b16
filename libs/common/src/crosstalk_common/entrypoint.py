"""`python -m <service>`: settings, logs, traces, then serve until SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence

from crosstalk_common.config import MissingSetting
from crosstalk_common.grpc.server import ServiceDefinition, serve
from crosstalk_common.logging import configure_logging
from crosstalk_common.runtime import ServiceSettings
from crosstalk_common.secrets import SecretError
from crosstalk_common.telemetry import setup_telemetry

Builder = Callable[[ServiceSettings], Awaitable[ServiceDefinition]]


def run_service(service: str, build: Builder, *, peers: Sequence[str] = ()) -> None:
    try:
        settings = ServiceSettings.from_env(service, peers=peers)
    except MissingSetting as exc:
        print(f"{service}: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    configure_logging(service, settings.log_level)
    setup_telemetry(service)

    async def main() -> None:
        await serve(await build(settings))

    try:
        asyncio.run(main())
    except (MissingSetting, SecretError) as exc:
        # A service's own settings (read while building it) and its secrets at
        # rest (a KEK that does not open them) stop it the same way: one line.
        print(f"{service}: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
