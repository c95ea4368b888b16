"""Sessions, refresh tokens, sign-in failures, API keys, the audit log, request ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.errors import Aborted
from identity.adapters.sql import after_created, rowcount, utc
from identity.adapters.tables import (
    api_keys,
    audit_events,
    idempotency_keys,
    login_attempts,
    refresh_tokens,
    sessions,
)
from identity.domain.lockout import LockoutPolicy, LoginThrottle
from identity.domain.model import ApiKey, AuditEntry, AuditFilter, RefreshToken, Session


def _lock_end(policy: LockoutPolicy, failures: int, now: datetime) -> datetime | None:
    lock = policy.lock_for(failures)
    return None if lock is None else now + lock


def _session(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        tenant_id=row.tenant_id,
        member_id=row.member_id,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        user_agent=row.user_agent,
        ip_address=row.ip_address,
        last_refresh_at=utc(row.last_refresh_at),
        revoked_at=utc(row.revoked_at),
    )


class SqlAuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def throttle(self, email_key: str) -> LoginThrottle:
        row = (
            await self._session.execute(
                select(login_attempts).where(login_attempts.c.email_key == email_key)
            )
        ).first()
        if row is None:
            return LoginThrottle()
        return LoginThrottle(
            failures=row.failures,
            locked_until=utc(row.locked_until),
            last_failure_at=utc(row.last_failure_at),
        )

    async def count_attempt(
        self, email_key: str, policy: LockoutPolicy, now: datetime
    ) -> timedelta | None:
        """Count a sign-in attempt as a failure before its password is checked.

        One conditional UPDATE counts the attempt only while the email is not
        locked, and the lock the new count earns is written in the same
        transaction (the UPDATE holds the row until commit, and a concurrent
        UPDATE waiting for it re-reads the lock). So at most ``threshold``
        attempts are let through per lock, however many arrive at once.
        Returns None when the attempt was counted and may check the password,
        otherwise how long the email stays locked.
        """
        attempts = login_attempts.c
        for _ in range(5):
            counted = (
                await self._session.execute(
                    update(login_attempts)
                    .where(
                        attempts.email_key == email_key,
                        or_(attempts.locked_until.is_(None), attempts.locked_until <= now),
                    )
                    .values(
                        # policy.forget_after without a failure starts the count afresh
                        failures=case(
                            (attempts.last_failure_at <= now - policy.forget_after, 1),
                            else_=attempts.failures + 1,
                        ),
                        last_failure_at=now,
                    )
                    .returning(attempts.failures)
                )
            ).scalar_one_or_none()
            if counted is not None:
                await self._session.execute(
                    update(login_attempts)
                    .where(attempts.email_key == email_key)
                    .values(locked_until=_lock_end(policy, counted, now))
                )
                return None
            locked_until = (
                await self._session.execute(
                    select(attempts.locked_until).where(attempts.email_key == email_key)
                )
            ).first()
            if locked_until is not None:
                until = utc(locked_until[0])
                if until is not None and until > now:
                    return until - now
                continue  # unlocked in the meantime: count again
            try:
                async with self._session.begin_nested():
                    await self._session.execute(
                        insert(login_attempts).values(
                            email_key=email_key,
                            failures=1,
                            locked_until=_lock_end(policy, 1, now),
                            last_failure_at=now,
                        )
                    )
                return None
            except IntegrityError:
                continue  # a concurrent attempt created the row: count on top of it
        raise Aborted("too many concurrent sign-ins for this email; retry", reason="LOGIN_BUSY")

    async def clear_throttle(self, email_key: str) -> None:
        await self._session.execute(
            delete(login_attempts).where(login_attempts.c.email_key == email_key)
        )

    async def forget_throttles(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(login_attempts).where(
                login_attempts.c.last_failure_at < before,
                or_(
                    login_attempts.c.locked_until.is_(None), login_attempts.c.locked_until < before
                ),
            )
        )
        return rowcount(result)

    async def add_session(self, session: Session) -> None:
        await self._session.execute(
            insert(sessions).values(
                id=session.id,
                tenant_id=session.tenant_id,
                member_id=session.member_id,
                user_agent=session.user_agent,
                ip_address=session.ip_address,
                created_at=session.created_at,
                last_refresh_at=session.last_refresh_at,
                expires_at=session.expires_at,
                revoked_at=session.revoked_at,
                revoke_reason="",
            )
        )

    async def get_session(self, tenant_id: str, session_id: str) -> Session | None:
        row = (
            await self._session.execute(
                select(sessions).where(
                    sessions.c.tenant_id == tenant_id, sessions.c.id == session_id
                )
            )
        ).first()
        return None if row is None else _session(row)

    async def touch_session(self, session_id: str, now: datetime, expires_at: datetime) -> None:
        await self._session.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(last_refresh_at=now, expires_at=expires_at)
        )

    async def revoke_session(self, session_id: str, now: datetime, reason: str) -> None:
        await self._session.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason[:100])
        )

    async def revoke_member_sessions(
        self, tenant_id: str, member_id: str, now: datetime, reason: str
    ) -> int:
        result = await self._session.execute(
            update(sessions)
            .where(
                sessions.c.tenant_id == tenant_id,
                sessions.c.member_id == member_id,
                sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoke_reason=reason[:100])
        )
        return rowcount(result)

    async def page_sessions(
        self,
        tenant_id: str,
        member_id: str,
        *,
        active_at: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[Session]:
        clauses: list[ColumnElement[bool]] = [
            sessions.c.tenant_id == tenant_id,
            sessions.c.member_id == member_id,
        ]
        if active_at is not None:
            clauses += [sessions.c.revoked_at.is_(None), sessions.c.expires_at > active_at]
        keyset = after_created(sessions.c.created_at, sessions.c.id, after)
        if keyset is not None:
            clauses.append(keyset)
        rows = await self._session.execute(
            select(sessions)
            .where(*clauses)
            .order_by(sessions.c.created_at, sessions.c.id)
            .limit(limit)
        )
        return [_session(r) for r in rows]

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._session.execute(
            insert(refresh_tokens).values(
                token_hash=token.token_hash,
                session_id=token.session_id,
                tenant_id=token.tenant_id,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
            )
        )

    async def refresh_token(self, token_hash: str) -> RefreshToken | None:
        row = (
            await self._session.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
            )
        ).first()
        if row is None:
            return None
        return RefreshToken(
            token_hash=row.token_hash,
            session_id=row.session_id,
            tenant_id=row.tenant_id,
            issued_at=as_utc(row.issued_at),
            expires_at=as_utc(row.expires_at),
            used_at=utc(row.used_at),
        )

    async def spend_refresh_token(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used; False when someone spent it first."""
        result = await self._session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        return rowcount(result) == 1


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        role=row.role_id,
        key_prefix=row.key_prefix,
        creator=row.creator,
        created_at=as_utc(row.created_at),
        expires_at=utc(row.expires_at),
        last_used_at=utc(row.last_used_at),
        revoked_at=utc(row.revoked_at),
    )


class SqlApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey, secret_hash: str) -> None:
        await self._session.execute(
            insert(api_keys).values(
                id=key.id,
                tenant_id=key.tenant_id,
                display_name=key.display_name,
                role_id=key.role,
                key_prefix=key.key_prefix,
                secret_hash=secret_hash,
                creator=key.creator,
                created_at=key.created_at,
                expires_at=key.expires_at,
            )
        )

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        row = (
            await self._session.execute(
                select(api_keys).where(api_keys.c.tenant_id == tenant_id, api_keys.c.id == key_id)
            )
        ).first()
        return None if row is None else _api_key(row)

    async def credentials(self, key_id: str) -> tuple[ApiKey, str] | None:
        row = (await self._session.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return None if row is None else (_api_key(row), str(row.secret_hash))

    async def revoke(self, tenant_id: str, key_id: str, now: datetime) -> None:
        await self._session.execute(
            update(api_keys)
            .where(
                api_keys.c.tenant_id == tenant_id,
                api_keys.c.id == key_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )

    async def touch(self, key_id: str, now: datetime) -> None:
        await self._session.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now)
        )

    def _active(self, now: datetime) -> ColumnElement[bool]:
        return and_(
            api_keys.c.revoked_at.is_(None),
            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
        )

    async def page(
        self, tenant_id: str, *, active_at: datetime | None, after: list[str], limit: int
    ) -> list[ApiKey]:
        clauses: list[ColumnElement[bool]] = [api_keys.c.tenant_id == tenant_id]
        if active_at is not None:
            clauses.append(self._active(active_at))
        keyset = after_created(api_keys.c.created_at, api_keys.c.id, after)
        if keyset is not None:
            clauses.append(keyset)
        rows = await self._session.execute(
            select(api_keys)
            .where(*clauses)
            .order_by(api_keys.c.created_at, api_keys.c.id)
            .limit(limit)
        )
        return [_api_key(r) for r in rows]

    async def count_with_role(self, tenant_id: str, role_id: str, *, active_at: datetime) -> int:
        total = await self._session.scalar(
            select(func.count())
            .select_from(api_keys)
            .where(
                api_keys.c.tenant_id == tenant_id,
                api_keys.c.role_id == role_id,
                self._active(active_at),
            )
        )
        return int(total or 0)


def _audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "tenant_id": entry.tenant_id,
        "actor": entry.actor[:100],
        "event_time": entry.event_time,
        "action": entry.action[:100],
        "target": entry.target[:300],
        "before": entry.before,
        "after": entry.after,
        "ip_address": entry.ip_address[:100],
        "trace_id": entry.trace_id[:32],
    }


class SqlAuditRepository:
    """Appends and reads; there is deliberately no way to change or remove a row."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: AuditEntry) -> None:
        await self._session.execute(insert(audit_events).values(**_audit_row(entry)))

    async def add_many(self, entries: Sequence[AuditEntry]) -> None:
        rows = [_audit_row(e) for e in entries]
        for start in range(0, len(rows), 1000):
            await self._session.execute(insert(audit_events), rows[start : start + 1000])

    async def page(
        self, tenant_id: str, where: AuditFilter, *, after: list[str], limit: int
    ) -> list[AuditEntry]:
        clauses: list[ColumnElement[bool]] = [audit_events.c.tenant_id == tenant_id]
        if where.actor:
            clauses.append(audit_events.c.actor == where.actor)
        if where.action.endswith("*"):
            prefix = where.action[:-1]
            if prefix:
                clauses.append(func.substr(audit_events.c.action, 1, len(prefix)) == prefix)
        elif where.action:
            clauses.append(audit_events.c.action == where.action)
        if where.target:
            clauses.append(audit_events.c.target == where.target)
        if where.start_time is not None:
            clauses.append(audit_events.c.event_time >= where.start_time)
        if where.end_time is not None:
            clauses.append(audit_events.c.event_time < where.end_time)
        if after:
            at, last_id = datetime.fromisoformat(after[0]), after[1]
            clauses.append(
                past([audit_events.c.event_time, audit_events.c.id], [at, last_id], descending=True)
            )
        rows = await self._session.execute(
            select(audit_events)
            .where(*clauses)
            .order_by(audit_events.c.event_time.desc(), audit_events.c.id.desc())
            .limit(limit)
        )
        return [
            AuditEntry(
                id=r.id,
                tenant_id=r.tenant_id,
                actor=r.actor,
                event_time=as_utc(r.event_time),
                action=r.action,
                target=r.target,
                before=r.before,
                after=r.after,
                ip_address=r.ip_address,
                trace_id=r.trace_id,
            )
            for r in rows
        ]


class SqlIdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, tenant_id: str, operation: str, request_id: str) -> dict[str, Any] | None:
        result = await self._session.scalar(
            select(idempotency_keys.c.result).where(
                idempotency_keys.c.tenant_id == tenant_id,
                idempotency_keys.c.operation == operation,
                idempotency_keys.c.request_id == request_id,
            )
        )
        return None if result is None else dict(result)

    async def put(
        self,
        tenant_id: str,
        operation: str,
        request_id: str,
        result: dict[str, Any],
        now: datetime,
    ) -> None:
        # When a concurrent twin committed first this insert fails and the whole
        # transaction rolls back, so the request is done exactly once.
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(idempotency_keys).values(
                        tenant_id=tenant_id,
                        operation=operation,
                        request_id=request_id,
                        result=result,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Aborted(
                "another request with this request_id ran at the same time; retry to get its "
                "result",
                reason="REQUEST_ID_IN_USE",
            ) from exc
