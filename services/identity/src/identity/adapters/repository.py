"""Tenants and members in SQL."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from identity.adapters.tables import members, tenants
from identity.app.ports import EmailTaken
from identity.domain.model import Member, Tenant


class SqlIdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_tenant(self, tenant: Tenant) -> None:
        await self._session.execute(
            insert(tenants).values(
                id=tenant.id,
                display_name=tenant.display_name,
                industry=tenant.industry,
                team_size=tenant.team_size,
                working_language=tenant.working_language,
                created_at=tenant.created_at,
            )
        )

    async def add_member(self, member: Member, password_hash: str) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(members).values(
                        id=member.id,
                        tenant_id=member.tenant_id,
                        email=member.email,
                        display_name=member.display_name,
                        role=member.role,
                        password_hash=password_hash,
                        created_at=member.created_at,
                    )
                )
        except IntegrityError as exc:
            raise EmailTaken(member.email) from exc

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = (
            await self._session.execute(select(tenants).where(tenants.c.id == tenant_id))
        ).first()
        if row is None:
            return None
        return Tenant(
            id=row.id,
            display_name=row.display_name,
            industry=row.industry,
            team_size=row.team_size,
            working_language=row.working_language,
            created_at=as_utc(row.created_at),
        )
