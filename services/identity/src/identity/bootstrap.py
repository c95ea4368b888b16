"""Composition root of the identity service."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings
from identity.adapters.consumers import CUSTOMER_ADMIN_EVENTS, on_customer_admin_event
from identity.adapters.grpc_servicer import IdentityServicer
from identity.adapters.jwks_http import JwksHttpServer
from identity.adapters.member_files import MemberFileReader
from identity.adapters.passwords import Argon2Hasher
from identity.adapters.permissions import METHOD_PERMISSIONS
from identity.adapters.settings import IdentitySettings, ServiceSecrets
from identity.adapters.signing_keys import LocalKeySource, SqlSigningKeys
from identity.adapters.tables import metadata
from identity.adapters.unit_of_work import IdentityUnitOfWork
from identity.app.use_cases import IdentityApp

log = logging.getLogger(__name__)

SERVICE = "identity"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
HOUSEKEEPING_SECONDS = 3600.0


@dataclass(frozen=True)
class IdentityParts:
    """What build() assembles, for callers that need more than the definition."""

    definition: ServiceDefinition
    app: IdentityApp
    # Identity's own public keys (current + still-valid previous), read from its
    # database with a short cache: the verifier inside identity uses it.
    key_source: LocalKeySource
    signing_keys: SqlSigningKeys
    jwks_server: JwksHttpServer


async def build_parts(
    settings: ServiceSettings, identity_settings: IdentitySettings | None = None
) -> IdentityParts:
    own = identity_settings or IdentitySettings.from_env()
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)

    def new_uow() -> IdentityUnitOfWork:
        return IdentityUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    keys = SqlSigningKeys(runtime.sessions, own.key_policy, keyring=own.keyring)
    await keys.maintain()  # the first key exists before the first RPC
    app = IdentityApp.build(
        new_uow,
        hasher=Argon2Hasher(),
        signer=keys,
        keys=keys,
        reader=MemberFileReader(),
        lifetimes=own.lifetimes,
        lockout=own.lockout,
        service_secrets=ServiceSecrets.from_env().by_service,
    )
    key_source = LocalKeySource(keys)
    jwks_server = JwksHttpServer(keys.jwks, own.jwks_host, own.jwks_port)
    runtime.consume(
        CUSTOMER_ADMIN_EVENTS,
        in_unit_of_work(IdentityUnitOfWork, runtime.outbox, on_customer_admin_event),
    )

    async def housekeeping(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await app.auth.forget_old_failures()
            except Exception:
                log.exception("identity housekeeping failed; retrying later")
            await sleep_unless_stopped(stop, HOUSEKEEPING_SECONDS)

    servicer = IdentityServicer(app, PageTokenCodec(settings.page_token_secret), keys.jwks)
    definition = ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(identity_service_pb2_grpc.add_IdentityServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=TokenVerifier(key_source),
        workers=[*runtime.workers, keys.run, jwks_server.run, housekeeping],
        cleanups=runtime.cleanups,
    )
    return IdentityParts(definition, app, key_source, keys, jwks_server)


async def build(settings: ServiceSettings) -> ServiceDefinition:
    return (await build_parts(settings)).definition
