"""API keys: credentials for integrations, exchanged for short-lived access tokens.

The secret ("ctk_<key id>_<random>") is shown once; only its SHA-256 is kept.
A CreateApiKey retried with the same request_id must return the same secret,
so the response's secret is also kept sealed (AES-GCM) under a key derived from
the request_id, which is stored only as a hash: the database alone cannot
reveal it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crosstalk_common.errors import FieldViolation, InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.access import caller_access, role_access
from identity.app.auth import API_KEY_PREFIX, sha256_hex
from identity.app.context import Actor, Clock, audit_entry
from identity.app.ports import UnitOfWork
from identity.domain.authority import require_within
from identity.domain.model import ApiKey, name_problem

RESOURCE = "crosstalk.io/ApiKey"
OPERATION = "api_keys.create"


def api_key_name(key_id: str) -> str:
    return f"apiKeys/{key_id}"


def _replay_key(request_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"crosstalk api key replay"
    ).derive(request_id.encode())


def seal(secret: str, request_id: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_replay_key(request_id)).encrypt(nonce, secret.encode(), None)
    return base64.b64encode(nonce + sealed).decode()


def unseal(sealed: str, request_id: str) -> str:
    raw = base64.b64decode(sealed)
    try:
        return AESGCM(_replay_key(request_id)).decrypt(raw[:12], raw[12:], None).decode()
    except InvalidTag:
        return ""


@dataclass(frozen=True)
class ApiKeyService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    clock: Clock

    async def create(
        self,
        actor: Actor,
        display_name: str,
        role_id: str,
        expires_at: datetime | None,
        request_id: str = "",
    ) -> tuple[ApiKey, str]:
        tenant = actor.tenant_id
        replay_id = sha256_hex(f"{tenant}:{request_id}") if request_id else ""
        if replay_id:
            async with self.new_uow() as uow:
                done = await uow.idempotency.get(tenant, OPERATION, replay_id)
            if done is not None:
                key = await self.get(actor, str(done["key_id"]))
                return key, unseal(str(done["sealed"]), request_id)
        now = self.clock()
        problems: list[FieldViolation] = []
        bad = name_problem(display_name, limit=100)
        if bad:
            problems.append(FieldViolation("api_key.display_name", bad))
        if not role_id:
            problems.append(FieldViolation("api_key.role", "must name a role ('roles/{role}')"))
        if expires_at is not None and expires_at <= now:
            problems.append(FieldViolation("api_key.expire_time", "must be in the future"))
        if problems:
            raise InvalidArgument(problems)
        key_id = uuid.uuid4().hex
        secret = f"{API_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(
            id=key_id,
            tenant_id=tenant,
            display_name=display_name.strip(),
            role=role_id,
            key_prefix=secret[: len(API_KEY_PREFIX) + 1 + 8],
            creator=actor.subject,
            created_at=now,
            expires_at=expires_at,
        )
        async with self.new_uow() as uow:
            role = await uow.roles.get(tenant, role_id)
            if role is None:
                raise InvalidArgument.field("api_key.role", "no such role in this tenant")
            actor.require_grantable(role.permissions, f"the role roles/{role.id}")
            require_within(
                await caller_access(uow, actor, now),
                role_access(role),
                f"create an API key with the role roles/{role.id}",
            )
            await uow.api_keys.add(key, hashlib.sha256(secret.encode()).hexdigest())
            await uow.audit.add(
                audit_entry(
                    actor, now, "api_keys.create", api_key_name(key_id), after=key.snapshot()
                )
            )
            if replay_id:
                await uow.idempotency.put(
                    tenant,
                    OPERATION,
                    replay_id,
                    {"key_id": key_id, "sealed": seal(secret, request_id)},
                    now,
                )
            await uow.commit()
        return key, secret

    async def get(self, actor: Actor, key_id: str) -> ApiKey:
        async with self.new_uow() as uow:
            key = await uow.api_keys.get(actor.tenant_id, key_id)
        if key is None:
            raise NotFound(RESOURCE, api_key_name(key_id))
        return key

    async def page(
        self, actor: Actor, *, show_inactive: bool, after: list[str], limit: int
    ) -> list[ApiKey]:
        async with self.new_uow() as uow:
            return await uow.api_keys.page(
                actor.tenant_id,
                active_at=None if show_inactive else self.clock(),
                after=after,
                limit=limit,
            )

    async def revoke(self, actor: Actor, key_id: str) -> ApiKey:
        name = api_key_name(key_id)
        async with self.new_uow() as uow:
            key = await uow.api_keys.get(actor.tenant_id, key_id)
            if key is None:
                raise NotFound(RESOURCE, name)
            if key.revoked_at is not None:
                return key
            now = self.clock()
            await uow.api_keys.revoke(actor.tenant_id, key_id, now)
            revoked = replace(key, revoked_at=now)
            await uow.audit.add(
                audit_entry(
                    actor,
                    now,
                    "api_keys.revoke",
                    name,
                    before=key.snapshot(),
                    after=revoked.snapshot(),
                )
            )
            await uow.commit()
        return revoked
