"""What every service process shares: settings, database, bus, relay, consumers."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crosstalk_common.auth.jwks_client import IdentityJwks
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.bus.connection import connect, ensure_streams
from crosstalk_common.bus.consumer import (
    BatchHandler,
    EventConsumer,
    Handler,
    ScopedBatchHandler,
    Subscription,
)
from crosstalk_common.bus.housekeeping import Housekeeper
from crosstalk_common.bus.relay import OutboxRelay
from crosstalk_common.config import MissingSetting, parse_bool
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_common.db.wal_checkpoint import WalCheckpointer
from crosstalk_common.grpc.server import Cleanup, Worker

log = logging.getLogger(__name__)

SERVICE_PORTS = {
    "identity": 50051,
    "customers": 50052,
    "rules": 50053,
    "translation": 50054,
    "messaging": 50055,
    "reporting": 50056,
}


@dataclass(frozen=True)
class ServiceSettings:
    """Settings every service reads, from ``<SERVICE>_*`` and ``CROSSTALK_*`` variables."""

    service: str
    host: str
    port: int
    database_url: str
    nats_url: str
    migrate_on_start: bool
    log_level: str
    page_token_secret: bytes
    peers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, service: str, *, peers: Sequence[str] = (), environ: Mapping[str, str] | None = None
    ) -> ServiceSettings:
        # Every service but identity verifies tokens with identity's keys.
        if service != "identity" and "identity" not in peers:
            peers = ("identity", *peers)
        # Read in place (not copied), so a caller can see which settings are read.
        env: Mapping[str, str] = os.environ if environ is None else environ
        prefix = service.upper()
        var_dir = Path(env.get("CROSSTALK_VAR_DIR", "var"))
        problems: list[str] = []

        def peer_address(peer: str) -> str:
            key = f"{peer.upper()}_ADDRESS"
            return env.get(key, f"127.0.0.1:{SERVICE_PORTS[peer]}")

        port_text = env.get(f"{prefix}_PORT", str(SERVICE_PORTS[service]))
        if not port_text.isdigit():
            problems.append(f"{prefix}_PORT must be a port number, got {port_text!r}")
        secret = env.get("CROSSTALK_PAGE_TOKEN_SECRET", "")
        if not secret:
            if env.get("CROSSTALK_ENV", "dev") != "dev":
                problems.append("CROSSTALK_PAGE_TOKEN_SECRET is required outside dev")
            secret = f"dev-only-page-token-secret-{service}"
        migrate = env.get(f"{prefix}_MIGRATE_ON_START") or "true"
        try:
            migrate_on_start = parse_bool(migrate)
        except ValueError:
            problems.append(f"{prefix}_MIGRATE_ON_START must be true or false, got {migrate!r}")
            migrate_on_start = False
        if problems:
            raise MissingSetting("; ".join(problems))
        return cls(
            service=service,
            host=env.get(f"{prefix}_HOST", "127.0.0.1"),
            port=int(port_text),
            database_url=env.get(
                f"{prefix}_DATABASE_URL", f"sqlite:///{var_dir / 'db' / service}.db"
            ),
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            migrate_on_start=migrate_on_start,
            log_level=env.get("CROSSTALK_LOG_LEVEL", "INFO"),
            page_token_secret=secret.encode(),
            peers={peer: peer_address(peer) for peer in peers},
        )


class ServiceRuntime:
    """Database, NATS, outbox relay and consumers of one service process."""

    def __init__(
        self,
        settings: ServiceSettings,
        engine: AsyncEngine,
        outbox: Table,
        inbox: Table,
        nc: Client,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: async_sessionmaker[Any] = session_factory(engine)
        self.outbox = outbox
        self.inbox = inbox
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.relay = OutboxRelay(self.sessions, outbox, self.js)
        self.housekeeper = Housekeeper(self.sessions, outbox, inbox)
        self.checkpointer = WalCheckpointer(engine)
        self._consumers: list[EventConsumer] = []

    @classmethod
    async def start(
        cls,
        settings: ServiceSettings,
        metadata: MetaData,
        migrations_dir: Path,
        *,
        connect_attempts: int = 60,
    ) -> ServiceRuntime:
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade_to_head, migrations_dir, settings.database_url)
        engine = create_engine(settings.database_url, checkpoint_in_background=True)
        nc = await _connect_with_retry(settings, connect_attempts)
        runtime = cls(
            engine=engine,
            settings=settings,
            outbox=metadata.tables["outbox"],
            inbox=metadata.tables["inbox"],
            nc=nc,
        )
        await ensure_streams(runtime.js, [settings.service])
        return runtime

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, self.outbox, after_commit=self.relay.nudge)

    def consume(
        self,
        subscription: Subscription,
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        scoped_batch_handler: ScopedBatchHandler | None = None,
    ) -> None:
        """Run a consumer with a handler per event, a batch handler or a scoped
        batch handler (see EventConsumer)."""
        self._consumers.append(
            EventConsumer(
                self.js,
                self.sessions,
                self.inbox,
                subscription,
                handler,
                batch_handler=batch_handler,
                scoped_batch_handler=scoped_batch_handler,
                after_commit=self.relay.nudge,
            )
        )

    @property
    def workers(self) -> list[Worker]:
        return [
            self.relay.run,
            self.housekeeper.run,
            self.checkpointer.run,
            *(c.run for c in self._consumers),
        ]

    @property
    def cleanups(self) -> list[Cleanup]:
        async def close() -> None:
            # Workers have stopped: publishes are acknowledged and acks are sent,
            # so flushing what is buffered is all that is left to do.
            try:
                if self.nc.is_connected:
                    await self.nc.flush(timeout=2)
            except Exception as exc:
                log.warning("nats flush on shutdown failed: %s", exc)
            finally:
                await self.nc.close()
                await self.engine.dispose()

        return [close]


async def _connect_with_retry(settings: ServiceSettings, attempts: int) -> Client:
    for attempt in range(1, attempts + 1):
        try:
            return await connect(settings.nats_url, name=settings.service)
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("nats not reachable at %s (%s); retrying", settings.nats_url, exc)
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


def identity_verifier(settings: ServiceSettings) -> tuple[TokenVerifier, Cleanup]:
    """A token verifier fed by identity's GetJwks, and the cleanup closing its channel."""
    jwks = IdentityJwks(settings.peers["identity"])
    return TokenVerifier(jwks), jwks.close
