"""Signing in: passwords, lockout, sessions with rotating refresh tokens, API keys.

Refresh tokens are opaque 256-bit random strings; only their SHA-256 is
stored, with the session (the token family) they belong to. Each is valid
once: refreshing spends it and issues the next. Presenting a spent token again
means it leaked (or a client misbehaves): the whole session is revoked.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    ResourceExhausted,
    Unauthenticated,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.access import Access, member_access, require_may_act_on, role_access
from identity.app.context import NO_ORIGIN, SYSTEM, Actor, Clock, Origin, audit_entry, new_id
from identity.app.ports import UNUSABLE_PASSWORD, PasswordHasher, TokenSigner, UnitOfWork
from identity.domain.lockout import DEFAULT_LOCKOUT, LockoutPolicy
from identity.domain.model import (
    DEFAULT_LIFETIMES,
    ApiKeyState,
    Member,
    RefreshToken,
    Session,
    TokenLifetimes,
    normalize_email,
)

BAD_CREDENTIALS = "the email or password is wrong"
SESSION = "crosstalk.io/Session"
API_KEY_PREFIX = "ctk"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def session_name(member_id: str, session_id: str) -> str:
    return f"members/{member_id}/sessions/{session_id}"


def parse_api_key_secret(secret: str) -> str:
    """The key id inside "ctk_<key id>_<random>", or "" when it is not shaped so."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return ""
    return parts[1]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    # Empty for API keys, which have no session.
    refresh_token: str = ""
    refresh_expires_at: datetime | None = None
    session_id: str = ""
    member: Member | None = None


class AuthService:
    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        hasher: PasswordHasher,
        signer: TokenSigner,
        clock: Clock,
        *,
        lifetimes: TokenLifetimes = DEFAULT_LIFETIMES,
        lockout: LockoutPolicy = DEFAULT_LOCKOUT,
    ) -> None:
        self._new_uow = new_uow
        self._hasher = hasher
        self._signer = signer
        self._clock = clock
        self.lifetimes = lifetimes
        self.lockout = lockout
        # Verified instead of a real hash for unknown emails, so that they cost
        # the same time as known ones.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    # --- tokens ----------------------------------------------------------------

    async def _sign(
        self,
        tenant_id: str,
        subject: str,
        access: Access,
        now: datetime,
        ttl: timedelta,
        session_id: str,
    ) -> tuple[str, datetime]:
        issued = int(now.timestamp())
        expires = issued + int(ttl.total_seconds())
        claims = AccessClaims(
            subject=subject,
            tenant_id=tenant_id,
            permissions=access.permissions,
            data_scope=access.data_scope,
            department_id=access.department_id,
            visible_departments=access.visible_departments,
            issued_at=issued,
            expires_at=expires,
            token_id=str(uuid.uuid4()),
            session_id=session_id,
        )
        return await self._signer.sign(claims), datetime.fromtimestamp(expires, UTC)

    @staticmethod
    def _new_refresh_token(
        session: Session, now: datetime, ttl: timedelta
    ) -> tuple[str, RefreshToken]:
        secret = secrets.token_urlsafe(32)  # 256 bits
        return secret, RefreshToken(
            token_hash=sha256_hex(secret),
            session_id=session.id,
            tenant_id=session.tenant_id,
            issued_at=now,
            expires_at=now + ttl,
        )

    # --- sign-in -----------------------------------------------------------------

    def _locked(self, wait: timedelta) -> ResourceExhausted:
        seconds = max(1, int(wait.total_seconds() + 0.999))
        return ResourceExhausted(
            f"too many failed sign-ins for this email; try again in {seconds} seconds",
            reason="LOGIN_LOCKED",
            metadata={"retryAfterSeconds": str(seconds)},
        )

    async def login(self, email: str, password: str, origin: Origin = NO_ORIGIN) -> TokenPair:
        problems = []
        if not email.strip():
            problems.append(FieldViolation("email", "must not be empty"))
        if not password:
            problems.append(FieldViolation("password", "must not be empty"))
        if problems:
            raise InvalidArgument(problems)
        email = normalize_email(email)
        key = sha256_hex(email)
        now = self._clock()
        # The attempt counts as a failure before the password is checked (a
        # success clears it), atomically: however many arrive at once, at most
        # the lockout threshold of them reach the hasher.
        async with self._new_uow() as uow:
            wait = await uow.auth.count_attempt(key, self.lockout, now)
            await uow.commit()
        if wait is not None:
            raise self._locked(wait)
        async with self._new_uow() as uow:
            credentials = await uow.members.credentials(email)
        stored = credentials[1] if credentials is not None else UNUSABLE_PASSWORD
        if stored == UNUSABLE_PASSWORD:
            await asyncio.to_thread(self._hasher.verify, self._dummy_hash, password)
            verified = False
        else:
            verified = await asyncio.to_thread(self._hasher.verify, stored, password)
        if credentials is None or not verified:
            raise Unauthenticated(BAD_CREDENTIALS, reason="INVALID_CREDENTIALS")
        member = credentials[0]
        if not member.active:
            async with self._new_uow() as uow:
                await uow.auth.clear_throttle(key)  # the password was right
                await uow.commit()
            raise Unauthenticated(
                "this member is disabled; ask an administrator to enable them",
                reason="MEMBER_DISABLED",
            )
        rehashed = ""
        if self._hasher.needs_rehash(stored):
            rehashed = await asyncio.to_thread(self._hasher.hash, password)
        async with self._new_uow() as uow:
            await uow.auth.clear_throttle(key)
            if rehashed:
                await uow.members.set_password(member.tenant_id, member.id, rehashed)
            settings = await uow.tenants.get_settings(member.tenant_id)
            refresh_ttl = settings.refresh_ttl(self.lifetimes)
            session = Session(
                id=new_id(),
                tenant_id=member.tenant_id,
                member_id=member.id,
                created_at=now,
                expires_at=now + refresh_ttl,
                user_agent=origin.user_agent[:500],
                ip_address=origin.ip_address[:100],
                last_refresh_at=now,
            )
            await uow.auth.add_session(session)
            refresh_secret, refresh = self._new_refresh_token(session, now, refresh_ttl)
            await uow.auth.add_refresh_token(refresh)
            await uow.members.record_login(member.id, now)
            access = await member_access(uow, member)
            await uow.commit()
        token, expires = await self._sign(
            member.tenant_id,
            f"members/{member.id}",
            access,
            now,
            settings.access_ttl(self.lifetimes),
            session.id,
        )
        return TokenPair(token, expires, refresh_secret, refresh.expires_at, session.id, member)

    async def refresh(self, refresh_token: str) -> TokenPair:
        if not refresh_token:
            raise InvalidArgument.field("refresh_token", "must not be empty")
        token_hash = sha256_hex(refresh_token)
        now = self._clock()
        async with self._new_uow() as uow:
            stored = await uow.auth.refresh_token(token_hash)
            if stored is None:
                raise Unauthenticated(
                    "the refresh token is not valid; sign in again", reason="INVALID_REFRESH_TOKEN"
                )
            session = await uow.auth.get_session(stored.tenant_id, stored.session_id)
            if session is None or session.revoked_at is not None:
                raise Unauthenticated(
                    "the session has ended; sign in again", reason="SESSION_REVOKED"
                )
            if stored.used_at is not None or not await uow.auth.spend_refresh_token(
                token_hash, now
            ):
                await uow.auth.revoke_session(session.id, now, "refresh token reuse")
                await uow.audit.add(
                    audit_entry(
                        Actor(session.tenant_id, SYSTEM, frozenset()),
                        now,
                        "sessions.revoke",
                        session_name(session.member_id, session.id),
                        after={"reason": "a spent refresh token was presented again"},
                    )
                )
                await uow.commit()
                raise Unauthenticated(
                    "this refresh token was already used, so the session has been revoked "
                    "for safety; sign in again",
                    reason="REFRESH_TOKEN_REUSED",
                )
            if stored.expires_at <= now or session.expires_at <= now:
                raise Unauthenticated(
                    "the refresh token has expired; sign in again", reason="REFRESH_TOKEN_EXPIRED"
                )
            member = await uow.members.get(session.tenant_id, session.member_id)
            if member is None or not member.active:
                await uow.auth.revoke_session(session.id, now, "member disabled")
                await uow.commit()
                raise Unauthenticated(
                    "this member is disabled; ask an administrator to enable them",
                    reason="MEMBER_DISABLED",
                )
            settings = await uow.tenants.get_settings(member.tenant_id)
            refresh_ttl = settings.refresh_ttl(self.lifetimes)
            refresh_secret, refresh = self._new_refresh_token(session, now, refresh_ttl)
            await uow.auth.add_refresh_token(refresh)
            await uow.auth.touch_session(session.id, now, refresh.expires_at)
            access = await member_access(uow, member)
            await uow.commit()
        token, expires = await self._sign(
            member.tenant_id,
            f"members/{member.id}",
            access,
            now,
            settings.access_ttl(self.lifetimes),
            session.id,
        )
        return TokenPair(token, expires, refresh_secret, refresh.expires_at, session.id, member)

    async def exchange_api_key(self, secret: str) -> tuple[TokenPair, str]:
        """An access token for the key's role; returns it and the key id."""
        if not secret:
            raise InvalidArgument.field("secret", "must not be empty")
        invalid = Unauthenticated("the API key is not valid", reason="INVALID_API_KEY")
        key_id = parse_api_key_secret(secret)
        if not key_id:
            raise invalid
        now = self._clock()
        async with self._new_uow() as uow:
            found = await uow.api_keys.credentials(key_id)
            if found is None or not hmac.compare_digest(found[1], sha256_hex(secret)):
                raise invalid
            key = found[0]
            state = key.state(now)
            if state is ApiKeyState.REVOKED:
                raise Unauthenticated("the API key has been revoked", reason="API_KEY_REVOKED")
            if state is ApiKeyState.EXPIRED:
                raise Unauthenticated("the API key has expired", reason="API_KEY_EXPIRED")
            access = role_access(await uow.roles.get(key.tenant_id, key.role))
            settings = await uow.tenants.get_settings(key.tenant_id)
            await uow.api_keys.touch(key.id, now)
            await uow.commit()
        token, expires = await self._sign(
            key.tenant_id, f"apiKeys/{key.id}", access, now, settings.access_ttl(self.lifetimes), ""
        )
        return TokenPair(token, expires), key.id

    # --- sessions ----------------------------------------------------------------

    async def logout(self, actor: Actor, refresh_token: str) -> None:
        now = self._clock()
        async with self._new_uow() as uow:
            if refresh_token:
                stored = await uow.auth.refresh_token(sha256_hex(refresh_token))
                session = (
                    await uow.auth.get_session(actor.tenant_id, stored.session_id)
                    if stored is not None
                    else None
                )
                if session is None or session.member_id != actor.member_id:
                    raise InvalidArgument.field(
                        "refresh_token", "is not a refresh token of one of your sessions"
                    )
                session_id = session.id
            elif actor.session_id:
                session_id = actor.session_id
            else:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "NO_SESSION",
                            actor.subject,
                            "this access token belongs to no session (API key tokens just expire)",
                        )
                    ],
                    reason="NO_SESSION",
                )
            await uow.auth.revoke_session(session_id, now, "logout")
            await uow.commit()

    async def _member_for_sessions(self, uow: UnitOfWork, actor: Actor, member_id: str) -> None:
        if member_id != actor.member_id:
            actor.require("members.manage")
        target = await uow.members.get(actor.tenant_id, member_id)
        if target is None:
            raise NotFound("crosstalk.io/Member", f"members/{member_id}")
        await require_may_act_on(
            uow, actor, self._clock(), f"see or end the sessions of members/{member_id}", target
        )

    async def sessions(
        self, actor: Actor, member_id: str, *, show_inactive: bool, after: list[str], limit: int
    ) -> list[Session]:
        async with self._new_uow() as uow:
            await self._member_for_sessions(uow, actor, member_id)
            return await uow.auth.page_sessions(
                actor.tenant_id,
                member_id,
                active_at=None if show_inactive else self._clock(),
                after=after,
                limit=limit,
            )

    async def revoke_session(self, actor: Actor, member_id: str, session_id: str) -> Session:
        name = session_name(member_id, session_id)
        now = self._clock()
        async with self._new_uow() as uow:
            await self._member_for_sessions(uow, actor, member_id)
            session = await uow.auth.get_session(actor.tenant_id, session_id)
            if session is None or session.member_id != member_id:
                raise NotFound(SESSION, name)
            if session.revoked_at is not None:
                return session
            await uow.auth.revoke_session(session_id, now, "revoked")
            if member_id != actor.member_id:
                await uow.audit.add(audit_entry(actor, now, "sessions.revoke", name))
            await uow.commit()
        return replace(session, revoked_at=now)

    async def forget_old_failures(self) -> int:
        """Drop failure records nobody has added to for a day (housekeeping)."""
        async with self._new_uow() as uow:
            dropped = await uow.auth.forget_throttles(self._clock() - self.lockout.forget_after)
            await uow.commit()
        return dropped
