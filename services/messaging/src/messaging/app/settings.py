"""Messaging settings (per tenant) and translation settings (per customer or tag).

Other areas read a tenant's settings through the unit of work (``uow.settings.get``);
IngestMessage's text limit goes through ``InboundTextLimit``, which remembers each
tenant's limit for a few seconds so that ingest does not read it per message.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.reply_ports import ReplyUnitOfWork
from messaging.domain.replies import (
    MessagingSettings,
    TranslationMode,
    TranslationSetting,
    inbound_text_problem,
    resource_id_problem,
)

SETTINGS_NAME = "messagingSettings"
TRANSLATION_SETTING_TYPE = "crosstalk.io/TranslationSetting"
# A changed inbound text limit applies to IngestMessage within this long (per process).
TEXT_LIMIT_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Settings:
    new_uow: UnitOfWorkFactory[ReplyUnitOfWork]
    clock: Callable[[], datetime] = utc_now

    async def get(self, tenant_id: str) -> MessagingSettings:
        async with self.new_uow() as uow:
            return await uow.settings.get(tenant_id)

    async def update(
        self, tenant_id: str, wanted: MessagingSettings, paths: Sequence[str], etag: str
    ) -> MessagingSettings:
        """Change the fields at ``paths`` to ``wanted``'s; ABORTED when ``etag`` is stale."""
        async with self.new_uow() as uow:
            current = await uow.settings.get(tenant_id, for_update=True)
            check_etag(etag, current.etag, SETTINGS_NAME)
            changed = current.changed(paths, wanted)
            if changed == current:
                return current
            changed = replace(changed, updated_at=self.clock())
            await uow.settings.save(changed)
            await uow.commit()
        return changed

    # --- translation settings -----------------------------------------------------------

    async def set_translation(
        self, tenant_id: str, subject: str, mode: TranslationMode | None, target_language: str
    ) -> TranslationSetting:
        now = self.clock()
        setting = TranslationSetting(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            subject=subject.strip(),
            mode=mode,
            target_language=target_language.strip(),
            created_at=now,
            updated_at=now,
        )
        if problems := setting.problems():
            raise InvalidArgument(problems)
        async with self.new_uow() as uow:
            stored = await uow.translation_settings.put(setting)
            await uow.commit()
        return stored

    async def list_translation(
        self, tenant_id: str, subject: str, after: Sequence[str], limit: int
    ) -> list[TranslationSetting]:
        kind = subject.split("/", 1)[0]
        if subject and (
            kind not in ("customers", "tags") or resource_id_problem(subject, kind, "subject")
        ):
            raise InvalidArgument.field("subject", "must be 'customers/{id}' or 'tags/{id}'")
        async with self.new_uow() as uow:
            return await uow.translation_settings.page(tenant_id, subject, after, limit)

    async def delete_translation(self, tenant_id: str, setting_id: str) -> None:
        async with self.new_uow() as uow:
            if not await uow.translation_settings.delete(tenant_id, setting_id):
                raise NotFound(TRANSLATION_SETTING_TYPE, f"translationSettings/{setting_id}")
            await uow.commit()


class InboundTextLimit:
    """Refuses an inbound text over its tenant's ``max_inbound_text_bytes``: INVALID_ARGUMENT
    naming ``text``. Remembers each tenant's limit for TEXT_LIMIT_TTL_SECONDS."""

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[ReplyUnitOfWork],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._new_uow = new_uow
        self._clock = clock
        self._limits: dict[str, tuple[int, float]] = {}

    async def check(self, tenant_id: str, text: str) -> None:
        # Under the smallest limit a tenant may set, no need to know the tenant's.
        if len(text) <= 256 or len(text.encode("utf-8")) <= 1_024:
            return
        limit = await self.limit(tenant_id)
        if problem := inbound_text_problem(text, limit):
            raise InvalidArgument([problem])

    async def limit(self, tenant_id: str) -> int:
        known = self._limits.get(tenant_id)
        if known is not None and self._clock() - known[1] < TEXT_LIMIT_TTL_SECONDS:
            return known[0]
        async with self._new_uow() as uow:
            limit = (await uow.settings.get(tenant_id)).max_inbound_text_bytes
        self._limits[tenant_id] = (limit, self._clock())
        return limit
